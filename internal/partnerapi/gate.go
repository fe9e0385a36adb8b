package partnerapi

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// MetricPausedUntil is a gauge, the Unix time until which calls wait because the
// API answered with a Retry-After; 0, or in the past, when calls are not held back.
const MetricPausedUntil = "partnerapi_paused_until_timestamp_seconds"

var pausedUntil = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: MetricPausedUntil,
	Help: "Unix time until which calls to the 1Password Partnership API wait because it answered with a Retry-After.",
})

func init() {
	pausedUntil = register(pausedUntil)
}

// gate holds back every call of one client while the API asked it to: a
// Retry-After (on a 429, or a 503 that names one) pauses all calls until then,
// before they take a rate-limiter token. A later Retry-After extends the pause
// but never shortens it.
type gate struct {
	mu sync.Mutex
	// until is the end of the current pause.
	until time.Time
}

// pass returns once the call may send: after any pause and a rate-limiter token.
// Otherwise it returns the *Error the call fails with.
func (g *gate) pass(ctx context.Context, op, uid string, limiter *rate.Limiter) error {
	waitStart := time.Now()
	err := g.wait(ctx, limiter)
	limiterWait.Observe(time.Since(waitStart).Seconds())
	if err != nil {
		return &Error{Kind: ErrTransient, Op: op, UID: uid, Err: fmt.Errorf("client-side rate limiter: %w", err)}
	}
	return nil
}

// wait waits out any pause, then takes a rate-limiter token. A pause that began
// while it waited for the token is waited out too, and another token taken, so
// that calls queued behind the limiter neither go out during the pause nor all
// at once when it ends.
func (g *gate) wait(ctx context.Context, limiter *rate.Limiter) error {
	for {
		if err := g.waitPause(ctx); err != nil {
			return err
		}
		if err := limiter.Wait(ctx); err != nil {
			return err
		}
		g.mu.Lock()
		paused := time.Now().Before(g.until)
		g.mu.Unlock()
		if !paused {
			return nil
		}
	}
}

// waitPause waits for the end of the current pause, which may grow while it
// waits. It fails at once when ctx's deadline comes before the end.
func (g *gate) waitPause(ctx context.Context) error {
	for {
		g.mu.Lock()
		until := g.until
		g.mu.Unlock()
		d := time.Until(until)
		if d <= 0 {
			return nil
		}
		if deadline, ok := ctx.Deadline(); ok && deadline.Before(until) {
			return fmt.Errorf("the API's Retry-After outlasts the deadline: %w", context.DeadlineExceeded)
		}
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}

// leave learns from the end of a call: sent tells whether the request went out and
// err is what the call returns.
func (g *gate) leave(sent bool, err error) {
	// do returns only *Error.
	e, ok := err.(*Error)
	if !sent || !ok || e.StatusCode == 0 || e.RetryAfter <= 0 {
		return
	}
	until := time.Now().Add(e.RetryAfter)
	g.mu.Lock()
	defer g.mu.Unlock()
	if until.After(g.until) {
		g.until = until
		pausedUntil.Set(float64(until.UnixMilli()) / 1000)
	}
}
