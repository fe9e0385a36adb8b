//go:build cluster

package cluster

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/partnerbilling/partner-account-operator/test/childproc"
	"github.com/partnerbilling/partner-account-operator/test/cluster/node"
	"github.com/partnerbilling/partner-account-operator/test/localenv"
)

// simulator is the Partnership API simulator (cmd/partnerapi-sim), running on this
// machine over HTTPS with a certificate of its own CA, as the operator's pod sees it
// at the node's address.
type simulator struct {
	// SimulatorAdmin calls the simulator's controls, over HTTPS; SimulatorURL is its
	// address, the API is under /api/v1.
	localenv.SimulatorAdmin
	// CAFile is the PEM certificate of the CA that signed the simulator's certificate.
	CAFile string
	// TokenFile holds the partner token the simulator accepts.
	TokenFile string
	// Log is the simulator's output.
	Log string

	proc *childproc.Process
}

func startSimulator(ctx context.Context, dir, ip string) *simulator {
	GinkgoHelper()
	ca, err := node.NewCA(dir, "partnerapi-sim test CA")
	Expect(err).NotTo(HaveOccurred())
	Expect(ca.Issue("tls", "partnerapi-sim", nil, []net.IP{net.ParseIP(ip)}, nil)).To(Succeed())
	s := &simulator{
		CAFile:    ca.CertFile(),
		TokenFile: filepath.Join(dir, "token"),
		Log:       filepath.Join(dir, "partnerapi-sim.log"),
	}
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	token := make([]byte, 24)
	_, _ = rand.Read(token)
	Expect(os.WriteFile(s.TokenFile, []byte("pat-"+hex.EncodeToString(token)+"\n"), 0o600)).To(Succeed())

	bin := filepath.Join(dir, "partnerapi-sim")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/partnerapi-sim")
	build.Dir = filepath.Join("..", "..")
	out, err := build.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "go build ./cmd/partnerapi-sim: %s", out)

	var line string
	s.proc, line, err = childproc.Start("partnerapi-sim", bin, []string{"--addr", net.JoinHostPort(ip, "0"),
		"--token-file", s.TokenFile, "--tls-cert", certFile, "--tls-key", keyFile}, nil, s.Log, true)
	Expect(err).NotTo(HaveOccurred())
	// partnerapi-sim listening on https://10.244.0.1:PORT (dialect contract)
	_, rest, _ := strings.Cut(line, " listening on ")
	s.SimulatorURL, _, _ = strings.Cut(rest, " ")
	Expect(s.SimulatorURL).To(HavePrefix("https://"), "first line of partnerapi-sim: %q", line)

	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(s.CAFile)
	Expect(err).NotTo(HaveOccurred())
	pool.AppendCertsFromPEM(caPEM)
	s.SimulatorClient = &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	Eventually(func(ctx context.Context) error { _, err := s.SimulatorRequests(ctx); return err }).WithContext(ctx).
		WithTimeout(20 * time.Second).Should(Succeed())
	return s
}

func (s *simulator) stop() {
	if s == nil || s.proc == nil {
		return
	}
	_ = s.proc.Stop(10 * time.Second)
}

func showSimulatorLog() {
	if data, err := os.ReadFile(sim.Log); err == nil {
		GinkgoWriter.Printf("\n----- partnerapi-sim log -----\n%s----- end -----\n", data)
	}
}
