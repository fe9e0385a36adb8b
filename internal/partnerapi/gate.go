package partnerapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// DefaultUnauthorizedRetryPeriod is how often a rejected token is tried again when
// Config.UnauthorizedRetryPeriod is zero.
const DefaultUnauthorizedRetryPeriod = 2 * time.Minute

// Metric names of the gate's state.
const (
	// MetricCredentialsRejected is a gauge, 1 while the API rejects the bearer token
	// and calls fail without a request, 0 otherwise.
	MetricCredentialsRejected = "partnerapi_credentials_rejected"
	// MetricPausedUntil is a gauge, the Unix time until which calls wait because
	// the API answered with a Retry-After; 0, or in the past, when calls are not
	// held back.
	MetricPausedUntil = "partnerapi_paused_until_timestamp_seconds"
)

var (
	// credentialsRejected mirrors each connection's gate.
	credentialsRejected = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: MetricCredentialsRejected,
		Help: "1 while the 1Password Partnership API rejects the bearer token and calls fail without a request, except one per retry period.",
	}, []string{LabelConnection})
	pausedUntil = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: MetricPausedUntil,
		Help: "Unix time until which calls to the 1Password Partnership API wait because it answered with a Retry-After.",
	}, []string{LabelConnection})
)

func init() {
	credentialsRejected = register(credentialsRejected)
	pausedUntil = register(pausedUntil)
}

// gate decides when a call may send its request, for all callers of one client,
// from what earlier answers said:
//
//   - A Retry-After (on a 429, or a 503 that names one) pauses every call until
//     then: meanwhile calls fail at once with ErrRateLimited, carrying the time
//     left as their RetryAfter, and send nothing, so that no caller is held for
//     the length of the pause. A later Retry-After extends the pause but never
//     shortens it.
//   - A 401 or 403 closes the gate. While closed, calls fail at once with
//     ErrUnauthorized and send nothing, except one probe at a time: the first call
//     after period has passed since the last rejection, or the first call after
//     the token file changed. Any answer to the probe other than 401 or 403
//     reopens the gate.
//
// A token file that cannot be read fails the call but neither opens
// nor closes the gate: nothing was sent, so the API said nothing about the token,
// and the file is read again on the next call.
type gate struct {
	period time.Duration
	// connection labels the gate's metrics.
	connection string

	mu sync.Mutex
	// until is the end of the current pause.
	until time.Time
	// closed is set while the API rejects the token.
	closed bool
	// epoch counts openings and closings, so that a 401 answering a request sent
	// before the gate last reopened does not close it again.
	epoch uint64
	// probing is set while a probe is on its way.
	probing bool
	// nextProbe is when the next probe may go with triedToken.
	nextProbe time.Time
	// triedToken is the token of the rejection or probe that set nextProbe. A
	// different token in the file is tried at once. It is kept only to compare
	// and never shows up in an error.
	triedToken string
	// onReopen are called each time the gate reopens.
	onReopen []func()
	// rejectedWith is the status of the last rejection: 401 or 403.
	rejectedWith int
}

func newGate(period time.Duration, connection string) *gate {
	limiterWait.WithLabelValues(connection)
	credentialsRejected.WithLabelValues(connection).Set(0)
	pausedUntil.WithLabelValues(connection).Set(0)
	return &gate{period: period, connection: connection}
}

// ticket is what pass hands a call allowed to send, for leave.
type ticket struct {
	probe bool
	epoch uint64
}

// pass returns once the call may send: after any pause and a rate-limiter token,
// with the gate open or the call chosen as the probe. Otherwise it returns the
// *Error the call fails with. A call that got a ticket must hand it to leave.
func (g *gate) pass(ctx context.Context, op, uid string, limiter *rate.Limiter, token tokens) (ticket, error) {
	t, err := g.enter(op, uid, token)
	if err != nil {
		return ticket{}, err
	}

	if d := g.pauseLeft(); d > 0 {
		g.leave(t, "", nil)
		return ticket{}, paused(op, uid, d)
	}
	waitStart := time.Now()
	err = limiter.Wait(ctx)
	limiterWait.WithLabelValues(g.connection).Observe(time.Since(waitStart).Seconds())
	if err != nil {
		g.leave(t, "", nil) // nothing went out
		return ticket{}, &Error{Kind: ErrTransient, Op: op, UID: uid, Err: fmt.Errorf("client-side rate limiter: %w", err)}
	}
	// A pause that began while this call waited for its token holds it too, so
	// that calls queued behind the limiter do not go out during the pause.
	if d := g.pauseLeft(); d > 0 {
		g.leave(t, "", nil)
		return ticket{}, paused(op, uid, d)
	}

	// The gate may have closed while this call waited: calls queued behind the
	// limiter must not all go out with a token the API has just rejected.
	g.mu.Lock()
	refused := g.closed && !t.probe
	g.mu.Unlock()
	if refused {
		return ticket{}, notSent(op, uid, g.rejectedStatus())
	}
	return t, nil
}

// enter lets the call on while the gate is open, makes it the probe when one is
// due, and refuses it otherwise.
func (g *gate) enter(op, uid string, token tokens) (ticket, error) {
	g.mu.Lock()
	if !g.closed {
		defer g.mu.Unlock()
		return ticket{epoch: g.epoch}, nil
	}
	g.mu.Unlock()

	// Outside the lock: this reads the file when it changed.
	current, err := token.Token()
	if err != nil {
		return ticket{}, tokenFileError(op, uid, err)
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case !g.closed:
		return ticket{epoch: g.epoch}, nil // reopened meanwhile
	case g.probing, current == g.triedToken && time.Now().Before(g.nextProbe):
		return ticket{}, notSent(op, uid, g.rejectedWith)
	}
	g.probing = true
	return ticket{probe: true, epoch: g.epoch}, nil
}

// errNotSent is the cause of calls the closed gate refuses. Its text is fixed, so
// that retries of a refused call give the same error.
var errNotSent = errors.New("not sent: the API rejected the bearer token; " +
	"it is tried again by one call per retry period, or at once when the token file changes")

func notSent(op, uid string, rejectedWith int) *Error {
	return &Error{Kind: ErrUnauthorized, Op: op, UID: uid, Rejected: rejectedWith, Err: errNotSent}
}

// blocked returns the error a call would fail with now without sending anything,
// or nil when it would go out (the gate open, or a probe due).
func (g *gate) blocked(op, uid string, token tokens) *Error {
	if d := g.pauseLeft(); d > 0 {
		return paused(op, uid, d)
	}
	g.mu.Lock()
	closed, probing, tried, next, rejectedWith := g.closed, g.probing, g.triedToken, g.nextProbe, g.rejectedWith
	g.mu.Unlock()
	if !closed {
		return nil
	}
	current, err := token.Token()
	if err == nil && !probing && (current != tried || !time.Now().Before(next)) {
		return nil
	}
	return notSent(op, uid, rejectedWith)
}

// rejectedStatus is the status of the last rejection of the token.
func (g *gate) rejectedStatus() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.rejectedWith
}

// pauseLeft returns how long the current pause lasts still; zero or less when
// calls are not held back.
func (g *gate) pauseLeft() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return time.Until(g.until)
}

// errPaused is the cause of calls refused during a pause. Its text is fixed, so
// that refused calls give the same error whatever time is left.
var errPaused = errors.New("not sent: the API asked the partner to wait (Retry-After)")

// paused is the error of a call refused with d of the pause left.
func paused(op, uid string, d time.Duration) *Error {
	return &Error{Kind: ErrRateLimited, Op: op, UID: uid, RetryAfter: d, Err: errPaused}
}

// leave learns from the end of a call that held ticket t: sent is the token the
// request carried ("" when none went out) and err what the call returns.
func (g *gate) leave(t ticket, sent string, err error) {
	// do returns only *Error; StatusCode 0 means no answer arrived.
	e, _ := err.(*Error)
	answered := sent != "" && (err == nil || e != nil && e.StatusCode != 0)
	// A 401 or 403, as responseError classifies them.
	rejected := answered && e != nil && e.Kind == ErrUnauthorized
	now := time.Now()

	g.mu.Lock()
	if answered && e != nil && e.RetryAfter > 0 {
		if until := now.Add(e.RetryAfter); until.After(g.until) {
			g.until = until
			pausedUntil.WithLabelValues(g.connection).Set(float64(until.UnixMilli()) / 1000)
		}
	}
	if t.probe {
		g.probing = false
	}
	var reopened []func()
	switch {
	case rejected && (t.probe || !g.closed && t.epoch == g.epoch):
		if !g.closed {
			g.closed = true
			g.epoch++
			credentialsRejected.WithLabelValues(g.connection).Set(1)
		}
		g.triedToken, g.nextProbe = sent, now.Add(g.period)
		g.rejectedWith = e.StatusCode
	case t.probe && answered:
		g.closed = false
		g.epoch++
		credentialsRejected.WithLabelValues(g.connection).Set(0)
		reopened = g.onReopen
	case t.probe && sent != "":
		// No answer (a timeout, a dropped connection): that still counts as this
		// period's probe of the token.
		g.triedToken, g.nextProbe = sent, now.Add(g.period)
	case t.probe:
		// Nothing went out (the caller gave up waiting): the next call probes.
		g.nextProbe = time.Time{}
	}
	g.mu.Unlock()

	for _, f := range reopened {
		f()
	}
}

// OnReauthorized registers f to be called each time calls can go out again after
// the API rejected the bearer token: a probe sent while calls were being refused
// with ErrUnauthorized got an answer other than 401 or 403. Objects that failed as
// Unauthorized can then be retried at once instead of after their requeue delay.
//
// f runs on the goroutine of the call that got the answer, before that call
// returns, so it must not block: a non-blocking send on a channel is typical, for
// example one feeding controller-runtime's source.Channel:
//
//	events := make(chan event.GenericEvent, 1)
//	api.OnReauthorized(func() {
//		select {
//		case events <- event.GenericEvent{Object: &v1alpha1.PartnerAccount{}}:
//		default: // a wake-up is already pending
//		}
//	})
//
// Register before the client is used; f cannot be removed.
func (c *HTTPClient) OnReauthorized(f func()) {
	c.gate.mu.Lock()
	defer c.gate.mu.Unlock()
	// A new slice, so that leave can call the old one without the lock.
	c.gate.onReopen = append(slices.Clip(c.gate.onReopen), f)
}

// Blocked returns the error a call about uid would fail with right now without
// sending a request: the API asked to wait (ErrRateLimited, with the time left as
// RetryAfter), or it rejects the token and no retry of it is due
// (ErrUnauthorized). It returns nil when a call would go out. A caller that must
// record something before a request (a claim before a create) asks first, so as
// not to record an attempt that is never made.
func (c *HTTPClient) Blocked(op, uid string) error {
	if e := c.gate.blocked(op, uid, c.token); e != nil {
		return e
	}
	return nil
}
