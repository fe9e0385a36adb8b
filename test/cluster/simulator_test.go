//go:build cluster

package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
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
	s := &simulator{
		CAFile:    filepath.Join(dir, "ca.crt"),
		TokenFile: filepath.Join(dir, "token"),
		Log:       filepath.Join(dir, "partnerapi-sim.log"),
	}
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	Expect(writeServingCert(s.CAFile, certFile, keyFile, ip)).To(Succeed())
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
	ca, err := os.ReadFile(s.CAFile)
	Expect(err).NotTo(HaveOccurred())
	pool.AppendCertsFromPEM(ca)
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

// writeServingCert writes a new CA's certificate to caFile, and a certificate for ip
// that it signed, and its key, to certFile and keyFile.
func writeServingCert(caFile, certFile, keyFile, ip string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "partnerapi-sim test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "partnerapi-sim"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP(ip)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	for file, block := range map[string]*pem.Block{
		caFile: {Type: "CERTIFICATE", Bytes: caDER}, certFile: {Type: "CERTIFICATE", Bytes: der},
		keyFile: {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			return err
		}
	}
	return nil
}
