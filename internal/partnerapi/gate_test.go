package partnerapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
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

// get calls c.Get and records the error for the token-leak check.
func get(ctx context.Context, c *HTTPClient, uid string) error {
	_, err := c.Get(ctx, uid)
	rememberErr(err)
	return err
}

// TestRetryAfterPausesEveryCall checks that a 429 on one account holds back calls
// for other accounts: one already queued behind the rate limiter when the 429
// arrived, and one made after it.
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
	if until := testutil.ToFloat64(pausedUntil); until < float64(time.Now().Unix()) {
		t.Errorf("%s = %v, want the end of the pause, in the future", MetricPausedUntil, until)
	}
	if err := get(ctx, c, "later"); err != nil {
		t.Fatal(err)
	}
	if err := <-queued; err != nil {
		t.Fatal(err)
	}

	hits := srv.all()
	if len(hits) != 3 || hits[0].uid != "limited" {
		t.Fatalf("requests = %+v, want the 429 first, then two others", hits)
	}
	// The pause starts when the client reads the 429, after it arrived at the
	// server; one clock, so no tolerance is needed.
	for _, h := range hits[1:] {
		if d := h.at.Sub(hits[0].at); d < time.Second {
			t.Errorf("%q arrived %v after the 429's request, want at least the 1s it asked for", h.uid, d)
		}
	}
}

// TestRetryAfterPauseOnlyGrows checks that a shorter Retry-After never shortens a
// pause, a longer one extends it, and which answers pause at all.
func TestRetryAfterPauseOnlyGrows(t *testing.T) {
	g := &gate{}
	respond := func(status int, retryAfter time.Duration) {
		g.leave(true, &Error{Kind: kindFor(OpGet, status, true), Op: OpGet, UID: "a", StatusCode: status, RetryAfter: retryAfter})
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
		sent   bool
	}{
		{"503 without Retry-After", http.StatusServiceUnavailable, 0, true},
		{"500", http.StatusInternalServerError, 0, true},
		{"nothing sent", 0, time.Hour, false},
	} {
		g := &gate{}
		g.leave(tc.sent, &Error{Kind: ErrTransient, StatusCode: tc.status, RetryAfter: tc.after})
		if !g.until.IsZero() {
			t.Errorf("%s paused calls until %v", tc.name, g.until)
		}
	}
}

// TestRetryAfterPauseHonoursContext checks that a call waiting out a pause gives
// up when its context ends, and at once when its deadline comes before the end.
func TestRetryAfterPauseHonoursContext(t *testing.T) {
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

	short, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	err := get(short, c, "other")
	if !errors.Is(err, ErrTransient) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("with a deadline before the end: err = %v (%s), want ErrTransient wrapping a deadline", err, kindOf(err))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the call waited %v although its deadline came before the end of the pause", d)
	}

	cancelled, cancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel)
	err = get(cancelled, c, "other")
	if !errors.Is(err, ErrTransient) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v (%s), want ErrTransient wrapping context.Canceled", err, kindOf(err))
	}
	if n := srv.count(); n != 1 {
		t.Errorf("the server saw %d requests, want only the 429's", n)
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
