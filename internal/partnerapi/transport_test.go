package partnerapi

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// TestNoAnswerNamesItsCause makes calls that get no answer, for real, and checks
// that each error names its cause, says what to check, and reads the same on a
// second attempt.
func TestNoAnswerNamesItsCause(t *testing.T) {
	untrusted := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(untrusted.Close)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String()
	_ = closed.Close()
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-hang }))
	t.Cleanup(func() { close(hang); slow.Close() })
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)

	tests := []struct {
		name, url, cause, detail string
		timeout                  time.Duration
	}{
		{"a host that does not resolve", "https://partner-api.invalid/api/v1", CauseDNS, "cannot resolve partner-api.invalid", 0},
		{"a server whose certificate is not trusted", untrusted.URL + "/api/v1", CauseTLS, "unknown authority", 0},
		{"a port nobody listens on", closedURL + "/api/v1", CauseConnect, "connection refused", 0},
		{"a server that never answers", slow.URL + "/api/v1", CauseTimeout, "no answer within the request timeout", 200 * time.Millisecond},
		{"an http server called with https", strings.Replace(plain.URL, "http:", "https:", 1) + "/api/v1", CauseTLS, "did not answer in TLS", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, tt.url, func(cfg *Config) {
				cfg.AllowInsecureHTTP = true
				if tt.timeout > 0 {
					cfg.Timeout = tt.timeout
				}
			})
			_, first := c.Get(testCtx(t), "acct-1")
			_, second := c.Get(testCtx(t), "acct-1")
			rememberErr(first)
			var e *Error
			if !errors.As(first, &e) || !errors.Is(first, ErrTransient) || e.StatusCode != 0 {
				t.Fatalf("err = %v (%s), want ErrTransient without an answer", first, kindOf(first))
			}
			if e.Cause != tt.cause || !strings.Contains(e.Detail, tt.detail) || Hint(e.Cause) == "" {
				t.Errorf("cause %q, detail %q; want %q and a detail with %q, and a hint", e.Cause, e.Detail, tt.cause, tt.detail)
			}
			if !strings.Contains(first.Error(), "no answer ("+tt.cause+")") {
				t.Errorf("text %q does not name the cause", first.Error())
			}
			if first.Error() != second.Error() {
				t.Errorf("two attempts read differently: %q, %q", first.Error(), second.Error())
			}
		})
	}
}

// TestUnauthorizedSaysWhy checks that a missing token file, a 401 and a 403 are
// told apart, and that the file is named.
func TestUnauthorizedSaysWhy(t *testing.T) {
	srv := newScripted(t)
	tokenFile := writeTokenFile(t, testToken)
	c := newTestClient(t, srv.apiURL(), func(cfg *Config) { cfg.TokenFile = tokenFile })
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		srv.set(answer(status, []byte(`{"status":401,"message":"Bad token.","code":"unauthorized"}`)))
		_, err := c.Get(testCtx(t), "acct-1")
		var e *Error
		if !errors.As(err, &e) || e.StatusCode != status || e.TokenFile != tokenFile || e.Cause != "" {
			t.Errorf("%d: err = %#v, want the status and the token file", status, e)
		}
		rememberErr(err)
		_, err = c.Get(testCtx(t), "acct-2") // refused without a request while the token is rejected
		if !errors.As(err, &e) || e.StatusCode != 0 || e.Rejected != status || !NotSent(err) {
			t.Errorf("%d, then: err = %#v, want a call not sent that names the rejection", status, e)
		}
		c = newTestClient(t, srv.apiURL(), func(cfg *Config) { cfg.TokenFile = tokenFile })
	}

	if err := os.WriteFile(tokenFile, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := c.Get(testCtx(t), "acct-1")
	var e *Error
	if !errors.As(err, &e) || e.Cause != CauseTokenFile || e.TokenFile != tokenFile || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("an empty token file: err = %v (%#v)", err, e)
	}
}
