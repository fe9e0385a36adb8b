// Package testenv starts the real kube-apiserver and etcd for the envtest suites,
// with the PartnerAccount CRD installed from config/crd/bases.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ExpectedVersionEnv names the variable that, when set (make test sets it), holds the
// kube-apiserver version the suites must be running against, e.g. v1.37.2.
const ExpectedVersionEnv = "ENVTEST_K8S_VERSION"

// Root is the repository's top directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Start starts etcd and kube-apiserver from KUBEBUILDER_ASSETS (or, when it is unset,
// as when a test runs from an IDE, from the newest directory under bin/k8s), installs
// the CRDs and checks the server's version. It returns the environment, to Stop, and
// the server's version.
func Start() (*envtest.Environment, *rest.Config, string, error) {
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(Root(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		env.BinaryAssetsDirectory = localAssets()
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, "", fmt.Errorf("start envtest (build the control plane with make control-plane): %w", err)
	}
	version, err := serverVersion(cfg)
	if err != nil {
		_ = env.Stop()
		return nil, nil, "", err
	}
	return env, cfg, version, nil
}

func serverVersion(cfg *rest.Config) (string, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return "", err
	}
	info, err := dc.ServerVersion()
	if err != nil {
		return "", fmt.Errorf("read kube-apiserver version: %w", err)
	}
	if want := os.Getenv(ExpectedVersionEnv); want != "" && info.GitVersion != want {
		return "", fmt.Errorf("kube-apiserver is %s, want %s", info.GitVersion, want)
	}
	return info.GitVersion, nil
}

func localAssets() string {
	dirs, _ := filepath.Glob(filepath.Join(Root(), "bin", "k8s", "*"))
	if len(dirs) == 0 {
		return ""
	}
	return dirs[len(dirs)-1]
}
