package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is an io.Writer safe for the server goroutine and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestRunRefusesBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "--token"},
		{[]string{"--dialect=soap", "--token=x"}, "--dialect"},
		{[]string{"--token=x", "--error-rate=2"}, "error rate"},
		{[]string{"--token=x", "--error-rate=0.6", "--drop-rate=0.6"}, "more than 1"},
		{[]string{"--token-file=" + filepath.Join(t.TempDir(), "none")}, "token file"},
		{[]string{"--token=x", "stray"}, "unexpected arguments"},
		{[]string{"--token=x", "--tls-cert=cert.pem"}, "--tls-key"},
		{[]string{"--token=x", "--tls-key=key.pem"}, "--tls-cert"},
		{[]string{"--token=x", "--tls-cert=" + filepath.Join(t.TempDir(), "none"), "--tls-key=k"}, "--tls-cert"},
	} {
		var stderr lockedBuffer
		err := run(context.Background(), c.args, io.Discard, &stderr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run(%q): error %v, want one mentioning %q", c.args, err, c.want)
		}
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("# nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"--token-file=" + empty}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--token-file") {
		t.Errorf("empty token file: %v", err)
	}
}

func TestRunServesAndShutsDown(t *testing.T) {
	const secret = "cmd-secret-token"
	state := filepath.Join(t.TempDir(), "state.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr=127.0.0.1:0", "--dialect=published", "--token=other," + secret,
			"--domains=partner.test", "--state-file=" + state, "--retry-after=2"}, pw, &stderr)
		_ = pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no listening line: %v (stderr %s)", err, stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	m := regexp.MustCompile(`^partnerapi-sim listening on (http://127\.0\.0\.1:\d+) \(dialect published\)\n$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("listening line %q", line)
	}
	base := m[1]

	body := `{"customer_account_uid":"cmd-1","account_type":"I","domain":"partner.test"}`
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/partners/accounts", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("create: %d", resp.StatusCode)
	}
	resp, err = http.Get(base + "/sim/health")
	if err != nil {
		t.Fatal(err)
	}
	var health map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&health)
	_ = resp.Body.Close()
	if health["dialect"] != "published" {
		t.Errorf("health %v", health)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after SIGINT: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context was canceled")
	}
	data, err := os.ReadFile(state)
	if err != nil || !bytes.Contains(data, []byte(`"cmd-1"`)) {
		t.Errorf("state file after the run: %v %s", err, data)
	}
	if strings.Contains(stderr.String()+line, secret) {
		t.Error("the token was printed")
	}
}

func TestRunServesHTTPS(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := selfSignedCert(t)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		args := []string{"--addr=127.0.0.1:0", "--token=x", "--tls-cert=" + certFile, "--tls-key=" + keyFile}
		done <- run(ctx, args, pw, io.Discard)
		_ = pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no listening line: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	m := regexp.MustCompile(`^partnerapi-sim listening on (https://127\.0\.0\.1:\d+) `).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("listening line %q", line)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(m[1] + "/sim/health")
	if err != nil {
		t.Fatalf("GET /sim/health over TLS trusting the certificate: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /sim/health: %d", resp.StatusCode)
	}
	if _, err := http.Get(m[1] + "/sim/health"); err == nil {
		t.Error("a client that does not trust the certificate connected")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}

// selfSignedCert returns a PEM certificate for 127.0.0.1 and its PEM key.
func selfSignedCert(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "partnerapi-sim"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}
