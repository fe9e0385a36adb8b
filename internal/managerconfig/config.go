// Package managerconfig is the operator's configuration: its flags fill one Config,
// Complete checks it and derives what follows from it in one place, and the
// manager, the controllers and the default Partnership API connection are made
// from it.
package managerconfig

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/partnerbilling/partner-account-operator/internal/connection"
	"github.com/partnerbilling/partner-account-operator/internal/controller"
	"github.com/partnerbilling/partner-account-operator/internal/controller/partneraccount"
	"github.com/partnerbilling/partner-account-operator/internal/metricsauth"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// DefaultTokenFile is where the chart mounts the default connection's token.
const DefaultTokenFile = "/var/run/secrets/partnerbilling.io/token"

// serviceAccountNamespaceFile holds the pod's namespace in every pod that mounts
// its service account token.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// leaderElectionID names the lease the replicas compete for.
const leaderElectionID = "5121855b.partnerbilling.io"

// Metrics configures the metrics endpoint.
type Metrics struct {
	// BindAddress is where it listens; "0" serves none.
	BindAddress string
	// Secure serves HTTPS, with authentication and authorization of readers.
	Secure bool
	// CertDir, CertName and KeyName locate its certificate; without CertDir a
	// self-signed one is made.
	CertDir, CertName, KeyName string
	// EnableHTTP2 allows HTTP/2, which is off for its Rapid Reset and Stream
	// Cancellation vulnerabilities.
	EnableHTTP2 bool
}

// Config is the whole configuration of the operator.
type Config struct {
	// Metrics configures the metrics endpoint.
	Metrics Metrics
	// HealthProbeAddress is where /healthz and /readyz listen.
	HealthProbeAddress string
	// PprofAddress is where Go's pprof endpoints listen; empty serves none.
	PprofAddress string
	// LeaderElection makes the replicas elect one that reconciles.
	LeaderElection bool
	// LeaderElectionNamespace holds the lease; empty means the pod's namespace.
	LeaderElectionNamespace string
	// API is the default connection: the Partnership API of PartnerAccounts that
	// name no PartnerConnection, and the defaults of PartnerConnections' clients.
	API partnerapi.Config
	// Controller tunes the PartnerAccount controller.
	Controller partneraccount.Options
	// ConnectionSecretNamespace is where PartnerConnections' token and CA Secrets
	// are: the operator's own namespace. Empty means the pod's namespace.
	ConnectionSecretNamespace string
	// Log configures the logger.
	Log zap.Options
	// PrintVersion prints the version and commit instead of running.
	PrintVersion bool
}

// New returns a Config holding the operator's defaults.
func New() *Config {
	return &Config{
		Metrics:            Metrics{BindAddress: "0", Secure: true, CertName: "tls.crt", KeyName: "tls.key"},
		HealthProbeAddress: ":8081",
		API: partnerapi.Config{
			TokenFile:               DefaultTokenFile,
			UnauthorizedRetryPeriod: partneraccount.DefaultUnauthorizedRetryPeriod,
		},
		Log: zap.Options{Development: true},
	}
}

// BindFlags defines every flag of the operator on fs, each writing to its field of c.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Metrics.BindAddress, "metrics-bind-address", c.Metrics.BindAddress,
		"The address the metrics endpoint binds to. Use :8443 for HTTPS or :8080 for HTTP, or leave as 0 to disable "+
			"the metrics service.")
	fs.BoolVar(&c.Metrics.Secure, "metrics-secure", c.Metrics.Secure,
		"If set, the metrics endpoint is served securely via HTTPS. Use --metrics-secure=false to use HTTP instead.")
	fs.StringVar(&c.Metrics.CertDir, "metrics-cert-path", c.Metrics.CertDir,
		"The directory that contains the metrics server certificate.")
	fs.StringVar(&c.Metrics.CertName, "metrics-cert-name", c.Metrics.CertName,
		"The name of the metrics server certificate file.")
	fs.StringVar(&c.Metrics.KeyName, "metrics-cert-key", c.Metrics.KeyName, "The name of the metrics server key file.")
	fs.BoolVar(&c.Metrics.EnableHTTP2, "enable-http2", c.Metrics.EnableHTTP2,
		"If set, HTTP/2 will be enabled for the metrics server")
	fs.StringVar(&c.HealthProbeAddress, "health-probe-bind-address", c.HealthProbeAddress,
		"The address the probe endpoint binds to.")
	fs.StringVar(&c.PprofAddress, "pprof-bind-address", c.PprofAddress,
		"The address Go's pprof endpoints bind to, for profiling; empty (the default) serves none.")
	fs.BoolVar(&c.LeaderElection, "leader-elect", c.LeaderElection,
		"Enable leader election for controller manager. Enabling this will ensure there is only one active "+
			"controller manager.")
	fs.StringVar(&c.LeaderElectionNamespace, "leader-election-namespace", c.LeaderElectionNamespace,
		"Namespace of the leader election lease; in a pod it defaults to the pod's own namespace.")
	fs.StringVar(&c.ConnectionSecretNamespace, "connection-secret-namespace", c.ConnectionSecretNamespace,
		"Namespace of the Secrets PartnerConnections name (tokenSecretRef, caSecretRef): the operator's own. "+
			"In a pod it defaults to the pod's namespace.")
	fs.BoolVar(&c.PrintVersion, "version", c.PrintVersion, "Print the version and the commit, and exit.")
	c.API.BindFlags(fs)
	c.Controller.BindFlags(fs)
	c.Log.BindFlags(fs)
}

// Complete checks c after the flags are parsed and fills in what follows from it:
// the pod's namespace for the connection Secrets, the user agent, and half of the
// default connection's rate for its read-backs. The error names the flag.
func (c *Config) Complete(version string) error {
	var errs []error
	if _, err := partnerapi.ParseBaseURL(c.API.BaseURL, c.API.AllowInsecureHTTP); err != nil {
		errs = append(errs, fmt.Errorf("--%s: %w", partnerapi.FlagPartnerAPIURL, err))
	}
	if c.API.TokenFile == "" {
		errs = append(errs, fmt.Errorf("--%s: must be set", partnerapi.FlagPartnerAPITokenFile))
	}
	if c.API.RequestsPerSecond <= 0 {
		errs = append(errs, fmt.Errorf("--%s: must be positive, not %v", partnerapi.FlagPartnerAPIRPS,
			c.API.RequestsPerSecond))
	}
	if c.API.Burst <= 0 {
		errs = append(errs, fmt.Errorf("--%s: must be positive, not %d", partnerapi.FlagPartnerAPIBurst, c.API.Burst))
	}
	if c.API.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--%s: must be positive, not %s", partnerapi.FlagPartnerAPITimeout,
			c.API.Timeout))
	}
	for flagName, d := range map[string]time.Duration{
		"resync-period": c.Controller.ResyncPeriod, "min-read-back-interval": c.Controller.MinReadBackInterval,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("--%s: must not be negative, not %s", flagName, d))
		}
	}
	if c.Controller.MaxConcurrentReconciles <= 0 {
		errs = append(errs, fmt.Errorf("--max-concurrent-reconciles: must be positive, not %d",
			c.Controller.MaxConcurrentReconciles))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}

	if c.ConnectionSecretNamespace == "" {
		if ns, err := os.ReadFile(serviceAccountNamespaceFile); err == nil {
			c.ConnectionSecretNamespace = strings.TrimSpace(string(ns))
		}
	}
	c.API.UserAgent = "partner-account-operator/" + version
	c.Controller.ReadBackRate = c.API.RequestsPerSecond / 2
	return nil
}

// Connections are the options of the connection registry for c, logging to log.
func (c *Config) Connections(log logr.Logger) connection.Options {
	return connection.Options{ResyncPeriod: c.Controller.WithDefaults().ResyncPeriod, Log: log}
}

// ManagerOptions are the controller-runtime manager's options for c.
func (c *Config) ManagerOptions(scheme *runtime.Scheme) ctrl.Options {
	var cacheOpts cache.Options
	controller.ConfigureCache(&cacheOpts, c.ConnectionSecretNamespace)
	return ctrl.Options{
		Scheme:                  scheme,
		Cache:                   cacheOpts,
		Metrics:                 c.metricsServerOptions(),
		HealthProbeBindAddress:  c.HealthProbeAddress,
		PprofBindAddress:        c.PprofAddress,
		LeaderElection:          c.LeaderElection,
		LeaderElectionID:        leaderElectionID,
		LeaderElectionNamespace: c.LeaderElectionNamespace,
		// The program ends as soon as the manager stops, so stepping down at once is
		// safe and lets a new leader take over without waiting for the lease to expire.
		LeaderElectionReleaseOnCancel: true,
		// A leader that dies without stepping down (a crash, a lost node) is
		// replaced within 12s of its last renewal, plus one retry.
		LeaseDuration: new(12 * time.Second),
		RenewDeadline: new(8 * time.Second),
		RetryPeriod:   new(2 * time.Second),
	}
}

// metricsServerOptions serve the metrics over HTTPS to authorized readers only,
// unless Metrics.Secure is off, and over HTTP/1.1 unless HTTP/2 is enabled.
func (c *Config) metricsServerOptions() metricsserver.Options {
	opts := metricsserver.Options{BindAddress: c.Metrics.BindAddress, SecureServing: c.Metrics.Secure}
	if !c.Metrics.EnableHTTP2 {
		opts.TLSOpts = append(opts.TLSOpts, func(t *tls.Config) { t.NextProtos = []string{"http/1.1"} })
	}
	if c.Metrics.Secure {
		opts.FilterProvider = metricsauth.WithAuthenticationAndAuthorization
	}
	if c.Metrics.CertDir != "" {
		opts.CertDir, opts.CertName, opts.KeyName = c.Metrics.CertDir, c.Metrics.CertName, c.Metrics.KeyName
	}
	return opts
}
