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

// TestProvenOnlyByTheAccountAskedFor checks that the endpoint counts as serving
// accounts only once it answered 2xx with the account a call asked for: a JSON 404
// in the API's error shape, or a 2xx about another account, proves nothing.
func TestProvenOnlyByTheAccountAskedFor(t *testing.T) {
	srv := newScripted(t)
	c := newTestClient(t, srv.apiURL())
	ctx := testCtx(t)
	if c.Proven() {
		t.Fatal("a new client is proven")
	}
	if c.Endpoint() != srv.apiURL() {
		t.Errorf("Endpoint = %q, want %q", c.Endpoint(), srv.apiURL())
	}

	srv.set(answer(http.StatusNotFound, []byte(`{"description":"Not found.","code":404,"error":"not_found"}`)))
	if _, err := c.Get(ctx, "acct-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("JSON 404: err = %v (%s), want ErrNotFound", err, kindOf(err))
	}
	if c.Proven() {
		t.Error("a 404 proved the endpoint")
	}

	srv.set(answer(http.StatusOK, []byte(`{"account_uid":"acct-2","account_type":"I","domain":"b5test.com","status":"entitled"}`)))
	_, err := c.Get(ctx, "acct-1")
	if !errors.Is(err, ErrTransient) || c.Proven() {
		t.Errorf("an answer about another account: err = %v (%s), proven %v; want ErrTransient, not proven",
			err, kindOf(err), c.Proven())
	}
	rememberErr(err)

	if _, err := c.Get(ctx, "acct-2"); err != nil {
		t.Fatal(err)
	}
	if !c.Proven() {
		t.Error("a 2xx with the account asked for did not prove the endpoint")
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
