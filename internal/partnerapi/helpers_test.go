package partnerapi

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Bearer tokens used across the suite. TestMain fails the run if any of them shows
// up in an error string, a log line or a metric.
const (
	testToken        = "pat-Sx7Kq2Vw9Lm4Rt8Zb3Nc"
	testTokenRotated = "pat-Hd5Fj1Gy6Pe0Ua2Xo7Wi-rotated"
	testTokenSwapped = "pat-Qm3Tb8Ck4Ve9Ry1Lz6Ns"
)

var allTestTokens = []string{testToken, testTokenRotated, testTokenSwapped}

// seen collects every error string and log line the suite produced.
var seen struct {
	sync.Mutex
	texts []string
}

func remember(s string) {
	seen.Lock()
	defer seen.Unlock()
	seen.texts = append(seen.texts, s)
}

// rememberErr records err's text in every form a caller might print it.
func rememberErr(err error) {
	if err == nil {
		return
	}
	remember(err.Error())
	remember(fmt.Sprintf("%+v", err))
	remember(fmt.Sprintf("%#v", err))
	remember(ServerMessage(err))
	for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
		remember(e.Error())
	}
}

// testLogger is handed to every call through the context, so anything the client
// logs is captured.
var testLogger = funcr.New(func(prefix, args string) {
	remember(prefix + " " + args)
}, funcr.Options{Verbosity: 10})

func testCtx(t *testing.T) context.Context {
	t.Helper()
	return logr.NewContext(t.Context(), testLogger)
}

// findLeaks returns the texts that contain one of tokens.
func findLeaks(texts, tokens []string) []string {
	var leaks []string
	for _, s := range texts {
		for _, tok := range tokens {
			if strings.Contains(s, tok) {
				leaks = append(leaks, s)
				break
			}
		}
	}
	return leaks
}

// metricsText renders everything on controller-runtime's registry.
func metricsText() (string, error) {
	families, err := metrics.Registry.Gather()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, f := range families {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String(), nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	seen.Lock()
	texts := append([]string(nil), seen.texts...)
	seen.Unlock()
	mt, err := metricsText()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: gather metrics:", err)
		code = 1
	}
	texts = append(texts, mt)
	if leaks := findLeaks(texts, allTestTokens); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: a bearer token appears in %d error strings, log lines or metrics:\n", len(leaks))
		for _, l := range leaks {
			fmt.Fprintln(os.Stderr, "  ", l)
		}
		code = 1
	}
	if f := flag.Lookup("test.run"); code == 0 && f != nil && f.Value.String() == "" && len(texts) < 50 {
		// The check above only means something if the suite produced errors.
		fmt.Fprintf(os.Stderr, "FAIL: only %d error strings were checked for tokens\n", len(texts))
		code = 1
	}
	os.Exit(code)
}

func TestFindLeaks(t *testing.T) {
	texts := []string{"partnerapi: get account \"a\": 403 Forbidden", "Bearer " + testToken, "x"}
	got := findLeaks(texts, allTestTokens)
	if len(got) != 1 || got[0] != texts[1] {
		t.Fatalf("findLeaks = %q, want only the text with the token", got)
	}
}

// writeTokenFile writes token to a new file and returns its path.
func writeTokenFile(t *testing.T, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newTestClient returns a client for baseURL with testToken and no rate limit,
// after applying mods to its config.
func newTestClient(t *testing.T, baseURL string, mods ...func(*Config)) *HTTPClient {
	t.Helper()
	cfg := Config{
		BaseURL:           baseURL,
		TokenFile:         writeTokenFile(t, testToken),
		RequestsPerSecond: math.Inf(1),
	}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// recorded is one request as a fake server saw it.
type recorded struct {
	Method string
	Path   string // escaped path
	Header http.Header
	Body   []byte
}

// recorder is a fake server's log of requests.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

func (r *recorder) add(req *http.Request) recorded {
	body, _ := io.ReadAll(req.Body)
	rec := recorded{Method: req.Method, Path: req.URL.EscapedPath(), Header: req.Header.Clone(), Body: body}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, rec)
	return rec
}

func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}

func (r *recorder) last(t *testing.T) recorded {
	t.Helper()
	all := r.all()
	if len(all) == 0 {
		t.Fatal("the server received no request")
	}
	return all[len(all)-1]
}

// scripted is a server that records each request and answers with whatever the
// current reply function says.
type scripted struct {
	*httptest.Server
	recorder
	mu    sync.Mutex
	reply func(w http.ResponseWriter, r *http.Request, rec recorded)
}

func newScripted(t *testing.T) *scripted {
	t.Helper()
	s := &scripted{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := s.add(r)
		s.mu.Lock()
		reply := s.reply
		s.mu.Unlock()
		if reply == nil {
			http.Error(w, "no reply scripted", http.StatusTeapot)
			return
		}
		reply(w, r, rec)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *scripted) set(reply func(w http.ResponseWriter, r *http.Request, rec recorded)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reply = reply
}

// answer returns a reply writing status, the headers in kv (name, value, ...) and
// body.
func answer(status int, body []byte, kv ...string) func(http.ResponseWriter, *http.Request, recorded) {
	return func(w http.ResponseWriter, _ *http.Request, _ recorded) {
		for i := 0; i+1 < len(kv); i += 2 {
			w.Header().Set(kv[i], kv[i+1])
		}
		if len(body) > 0 && w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
}

func (s *scripted) apiURL() string { return s.URL + "/api/v1" }

// kindOf returns the name of err's kind, for messages.
func kindOf(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return fmt.Sprintf("not an *Error: %T %v", err, err)
	}
	return e.Kind.Error()
}
