/*
Copyright 2026.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"time"

	// Import all Kubernetes client auth plugins (e.g. Azure, GCP, OIDC, etc.)
	// to ensure that exec-entrypoint and run can make use of them.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/controller"
	"github.com/partnerbilling/partner-account-operator/internal/logcap"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
	// +kubebuilder:scaffold:imports
)

// version is the operator's version, set at build time with
// -ldflags "-X main.version=...". It goes into the API client's User-Agent.
var version = "dev"

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))

	utilruntime.Must(billingv1alpha1.AddToScheme(scheme))
	// +kubebuilder:scaffold:scheme
}

// nolint:gocyclo
func main() {
	var metricsAddr string
	var metricsCertPath, metricsCertName, metricsCertKey string
	var enableLeaderElection bool
	var leaderElectionNamespace string
	var probeAddr string
	var secureMetrics bool
	var enableHTTP2 bool
	var tlsOpts []func(*tls.Config)
	var api partnerapi.Config
	var reconcilerOpts controller.Options
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0", "The address the metrics endpoint binds to. "+
		"Use :8443 for HTTPS or :8080 for HTTP, or leave as 0 to disable the metrics service.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "The address the probe endpoint binds to.")
	var pprofAddr string
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "The address Go's pprof endpoints bind to, for profiling; "+
		"empty (the default) serves none.")
	flag.BoolVar(&enableLeaderElection, "leader-elect", false,
		"Enable leader election for controller manager. "+
			"Enabling this will ensure there is only one active controller manager.")
	flag.StringVar(&leaderElectionNamespace, "leader-election-namespace", "",
		"Namespace of the leader election lease; in a pod it defaults to the pod's own namespace.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true,
		"If set, the metrics endpoint is served securely via HTTPS. Use --metrics-secure=false to use HTTP instead.")
	flag.StringVar(&metricsCertPath, "metrics-cert-path", "",
		"The directory that contains the metrics server certificate.")
	flag.StringVar(&metricsCertName, "metrics-cert-name", "tls.crt", "The name of the metrics server certificate file.")
	flag.StringVar(&metricsCertKey, "metrics-cert-key", "tls.key", "The name of the metrics server key file.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false,
		"If set, HTTP/2 will be enabled for the metrics server")

	flag.StringVar(&api.BaseURL, "partner-api-url", partnerapi.ProductionBaseURL,
		"Base URL of the 1Password Partnership API. The test server is https://billing.b5test.eu/api/v1.")
	flag.StringVar(&api.TokenFile, "partner-api-token-file", "/var/run/secrets/partnerbilling.io/token",
		"File holding the partner's bearer token; it is re-read when it changes, so a rotated Secret needs no restart.")
	flag.StringVar(&api.CAFile, "partner-api-ca-file", "",
		"Optional PEM bundle of extra certificate authorities to trust for the Partnership API.")
	flag.DurationVar(&api.Timeout, "partner-api-timeout", 30*time.Second, "Timeout of each Partnership API request.")
	flag.Float64Var(&api.RequestsPerSecond, "partner-api-rps", 10,
		"Requests per second the operator sends to the Partnership API at most, across all PartnerAccounts.")
	flag.IntVar(&api.Burst, "partner-api-burst", 20, "Requests the operator may send at once above --partner-api-rps.")
	flag.IntVar(&reconcilerOpts.MaxConcurrentReconciles, "max-concurrent-reconciles",
		controller.DefaultMaxConcurrentReconciles, "How many PartnerAccounts are reconciled at once.")
	flag.DurationVar(&reconcilerOpts.ResyncPeriod, "resync-period", controller.DefaultResyncPeriod,
		"The longest any PartnerAccount's remote account goes unread (±20%); within it, accounts are read back by the "+
			"odds that they changed, young entitled ones most often. Longer only when there are more accounts than half "+
			"of --partner-api-rps can read within it.")
	flag.DurationVar(&reconcilerOpts.MinReadBackInterval, "min-read-back-interval", 0,
		"The shortest interval at which an account is read back; 0 leaves it to the schedule (20s for an account "+
			"made in the last 10 minutes). A resource's billing.partnerbilling.io/read-back-interval annotation wins.")
	flag.BoolVar(&api.AllowInsecureHTTP, "partner-api-allow-insecure-http", false,
		"Accept an http:// --partner-api-url on a host other than loopback, sending the partner token in clear text.")
	flag.Func("default-deletion-policy", "What deleting a PartnerAccount that sets no spec.deletionPolicy does to its "+
		"remote account: Delete (deactivate it, the default) or Orphan (leave it). A resource's own policy always wins.",
		func(v string) error {
			switch p := billingv1alpha1.DeletionPolicy(v); p {
			case billingv1alpha1.DeletionPolicyDelete, billingv1alpha1.DeletionPolicyOrphan:
				reconcilerOpts.DefaultDeletionPolicy = p
				return nil
			}
			return fmt.Errorf("must be Delete or Orphan, not %q", v)
		})
	tokenInStatus := flag.Bool("activation-token-in-status", true,
		"Write activation tokens and redemption links to PartnerAccount status. When false, none is ever written to "+
			"a status: a PartnerAccount without spec.activationTokenSecretRef gets its Secret at <name>-activation.")
	opts := zap.Options{
		Development: true,
	}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()

	// Capped, whatever --zap-log-level says: client-go logs whole request and
	// response bodies, activation tokens included, above it.
	ctrl.SetLogger(logcap.Cap(zap.New(zap.UseFlagOptions(&opts))))

	// if the enable-http2 flag is false (the default), http/2 should be disabled
	// due to its vulnerabilities. More specifically, disabling http/2 will
	// prevent from being vulnerable to the HTTP/2 Stream Cancellation and
	// Rapid Reset CVEs. For more information see:
	// - https://github.com/advisories/GHSA-qppj-fm5r-hxr3
	// - https://github.com/advisories/GHSA-4374-p667-p6c8
	disableHTTP2 := func(c *tls.Config) {
		setupLog.Info("Disabling HTTP/2")
		c.NextProtos = []string{"http/1.1"}
	}

	if !enableHTTP2 {
		tlsOpts = append(tlsOpts, disableHTTP2)
	}

	// Metrics endpoint is enabled in 'config/default/kustomization.yaml'. The Metrics options configure the server.
	// More info:
	// - https://pkg.go.dev/sigs.k8s.io/controller-runtime@v0.25.0/pkg/metrics/server
	// - https://book.kubebuilder.io/reference/metrics.html
	metricsServerOptions := metricsserver.Options{
		BindAddress:   metricsAddr,
		SecureServing: secureMetrics,
		TLSOpts:       tlsOpts,
	}

	if secureMetrics {
		// FilterProvider is used to protect the metrics endpoint with authn/authz.
		// These configurations ensure that only authorized users and service accounts
		// can access the metrics endpoint. The RBAC are configured in 'config/rbac/kustomization.yaml'. More info:
		// https://pkg.go.dev/sigs.k8s.io/controller-runtime@v0.25.0/pkg/metrics/filters#WithAuthenticationAndAuthorization
		metricsServerOptions.FilterProvider = filters.WithAuthenticationAndAuthorization
	}

	// If the certificate is not specified, controller-runtime will automatically
	// generate self-signed certificates for the metrics server. While convenient for development and testing,
	// this setup is not recommended for production.
	if len(metricsCertPath) > 0 {
		setupLog.Info("Initializing metrics certificate watcher using provided certificates",
			"metricsCertPath", metricsCertPath, "metricsCertName", metricsCertName, "metricsCertKey", metricsCertKey)

		metricsServerOptions.CertDir = metricsCertPath
		metricsServerOptions.CertName = metricsCertName
		metricsServerOptions.KeyName = metricsCertKey
	}

	reconcilerOpts.NoTokenInStatus = !*tokenInStatus
	// Background read-backs get half the API budget; user work the rest.
	if api.RequestsPerSecond == 0 {
		api.RequestsPerSecond = partnerapi.DefaultRequestsPerSecond
	}
	reconcilerOpts.ReadBackRate = api.RequestsPerSecond / 2
	api.UnauthorizedRetryPeriod = controller.DefaultUnauthorizedRetryPeriod

	api.UserAgent = "partner-account-operator/" + version
	apiClient, err := partnerapi.New(api)
	if err != nil {
		setupLog.Error(err, "Invalid Partnership API settings (--partner-api-url, --partner-api-token-file, "+
			"--partner-api-ca-file, --partner-api-allow-insecure-http, --partner-api-rps, --partner-api-burst)")
		os.Exit(1)
	}

	var cacheOpts cache.Options
	controller.ConfigureCache(&cacheOpts)
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                  scheme,
		Cache:                   cacheOpts,
		Metrics:                 metricsServerOptions,
		HealthProbeBindAddress:  probeAddr,
		PprofBindAddress:        pprofAddr,
		LeaderElection:          enableLeaderElection,
		LeaderElectionID:        "5121855b.partnerbilling.io",
		LeaderElectionNamespace: leaderElectionNamespace,
		// The program ends as soon as the manager stops, so stepping down at once is safe
		// and lets a new leader take over without waiting for the lease to expire.
		LeaderElectionReleaseOnCancel: true,
		// A leader that dies without stepping down (a crash, a lost node) is
		// replaced within 12s of its last renewal, plus one retry.
		LeaseDuration: new(12 * time.Second),
		RenewDeadline: new(8 * time.Second),
		RetryPeriod:   new(2 * time.Second),
	})
	if err != nil {
		setupLog.Error(err, "Failed to start manager")
		os.Exit(1)
	}

	ctx := ctrl.SetupSignalHandler()
	// When the API accepts the token again, the accounts waiting as Unauthorized
	// are retried at once.
	reauthorized := make(chan event.GenericEvent, 1)
	apiClient.OnReauthorized(func() {
		select {
		case reauthorized <- event.GenericEvent{Object: &billingv1alpha1.PartnerAccount{}}:
		default: // a wake-up is already pending
		}
	})
	if err := (&controller.PartnerAccountReconciler{
		Client:       mgr.GetClient(),
		APIReader:    mgr.GetAPIReader(),
		API:          apiClient,
		Reauthorized: reauthorized,
		Recorder:     mgr.GetEventRecorder("partner-account-operator"),
		Options:      reconcilerOpts,
	}).SetupWithManager(ctx, mgr); err != nil {
		setupLog.Error(err, "Failed to create controller", "controller", "partneraccount")
		os.Exit(1)
	}
	// +kubebuilder:scaffold:builder

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "Failed to set up health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		setupLog.Error(err, "Failed to set up ready check")
		os.Exit(1)
	}

	setupLog.Info("Starting manager", "version", version, "partnerAPI", api.BaseURL)
	if err := mgr.Start(ctx); err != nil {
		setupLog.Error(err, "Failed to run manager")
		os.Exit(1)
	}
}
