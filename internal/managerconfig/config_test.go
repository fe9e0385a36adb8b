package managerconfig

import (
	"crypto/tls"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// parse fills a new Config from args, as the operator's main does.
func parse(t *testing.T, args ...string) (*Config, error) {
	t.Helper()
	cfg := New()
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return cfg, cfg.Complete("v1.2.3")
}

func TestDefaults(t *testing.T) {
	cfg, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]any{
		"partner API URL":     cfg.API.BaseURL == partnerapi.ProductionBaseURL,
		"token file":          cfg.API.TokenFile == DefaultTokenFile,
		"rps and burst":       cfg.API.RequestsPerSecond == 10 && cfg.API.Burst == 20,
		"timeout":             cfg.API.Timeout == 30*time.Second,
		"user agent":          cfg.API.UserAgent == "partner-account-operator/v1.2.3",
		"resync period":       cfg.Controller.ResyncPeriod == 24*time.Hour,
		"read-back rate":      cfg.Controller.ReadBackRate == 5,
		"concurrency":         cfg.Controller.MaxConcurrentReconciles == 4,
		"tokens in status":    !cfg.Controller.NoTokenInStatus,
		"deletion policy":     cfg.Controller.DefaultDeletionPolicy == "",
		"metrics":             cfg.Metrics.BindAddress == "0" && cfg.Metrics.Secure,
		"probes":              cfg.HealthProbeAddress == ":8081",
		"unauthorized period": cfg.API.UnauthorizedRetryPeriod == 2*time.Minute,
	} {
		if got != true {
			t.Errorf("default %s is wrong: %+v", name, cfg)
		}
	}
}

func TestFlagsFillTheConfig(t *testing.T) {
	cfg, err := parse(t, "--partner-api-url=https://billing.b5test.eu/api/v1", "--partner-api-rps=4",
		"--partner-api-burst=8", "--activation-token-in-status=false", "--default-deletion-policy=Orphan",
		"--connection-secret-namespace=ops", "--resync-period=12h", "--min-read-back-interval=1m",
		"--leader-elect", "--metrics-bind-address=:8443", "--enable-http2")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API.BaseURL != partnerapi.TestBaseURL || cfg.API.RequestsPerSecond != 4 || cfg.API.Burst != 8 {
		t.Errorf("API = %+v", cfg.API)
	}
	if !cfg.Controller.NoTokenInStatus || cfg.Controller.DefaultDeletionPolicy != billingv1alpha1.DeletionPolicyOrphan ||
		cfg.Controller.ResyncPeriod != 12*time.Hour || cfg.Controller.MinReadBackInterval != time.Minute ||
		cfg.Controller.ReadBackRate != 2 {
		t.Errorf("Controller = %+v", cfg.Controller)
	}
	if cfg.ConnectionSecretNamespace != "ops" {
		t.Errorf("ConnectionSecretNamespace = %q", cfg.ConnectionSecretNamespace)
	}

	opts := cfg.ManagerOptions(runtime.NewScheme())
	if !opts.LeaderElection || opts.LeaderElectionID != leaderElectionID || opts.Metrics.BindAddress != ":8443" ||
		opts.Metrics.FilterProvider == nil || len(opts.Metrics.TLSOpts) != 0 {
		t.Errorf("manager options = %+v", opts)
	}
	if *opts.LeaseDuration != 12*time.Second || *opts.RenewDeadline != 8*time.Second {
		t.Errorf("lease %v, renew %v", *opts.LeaseDuration, *opts.RenewDeadline)
	}
}

func TestMetricsOverHTTP1UnlessHTTP2IsEnabled(t *testing.T) {
	cfg, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	opts := cfg.ManagerOptions(runtime.NewScheme()).Metrics
	if len(opts.TLSOpts) != 1 {
		t.Fatalf("%d TLS options, want the one that turns HTTP/2 off", len(opts.TLSOpts))
	}
	c := &tls.Config{}
	opts.TLSOpts[0](c)
	if len(c.NextProtos) != 1 || c.NextProtos[0] != "http/1.1" {
		t.Errorf("NextProtos = %v", c.NextProtos)
	}
}

func TestBadFlagsAreNamed(t *testing.T) {
	for _, tt := range []struct{ arg, mention string }{
		{"--partner-api-url=http://billing.example.com/api/v1", "--partner-api-url"},
		{"--partner-api-url=ftp://billing.example.com", "--partner-api-url"},
		{"--partner-api-token-file=", "--partner-api-token-file"},
		{"--partner-api-rps=0", "--partner-api-rps"},
		{"--partner-api-burst=-1", "--partner-api-burst"},
		{"--partner-api-timeout=0s", "--partner-api-timeout"},
		{"--resync-period=-1h", "--resync-period"},
		{"--min-read-back-interval=-1s", "--min-read-back-interval"},
		{"--max-concurrent-reconciles=0", "--max-concurrent-reconciles"},
		{"--default-deletion-policy=Keep", "Delete or Orphan"},
		{"--activation-token-in-status=maybe", "activation-token-in-status"},
	} {
		_, err := parse(t, tt.arg)
		if err == nil || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("%s: err = %v, want one naming %s", tt.arg, err, tt.mention)
		}
	}
	if _, err := parse(t, "--partner-api-url=http://127.0.0.1:8080/api/v1"); err != nil {
		t.Errorf("a loopback http:// URL is refused: %v", err)
	}
	if _, err := parse(t, "--partner-api-url=http://sim.test/api/v1", "--partner-api-allow-insecure-http"); err != nil {
		t.Errorf("an http:// URL with --partner-api-allow-insecure-http is refused: %v", err)
	}
}
