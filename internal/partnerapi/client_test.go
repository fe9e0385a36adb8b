package partnerapi

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestNewDefaults(t *testing.T) {
	c, err := New(Config{TokenFile: writeTokenFile(t, testToken)})
	if err != nil {
		t.Fatal(err)
	}
	if c.baseURL != ProductionBaseURL || c.timeout != DefaultTimeout || c.userAgent != DefaultUserAgent ||
		c.limiter.Limit() != rate.Limit(DefaultRequestsPerSecond) || c.limiter.Burst() != DefaultBurst {
		t.Errorf("defaults: base %q timeout %v agent %q limit %v burst %d",
			c.baseURL, c.timeout, c.userAgent, c.limiter.Limit(), c.limiter.Burst())
	}
	tr, ok := c.http.Transport.(*http.Transport)
	if !ok || tr.TLSClientConfig == nil || tr.TLSClientConfig.MinVersion != tls.VersionTLS12 || tr.TLSClientConfig.InsecureSkipVerify {
		t.Errorf("TLS config = %+v", tr.TLSClientConfig)
	}

	c, err = New(Config{
		BaseURL:           TestBaseURL + "/",
		TokenFile:         writeTokenFile(t, testToken),
		Timeout:           5 * time.Second,
		UserAgent:         "partner-account-operator/v1.0.0",
		RequestsPerSecond: 2.5,
		Burst:             3,
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.baseURL != TestBaseURL || c.timeout != 5*time.Second || c.userAgent != "partner-account-operator/v1.0.0" ||
		c.limiter.Limit() != 2.5 || c.limiter.Burst() != 3 {
		t.Errorf("settings: base %q timeout %v agent %q limit %v burst %d",
			c.baseURL, c.timeout, c.userAgent, c.limiter.Limit(), c.limiter.Burst())
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	token := writeTokenFile(t, testToken)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	must(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	empty := filepath.Join(dir, "empty")
	must(t, os.WriteFile(empty, []byte("\n\n"), 0o600))

	for _, tc := range []struct {
		name  string
		cfg   Config
		field string
	}{
		{"ftp URL", Config{BaseURL: "ftp://billing.1password.com/api/v1", TokenFile: token}, "BaseURL"},
		{"relative URL", Config{BaseURL: "/api/v1", TokenFile: token}, "BaseURL"},
		{"URL without host", Config{BaseURL: "https:///api/v1", TokenFile: token}, "BaseURL"},
		{"URL with credentials", Config{BaseURL: "https://user:pw@billing.1password.com/api/v1", TokenFile: token}, "BaseURL"},
		{"URL with a query", Config{BaseURL: "https://billing.1password.com/api/v1?x=1", TokenFile: token}, "BaseURL"},
		{"unparsable URL", Config{BaseURL: "https://bad host/", TokenFile: token}, "BaseURL"},
		{"http to a remote host", Config{BaseURL: "http://billing.1password.com/api/v1", TokenFile: token}, "BaseURL"},
		{"http to a private address", Config{BaseURL: "http://10.0.0.7:8080/api/v1", TokenFile: token}, "BaseURL"},
		{"no token file", Config{}, "TokenFile"},
		{"missing token file", Config{TokenFile: filepath.Join(dir, "nope")}, "TokenFile"},
		{"empty token file", Config{TokenFile: empty}, "TokenFile"},
		{"negative timeout", Config{TokenFile: token, Timeout: -time.Second}, "Timeout"},
		{"bad user agent", Config{TokenFile: token, UserAgent: "x\r\nX-Evil: 1"}, "UserAgent"},
		{"negative rate", Config{TokenFile: token, RequestsPerSecond: -1}, "RequestsPerSecond"},
		{"NaN rate", Config{TokenFile: token, RequestsPerSecond: math.NaN()}, "RequestsPerSecond"},
		{"negative burst", Config{TokenFile: token, Burst: -1}, "Burst"},
		{"missing CA file", Config{TokenFile: token, CAFile: filepath.Join(dir, "nope.pem")}, "CAFile"},
		{"CA file without certificates", Config{TokenFile: token, CAFile: notPEM}, "CAFile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg)
			rememberErr(err)
			if err == nil {
				t.Fatalf("New accepted the config: %+v", c)
			}
			if !strings.Contains(err.Error(), "Config."+tc.field) {
				t.Errorf("error %q does not name Config.%s", err, tc.field)
			}
		})
	}
}

// TestInsecureHTTP checks that the bearer token goes over plain HTTP only to this
// machine, or where insecure HTTP is allowed explicitly.
func TestInsecureHTTP(t *testing.T) {
	token := writeTokenFile(t, testToken)
	for _, tc := range []struct {
		url   string
		allow bool
		ok    bool
	}{
		{"http://127.0.0.1:8089/api/v1", false, true},
		{"http://127.9.9.9/api/v1", false, true},
		{"http://[::1]:8089/api/v1", false, true},
		{"http://localhost:8089/api/v1", false, true},
		{"http://LOCALHOST/api/v1", false, true},
		{"http://billing.b5test.eu/api/v1", false, false},
		{"http://localhost.example.com/api/v1", false, false},
		{"http://[::2]/api/v1", false, false},
		{"http://billing.b5test.eu/api/v1", true, true},
		{"https://billing.b5test.eu/api/v1", false, true},
	} {
		_, err := New(Config{BaseURL: tc.url, TokenFile: token, AllowInsecureHTTP: tc.allow})
		rememberErr(err)
		if (err == nil) != tc.ok {
			t.Errorf("New(%s, allow=%v): err = %v, want ok=%v", tc.url, tc.allow, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "clear text") {
			t.Errorf("error %q does not say why", err)
		}
	}
}

func TestUnlimitedRate(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1", func(cfg *Config) { cfg.RequestsPerSecond = math.Inf(1) })
	if c.limiter.Limit() != rate.Inf {
		t.Errorf("limit = %v, want Inf", c.limiter.Limit())
	}
}

// writeServerCA writes srv's certificate as a PEM bundle.
func writeServerCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	must(t, os.WriteFile(path, b, 0o600))
	return path
}

func TestTLS(t *testing.T) {
	ctx := testCtx(t)
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"account_uid":"acct-1"}`))
	})

	quiet := log.New(io.Discard, "", 0) // handshake failures are expected below
	srv := httptest.NewUnstartedServer(handler)
	srv.Config.ErrorLog = quiet
	srv.StartTLS()
	defer srv.Close()

	t.Run("trusted through CAFile", func(t *testing.T) {
		c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.CAFile = writeServerCA(t, srv) })
		if _, err := c.Get(ctx, "acct-1"); err != nil {
			rememberErr(err)
			t.Fatal(err)
		}
	})

	t.Run("unknown authority is refused", func(t *testing.T) {
		c := newTestClient(t, srv.URL)
		_, err := c.Get(ctx, "acct-1")
		rememberErr(err)
		if !errors.Is(err, ErrTransient) || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("err = %v (%s), want a transient certificate error", err, kindOf(err))
		}
	})

	t.Run("TLS 1.1 is refused", func(t *testing.T) {
		old := httptest.NewUnstartedServer(handler)
		old.TLS = &tls.Config{MaxVersion: tls.VersionTLS11}
		old.Config.ErrorLog = quiet
		old.StartTLS()
		defer old.Close()
		c := newTestClient(t, old.URL, func(cfg *Config) { cfg.CAFile = writeServerCA(t, old) })
		_, err := c.Get(ctx, "acct-1")
		rememberErr(err)
		if !errors.Is(err, ErrTransient) {
			t.Errorf("err = %v (%s), want ErrTransient", err, kindOf(err))
		}
	})
}

// TestOriginTiesAnswersToWhereTheyCameFrom checks that every answer carries the
// origin it came from, that the origin changes with the URL, the token and the CA
// bundle and with nothing else, that a call with no answer has none, and that the
// origin does not show the token.
func TestOriginTiesAnswersToWhereTheyCameFrom(t *testing.T) {
	srv := newScripted(t)
	tokenFile := writeTokenFile(t, testToken)
	c := newTestClient(t, srv.apiURL(), func(cfg *Config) { cfg.TokenFile = tokenFile })
	ctx := testCtx(t)
	first := c.Origin()
	if first.URL != srv.apiURL() || len(first.ID) != 16 || strings.Contains(first.ID, testToken) {
		t.Fatalf("Origin = %+v, want the URL %s and a 16-digit ID", first, srv.apiURL())
	}

	srv.set(answer(http.StatusOK, []byte(`{"account_uid":"acct-1","account_type":"I","domain":"b5test.com","status":"entitled"}`)))
	acct, err := c.Get(ctx, "acct-1")
	if err != nil || acct.Origin != first {
		t.Fatalf("account origin = %+v (err %v), want %+v", acct.Origin, err, first)
	}
	srv.set(answer(http.StatusNotFound, []byte(`{"description":"Not found.","code":404,"error":"not_found"}`)))
	_, err = c.Get(ctx, "acct-1")
	if o, ok := OriginOf(err); !ok || o != first || Gone(err) {
		t.Errorf("404: origin %+v, %v, gone %v; want %+v and not gone", o, ok, Gone(err), first)
	}
	srv.set(answer(http.StatusGone, []byte(`{"description":"The requested account is gone.","code":410,"error":"gone"}`)))
	if _, err = c.Get(ctx, "acct-1"); !errors.Is(err, ErrNotFound) || !Gone(err) {
		t.Errorf("410: err = %v, gone %v; want ErrNotFound and gone", err, Gone(err))
	}

	if err := os.WriteFile(tokenFile, []byte("another-partners-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a new modification time
	if err := os.Chtimes(tokenFile, time.Now(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if o := c.Origin(); o.URL != first.URL || o.ID == first.ID {
		t.Errorf("another token: Origin = %+v, want the same URL and another ID than %s", o, first.ID)
	}
	if o := newTestClient(t, srv.apiURL()+"/").Origin(); o != first {
		t.Errorf("the same URL with a trailing slash: %+v, want %+v", o, first)
	}
	if o := newTestClient(t, srv.URL+"/v2").Origin(); o.ID == first.ID {
		t.Errorf("another URL has the same ID %s", o.ID)
	}
	other := httptest.NewTLSServer(http.NotFoundHandler())
	defer other.Close()
	if o := newTestClient(t, srv.apiURL(), func(cfg *Config) { cfg.CAFile = writeServerCA(t, other) }).Origin(); o.ID == first.ID {
		t.Errorf("another CA bundle has the same ID %s", o.ID)
	}

	srv.Close()
	_, err = c.Get(ctx, "acct-1")
	if o, ok := OriginOf(err); ok {
		t.Errorf("no answer, but origin %+v", o)
	}
}

// TestCreateFillsWhatTheAnswerLacks checks that a 2xx create answer without type
// or domain is completed from the request, so that it still reads as the account
// created.
func TestCreateFillsWhatTheAnswerLacks(t *testing.T) {
	srv := newScripted(t)
	c := newTestClient(t, srv.apiURL())
	srv.set(answer(http.StatusCreated, []byte(`{"account_uid":"acct-1","status":"entitled","activation_token":"PNS-1"}`)))
	acct, err := c.Create(testCtx(t), CreateRequest{UID: "acct-1", Type: AccountTypeFamily, Domain: "b5test.ca"})
	if err != nil {
		t.Fatal(err)
	}
	if acct.Type != AccountTypeFamily || acct.Domain != "b5test.ca" || acct.UID != "acct-1" {
		t.Errorf("account = %+v, want type and domain from the request", acct)
	}

	srv.set(answer(http.StatusCreated, []byte(`{"account_uid":"acct-1","account_type":"I","domain":"b5test.com"}`)))
	acct, err = c.Create(testCtx(t), CreateRequest{UID: "acct-1", Type: AccountTypeFamily, Domain: "b5test.ca"})
	if err != nil {
		t.Fatal(err)
	}
	if acct.Type != AccountTypeIndividual || acct.Domain != "b5test.com" {
		t.Errorf("account = %+v: what the answer says was replaced by the request", acct)
	}
}
