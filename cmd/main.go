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
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"

	"github.com/KimMachineGun/automemlimit/memlimit"

	// Import all Kubernetes client auth plugins (e.g. Azure, GCP, OIDC, etc.)
	// to ensure that exec-entrypoint and run can make use of them.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/connection"
	"github.com/partnerbilling/partner-account-operator/internal/controller/partneraccount"
	"github.com/partnerbilling/partner-account-operator/internal/controller/partnerconnection"
	"github.com/partnerbilling/partner-account-operator/internal/events"
	"github.com/partnerbilling/partner-account-operator/internal/logcap"
	"github.com/partnerbilling/partner-account-operator/internal/managerconfig"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
	"github.com/partnerbilling/partner-account-operator/internal/version"
	// +kubebuilder:scaffold:imports
)

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))

	utilruntime.Must(billingv1alpha1.AddToScheme(scheme))
	// +kubebuilder:scaffold:scheme
}

// memoryLimitEnv holds the container's memory limit in bytes; the chart sets it
// from limits.memory through the downward API.
const memoryLimitEnv = "MEMORY_LIMIT"

// memoryLimitRatio is the share of the container's memory limit that GOMEMLIMIT
// gets: the garbage collector works harder as the heap nears it, and the rest is
// room for what the Go runtime does not count (stacks, the binary, fragmentation),
// so that the pod is not OOM-killed.
const memoryLimitRatio = 0.9

func main() {
	// GOMEMLIMIT, unless the environment sets it: 90% of the container's memory
	// limit, from MEMORY_LIMIT or else the cgroup's; none without a limit.
	_, memLimitErr := memlimit.Set(memlimit.WithRatio(memoryLimitRatio),
		memlimit.WithProvider(memlimit.ApplyFallback(memoryLimitFromEnv, memlimit.FromCgroup)))

	cfg := managerconfig.New()
	cfg.BindFlags(flag.CommandLine)
	flag.Parse()
	if cfg.PrintVersion {
		fmt.Println("partner-account-operator", version.Get())
		return
	}

	// Capped, whatever --zap-log-level says: client-go logs whole request and
	// response bodies, activation tokens included, above it.
	ctrl.SetLogger(logcap.Cap(zap.New(zap.UseFlagOptions(&cfg.Log))))

	if memLimitErr != nil {
		setupLog.Error(memLimitErr, "GOMEMLIMIT could not be set from the memory limit; set it in the environment")
	}
	if err := cfg.Complete(version.Get().Version); err != nil {
		setupLog.Error(err, "Invalid flags")
		os.Exit(1)
	}
	api, err := partnerapi.New(cfg.API)
	if err != nil {
		setupLog.Error(err, "Invalid default Partnership API connection (the --partner-api-* flags)")
		os.Exit(1)
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), cfg.ManagerOptions(scheme))
	if err != nil {
		setupLog.Error(err, "Failed to start manager")
		os.Exit(1)
	}

	ctx := ctrl.SetupSignalHandler()
	connections := connection.NewRegistry(api, cfg.Controller.ReadBackRate, cfg.Connections(mgr.GetLogger()))
	recorder, err := events.ForManager(mgr, "partner-account-operator")
	if err != nil {
		setupLog.Error(err, "Failed to start the event recorder")
		os.Exit(1)
	}
	if err := (&partneraccount.Reconciler{
		Client:      mgr.GetClient(),
		APIReader:   mgr.GetAPIReader(),
		Connections: connections,
		Recorder:    recorder,
		Options:     cfg.Controller,
	}).SetupWithManager(ctx, mgr); err != nil {
		setupLog.Error(err, "Failed to create controller", "controller", "partneraccount")
		os.Exit(1)
	}
	if err := (&partnerconnection.Reconciler{
		Client:          mgr.GetClient(),
		Connections:     connections,
		Defaults:        cfg.API,
		SecretNamespace: cfg.ConnectionSecretNamespace,
	}).SetupWithManager(ctx, mgr); err != nil {
		setupLog.Error(err, "Failed to create controller", "controller", "partnerconnection")
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

	setupLog.Info("Starting manager", "version", version.Get().Version, "commit", version.Get().Commit, "partnerAPI", cfg.API.BaseURL,
		"connectionSecretNamespace", cfg.ConnectionSecretNamespace, "goMemLimit", debug.SetMemoryLimit(-1))
	if err := mgr.Start(ctx); err != nil {
		setupLog.Error(err, "Failed to run manager")
		os.Exit(1)
	}
}

// memoryLimitFromEnv reads the container's memory limit from MEMORY_LIMIT.
func memoryLimitFromEnv() (uint64, error) {
	v, ok := os.LookupEnv(memoryLimitEnv)
	if !ok || v == "" {
		return 0, memlimit.ErrNoLimit
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: not a number of bytes", memoryLimitEnv, v)
	}
	return n, nil
}
