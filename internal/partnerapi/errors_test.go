package partnerapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// callOp runs op against c for uid "acct-1".
func callOp(ctx context.Context, c *HTTPClient, op string) error {
	endsAt := time.Date(2050, 2, 5, 13, 0, 0, 0, time.UTC)
	var err error
	switch op {
	case OpCreate:
		_, err = c.Create(ctx, CreateRequest{UID: "acct-1", Type: AccountTypeIndividual, Domain: "b5test.com"})
	case OpGet:
		_, err = c.Get(ctx, "acct-1")
	case OpUpdate:
		_, err = c.UpdateEndsAt(ctx, "acct-1", &endsAt)
	case OpDelete:
		err = c.Delete(ctx, "acct-1")
	default:
		panic(op)
	}
	rememberErr(err)
	return err
}

var allOps = []string{OpCreate, OpGet, OpUpdate, OpDelete}

// allKinds are the kinds an *Error may have.
var allKinds = []error{ErrInvalidRequest, ErrUnauthorized, ErrNotFound, ErrAlreadyExists, ErrRateLimited, ErrTransient, ErrMisconfigured}

func TestErrorMapping(t *testing.T) {
	srv := newScripted(t)
	ctx := testCtx(t)

	// The expected kind per status, written out rather than derived from kindFor.
	want := map[int]error{
		400: ErrInvalidRequest,
		401: ErrUnauthorized,
		403: ErrUnauthorized,
		404: ErrNotFound, // ErrInvalidRequest on create, below
		409: ErrAlreadyExists,
		410: ErrNotFound,
		405: ErrInvalidRequest,
		408: ErrTransient,
		418: ErrInvalidRequest,
		425: ErrTransient,
		429: ErrRateLimited,
		500: ErrTransient,
		502: ErrTransient,
		503: ErrTransient,
		504: ErrTransient,
	}
	shapes := []struct {
		name     string
		body     func(status int) string
		wantCode func(status int) string
	}{
		{"contract", func(s int) string {
			return fmt.Sprintf(`{"status":%d,"message":"Server says %d.","code":"code_%d"}`, s, s, s)
		}, func(s int) string { return fmt.Sprintf("code_%d", s) }},
		{"published", func(s int) string {
			return fmt.Sprintf(`{"description":"Server says %d.","code":%d,"error":"error_%d"}`, s, s, s)
		}, func(s int) string { return fmt.Sprint(s) }},
	}

	for status, kind := range want {
		for _, op := range allOps {
			wantKind := kind
			if status == 404 && op == OpCreate {
				wantKind = ErrInvalidRequest // "Domain not found."
			}
			for _, shape := range shapes {
				t.Run(fmt.Sprintf("%d/%s/%s", status, op, shape.name), func(t *testing.T) {
					// A client per case: a 401, 403 or Retry-After holds back the client's later calls.
					c := newTestClient(t, srv.apiURL())
					srv.set(answer(status, []byte(shape.body(status)), "Retry-After", "7"))
					before := len(srv.all())
					err := callOp(ctx, c, op)
					if n := len(srv.all()) - before; n != 1 {
						t.Errorf("the call sent %d requests, want exactly 1", n)
					}
					var e *Error
					if !errors.As(err, &e) {
						t.Fatalf("err = %T %v, want *Error", err, err)
					}
					if !errors.Is(err, wantKind) || e.Kind != wantKind {
						t.Errorf("kind = %v, want %v", e.Kind, wantKind)
					}
					for _, other := range allKinds {
						if other != wantKind && errors.Is(err, other) {
							t.Errorf("error also matches %v", other)
						}
					}
					wantMsg := fmt.Sprintf("Server says %d.", status)
					if e.Op != op || e.UID != "acct-1" || e.StatusCode != status || e.Message != wantMsg || e.Code != shape.wantCode(status) {
						t.Errorf("error = %+v", e)
					}
					wantText := fmt.Sprintf("partnerapi: %s account %q: %d %s: %s", op, "acct-1", status, http.StatusText(status), wantMsg)
					if err.Error() != wantText {
						t.Errorf("text = %q\nwant   %q", err, wantText)
					}
					switch status {
					case 429, 503:
						if e.RetryAfter != 7*time.Second {
							t.Errorf("RetryAfter = %v, want 7s", e.RetryAfter)
						}
					default:
						if e.RetryAfter != 0 {
							t.Errorf("RetryAfter = %v on a %d", e.RetryAfter, status)
						}
					}
				})
			}
		}
	}
}

func TestRetryAfter(t *testing.T) {
	srv := newScripted(t)
	c := newTestClient(t, srv.apiURL())
	ctx := testCtx(t)
	body := []byte(`{"status":429,"message":"Slow down.","code":"rate_limited"}`)

	for _, tc := range []struct {
		name     string
		header   []string
		min, max time.Duration
	}{
		{"delta seconds", []string{"Retry-After", "7"}, 7 * time.Second, 7 * time.Second},
		{"zero", []string{"Retry-After", "0"}, time.Second, time.Second},
		{"HTTP date", []string{"Retry-After", time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)}, 28 * time.Second, 31 * time.Second},
		{"HTTP date in the past", []string{"Retry-After", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)}, time.Second, time.Second},
		{"absent", nil, time.Second, time.Second},
		{"unparsable", []string{"Retry-After", "soon"}, time.Second, time.Second},
		{"negative", []string{"Retry-After", "-5"}, time.Second, time.Second},
		{"huge", []string{"Retry-After", "99999999999999999999"}, time.Hour, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A client per case: a 401, 403 or Retry-After holds back the client's later calls.
			c := newTestClient(t, srv.apiURL())
			srv.set(answer(429, body, tc.header...))
			_, err := c.Get(ctx, "acct-1")
			rememberErr(err)
			if !errors.Is(err, ErrRateLimited) {
				t.Fatalf("err = %v (%s), want ErrRateLimited", err, kindOf(err))
			}
			d, ok := RetryAfter(err)
			if !ok || d < tc.min || d > tc.max {
				t.Errorf("RetryAfter = %v, %v, want between %v and %v", d, ok, tc.min, tc.max)
			}
		})
	}

	t.Run("503 without Retry-After", func(t *testing.T) {
		srv.set(answer(503, nil))
		_, err := c.Get(ctx, "acct-1")
		rememberErr(err)
		if d, ok := RetryAfter(err); ok || !errors.Is(err, ErrTransient) {
			t.Errorf("RetryAfter = %v, %v (%v), want none on a transient error", d, ok, err)
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"120":                            120 * time.Second,
		" 3 ":                            3 * time.Second,
		"Fri, 27 Nov 2026 10:01:00 GMT":  time.Minute,
		"Friday, 27-Nov-26 10:00:10 GMT": 10 * time.Second, // RFC 850
		"Fri Nov 27 10:00:05 2026":       5 * time.Second,  // asctime
		"Fri, 27 Nov 2026 09:00:00 GMT":  time.Second,
		"Sat, 27 Nov 2027 10:00:00 GMT":  time.Hour,
		"":                               time.Second,
		"1.5":                            time.Second,
		"7200":                           time.Hour,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestErrorBodiesThatAreNotJSON checks that a proxy's HTML page or an empty body
// gives a clean message made of the status text, and that an answer without the
// API's error body never says anything about the account: a 404 from a wrong path
// is not "gone", a 400 from a proxy is not a refusal.
func TestErrorBodiesThatAreNotJSON(t *testing.T) {
	srv := newScripted(t)
	c := newTestClient(t, srv.apiURL())
	ctx := testCtx(t)
	html := `<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1><p>nginx</p></body></html>`
	url := srv.apiURL() + "/partners/accounts/acct-1"
	misconfigured := func(status, ctype string) string {
		s := `partnerapi: get account "acct-1": ` + status + " from " + url
		if ctype != "" {
			s += " (" + ctype + ")"
		}
		return s + ", which is not an answer of the Partnership API; check the base URL"
	}

	for _, tc := range []struct {
		name     string
		status   int
		body     string
		ctype    string
		wantKind error
		wantText string
	}{
		{"HTML 502", 502, html, "text/html", ErrTransient, `partnerapi: get account "acct-1": 502 Bad Gateway: partnership API unavailable`},
		{"HTML 403", 403, html, "text/html", ErrUnauthorized, `partnerapi: get account "acct-1": 403 Forbidden: unauthorized`},
		{"empty 500", 500, "", "", ErrTransient, `partnerapi: get account "acct-1": 500 Internal Server Error: partnership API unavailable`},
		{"HTML 404", 404, "<html><body>Not Found</body></html>", "text/html; charset=utf-8", ErrMisconfigured, misconfigured("404 Not Found", "text/html; charset=utf-8")},
		{"empty 404", 404, "", "", ErrMisconfigured, misconfigured("404 Not Found", "")},
		{"plain text 410", 410, "gone", "text/plain", ErrMisconfigured, misconfigured("410 Gone", "text/plain")},
		{"API body as HTML", 404, `{"message":"Account not found."}`, "text/html", ErrMisconfigured, misconfigured("404 Not Found", "text/html")},
		{"JSON 404 of another service", 404, `{"detail":"Not Found"}`, "application/json", ErrMisconfigured, misconfigured("404 Not Found", "application/json")},
		{"HTML 405", 405, html, "text/html", ErrMisconfigured, misconfigured("405 Method Not Allowed", "text/html")},
		{"JSON array", 400, `["bad"]`, "application/json", ErrMisconfigured, misconfigured("400 Bad Request", "application/json")},
		{"JSON with the wrong types", 400, `{"message":{"text":"x"},"description":7,"code":{"a":1}}`, "application/json", ErrMisconfigured, misconfigured("400 Bad Request", "application/json")},
		{"404 without a Content-Type", 404, `{"message":"Account not found."}`, "", ErrNotFound, `partnerapi: get account "acct-1": 404 Not Found: Account not found.`},
		{"message with control characters", 400, `{"message":"line one\nline two\u0000"}`, "application/json", ErrInvalidRequest, `partnerapi: get account "acct-1": 400 Bad Request: line one line two`},
		{"only the error word", 403, `{"error":"forbidden"}`, "application/json", ErrUnauthorized, `partnerapi: get account "acct-1": 403 Forbidden: forbidden`},
		{"only the error word on a 410", 410, `{"error":"gone"}`, "application/json", ErrNotFound, `partnerapi: get account "acct-1": 410 Gone: gone`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A client per case: a 401, 403 or Retry-After holds back the client's later calls.
			c := newTestClient(t, srv.apiURL())
			srv.set(func(w http.ResponseWriter, _ *http.Request, _ recorded) {
				// Set explicitly, even to nothing: net/http would sniff one.
				w.Header()["Content-Type"] = nil
				if tc.ctype != "" {
					w.Header().Set("Content-Type", tc.ctype)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			})
			_, err := c.Get(ctx, "acct-1")
			rememberErr(err)
			if !errors.Is(err, tc.wantKind) {
				t.Fatalf("err = %v (%s), want %v", err, kindOf(err), tc.wantKind)
			}
			if err.Error() != tc.wantText {
				t.Errorf("text = %q\nwant   %q", err, tc.wantText)
			}
		})
	}

	t.Run("long message is cut", func(t *testing.T) {
		srv.set(answer(400, []byte(`{"message":"`+strings.Repeat("é", 1000)+`"}`)))
		_, err := c.Get(ctx, "acct-1")
		rememberErr(err)
		msg := ServerMessage(err)
		if len(msg) > maxMessageLen || !strings.HasSuffix(msg, "...") || !strings.HasPrefix(msg, "éé") {
			t.Errorf("message = %d bytes %q", len(msg), msg)
		}
	})
}

// TestTransportErrors checks that failures without a usable answer are transient,
// and that the client sends exactly one request per call.
func TestTransportErrors(t *testing.T) {
	ctx := testCtx(t)

	t.Run("connection closed", func(t *testing.T) {
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			hits.Add(1)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			_ = conn.Close()
		}))
		defer srv.Close()
		c := newTestClient(t, srv.URL)
		for _, op := range allOps {
			hits.Store(0)
			err := callOp(ctx, c, op)
			var e *Error
			if !errors.Is(err, ErrTransient) || !errors.As(err, &e) || e.StatusCode != 0 || e.Err == nil {
				t.Errorf("%s: err = %v (%s), want ErrTransient without a status", op, err, kindOf(err))
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("%s: the server saw %d requests, want 1 (no retries)", op, n)
			}
		}
	})

	t.Run("timeout", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}))
		defer srv.Close()
		c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.Timeout = 100 * time.Millisecond })
		start := time.Now()
		err := callOp(ctx, c, OpGet)
		if !errors.Is(err, ErrTransient) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v (%s), want ErrTransient wrapping a deadline", err, kindOf(err))
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("the call took %v with a 100ms timeout", d)
		}
	})

	t.Run("caller's deadline", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}))
		defer srv.Close()
		c := newTestClient(t, srv.URL)
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		err := callOp(cctx, c, OpDelete)
		if !errors.Is(err, ErrTransient) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v (%s), want ErrTransient wrapping a deadline", err, kindOf(err))
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		c := newTestClient(t, "http://"+addr+"/api/v1")
		err = callOp(ctx, c, OpCreate)
		if !errors.Is(err, ErrTransient) {
			t.Errorf("err = %v (%s), want ErrTransient", err, kindOf(err))
		}
	})

	t.Run("redirect is not followed", func(t *testing.T) {
		srv := newScripted(t)
		srv.set(func(w http.ResponseWriter, r *http.Request, _ recorded) {
			if r.URL.Path == "/elsewhere" {
				t.Error("the client followed a redirect")
			}
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		})
		c := newTestClient(t, srv.apiURL())
		err := callOp(ctx, c, OpGet)
		var e *Error
		if !errors.Is(err, ErrMisconfigured) || !errors.As(err, &e) || e.StatusCode != 307 || e.URL != srv.apiURL()+"/partners/accounts/acct-1" {
			t.Errorf("err = %v (%s), want ErrMisconfigured with status 307 and the URL", err, kindOf(err))
		}
		if n := len(srv.all()); n != 1 {
			t.Errorf("the server saw %d requests, want 1", n)
		}
	})
}

// TestUndecodableSuccess checks that a 2xx whose body is not an account is never a
// success with an empty account: transient when it is JSON (the API, having a bad
// moment), ErrMisconfigured when it is a page or a content type the API never sends.
func TestUndecodableSuccess(t *testing.T) {
	srv := newScripted(t)
	c := newTestClient(t, srv.apiURL())
	ctx := testCtx(t)
	for _, tc := range []struct {
		name   string
		status int
		body   string
		ctype  string
		want   error
	}{
		{"HTML", 200, "<html><body>Welcome</body></html>", "text/html", ErrMisconfigured},
		{"HTML without a Content-Type", 200, "<html><body>Welcome</body></html>", "", ErrMisconfigured},
		{"JSON sent as text", 200, `{"account_uid":"acct-1"}`, "text/plain", ErrMisconfigured},
		{"empty", 200, "", "", ErrTransient},
		{"204 to a create", 204, "", "", ErrTransient},
		{"null", 200, "null", "application/json", ErrTransient},
		{"empty object", 201, "{}", "application/json", ErrTransient},
		{"no id", 200, `{"account_type":"I","domain":"b5test.com","status":"entitled"}`, "application/json", ErrTransient},
		{"ids differ", 200, `{"account_uid":"acct-1","customer_account_uid":"acct-2"}`, "application/json", ErrTransient},
		{"bad time", 200, `{"account_uid":"acct-1","ends_at":"next tuesday"}`, "application/json", ErrTransient},
		{"id is a number", 200, `{"account_uid":17}`, "application/json", ErrTransient},
		{"truncated", 200, `{"account_uid":"acct-1","ends_at":"2050-`, "application/json", ErrTransient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.set(func(w http.ResponseWriter, _ *http.Request, _ recorded) {
				w.Header()["Content-Type"] = nil
				if tc.ctype != "" {
					w.Header().Set("Content-Type", tc.ctype)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			})
			for _, op := range []string{OpCreate, OpGet, OpUpdate} {
				err := callOp(ctx, c, op)
				var e *Error
				if !errors.Is(err, tc.want) || !errors.As(err, &e) || e.StatusCode != tc.status {
					t.Errorf("%s: err = %v (%s), want %v with status %d", op, err, kindOf(err), tc.want, tc.status)
				}
			}
		})
	}

	t.Run("delete answered by a page", func(t *testing.T) {
		srv.set(answer(200, []byte("<html><body>OK</body></html>"), "Content-Type", "text/html"))
		if err := c.Delete(ctx, "acct-1"); !errors.Is(err, ErrMisconfigured) {
			t.Errorf("err = %v (%s), want ErrMisconfigured: a page is no proof of deletion", err, kindOf(err))
		}
		srv.set(answer(204, nil))
		if err := c.Delete(ctx, "acct-1"); err != nil {
			t.Errorf("204: err = %v", err)
		}
	})
}

// TestInvalidUIDs checks UIDs that cannot name an account in a path are refused
// without a request, and that others are escaped.
func TestInvalidUIDs(t *testing.T) {
	srv := newScripted(t)
	srv.set(answer(404, nil))
	c := newTestClient(t, srv.apiURL())
	ctx := testCtx(t)
	for _, uid := range []string{"", ".", ".."} {
		_, err := c.Get(ctx, uid)
		rememberErr(err)
		if !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("Get(%q): err = %v, want ErrInvalidRequest", uid, err)
		}
		_, err = c.Create(ctx, CreateRequest{UID: uid, Type: AccountTypeIndividual, Domain: "b5test.com"})
		rememberErr(err)
		if !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("Create(%q): err = %v, want ErrInvalidRequest", uid, err)
		}
	}
	if n := len(srv.all()); n != 0 {
		t.Errorf("the server saw %d requests, want 0", n)
	}

	err := c.Delete(ctx, "a/b?c#d e")
	rememberErr(err)
	if got := srv.last(t).Path; got != "/api/v1/partners/accounts/a%2Fb%3Fc%23d%20e" {
		t.Errorf("path = %q", got)
	}
}
