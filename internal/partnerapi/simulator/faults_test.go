package simulator_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

// TestFaultShares sends 10,000 creates through faults of 0.2 (500), 0.1 (429)
// and 0.1 (dropped), and checks each share lands within 0.03 of its setting, that
// every dropped create was committed, and that refused ones were not.
func TestFaultShares(t *testing.T) {
	const total, workers = 10000, 16
	faults := simulator.Faults{ErrorRate: 0.2, RateLimitRate: 0.1, DropRate: 0.1, RetryAfter: 7}
	h := newHarness(t, simulator.Options{Faults: faults})
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: workers},
	}
	t.Cleanup(client.CloseIdleConnections)

	const dropped = -1
	outcome := make([]int, total) // status, or dropped
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				body, _ := json.Marshal(createBody("f-"+strconv.Itoa(i), "I", "b5test.com", ""))
				req, _ := http.NewRequest(http.MethodPost, h.srv.URL+accountsPath, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+testToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					outcome[i] = dropped
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				outcome[i] = resp.StatusCode
				if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "7" {
					t.Errorf("429 with Retry-After %q, want 7", resp.Header.Get("Retry-After"))
				}
			}
		})
	}
	for i := range total {
		next <- i
	}
	close(next)
	wg.Wait()

	seen := map[int]int{}
	for i, o := range outcome {
		seen[o]++
		_, exists := h.sim.Account("f-" + strconv.Itoa(i))
		switch o {
		case http.StatusCreated, dropped:
			if !exists {
				t.Errorf("create f-%d (outcome %d) was not committed", i, o)
			}
		case http.StatusInternalServerError, http.StatusTooManyRequests:
			if exists {
				t.Errorf("create f-%d answered %d was committed", i, o)
			}
		default:
			t.Errorf("create f-%d: unexpected outcome %d", i, o)
		}
	}
	for _, c := range []struct {
		outcome int
		share   float64
	}{{http.StatusInternalServerError, 0.2}, {http.StatusTooManyRequests, 0.1}, {dropped, 0.1}, {http.StatusCreated, 0.6}} {
		got := float64(seen[c.outcome]) / total
		if math.Abs(got-c.share) > 0.03 {
			t.Errorf("outcome %d: share %.4f, want %.2f ± 0.03", c.outcome, got, c.share)
		}
	}
	counts := h.sim.Requests()
	if counts["create 500"] != seen[500] || counts["create 429"] != seen[429] ||
		counts["create 201 dropped"] != seen[dropped] || counts["create 201"] != seen[201] {
		t.Errorf("server counts %v, client saw %v", counts, seen)
	}
	t.Logf("outcomes over %d creates: %v (-1 = dropped)", total, seen)
}

// TestFaultsSpareSim checks that injected 500s and 429s hit /api in the dialect's
// error shape and never /sim.
func TestFaultsSpareSim(t *testing.T) {
	h := newHarness(t, simulator.Options{Faults: simulator.Faults{ErrorRate: 1}})
	r := h.do(http.MethodGet, "/sim/accounts", nil)
	wantStatus(t, "sim with error rate 1", r, http.StatusOK)
	r = h.do(http.MethodGet, "/sim/health", nil)
	wantStatus(t, "health with error rate 1", r, http.StatusOK)
	r = h.do(http.MethodGet, accountPath("any"), nil, outsideSpec("injected 500"))
	wantError(t, h, "api with error rate 1", r, http.StatusInternalServerError, "internal_error")

	if err := h.sim.SetFaults(simulator.Faults{RateLimitRate: 1}); err != nil {
		t.Fatal(err)
	}
	r = h.do(http.MethodDelete, accountPath("any"), nil, outsideSpec("injected 429"))
	wantError(t, h, "api with rate-limit rate 1", r, http.StatusTooManyRequests, "rate_limited")
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q, want the default 1", r.header.Get("Retry-After"))
	}
	if err := h.sim.SetFaults(simulator.Faults{}); err != nil {
		t.Fatal(err)
	}
	wantError(t, h, "faults off", h.do(http.MethodGet, accountPath("any"), nil), http.StatusNotFound, "account_not_found")

	pub := newHarness(t, simulator.Options{Dialect: simulator.DialectPublished, RetryAfter: 3, Faults: simulator.Faults{RateLimitRate: 1}})
	r = pub.do(http.MethodGet, accountPath("any"), nil)
	wantError(t, pub, "published 429", r, http.StatusTooManyRequests, "too_many_requests")
	if r.header.Get("Retry-After") != "3" {
		t.Errorf("Retry-After %q, want Options.RetryAfter 3", r.header.Get("Retry-After"))
	}
}

func TestLatency(t *testing.T) {
	const latency, jitter = 150 * time.Millisecond, 50 * time.Millisecond
	h := newHarness(t, simulator.Options{Faults: simulator.Faults{Latency: latency, LatencyJitter: jitter}})
	var slowest time.Duration
	for range 5 {
		t0 := time.Now()
		h.do(http.MethodGet, accountPath("x"), nil)
		d := time.Since(t0)
		if d < latency {
			t.Errorf("API answered in %v, before the latency of %v", d, latency)
		}
		slowest = max(slowest, d)
	}
	if slowest > latency+jitter+2*time.Second {
		t.Errorf("slowest API answer %v, far beyond %v + %v", slowest, latency, jitter)
	}
	t0 := time.Now()
	h.do(http.MethodGet, "/sim/health", nil)
	if d := time.Since(t0); d >= latency {
		t.Errorf("/sim answered in %v: latency applied to /sim", d)
	}
}

func TestFaultsValidation(t *testing.T) {
	bad := []simulator.Faults{
		{ErrorRate: -0.1},
		{RateLimitRate: 1.5},
		{DropRate: math.NaN()},
		{ErrorRate: 0.5, RateLimitRate: 0.3, DropRate: 0.3},
		{Latency: -time.Second},
		{RetryAfter: -1},
	}
	for _, f := range bad {
		if err := f.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted", f)
		}
		if _, err := simulator.New(simulator.Options{Tokens: []string{"t"}, Faults: f}); err == nil {
			t.Errorf("New with faults %+v accepted", f)
		}
	}
	if err := (simulator.Faults{ErrorRate: 0.5, RateLimitRate: 0.25, DropRate: 0.25}).Validate(); err != nil {
		t.Errorf("shares adding up to 1 refused: %v", err)
	}
}

func TestFaultsOverHTTP(t *testing.T) {
	h := newHarness(t, simulator.Options{})
	r := h.do(http.MethodPut, "/sim/faults", `{"latency":"20ms","latency_jitter":5,"error_rate":0.25,"rate_limit_rate":0.5,"drop_rate":0.25,"retry_after":4}`)
	wantStatus(t, "put faults", r, http.StatusOK)
	want := simulator.Faults{Latency: 20 * time.Millisecond, LatencyJitter: 5 * time.Millisecond,
		ErrorRate: 0.25, RateLimitRate: 0.5, DropRate: 0.25, RetryAfter: 4}
	if got := h.sim.Faults(); got != want {
		t.Errorf("faults %+v, want %+v", got, want)
	}
	r = h.do(http.MethodGet, "/sim/faults", nil)
	wantStatus(t, "get faults", r, http.StatusOK)
	if got := string(bytes.TrimSpace(r.body)); got != `{"latency":"20ms","latency_jitter":"5ms","error_rate":0.25,"rate_limit_rate":0.5,"drop_rate":0.25,"retry_after":4}` {
		t.Errorf("GET /sim/faults: %s", got)
	}
	for _, body := range []string{`{"error_rate":2}`, `{"errorrate":0.1}`, `{"latency":"soon"}`, `[`} {
		r := h.do(http.MethodPut, "/sim/faults", body)
		wantStatus(t, fmt.Sprintf("put faults %s", body), r, http.StatusBadRequest)
	}
	if got := h.sim.Faults(); got != want {
		t.Errorf("refused PUTs changed the faults to %+v", got)
	}
	wantStatus(t, "faults off", h.do(http.MethodPut, "/sim/faults", `{}`), http.StatusOK)
	if got := h.sim.Faults(); got != (simulator.Faults{}) {
		t.Errorf("after PUT {}: %+v", got)
	}
}
