package partnerapi

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestRateLimiter(t *testing.T) {
	srv := newScripted(t)
	srv.set(answer(200, []byte(`{"account_uid":"acct-1"}`)))
	ctx := testCtx(t)
	const (
		rps = 20
		n   = 11
		// With a burst of 1 the first request goes at once and each other one
		// waits 1/rps: (n-1)/rps = 500ms.
		want = (n - 1) * time.Second / rps
	)

	t.Run("sequential", func(t *testing.T) {
		c := newTestClient(t, srv.apiURL(), func(cfg *Config) { cfg.RequestsPerSecond, cfg.Burst = rps, 1 })
		waitsBefore := histogramCount(t, MetricRateLimiterWait, defaultLabel)
		start := time.Now()
		for range n {
			_, err := c.Get(ctx, "acct-1")
			rememberErr(err)
			if err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d < want {
			t.Errorf("%d requests at %d/s took %v, want at least %v", n, rps, d, want)
		}
		if got := histogramCount(t, MetricRateLimiterWait, defaultLabel) - waitsBefore; got != n {
			t.Errorf("limiter waits observed = %d, want %d", got, n)
		}
	})

	t.Run("shared by concurrent callers", func(t *testing.T) {
		c := newTestClient(t, srv.apiURL(), func(cfg *Config) { cfg.RequestsPerSecond, cfg.Burst = rps, 1 })
		start := time.Now()
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				_, err := c.Get(ctx, "acct-1")
				rememberErr(err)
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if d := time.Since(start); d < want {
			t.Errorf("%d concurrent requests at %d/s took %v, want at least %v", n, rps, d, want)
		}
	})

	t.Run("burst goes at once", func(t *testing.T) {
		c := newTestClient(t, srv.apiURL(), func(cfg *Config) { cfg.RequestsPerSecond, cfg.Burst = 1, 5 })
		start := time.Now()
		for range 5 {
			_, err := c.Get(ctx, "acct-1")
			rememberErr(err)
			if err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d > 900*time.Millisecond {
			t.Errorf("a burst of 5 at 1/s took %v", d)
		}
	})

	t.Run("deadline shorter than the wait", func(t *testing.T) {
		c := newTestClient(t, srv.apiURL(), func(cfg *Config) { cfg.RequestsPerSecond, cfg.Burst = 0.5, 1 })
		_, err := c.Get(ctx, "acct-1")
		rememberErr(err)
		if err != nil {
			t.Fatal(err)
		}
		before := len(srv.all())
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = c.Get(short, "acct-1")
		rememberErr(err)
		if !errors.Is(err, ErrTransient) {
			t.Errorf("err = %v (%s), want ErrTransient", err, kindOf(err))
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("the refused call took %v", d)
		}
		if n := len(srv.all()) - before; n != 0 {
			t.Errorf("%d requests were sent past the limiter", n)
		}
	})
}
