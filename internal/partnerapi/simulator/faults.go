package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Faults is how the simulator misbehaves. Faults apply to /api requests only,
// never to /sim. The three shares are probabilities drawn once per request, so
// together they may not exceed 1.
type Faults struct {
	// Latency delays every /api answer.
	Latency time.Duration
	// LatencyJitter adds a uniformly drawn extra delay in [0, LatencyJitter).
	LatencyJitter time.Duration
	// ErrorRate is the share of /api requests answered 500, unprocessed.
	ErrorRate float64
	// RateLimitRate is the share answered 429 with Retry-After, unprocessed.
	RateLimitRate float64
	// DropRate is the share processed (any change is committed) whose response is
	// never sent: the connection is closed, so the client sees a connection error.
	DropRate float64
	// RetryAfter is the Retry-After value in seconds on injected 429s; 0 means
	// Options.RetryAfter.
	RetryAfter int
}

// Validate reports whether the faults make sense: no negative durations, shares
// within 0..1 and adding up to at most 1.
func (f Faults) Validate() error {
	switch {
	case f.Latency < 0 || f.LatencyJitter < 0:
		return fmt.Errorf("simulator: latency %v and jitter %v must not be negative", f.Latency, f.LatencyJitter)
	case f.RetryAfter < 0:
		return fmt.Errorf("simulator: retry-after %d must not be negative", f.RetryAfter)
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"error rate", f.ErrorRate}, {"rate-limit rate", f.RateLimitRate}, {"drop rate", f.DropRate}} {
		if !(r.v >= 0 && r.v <= 1) {
			return fmt.Errorf("simulator: %s %v is not within 0..1", r.name, r.v)
		}
	}
	if sum := f.ErrorRate + f.RateLimitRate + f.DropRate; sum > 1+1e-9 {
		return fmt.Errorf("simulator: error, rate-limit and drop rates add up to %v, more than 1", sum)
	}
	return nil
}

// SetFaults replaces the faults from now on.
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.faults.Store(&f)
	return nil
}

// Faults returns the faults in force.
func (s *Server) Faults() Faults { return *s.faults.Load() }

type fault int

const (
	faultNone fault = iota
	faultError
	faultRateLimit
	faultDrop
)

func (f *Faults) draw() fault {
	if f.ErrorRate == 0 && f.RateLimitRate == 0 && f.DropRate == 0 {
		return faultNone
	}
	u := rand.Float64()
	switch {
	case u < f.ErrorRate:
		return faultError
	case u < f.ErrorRate+f.RateLimitRate:
		return faultRateLimit
	case u < f.ErrorRate+f.RateLimitRate+f.DropRate:
		return faultDrop
	}
	return faultNone
}

// delay waits out the injected latency; false if the request was canceled first.
func (f *Faults) delay(ctx context.Context) bool {
	d := f.Latency
	if f.LatencyJitter > 0 {
		d += rand.N(f.LatencyJitter)
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// drop closes the connection without answering. A ResponseWriter that cannot be
// hijacked (HTTP/2, a recorder) gets the handler aborted instead, which also
// leaves the client without a response.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// faultsJSON is Faults on the wire (/sim/faults): durations as Go duration
// strings such as "150ms" (a bare number is taken as milliseconds).
type faultsJSON struct {
	Latency       jsonDuration `json:"latency"`
	LatencyJitter jsonDuration `json:"latency_jitter"`
	ErrorRate     float64      `json:"error_rate"`
	RateLimitRate float64      `json:"rate_limit_rate"`
	DropRate      float64      `json:"drop_rate"`
	RetryAfter    int          `json:"retry_after"`
}

// MarshalJSON writes the faults as /sim/faults shows them.
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{
		Latency:       jsonDuration(f.Latency),
		LatencyJitter: jsonDuration(f.LatencyJitter),
		ErrorRate:     f.ErrorRate,
		RateLimitRate: f.RateLimitRate,
		DropRate:      f.DropRate,
		RetryAfter:    f.RetryAfter,
	})
}

// UnmarshalJSON reads faults as PUT /sim/faults takes them; absent fields are
// zero and unknown fields are an error.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var j faultsJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	*f = Faults{
		Latency:       time.Duration(j.Latency),
		LatencyJitter: time.Duration(j.LatencyJitter),
		ErrorRate:     j.ErrorRate,
		RateLimitRate: j.RateLimitRate,
		DropRate:      j.DropRate,
		RetryAfter:    j.RetryAfter,
	}
	return nil
}

type jsonDuration time.Duration

func (d jsonDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = jsonDuration(v)
		return nil
	}
	ms, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("duration %s: want a string such as \"150ms\" or a number of milliseconds", b)
	}
	*d = jsonDuration(ms * float64(time.Millisecond))
	return nil
}
