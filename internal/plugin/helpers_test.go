package plugin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

// simToken is the partner token the test simulators accept.
const simToken = "plugin-test-partner-token-7f3a"

// writeToken writes token to a file and returns its path.
func writeToken(t *testing.T, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeUIDs writes a UID file and returns its path.
func writeUIDs(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "uids.txt")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// simEnv is the Partnership API simulator behind an HTTP server on loopback.
type simEnv struct {
	sim       *simulator.Server
	url       string // the API's base URL
	tokenFile string // holds simToken
}

func startSim(t *testing.T) *simEnv {
	t.Helper()
	sim, err := simulator.New(simulator.Options{Tokens: []string{simToken}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return &simEnv{sim: sim, url: srv.URL + "/api/v1", tokenFile: writeToken(t, simToken)}
}

// client returns a client of the simulator, as the flags would make it; cfg's
// zero fields are filled in, with no rate limit unless cfg sets one.
func (e *simEnv) client(t *testing.T, cfg partnerapi.Config) *partnerapi.HTTPClient {
	t.Helper()
	if cfg.BaseURL == "" {
		cfg.BaseURL = e.url
	}
	if cfg.TokenFile == "" {
		cfg.TokenFile = e.tokenFile
	}
	if cfg.RequestsPerSecond == 0 {
		cfg.RequestsPerSecond = math.Inf(1)
	}
	c, err := partnerapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// seed makes accounts that existed before, made outside the operator.
func (e *simEnv) seed(t *testing.T, typ string, uids ...string) {
	t.Helper()
	for _, uid := range uids {
		if _, err := e.sim.Seed(simulator.Seed{UID: uid, Type: typ, Domain: "b5test.com",
			CreatedAt: time.Now().Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
}

// parseStream parses a YAML stream of PartnerAccounts, strictly: each document
// must be a PartnerAccount with no field the type does not have, no status and
// no metadata but the name and namespace.
func parseStream(t *testing.T, out []byte) []billingv1alpha1.PartnerAccount {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	var pas []billingv1alpha1.PartnerAccount
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return pas
		}
		if err != nil {
			t.Fatalf("not a YAML stream: %v\n%s", err, out)
		}
		if strings.TrimSpace(string(doc)) == "" {
			continue
		}
		var pa billingv1alpha1.PartnerAccount
		if err := yaml.UnmarshalStrict(doc, &pa); err != nil {
			t.Fatalf("not a PartnerAccount: %v\n%s", err, doc)
		}
		var fields struct {
			Status   any            `json:"status"`
			Metadata map[string]any `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &fields); err != nil {
			t.Fatalf("document: %v\n%s", err, doc)
		}
		if fields.Status != nil {
			t.Errorf("a document has a status:\n%s", doc)
		}
		for k := range fields.Metadata {
			if k != "name" && k != "namespace" {
				t.Errorf("a document has metadata.%s:\n%s", k, doc)
			}
		}
		if pa.APIVersion != "billing.partnerbilling.io/v1alpha1" || pa.Kind != "PartnerAccount" {
			t.Errorf("apiVersion %q, kind %q", pa.APIVersion, pa.Kind)
		}
		pas = append(pas, pa)
	}
}

// recorder is an io.Writer that keeps each Write apart, and can call a function
// after the nth.
type recorder struct {
	mu     sync.Mutex
	writes [][]byte
	after  int
	then   func()
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, bytes.Clone(p))
	n := len(r.writes)
	r.mu.Unlock()
	if n == r.after && r.then != nil {
		r.then()
	}
	return len(p), nil
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Join(r.writes, nil)
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ctx returns a context that ends with the test.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
