// Package testenv finds and starts the test control plane (etcd and kube-apiserver
// built into bin/k8s, or KUBEBUILDER_ASSETS) for the envtest suites, the end-to-end
// suite and the demo.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ExpectedVersionEnv names the variable that, when set (make sets it), holds the
// kube-apiserver version the control plane must run, e.g. v1.37.2.
const ExpectedVersionEnv = "ENVTEST_K8S_VERSION"

// module is the path in go.mod that identifies the repository's root.
const module = "github.com/partnerbilling/partner-account-operator"

// Root returns the repository's top directory: the nearest directory above the
// working directory whose go.mod declares this module (tests run in their package's
// directory, the demo in the repository), or else the one this source file is in.
func Root() string {
	if dir, err := os.Getwd(); err == nil {
		for {
			data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err == nil && strings.HasPrefix(string(data), "module "+module+"\n") {
				return dir
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Assets returns the directory holding etcd, kube-apiserver and kubectl:
// KUBEBUILDER_ASSETS when set, or else the newest directory under bin/k8s (as when a
// test runs from an IDE). It fails, naming the fix, when one is missing.
func Assets() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dirs, _ := filepath.Glob(filepath.Join(Root(), "bin", "k8s", "*"))
		if len(dirs) > 0 {
			dir = dirs[len(dirs)-1]
		}
	}
	for _, name := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("no %s in %q (KUBEBUILDER_ASSETS or bin/k8s); build the control plane with make control-plane",
				name, dir)
		}
	}
	return dir, nil
}

// Start starts etcd and kube-apiserver from Assets, installs the CRDs from
// config/crd/bases and checks the server's version. It returns the environment, to
// Stop, and the server's version.
func Start() (*envtest.Environment, *rest.Config, string, error) {
	assets, err := Assets()
	if err != nil {
		return nil, nil, "", err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(Root(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, "", fmt.Errorf("start envtest: %w", err)
	}
	version, err := ServerVersion(cfg)
	if err != nil {
		_ = env.Stop()
		return nil, nil, "", err
	}
	return env, cfg, version, nil
}

// ServerVersion returns the version kube-apiserver reports, e.g. v1.37.2, and fails
// when ExpectedVersionEnv is set to another.
func ServerVersion(cfg *rest.Config) (string, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return "", err
	}
	info, err := dc.ServerVersion()
	if err != nil {
		return "", fmt.Errorf("read kube-apiserver's version: %w", err)
	}
	if want := os.Getenv(ExpectedVersionEnv); want != "" && info.GitVersion != want {
		return "", fmt.Errorf("kube-apiserver is %s, want %s", info.GitVersion, want)
	}
	return info.GitVersion, nil
}
