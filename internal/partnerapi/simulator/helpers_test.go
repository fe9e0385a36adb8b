package simulator_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/contract"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

const (
	testToken    = "sim-test-token-1"
	accountsPath = "/api/v1/partners/accounts"
)

var (
	msTime          = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	activationToken = regexp.MustCompile(`^PNS-[A-Z0-9]{8}$`)
)

// start is the fake clock's first reading.
var start = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness is a simulator behind a real HTTP server. In the contract dialect every
// /api exchange is checked against partnership-openapi.yml unless told otherwise.
type harness struct {
	t     *testing.T
	sim   *simulator.Server
	srv   *httptest.Server
	clock *clock
	v     *contract.Validator
}

func newHarness(t *testing.T, opts simulator.Options) *harness {
	t.Helper()
	h := &harness{t: t, clock: &clock{t: start}}
	if opts.Tokens == nil && opts.TokenFile == "" {
		opts.Tokens = []string{testToken}
	}
	if opts.Now == nil {
		opts.Now = h.clock.Now
	}
	sim, err := simulator.New(opts)
	if err != nil {
		t.Fatalf("simulator.New: %v", err)
	}
	h.sim = sim
	h.srv = httptest.NewServer(sim)
	t.Cleanup(h.srv.Close)
	if sim.Dialect() == simulator.DialectContract {
		if h.v, err = contract.NewValidator(); err != nil {
			t.Fatalf("contract.NewValidator: %v", err)
		}
	}
	return h
}

// result is one HTTP exchange.
type result struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic map.
func (r result) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

type reqConfig struct {
	token          string
	authorization  string // the whole Authorization header, instead of Bearer token
	noAuth         bool
	invalidRequest string // why the request itself breaks the contract
	outsideSpec    string // why the response cannot be checked against the contract
}

type reqOption func(*reqConfig)

// withToken sends tok instead of the test token.
func withToken(tok string) reqOption { return func(c *reqConfig) { c.token = tok } }

// withAuthorization sends this Authorization header.
func withAuthorization(v string) reqOption { return func(c *reqConfig) { c.authorization = v } }

// noAuth sends no Authorization header.
func noAuth() reqOption { return func(c *reqConfig) { c.noAuth = true } }

// invalidRequest marks a request that deliberately breaks the contract.
func invalidRequest(why string) reqOption { return func(c *reqConfig) { c.invalidRequest = why } }

// outsideSpec marks an exchange the contract does not describe (injected faults,
// wrong methods), so its response is not checked.
func outsideSpec(why string) reqOption { return func(c *reqConfig) { c.outsideSpec = why } }

// do sends method path with body (nil for none) and returns the answer.
func (h *harness) do(method, path string, body any, opts ...reqOption) result {
	h.t.Helper()
	cfg := reqConfig{token: testToken}
	for _, o := range opts {
		o(&cfg)
	}
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			h.t.Fatalf("encode body: %v", err)
		}
	}
	build := func() *http.Request {
		req, err := http.NewRequest(method, h.srv.URL+path, bytes.NewReader(raw))
		if err != nil {
			h.t.Fatalf("new request: %v", err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		switch {
		case cfg.authorization != "":
			req.Header.Set("Authorization", cfg.authorization)
		case !cfg.noAuth:
			req.Header.Set("Authorization", "Bearer "+cfg.token)
		}
		return req
	}
	checked := h.v != nil && strings.HasPrefix(path, "/api/")
	if checked && cfg.invalidRequest == "" {
		if err := h.v.ValidateRequest(build(), raw); err != nil {
			h.t.Errorf("%s %s: request breaks the contract: %v", method, path, err)
		}
	}
	resp, err := h.srv.Client().Do(build())
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	if checked && cfg.outsideSpec == "" {
		if err := h.v.ValidateResponse(build(), resp.StatusCode, resp.Header, respBody); err != nil {
			h.t.Errorf("%s %s: response %d %s breaks the contract: %v", method, path, resp.StatusCode, respBody, err)
		}
	}
	if resp.StatusCode != http.StatusNoContent {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			h.t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
		}
	}
	return result{status: resp.StatusCode, header: resp.Header, body: respBody}
}

func accountPath(uid string) string { return accountsPath + "/" + url.PathEscape(uid) }

// createBody is a create request with the id under both names, as the operator sends it.
func createBody(uid, typ, domain string, endsAt string) map[string]any {
	b := map[string]any{"account_uid": uid, "customer_account_uid": uid, "account_type": typ, "domain": domain}
	if endsAt != "" {
		b["ends_at"] = endsAt
	}
	return b
}

// create creates an account and fails the test unless it gets 201.
func (h *harness) create(uid, typ, endsAt string) map[string]any {
	h.t.Helper()
	r := h.do(http.MethodPost, accountsPath, createBody(uid, typ, "b5test.com", endsAt))
	if r.status != http.StatusCreated {
		h.t.Fatalf("create %s: %d %s", uid, r.status, r.body)
	}
	return r.json(h.t)
}

// wantStatus fails the test unless r has the status.
func wantStatus(t *testing.T, what string, r result, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d (%s), want %d", what, r.status, r.body, status)
	}
}

// wantError checks an error body: the contract's code, or the published error word.
func wantError(t *testing.T, h *harness, what string, r result, status int, word string) {
	t.Helper()
	wantStatus(t, what, r, status)
	m := r.json(t)
	if h.sim.Dialect() == simulator.DialectPublished {
		if m["error"] != word || m["code"] != float64(status) || m["description"] == "" {
			t.Errorf("%s: error body %s, want error %q and code %d", what, r.body, word, status)
		}
		return
	}
	if m["code"] != word || m["status"] != float64(status) || m["message"] == "" {
		t.Errorf("%s: error body %s, want code %q and status %d", what, r.body, word, status)
	}
}
