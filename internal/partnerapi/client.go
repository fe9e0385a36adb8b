package partnerapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Base URLs of the Partnership API.
const (
	// ProductionBaseURL is the production server, the default.
	ProductionBaseURL = "https://billing.1password.com/api/v1"
	// TestBaseURL is 1Password's test server, whose accounts live in the
	// b5test.com, b5test.ca and b5test.eu domains.
	TestBaseURL = "https://billing.b5test.eu/api/v1"
)

// Defaults for the zero values of Config.
const (
	// DefaultTimeout bounds each request when Config.Timeout is zero.
	DefaultTimeout = 30 * time.Second
	// DefaultUserAgent is sent when Config.UserAgent is empty.
	DefaultUserAgent = "partner-account-operator/dev"
	// DefaultRequestsPerSecond is the sustained rate when Config.RequestsPerSecond
	// is zero.
	DefaultRequestsPerSecond = 10.0
	// DefaultBurst is the burst when Config.Burst is zero.
	DefaultBurst = 20
)

// maxResponseBody bounds how much of a response body the client reads. Accounts and
// error bodies are a few hundred bytes.
const maxResponseBody = 1 << 20

// Config configures an HTTPClient. Only TokenFile is required.
type Config struct {
	// BaseURL is the API root including the /api/v1 prefix. Empty means
	// ProductionBaseURL; TestBaseURL (https://billing.b5test.eu/api/v1) is
	// 1Password's test server. http:// would send the bearer token in clear text,
	// so it is refused unless the host is a loopback address (a local simulator)
	// or AllowInsecureHTTP is set.
	BaseURL string
	// AllowInsecureHTTP accepts an http:// BaseURL on any host.
	AllowInsecureHTTP bool
	// TokenFile is the path of a file holding the bearer token; surrounding
	// whitespace is ignored. The file is checked on every request and read again
	// when its modification time, size or inode changes, so a rotated Kubernetes
	// Secret volume (a swapped ..data symlink) takes effect without a restart.
	TokenFile string
	// Token, when set instead of TokenFile, returns the bearer token on every
	// request, such as a PartnerConnection's from its Secret; TokenSecret names
	// where it comes from, for errors.
	Token       func() (string, error)
	TokenSecret string
	// Name is the connection the client serves, the connection label of its
	// metrics; empty means DefaultConnection.
	Name string
	// Timeout bounds each HTTP request, from sending it to reading the whole
	// response. Zero means DefaultTimeout. Time spent waiting for the rate limiter
	// does not count.
	Timeout time.Duration
	// CAFile is an optional PEM bundle of extra certificate authorities, trusted in
	// addition to the system pool. TLS verification cannot be turned off.
	CAFile string
	// CAData is the same, given as PEM rather than a file.
	CAData []byte
	// UserAgent is sent as the User-Agent header. Empty means DefaultUserAgent;
	// the operator passes "partner-account-operator/<version>".
	UserAgent string
	// RequestsPerSecond is the sustained request rate the client allows itself,
	// shared by all callers of one HTTPClient. Zero means
	// DefaultRequestsPerSecond; +Inf disables the limit.
	RequestsPerSecond float64
	// Burst is how many requests may go out at once above the sustained rate. Zero
	// means DefaultBurst.
	Burst int
	// UnauthorizedRetryPeriod is how often the token is tried again while the API
	// rejects it (401 or 403). Meanwhile calls fail at once with ErrUnauthorized
	// and send nothing, except one per period, or the first after the token file
	// changes. Zero means DefaultUnauthorizedRetryPeriod.
	UnauthorizedRetryPeriod time.Duration
}

// HTTPClient is the Client for the Partnership API over HTTPS. It works against
// servers speaking either description of the API with nothing to configure. Each
// call sends at most one HTTP request and never retries; callers retry by
// requeueing. It is safe for concurrent use.
type HTTPClient struct {
	baseURL   string
	userAgent string
	timeout   time.Duration
	token     tokens
	// tokenFile and tokenSecret say where the token comes from, for errors.
	tokenFile, tokenSecret string
	name                   string
	limiter                *rate.Limiter
	gate                   *gate
	http                   *http.Client
	clock                  serverClock
	// caSum is a digest of the extra certificate authorities, for the origin.
	caSum [sha256.Size]byte
}

var _ Client = (*HTTPClient)(nil)

// New checks cfg, reads the token file once and returns a client. The error names
// the offending Config field.
func New(cfg Config) (*HTTPClient, error) {
	base, err := ParseBaseURL(cfg.BaseURL, cfg.AllowInsecureHTTP)
	if err != nil {
		return nil, fmt.Errorf("partnerapi: invalid Config.BaseURL: %w", err)
	}

	var token tokens
	switch {
	case cfg.Token != nil:
		token = tokenFunc(cfg.Token)
	case cfg.TokenFile == "":
		return nil, errors.New("partnerapi: invalid Config.TokenFile: must be set")
	default:
		file := newTokenSource(cfg.TokenFile)
		if _, err := file.Token(); err != nil {
			return nil, fmt.Errorf("partnerapi: invalid Config.TokenFile: %w", err)
		}
		token = file
	}
	name := cfg.Name
	if name == "" {
		name = DefaultConnection
	}

	timeout := cfg.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		return nil, fmt.Errorf("partnerapi: invalid Config.Timeout %s: must not be negative", cfg.Timeout)
	}

	userAgent := cfg.UserAgent
	if userAgent == "" {
		userAgent = DefaultUserAgent
	}
	if !validHeaderValue(userAgent) {
		return nil, errors.New("partnerapi: invalid Config.UserAgent: contains control characters")
	}

	limit := rate.Limit(cfg.RequestsPerSecond)
	switch rps := cfg.RequestsPerSecond; {
	case rps == 0:
		limit = DefaultRequestsPerSecond
	case math.IsInf(rps, 1):
		limit = rate.Inf
	case math.IsNaN(rps) || rps < 0:
		return nil, fmt.Errorf("partnerapi: invalid Config.RequestsPerSecond %v: must be positive", rps)
	}
	burst := cfg.Burst
	switch {
	case burst == 0:
		burst = DefaultBurst
	case burst < 0:
		return nil, fmt.Errorf("partnerapi: invalid Config.Burst %d: must be positive", cfg.Burst)
	}

	retryPeriod := cfg.UnauthorizedRetryPeriod
	switch {
	case retryPeriod == 0:
		retryPeriod = DefaultUnauthorizedRetryPeriod
	case retryPeriod < 0:
		return nil, fmt.Errorf("partnerapi: invalid Config.UnauthorizedRetryPeriod %s: must not be negative", retryPeriod)
	}

	roots, caFilePEM, err := rootCAs(cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("partnerapi: invalid Config.CAFile: %w", err)
	}
	if len(cfg.CAData) > 0 {
		var ok bool
		if roots, ok = withExtraCAs(roots, cfg.CAData); !ok {
			return nil, errors.New("partnerapi: invalid Config.CAData: it holds no PEM certificates")
		}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    roots,
	}

	return &HTTPClient{
		baseURL:     base,
		userAgent:   userAgent,
		timeout:     timeout,
		token:       token,
		tokenFile:   cfg.TokenFile,
		tokenSecret: cfg.TokenSecret,
		name:        name,
		limiter:     rate.NewLimiter(limit, burst),
		caSum:       sha256.Sum256(append(caFilePEM, cfg.CAData...)),
		gate:        newGate(retryPeriod, name),
		http: &http.Client{
			Transport: transport,
			// A redirect would be a second request; the 3xx is returned instead
			// and reported as ErrMisconfigured.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// ParseBaseURL checks a Partnership API base URL as New does and returns it
// without a trailing slash; empty means ProductionBaseURL.
func ParseBaseURL(raw string, allowInsecureHTTP bool) (string, error) {
	if raw == "" {
		raw = ProductionBaseURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("not a URL")
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return "", fmt.Errorf("scheme must be https or http, not %q", u.Scheme)
	case u.Host == "":
		return "", errors.New("has no host")
	case u.User != nil:
		return "", errors.New("must not contain credentials")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", errors.New("must not have a query or fragment")
	case u.Scheme == "http" && !allowInsecureHTTP && !isLoopback(u.Hostname()):
		return "", fmt.Errorf("http:// would send the partner token in clear text to %s; use https://, "+
			"or allow insecure HTTP explicitly", u.Host)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// isLoopback reports whether host names this machine: localhost or a loopback IP.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// rootCAs is the system pool with the PEM certificates of caFile added, and those
// certificates; nil for the system pool alone when caFile is "".
func rootCAs(caFile string) (*x509.CertPool, []byte, error) {
	if caFile == "" {
		return nil, nil, nil // the system pool
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, nil, err
	}
	pool, ok := withExtraCAs(nil, pem)
	if !ok {
		return nil, nil, fmt.Errorf("%s holds no PEM certificates", caFile)
	}
	return pool, pem, nil
}

// withExtraCAs returns pool (a copy of the system pool when nil) with the PEM
// certificates in pem added; ok is false when pem holds none.
func withExtraCAs(pool *x509.CertPool, pem []byte) (_ *x509.CertPool, ok bool) {
	if pool == nil {
		var err error
		if pool, err = x509.SystemCertPool(); err != nil {
			pool = x509.NewCertPool()
		}
	}
	return pool, pool.AppendCertsFromPEM(pem)
}

// Close removes the client's metric series; the client is not to be used after.
// The operator closes the client of a PartnerConnection that is deleted or
// replaced, so that the connection label holds only connections that exist.
func (c *HTTPClient) Close() { forgetMetrics(c.name) }

// Endpoint returns the base URL the client calls.
func (c *HTTPClient) Endpoint() string { return c.baseURL }

// Origin returns the origin of the client's calls with the token it holds now;
// its ID is empty when the token cannot be read.
func (c *HTTPClient) Origin() Origin {
	token, err := c.token.Token()
	if err != nil {
		return Origin{URL: c.baseURL}
	}
	return c.originOf(token)
}

// originOf is the origin of a call sent with token.
func (c *HTTPClient) originOf(token string) Origin {
	return Origin{URL: c.baseURL, ID: originID(c.baseURL, token, c.caSum)}
}

// Now returns the time on the API's clock, estimated from the Date header of its
// latest answer, and true; before any answer carried one, the local time and false.
func (c *HTTPClient) Now() (time.Time, bool) { return c.clock.now() }

// Timeout returns how long one request may take at most.
func (c *HTTPClient) Timeout() time.Duration { return c.timeout }

// Create creates an account. A 2xx answer to a duplicate create (which published
// servers may give) returns the existing account. Fields the answer lacks (type,
// domain) are taken from the request.
func (c *HTTPClient) Create(ctx context.Context, req CreateRequest) (*Account, error) {
	if err := checkUID(OpCreate, req.UID); err != nil {
		return nil, err
	}
	body, err := encodeCreate(req)
	if err != nil {
		return nil, &Error{Kind: ErrInvalidRequest, Op: OpCreate, UID: req.UID, Err: err}
	}
	acct, err := c.account(ctx, OpCreate, http.MethodPost, req.UID, c.baseURL+"/partners/accounts", body)
	if err != nil {
		return nil, err
	}
	if acct.Type == "" {
		acct.Type = req.Type
	}
	if acct.Domain == "" {
		acct.Domain = req.Domain
	}
	return acct, nil
}

// Get reads an account. 404 and 410 with the API's error body give ErrNotFound;
// without it they give ErrMisconfigured.
func (c *HTTPClient) Get(ctx context.Context, uid string) (*Account, error) {
	if err := checkUID(OpGet, uid); err != nil {
		return nil, err
	}
	return c.account(ctx, OpGet, http.MethodGet, uid, c.accountURL(uid), nil)
}

// UpdateEndsAt sets the account's end date, sent in UTC with millisecond
// precision; nil clears it by sending "ends_at": null.
func (c *HTTPClient) UpdateEndsAt(ctx context.Context, uid string, endsAt *time.Time) (*Account, error) {
	if err := checkUID(OpUpdate, uid); err != nil {
		return nil, err
	}
	body, err := encodeUpdate(endsAt)
	if err != nil {
		return nil, &Error{Kind: ErrInvalidRequest, Op: OpUpdate, UID: uid, Err: err}
	}
	return c.account(ctx, OpUpdate, http.MethodPatch, uid, c.accountURL(uid), body)
}

// Delete deactivates an account. Any 2xx that is not an HTML page or another
// non-JSON answer is success; 404 and 410 with the API's error body give
// ErrNotFound, which the caller treats as already deleted.
func (c *HTTPClient) Delete(ctx context.Context, uid string) error {
	if err := checkUID(OpDelete, uid); err != nil {
		return err
	}
	return c.do(ctx, OpDelete, http.MethodDelete, uid, c.accountURL(uid), nil, nil)
}

func (c *HTTPClient) accountURL(uid string) string {
	return c.baseURL + "/partners/accounts/" + url.PathEscape(uid)
}

// checkUID refuses UIDs that cannot name an account in a URL path: empty, or a dot
// segment that a proxy would resolve to another path.
func checkUID(op, uid string) error {
	if uid == "" || uid == "." || uid == ".." {
		return &Error{Kind: ErrInvalidRequest, Op: op, UID: uid, Err: errors.New("invalid account UID")}
	}
	return nil
}

// account sends a request whose 2xx answer carries an account and decodes it. An
// answer that carries another account than uid is an ErrTransient error: the
// call's outcome for uid is unknown.
func (c *HTTPClient) account(ctx context.Context, op, method, uid, target string, body []byte) (*Account, error) {
	var acct *Account
	err := c.do(ctx, op, method, uid, target, body, func(respBody []byte, origin Origin) (err error) {
		if acct, err = decodeAccount(respBody); err != nil {
			return err
		}
		acct.Origin = origin
		if acct.UID != uid {
			return fmt.Errorf("the answer is about account %q", truncate(acct.UID, maxCodeLen))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return acct, nil
}

// beforeSendKey is the context key of the function BeforeSend sets.
type beforeSendKey struct{}

// BeforeSend returns ctx carrying fn, which a call made with it runs just before
// its request goes out, after every wait (the gate, the rate limiter), with the
// origin it goes to: the last moment to record that the request is being sent.
// When fn fails, nothing is sent and the call fails with fn's error, which is not
// an *Error.
func BeforeSend(ctx context.Context, fn func(Origin) error) context.Context {
	return context.WithValue(ctx, beforeSendKey{}, fn)
}

// do waits for the gate (see gate) and the rate limiter, sends one request, reads
// the answer and hands a 2xx body to decode (when not nil). Anything else becomes
// an *Error, from whose text the bearer token is removed.
func (c *HTTPClient) do(ctx context.Context, op, method, uid, target string, body []byte,
	decode func([]byte, Origin) error) (err error) {
	// Whether sent or held back by the gate, a rejected token's error names where
	// the token comes from.
	defer func() {
		if e, ok := err.(*Error); ok && e.Kind == ErrUnauthorized {
			e.TokenFile, e.TokenSecret = c.tokenFile, c.tokenSecret
		}
	}()
	tk, err := c.gate.pass(ctx, op, uid, c.limiter, c.token)
	if err != nil {
		return err
	}
	var sent string // the token, once the request went out
	defer func() { c.gate.leave(tk, sent, err) }()
	// Read after the wait, so a token rotated meanwhile is the one sent.
	token, err := c.token.Token()
	if err != nil {
		return tokenFileError(op, uid, err)
	}
	origin, answered := c.originOf(token), false
	defer func() {
		if e, ok := err.(*Error); ok {
			redact(e, token)
			if answered {
				e.Origin = origin
			}
		}
	}()

	if hook, ok := ctx.Value(beforeSendKey{}).(func(Origin) error); ok {
		if err := hook(origin); err != nil {
			return fmt.Errorf("partnerapi: %s account %q not sent: %w", op, uid, err)
		}
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var reqBody io.Reader
	if body != nil {
		reqBody = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, reqBody)
	if err != nil {
		return &Error{Kind: ErrInvalidRequest, Op: op, UID: uid, Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	start := time.Now()
	sent = token
	resp, err := c.http.Do(req)
	if err != nil {
		observe(c.name, op, "error", start)
		cause, detail := transportFailure(err)
		return &Error{Kind: ErrTransient, Op: op, UID: uid, Cause: cause, Detail: detail, Err: err}
	}
	answered = true
	respBody, readErr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	_ = resp.Body.Close()
	observe(c.name, op, strconv.Itoa(resp.StatusCode), start)
	c.clock.observe(resp.Header.Get("Date"), time.Now())

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return responseError(op, uid, target, resp.StatusCode, resp.Header, respBody, time.Now(), token)
	}
	if readErr != nil {
		return &Error{Kind: ErrTransient, Op: op, UID: uid, StatusCode: resp.StatusCode,
			Err: fmt.Errorf("read response: %w", readErr)}
	}
	if ct := resp.Header.Get("Content-Type"); !isJSON(ct, respBody) {
		// A welcome page or a login form: a 2xx from it proves nothing, least of all
		// that an account was deleted.
		return &Error{Kind: ErrMisconfigured, Op: op, UID: uid, StatusCode: resp.StatusCode, URL: target, ContentType: ct}
	}
	if decode == nil {
		return nil
	}
	if err := decode(respBody, origin); err != nil {
		return &Error{Kind: ErrTransient, Op: op, UID: uid, StatusCode: resp.StatusCode, Err: err}
	}
	return nil
}

func validHeaderValue(v string) bool {
	for _, r := range v {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// tokenFileError is the error of a call whose bearer token file could not be read.
func tokenFileError(op, uid string, err error) *Error {
	return &Error{Kind: ErrUnauthorized, Op: op, UID: uid, Cause: CauseTokenFile, Err: fmt.Errorf("bearer token: %w", err)}
}
