package partnerapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// hit is one request as a timedServer saw it.
type hit struct {
	at     time.Time
	uid    string
	token  string
	status int
}

// timedServer answers each request with the status reply picks (and a Retry-After
// when it returns one), and records when each request arrived.
type timedServer struct {
	*httptest.Server
	mu    sync.Mutex
	hits  []hit
	reply func(h hit) (status int, retryAfter string)
}

func newTimedServer(t *testing.T, reply func(h hit) (int, string)) *timedServer {
	t.Helper()
	s := &timedServer{reply: reply}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := hit{
			at:    time.Now(),
			uid:   r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:],
			token: strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "),
		}
		s.mu.Lock()
		reply := s.reply
		s.mu.Unlock()
		status, retryAfter := reply(h)
		h.status = status
		s.mu.Lock()
		s.hits = append(s.hits, h)
		s.mu.Unlock()
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if status < 300 {
			_, _ = fmt.Fprintf(w, `{"account_uid":%q}`, h.uid)
		} else {
			_, _ = fmt.Fprintf(w, `{"status":%d,"message":"Server says %d.","code":"code_%d"}`, status, status, status)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *timedServer) setReply(reply func(h hit) (int, string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reply = reply
}

// all returns the requests in the order they arrived.
func (s *timedServer) all() []hit {
	s.mu.Lock()
	hits := append([]hit(nil), s.hits...)
	s.mu.Unlock()
	slices.SortFunc(hits, func(a, b hit) int { return a.at.Compare(b.at) })
	return hits
}

func (s *timedServer) count() int { return len(s.all()) }

func (s *timedServer) apiURL() string { return s.URL + "/api/v1" }

// always returns a reply giving status to every request.
func always(status int) func(hit) (int, string) {
	return func(hit) (int, string) { return status, "" }
}

// get calls c.Get and records the error for the token-leak check.
func get(ctx context.Context, c *HTTPClient, uid string) error {
	_, err := c.Get(ctx, uid)
	rememberErr(err)
	return err
}

// isNotSent reports whether err is the closed gate's refusal.
func isNotSent(err error) bool {
	var e *Error
	return errors.As(err, &e) && errors.Is(err, ErrUnauthorized) && e.StatusCode == 0 && errors.Is(err, errNotSent)
}

func TestNewUnauthorizedRetryPeriod(t *testing.T) {
	token := writeTokenFile(t, testToken)
	c, err := New(Config{TokenFile: token})
	must(t, err)
	if c.gate.period != DefaultUnauthorizedRetryPeriod {
		t.Errorf("default period = %v, want %v", c.gate.period, DefaultUnauthorizedRetryPeriod)
	}
	c, err = New(Config{TokenFile: token, UnauthorizedRetryPeriod: 5 * time.Second})
	must(t, err)
	if c.gate.period != 5*time.Second {
		t.Errorf("period = %v, want 5s", c.gate.period)
	}
	_, err = New(Config{TokenFile: token, UnauthorizedRetryPeriod: -time.Second})
	rememberErr(err)
	if err == nil || !strings.Contains(err.Error(), "Config.UnauthorizedRetryPeriod") {
		t.Errorf("negative period: err = %v, want one naming Config.UnauthorizedRetryPeriod", err)
	}
}

// TestRetryAfterPausesEveryCall checks that a 429 on one account holds back calls
// for other accounts, without holding their callers: one already queued behind the
// rate limiter when the 429 arrived, and one made after it, both fail at once with
// ErrRateLimited and the time left, and nothing goes out until the pause is over.
func TestRetryAfterPausesEveryCall(t *testing.T) {
	arrived := make(chan struct{})
	srv := newTimedServer(t, func(h hit) (int, string) {
		if h.uid == "limited" {
			close(arrived)
			// Answer late enough that the queued call is waiting for the
			// limiter when the 429 lands.
			time.Sleep(200 * time.Millisecond)
			return http.StatusTooManyRequests, "1"
		}
		return http.StatusOK, ""
	})
	c := newTestClient(t, srv.apiURL(), func(cfg *Config) { cfg.RequestsPerSecond, cfg.Burst = 2, 1 })
	ctx := testCtx(t)

	limited := make(chan error, 1)
	go func() { limited <- get(ctx, c, "limited") }()
	<-arrived
	queued := make(chan error, 1)
	go func() { queued <- get(ctx, c, "queued") }() // its token is due 500ms after the first

	err := <-limited
	if d, ok := RetryAfter(err); !errors.Is(err, ErrRateLimited) || !ok || d != time.Second {
		t.Fatalf("err = %v (%s), want ErrRateLimited asking for 1s", err, kindOf(err))
	}
	if until := testutil.ToFloat64(pausedUntil.WithLabelValues(DefaultConnection)); until < float64(time.Now().Unix()) {
		t.Errorf("%s = %v, want the end of the pause, in the future", MetricPausedUntil, until)
	}
	start := time.Now()
	for name, err := range map[string]error{"made during the pause": get(ctx, c, "later"), "queued": <-queued} {
		d, ok := RetryAfter(err)
		if !errors.Is(err, ErrRateLimited) || !ok || d <= 0 || d > time.Second {
			t.Errorf("the call %s: err = %v (%s), retry after %v; want ErrRateLimited with what is left of 1s",
				name, err, kindOf(err), d)
		}
	}
	if waited := time.Since(start); waited > 300*time.Millisecond {
		t.Errorf("refusing the calls took %v: they waited for the pause", waited)
	}

	// The pause began when the client read the 429, before start.
	time.Sleep(time.Until(start.Add(time.Second)))
	if err := get(ctx, c, "after"); err != nil {
		t.Fatalf("a call after the pause: %v", err)
	}
	hits := srv.all()
	if len(hits) < 2 || hits[0].uid != "limited" || hits[1].uid != "after" {
		t.Fatalf("requests = %+v, want the 429, then only calls made after the pause", hits)
	}
	// The pause starts when the client reads the 429, after it arrived at the
	// server; one clock, so no tolerance is needed.
	if d := hits[1].at.Sub(hits[0].at); d < time.Second {
		t.Errorf("a call arrived %v after the 429's request, want at least the 1s it asked for", d)
	}
}

// TestRetryAfterPauseOnlyGrows checks that a shorter Retry-After never shortens a
// pause, a longer one extends it, and which answers pause at all.
func TestRetryAfterPauseOnlyGrows(t *testing.T) {
	g := newGate(time.Minute, "test")
	respond := func(status int, retryAfter time.Duration) {
		g.leave(ticket{}, "tok", &Error{Kind: kindFor(OpGet, status, true), Op: OpGet, UID: "a", StatusCode: status, RetryAfter: retryAfter})
	}
	respond(http.StatusTooManyRequests, 10*time.Second)
	first := g.until
	if d := time.Until(first); d < 9*time.Second || d > 10*time.Second {
		t.Fatalf("pause ends in %v, want 10s", d)
	}
	respond(http.StatusTooManyRequests, time.Second)
	if !g.until.Equal(first) {
		t.Errorf("a 1s Retry-After moved the end of a 10s pause by %v", g.until.Sub(first))
	}
	respond(http.StatusServiceUnavailable, 20*time.Second)
	if d := g.until.Sub(first); d < 9*time.Second {
		t.Errorf("a 503 asking for 20s extended the pause by %v, want about 10s", d)
	}

	for _, tc := range []struct {
		name   string
		status int
		after  time.Duration
		sent   string
	}{
		{"503 without Retry-After", http.StatusServiceUnavailable, 0, "tok"},
		{"500", http.StatusInternalServerError, 0, "tok"},
		{"nothing sent", 0, time.Hour, ""},
	} {
		g := newGate(time.Minute, "test")
		g.leave(ticket{}, tc.sent, &Error{Kind: ErrTransient, StatusCode: tc.status, RetryAfter: tc.after})
		if !g.until.IsZero() {
			t.Errorf("%s paused calls until %v", tc.name, g.until)
		}
	}
}

// TestRetryAfterPauseHoldsNoCaller checks that during a long pause (an hour) a
// call fails at once whatever its context allows, and sends nothing.
func TestRetryAfterPauseHoldsNoCaller(t *testing.T) {
	srv := newTimedServer(t, func(h hit) (int, string) {
		if h.uid == "limited" {
			return http.StatusTooManyRequests, "3600"
		}
		return http.StatusOK, ""
	})
	c := newTestClient(t, srv.apiURL())
	ctx := testCtx(t)
	if err := get(ctx, c, "limited"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("err = %v (%s), want ErrRateLimited", err, kindOf(err))
	}

	start := time.Now()
	err := get(ctx, c, "other")
	if d, ok := RetryAfter(err); !errors.Is(err, ErrRateLimited) || !ok || d < 59*time.Minute {
		t.Errorf("err = %v (%s), retry after %v; want ErrRateLimited with about an hour left", err, kindOf(err), d)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the call waited %v during the pause", d)
	}
	if first, second := get(ctx, c, "other").Error(), err.Error(); first != second {
		t.Errorf("two refused calls give different texts: %q and %q", first, second)
	}
	if n := srv.count(); n != 1 {
		t.Errorf("the server saw %d requests, want only the 429's", n)
	}
}

// TestUnauthorizedGateProbesOncePerPeriod runs concurrent callers against a server
// that rejects the token: after the first 401, one request per period goes out,
// and every other call fails at once with the same text and no request.
func TestUnauthorizedGateProbesOncePerPeriod(t *testing.T) {
	const (
		period  = 200 * time.Millisecond
		window  = 1200 * time.Millisecond
		callers = 4
	)
	srv := newTimedServer(t, always(http.StatusUnauthorized))
	c := newTestClient(t, srv.apiURL(), func(cfg *Config) { cfg.UnauthorizedRetryPeriod = period })
	ctx := testCtx(t)

	start := time.Now()
	err := get(ctx, c, "acct-0")
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrUnauthorized) || e.StatusCode != http.StatusUnauthorized {
		t.Fatalf("first call: err = %v (%s), want ErrUnauthorized from the 401", err, kindOf(err))
	}
	if v := testutil.ToFloat64(credentialsRejected.WithLabelValues(DefaultConnection)); v != 1 {
		t.Errorf("%s = %v after a 401, want 1", MetricCredentialsRejected, v)
	}

	var refused, answered atomic.Int32
	texts := make([]map[string]bool, callers)
	var wg sync.WaitGroup
	for i := range callers {
		texts[i] = map[string]bool{}
		uid := fmt.Sprintf("acct-%d", i+1)
		wg.Go(func() {
			for time.Since(start) < window {
				err := get(ctx, c, uid)
				switch {
				case isNotSent(err):
					refused.Add(1)
					texts[i][err.Error()] = true
				case errors.Is(err, ErrUnauthorized):
					answered.Add(1) // a probe
				default:
					t.Errorf("err = %v (%s), want ErrUnauthorized", err, kindOf(err))
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	hits := srv.all()
	if limit := 1 + int(elapsed/period); len(hits) > limit {
		t.Errorf("%d requests in %v with a %v period, want at most %d", len(hits), elapsed, period, limit)
	}
	if len(hits) < 2 {
		t.Errorf("%d requests in %v with a %v period: the token was never tried again", len(hits), elapsed, period)
	}
	for i := 1; i < len(hits); i++ {
		if d := hits[i].at.Sub(hits[i-1].at); d < period {
			t.Errorf("requests %d and %d went %v apart, want at least the %v period", i-1, i, d, period)
		}
	}
	if int(answered.Load()) != len(hits)-1 {
		t.Errorf("%d calls got the server's 401, but the server saw %d requests after the first", answered.Load(), len(hits)-1)
	}
	if refused.Load() < callers {
		t.Errorf("only %d calls were refused without a request", refused.Load())
	}
	for i, set := range texts {
		if len(set) != 1 {
			t.Errorf("caller %d got %d different refusals, want one text for every retry: %v", i, len(set), set)
		}
	}
}

// TestUnauthorizedGateRefusesQueuedCalls checks that calls already waiting for
// the rate limiter when a 401 arrives do not go out with the rejected token.
func TestUnauthorizedGateRefusesQueuedCalls(t *testing.T) {
	arrived := make(chan struct{}, 1)
	srv := newTimedServer(t, func(hit) (int, string) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		time.Sleep(100 * time.Millisecond) // so that the others are queued by now
		return http.StatusUnauthorized, ""
	})
	// The second token is due 500ms after the first, the third after 1s.
	c := newTestClient(t, srv.apiURL(), func(cfg *Config) { cfg.RequestsPerSecond, cfg.Burst = 2, 1 })
	ctx := testCtx(t)

	first := make(chan error, 1)
	go func() { first <- get(ctx, c, "acct-0") }()
	<-arrived
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			if err := get(ctx, c, fmt.Sprintf("acct-%d", i+1)); !isNotSent(err) {
				t.Errorf("queued call: err = %v (%s), want a refusal without a request", err, kindOf(err))
			}
		})
	}
	if err := <-first; !errors.Is(err, ErrUnauthorized) {
		t.Errorf("first call: err = %v (%s), want ErrUnauthorized", err, kindOf(err))
	}
	wg.Wait()
	if n := srv.count(); n != 1 {
		t.Errorf("the server saw %d requests, want 1", n)
	}
}

// TestUnauthorizedGateReopensWhenServerAccepts checks that once the server takes
// the token again, the next probe succeeds, the gate reopens, the hooks run once,
// and calls go out again.
func TestUnauthorizedGateReopensWhenServerAccepts(t *testing.T) {
	const period = 100 * time.Millisecond
	srv := newTimedServer(t, always(http.StatusOK))
	c := newTestClient(t, srv.apiURL(), func(cfg *Config) { cfg.UnauthorizedRetryPeriod = period })
	ctx := testCtx(t)
	var woken, wokenToo atomic.Int32
	c.OnReauthorized(func() { woken.Add(1) })
	c.OnReauthorized(func() { wokenToo.Add(1) })

	if err := get(ctx, c, "acct-1"); err != nil {
		t.Fatal(err)
	}
	srv.setReply(always(http.StatusForbidden))
	if err := get(ctx, c, "acct-1"); !errors.Is(err, ErrUnauthorized) || isNotSent(err) {
		t.Fatalf("err = %v (%s), want the server's 403", err, kindOf(err))
	}
	err := get(ctx, c, "acct-2")
	if !isNotSent(err) {
		t.Fatalf("err = %v (%s), want a refusal without a request", err, kindOf(err))
	}
	if e, _ := errors.AsType[*Error](err); e.TokenFile == "" || e.TokenFile != c.tokenFile {
		t.Errorf("the refusal names token file %q, want %q", e.TokenFile, c.tokenFile)
	}
	if woken.Load() != 0 {
		t.Error("the hook ran before the gate reopened")
	}

	srv.setReply(always(http.StatusOK))
	accepted := time.Now()
	deadline := accepted.Add(10 * time.Second)
	for {
		err := get(ctx, c, "acct-2")
		if err == nil {
			break
		}
		if !isNotSent(err) || time.Now().After(deadline) {
			t.Fatalf("err = %v (%s), want refusals until the probe goes out", err, kindOf(err))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The hooks ran before the probe's call returned.
	if woken.Load() != 1 || wokenToo.Load() != 1 {
		t.Errorf("hooks ran %d and %d times, want once each", woken.Load(), wokenToo.Load())
	}
	if v := testutil.ToFloat64(credentialsRejected.WithLabelValues(DefaultConnection)); v != 0 {
		t.Errorf("%s = %v after the gate reopened, want 0", MetricCredentialsRejected, v)
	}
	if findMetric(t, MetricCredentialsRejected, defaultLabel) == nil || findMetric(t, MetricPausedUntil, defaultLabel) == nil {
		t.Error("the gate's gauges are not on controller-runtime's registry")
	}

	before := srv.count()
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			if err := get(ctx, c, fmt.Sprintf("acct-%d", i+3)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := srv.count() - before; n != 5 {
		t.Errorf("%d of 5 calls after the reopening reached the server", n)
	}
	if woken.Load() != 1 {
		t.Errorf("the hook ran %d times, want once: successes with an open gate are no reopening", woken.Load())
	}
}

// replaceTokenFile swaps the token file for one holding token, the way kubelet
// updates a Secret volume.
func replaceTokenFile(t *testing.T, path, token string) {
	t.Helper()
	tmp := path + ".new"
	must(t, os.WriteFile(tmp, []byte(token+"\n"), 0o600))
	must(t, os.Rename(tmp, path))
}

// TestUnauthorizedGateProbesAtOnceWhenTokenFileChanges checks that a fixed token
// is tried at once instead of after the period, that rewriting the rejected token
// is not, and that an unreadable token file meanwhile neither sends nor locks out.
func TestUnauthorizedGateProbesAtOnceWhenTokenFileChanges(t *testing.T) {
	srv := newTimedServer(t, func(h hit) (int, string) {
		if h.token == testTokenRotated {
			return http.StatusOK, ""
		}
		return http.StatusUnauthorized, ""
	})
	c := newTestClient(t, srv.apiURL(), func(cfg *Config) { cfg.UnauthorizedRetryPeriod = time.Hour })
	ctx := testCtx(t)
	reopened := make(chan struct{}, 1)
	c.OnReauthorized(func() { reopened <- struct{}{} })
	path := c.tokenFile

	if err := get(ctx, c, "acct-1"); !errors.Is(err, ErrUnauthorized) || isNotSent(err) {
		t.Fatalf("err = %v (%s), want the server's 401", err, kindOf(err))
	}
	if err := get(ctx, c, "acct-1"); !isNotSent(err) {
		t.Fatalf("err = %v (%s), want a refusal without a request", err, kindOf(err))
	}

	must(t, os.Remove(path))
	err := get(ctx, c, "acct-1")
	if !errors.Is(err, ErrUnauthorized) || isNotSent(err) || !strings.Contains(err.Error(), "bearer token") {
		t.Errorf("token file missing: err = %v (%s), want the token file's error", err, kindOf(err))
	}

	replaceTokenFile(t, path, testToken)
	if err := get(ctx, c, "acct-1"); !isNotSent(err) {
		t.Errorf("the rejected token written again: err = %v (%s), want a refusal without a request", err, kindOf(err))
	}
	if n := srv.count(); n != 1 {
		t.Fatalf("the server saw %d requests, want only the first", n)
	}

	replaceTokenFile(t, path, testTokenRotated)
	if err := get(ctx, c, "acct-1"); err != nil {
		t.Fatalf("first call with the fixed token: %v", err)
	}
	select {
	case <-reopened:
	default:
		t.Error("the hook did not run when the fixed token was accepted")
	}
	if err := get(ctx, c, "acct-2"); err != nil {
		t.Fatal(err)
	}
	if hits := srv.all(); len(hits) != 3 || hits[1].token != testTokenRotated {
		t.Errorf("the server saw %d requests, want the 401, the probe with the new token and one more", len(hits))
	}
}

// TestUnreadableTokenFileLeavesGateOpen checks that a token file that cannot be
// read fails calls without a request but does not close the gate: the calls go
// out again as soon as it is readable.
func TestUnreadableTokenFileLeavesGateOpen(t *testing.T) {
	srv := newTimedServer(t, always(http.StatusOK))
	c := newTestClient(t, srv.apiURL(), func(cfg *Config) { cfg.UnauthorizedRetryPeriod = time.Hour })
	ctx := testCtx(t)
	path := c.tokenFile

	must(t, os.Remove(path))
	for range 3 {
		if err := get(ctx, c, "acct-1"); !errors.Is(err, ErrUnauthorized) || isNotSent(err) {
			t.Fatalf("err = %v (%s), want the token file's error", err, kindOf(err))
		}
	}
	replaceTokenFile(t, path, testToken)
	if err := get(ctx, c, "acct-1"); err != nil {
		t.Fatalf("after the token file came back: %v", err)
	}
	if n := srv.count(); n != 1 {
		t.Errorf("the server saw %d requests, want 1", n)
	}
}

// TestProbeNotSentFreesTheSlot checks that a probe whose caller gives up before
// sending does not block the next probe.
func TestProbeNotSentFreesTheSlot(t *testing.T) {
	srv := newTimedServer(t, func(h hit) (int, string) {
		if h.token == testTokenRotated {
			return http.StatusOK, ""
		}
		return http.StatusUnauthorized, ""
	})
	c := newTestClient(t, srv.apiURL(), func(cfg *Config) {
		cfg.UnauthorizedRetryPeriod = time.Hour
		cfg.RequestsPerSecond = 100
	})
	ctx := testCtx(t)
	if err := get(ctx, c, "acct-1"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v (%s), want ErrUnauthorized", err, kindOf(err))
	}
	replaceTokenFile(t, c.tokenFile, testTokenRotated)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := get(cancelled, c, "acct-1"); !errors.Is(err, ErrTransient) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled probe: err = %v (%s), want ErrTransient", err, kindOf(err))
	}
	if err := get(ctx, c, "acct-1"); err != nil {
		t.Fatalf("next call: err = %v (%s), want it sent as the probe and accepted", err, kindOf(err))
	}
	if n := srv.count(); n != 2 {
		t.Errorf("the server saw %d requests, want 2", n)
	}
}

// TestStale401DoesNotCloseReopenedGate checks that a 401 answering a request sent
// before the gate reopened does not close it again.
func TestStale401DoesNotCloseReopenedGate(t *testing.T) {
	g := newGate(time.Hour, "test")
	rejection := &Error{Kind: ErrUnauthorized, Op: OpGet, UID: "a", StatusCode: http.StatusUnauthorized}
	token := newTokenSource(writeTokenFile(t, testTokenRotated))

	first, err := g.enter(OpGet, "a", token)
	must(t, err)
	stale, err := g.enter(OpGet, "b", token)
	must(t, err)
	g.leave(first, testToken, rejection)
	if !g.closed {
		t.Fatal("a 401 did not close the gate")
	}
	probe, err := g.enter(OpGet, "c", token) // a new token: probed at once
	must(t, err)
	if !probe.probe {
		t.Fatal("the first call with a new token was not made the probe")
	}
	g.leave(probe, testTokenRotated, nil)
	if g.closed {
		t.Fatal("an accepted probe did not reopen the gate")
	}
	g.leave(stale, testToken, rejection)
	if g.closed {
		t.Error("a 401 to a request sent before the gate reopened closed it again")
	}
}

// TestOutageStaysUnderRateLimit runs many callers through an outage of 500s and
// 429s and checks at the server that no second held more requests than the rate
// limit allows, and that a 429 held everyone back.
func TestOutageStaysUnderRateLimit(t *testing.T) {
	const (
		rps     = 4
		burst   = 2
		callers = 10
		outage  = 2 * time.Second
	)
	var n atomic.Int32
	srv := newTimedServer(t, func(hit) (int, string) {
		if n.Add(1)%5 == 0 {
			return http.StatusTooManyRequests, "" // a 1s pause
		}
		return http.StatusInternalServerError, ""
	})
	c := newTestClient(t, srv.apiURL(), func(cfg *Config) { cfg.RequestsPerSecond, cfg.Burst = rps, burst })
	ctx := testCtx(t)

	start := time.Now()
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			for time.Since(start) < outage {
				if err := get(ctx, c, fmt.Sprintf("acct-%d", i)); err == nil {
					t.Error("a call succeeded during the outage")
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	hits := srv.all()
	if limit := burst + int(rps*elapsed.Seconds()); len(hits) > limit {
		t.Errorf("%d requests in %v, want at most %d", len(hits), elapsed, limit)
	}
	// Requests arrive a little after they are sent, unevenly: allow for 250ms of
	// skew in each one-second window.
	limit := burst + int(rps*1.25)
	pauses := 0
	for i, h := range hits {
		inSecond := 1
		for _, later := range hits[i+1:] {
			if later.at.Sub(h.at) < time.Second {
				inSecond++
			}
		}
		inPause := inSecond - 1
		if inSecond > limit {
			t.Errorf("%d requests in the second from %v, want at most %d", inSecond, h.at.Sub(start), limit)
		}
		if h.status == http.StatusTooManyRequests {
			pauses++
			// Only requests sent before the client read the 429 may follow
			// within the second: at most a burst.
			if inPause > burst {
				t.Errorf("%d requests in the second after a 429, want at most %d already on their way", inPause, burst)
			}
		}
	}
	if pauses == 0 {
		t.Errorf("no 429 among %d requests: the test did not exercise the pause", len(hits))
	}
	t.Logf("%d requests, %d of them 429, in %v", len(hits), pauses, elapsed)
}

// TestBlockedSaysWhatACallWouldMeet checks that Blocked tells, without sending
// anything, that a call would be refused during a pause or while the token is
// rejected, and lets it go when a probe of the token is due.
func TestBlockedSaysWhatACallWouldMeet(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusTooManyRequests)
	srv := newTimedServer(t, func(hit) (int, string) { return int(status.Load()), "1" })
	c := newTestClient(t, srv.apiURL(), func(cfg *Config) { cfg.UnauthorizedRetryPeriod = time.Second })
	ctx := testCtx(t)
	if err := c.Blocked(OpCreate, "acct-1"); err != nil {
		t.Fatalf("a new client: Blocked = %v", err)
	}

	_ = get(ctx, c, "acct-1") // 429, Retry-After: 1
	err := c.Blocked(OpCreate, "acct-2")
	if d, ok := RetryAfter(err); !errors.Is(err, ErrRateLimited) || !ok || d <= 0 || !NotSent(err) {
		t.Errorf("during a pause: Blocked = %v (%s), want ErrRateLimited not sent, with the time left", err, kindOf(err))
	}
	rememberErr(err)
	time.Sleep(1100 * time.Millisecond)

	status.Store(http.StatusUnauthorized)
	_ = get(ctx, c, "acct-1") // 401 closes the gate
	if err := c.Blocked(OpCreate, "acct-2"); !errors.Is(err, ErrUnauthorized) || !NotSent(err) {
		t.Errorf("with the token rejected: Blocked = %v (%s), want ErrUnauthorized not sent", err, kindOf(err))
	}
	time.Sleep(1100 * time.Millisecond)
	if err := c.Blocked(OpCreate, "acct-2"); err != nil {
		t.Errorf("with a probe due: Blocked = %v, want nil", err)
	}
	if n := srv.count(); n != 2 {
		t.Errorf("the server saw %d requests, want 2: Blocked sends nothing", n)
	}
}
