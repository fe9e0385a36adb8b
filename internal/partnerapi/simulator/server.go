// Package simulator is a stand-in for 1Password's Partnership API billing servers:
// a real HTTP server that keeps partner accounts in memory (optionally in a state
// file), speaks either the contract the project was given or the dialect 1Password
// publishes, and can be told to misbehave (latency, 500s, 429s, dropped responses).
//
// The API lives under /api/v1/partners/accounts and needs a bearer token. The
// controls a test needs (redeem an account as a customer would, suspend it, delete
// it behind the operator's back, read request counts, inject faults) live under
// /sim, need no token and are never subject to faults; the same controls are
// methods on *Server for tests that run the simulator in process with
// httptest.NewServer.
package simulator

import (
	"bufio"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Dialect selects which description of the Partnership API the simulator follows.
type Dialect string

const (
	// DialectContract follows partnership-openapi.yml, the contract the project was
	// given: account_uid, errors {status, message, code}, 401, 409, 404 after delete.
	DialectContract Dialect = "contract"
	// DialectPublished follows the description 1Password publishes and its servers
	// speak: customer_account_uid, deployed_members, updated_at, "ends_at": null,
	// errors {description, code, error}, 403, tombstones answering 410.
	DialectPublished Dialect = "published"
)

// ParseDialect returns the dialect named s; the empty string means DialectContract.
func ParseDialect(s string) (Dialect, error) {
	switch Dialect(s) {
	case "", DialectContract:
		return DialectContract, nil
	case DialectPublished:
		return DialectPublished, nil
	}
	return "", fmt.Errorf("simulator: unknown dialect %q (want %q or %q)", s, DialectContract, DialectPublished)
}

// DefaultDomains returns the domains served when Options.Domains is empty: the
// three test domains and the three production domains.
func DefaultDomains() []string {
	return []string{"b5test.com", "b5test.ca", "b5test.eu", "1password.com", "1password.ca", "1password.eu"}
}

// ErrNoToken is New's answer when Options gives no bearer token at all.
var ErrNoToken = errors.New("simulator: no bearer token: set Options.Tokens or Options.TokenFile")

// Options configures a Server. Only a token is required.
type Options struct {
	// Dialect is the API description to follow; empty means DialectContract.
	Dialect Dialect
	// Tokens are the accepted bearer tokens.
	Tokens []string
	// TokenFile names a file of further accepted tokens, one a line; blank lines and
	// lines starting with # are ignored. It is read once, by New.
	TokenFile string
	// Domains are the domains in which the partner has a promotion; empty means
	// DefaultDomains(). Matching is exact.
	Domains []string
	// StateFile, when set, keeps the accounts across restarts: loaded by New if it
	// exists, written by New (so a path that cannot be written fails at once) and
	// rewritten (temporary file and rename) after every change. Bearer tokens and
	// request counts are not stored.
	StateFile string
	// Faults are the faults injected from the start; see SetFaults.
	Faults Faults
	// Now is the clock; nil means time.Now. End dates are compared against it.
	Now func() time.Time
	// RetryAfter is the Retry-After value, in seconds, sent with injected 429s when
	// Faults.RetryAfter is 0; 0 means 1.
	RetryAfter int
	// Logger receives the few things worth reporting (a state file that could not
	// be written); nil discards them.
	Logger *slog.Logger
}

// Server is the simulated Partnership API. It is an http.Handler, safe for
// concurrent use.
type Server struct {
	dialect    Dialect
	now        func() time.Time
	domains    map[string]struct{}
	retryAfter int
	log        *slog.Logger
	sim        *http.ServeMux

	tokens atomic.Pointer[[][]byte]
	faults atomic.Pointer[Faults]

	mu       sync.RWMutex
	accounts map[string]*account
	issued   map[string]struct{} // activation tokens in use
	version  uint64              // bumped on every change; orders state file writes

	persist *persister

	countMu sync.Mutex
	counts  map[countKey]int
}

// New returns a Server configured by opts, with the accounts of opts.StateFile if
// that file exists.
func New(opts Options) (*Server, error) {
	d, err := ParseDialect(string(opts.Dialect))
	if err != nil {
		return nil, err
	}
	tokens := slices.Clone(opts.Tokens)
	if opts.TokenFile != "" {
		more, err := readTokenFile(opts.TokenFile)
		if err != nil {
			return nil, err
		}
		tokens = append(tokens, more...)
	}
	if len(tokens) == 0 {
		return nil, ErrNoToken
	}
	domains := opts.Domains
	if len(domains) == 0 {
		domains = DefaultDomains()
	}
	if opts.RetryAfter < 0 {
		return nil, fmt.Errorf("simulator: RetryAfter %d is negative", opts.RetryAfter)
	}
	s := &Server{
		dialect:    d,
		now:        opts.Now,
		domains:    make(map[string]struct{}, len(domains)),
		retryAfter: opts.RetryAfter,
		log:        opts.Logger,
		accounts:   make(map[string]*account),
		issued:     make(map[string]struct{}),
		counts:     make(map[countKey]int),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.retryAfter == 0 {
		s.retryAfter = 1
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, dom := range domains {
		if dom = strings.TrimSpace(dom); dom != "" {
			s.domains[dom] = struct{}{}
		}
	}
	if err := s.SetTokens(tokens); err != nil {
		return nil, err
	}
	if err := s.SetFaults(opts.Faults); err != nil {
		return nil, err
	}
	if opts.StateFile != "" {
		s.persist = &persister{path: opts.StateFile}
		if err := s.load(); err != nil {
			return nil, err
		}
		if err := s.save(); err != nil {
			return nil, fmt.Errorf("simulator: state file: %w", err)
		}
	}
	s.sim = s.simMux()
	return s, nil
}

// Dialect returns the dialect the server speaks.
func (s *Server) Dialect() Dialect { return s.dialect }

func (s *Server) published() bool { return s.dialect == DialectPublished }

// clock returns the current time as the simulator records it: UTC, milliseconds.
func (s *Server) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// ServeHTTP serves the Partnership API under /api/v1/partners/accounts and the
// simulator's controls under /sim.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	switch {
	case path == "/api" || strings.HasPrefix(path, "/api/"):
		s.serveAPI(w, r, path)
	case path == "/sim" || strings.HasPrefix(path, "/sim/"):
		s.sim.ServeHTTP(w, r)
	default:
		// As a real server does, in the API's own error shape: a wrong path prefix
		// gets JSON 404s that look like the API's.
		resp := s.apiError(http.StatusNotFound, "not_found", "Not found.")
		resp.date = s.now()
		s.count(opOther, resp.status, "")
		resp.write(w)
	}
}

const accountsPath = "/api/v1/partners/accounts"

// Operation names used in request counts.
const (
	opCreate = "create"
	opGet    = "get"
	opUpdate = "update"
	opDelete = "delete"
	opOther  = "other" // a path or method the API does not have
)

// apiRoute is what the path and method of an /api request ask for.
type apiRoute struct {
	op     string
	uid    string
	uidErr bool   // the path segment could not be unescaped
	status int    // non-zero: answer this status (404, 405) without going further
	allow  string // Allow header for 405
}

func matchAPI(method, path string) apiRoute {
	if path == accountsPath {
		if method == http.MethodPost {
			return apiRoute{op: opCreate}
		}
		return apiRoute{op: opOther, status: http.StatusMethodNotAllowed, allow: "POST"}
	}
	rest, ok := strings.CutPrefix(path, accountsPath+"/")
	if !ok || strings.Contains(rest, "/") {
		return apiRoute{op: opOther, status: http.StatusNotFound}
	}
	uid, err := url.PathUnescape(rest)
	rt := apiRoute{uid: uid, uidErr: err != nil}
	switch method {
	case http.MethodGet:
		rt.op = opGet
	case http.MethodPatch:
		rt.op = opUpdate
	case http.MethodDelete:
		rt.op = opDelete
	default:
		return apiRoute{op: opOther, status: http.StatusMethodNotAllowed, allow: "GET, PATCH, DELETE"}
	}
	return rt
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, path string) {
	rt := matchAPI(r.Method, path)
	f := s.faults.Load()
	if !f.delay(r.Context()) {
		s.count(rt.op, 0, tagCanceled)
		return
	}
	fault := f.draw()
	var resp response
	switch fault {
	case faultError:
		resp = s.apiError(http.StatusInternalServerError, "internal_error", "Internal server error.")
	case faultRateLimit:
		resp = s.apiError(http.StatusTooManyRequests, "rate_limited", "Too many requests.")
		resp.retryAfter = f.RetryAfter
		if resp.retryAfter == 0 {
			resp.retryAfter = s.retryAfter
		}
	default:
		resp = s.handleAPI(r, rt)
	}
	if fault == faultDrop {
		s.count(rt.op, resp.status, tagDropped)
		drop(w)
		return
	}
	s.count(rt.op, resp.status, "")
	resp.date = s.now()
	resp.write(w)
}

func (s *Server) handleAPI(r *http.Request, rt apiRoute) response {
	switch rt.status {
	case http.StatusNotFound:
		return s.apiError(http.StatusNotFound, "not_found", "Not found.")
	case http.StatusMethodNotAllowed:
		resp := s.apiError(http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed.")
		resp.allow = rt.allow
		return resp
	}
	if !s.authorized(r) {
		return s.unauthorized()
	}
	switch rt.op {
	case opCreate:
		return s.create(r)
	case opGet:
		return s.get(rt)
	case opUpdate:
		return s.update(r, rt)
	default:
		return s.delete(rt)
	}
}

// response is an answer to an /api request, built before anything is written so
// that a dropped response can be committed without being sent.
type response struct {
	status     int
	body       []byte
	location   string
	retryAfter int
	allow      string
	bearer     bool // WWW-Authenticate: Bearer
	// date is the simulator's clock when it answered, sent as the Date header, so
	// that a simulator whose clock is set apart (Options.Now) shows it as a real
	// server with a skewed clock does.
	date time.Time
}

var jsonContentType = []string{"application/json"}

func (resp *response) write(w http.ResponseWriter) {
	h := w.Header()
	if resp.body != nil {
		h["Content-Type"] = jsonContentType
	}
	if resp.location != "" {
		h.Set("Location", resp.location)
	}
	if resp.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(resp.retryAfter))
	}
	if resp.allow != "" {
		h.Set("Allow", resp.allow)
	}
	if resp.bearer {
		h.Set("WWW-Authenticate", `Bearer realm="partnerapi-sim"`)
	}
	if !resp.date.IsZero() {
		h.Set("Date", resp.date.UTC().Format(http.TimeFormat))
	}
	w.WriteHeader(resp.status)
	if resp.body != nil {
		_, _ = w.Write(resp.body)
	}
}

// SetTokens replaces the accepted bearer tokens. An empty list refuses every API
// request, which is how a test revokes credentials.
func (s *Server) SetTokens(tokens []string) error {
	list := make([][]byte, 0, len(tokens))
	for i, t := range tokens {
		if t == "" || strings.ContainsAny(t, " \t\r\n") {
			return fmt.Errorf("simulator: token %d is empty or contains white space", i+1)
		}
		list = append(list, []byte(t))
	}
	s.tokens.Store(&list)
	return nil
}

func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return false
	}
	got := []byte(token)
	match := 0
	for _, t := range *s.tokens.Load() {
		match |= subtle.ConstantTimeCompare(got, t)
	}
	return match == 1
}

func readTokenFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("simulator: token file: %w", err)
	}
	defer func() { _ = f.Close() }()
	var tokens []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			tokens = append(tokens, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("simulator: token file %s: %w", path, err)
	}
	return tokens, nil
}

// Tags that qualify a request count.
const (
	tagDropped  = "dropped"  // answered by closing the connection
	tagCanceled = "canceled" // the client went away during the injected latency
)

type countKey struct {
	op   string
	code int
	tag  string
}

func (k countKey) String() string {
	switch {
	case k.tag == tagCanceled:
		return k.op + " " + k.tag
	case k.tag != "":
		return k.op + " " + strconv.Itoa(k.code) + " " + k.tag
	}
	return k.op + " " + strconv.Itoa(k.code)
}

func (s *Server) count(op string, code int, tag string) {
	s.countMu.Lock()
	s.counts[countKey{op, code, tag}]++
	s.countMu.Unlock()
}

// Requests returns how many /api requests were answered, by operation and
// status: keys are "<op> <code>" with op one of create, get, update, delete or
// other (a path or method the API lacks), e.g. "create 201" or "get 429".
// A response that was dropped counts as "<op> <code> dropped" (the code it would
// have had), and a request whose client went away during injected latency as
// "<op> canceled".
func (s *Server) Requests() map[string]int {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, n := range s.counts {
		out[k.String()] = n
	}
	return out
}

// ResetCounts forgets the request counts.
func (s *Server) ResetCounts() {
	s.countMu.Lock()
	clear(s.counts)
	s.countMu.Unlock()
}
