package bench

import (
	"testing"
	"time"
)

func TestSignupFigures(t *testing.T) {
	var r SignupResult
	// 5 GETs a second, but for 30 GETs in the 10 s from 20 s on.
	for s := range 61 {
		gets := 5 * s
		if s > 20 {
			gets += 30 * min(s-20, 10) / 10
		}
		r.Gets = append(r.Gets, GetSample{At: time.Duration(s) * time.Second, Gets: gets})
	}
	if n, at := r.PeakWindow(10 * time.Second); n != 80 || at != 20*time.Second {
		t.Errorf("peak window: %d GETs from %s, want 80 from 20s", n, at)
	}
	r.ReadyTime, r.End = 30*time.Second, 60*time.Second
	if rate, ok := r.GetRateAfterReady(); !ok || rate != 5 {
		t.Errorf("rate after Ready: %v, %v; want 5", rate, ok)
	}
	if whole, rest, restFor := r.GetsPerMinute(); len(whole) != 1 || whole[0] != 330 || rest != 0 || restFor != 0 {
		t.Errorf("per minute: %v, then %d in %s", whole, rest, restFor)
	}
	r.End = 50 * time.Second
	r.Gets = r.Gets[:51]
	if whole, rest, restFor := r.GetsPerMinute(); len(whole) != 0 || rest != 280 || restFor != 50*time.Second {
		t.Errorf("per minute: %v, then %d in %s", whole, rest, restFor)
	}
	r.Lags = []time.Duration{1, 2, 3, 4}
	if r.Lag(50) != 2 || r.Lag(95) != 4 || r.Lag(100) != 4 || r.Lag(0) != 1 {
		t.Errorf("lags: p50 %v, p95 %v, max %v", r.Lag(50), r.Lag(95), r.Lag(100))
	}
}
