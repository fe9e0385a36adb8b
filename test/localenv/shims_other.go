//go:build !linux

package localenv

import "path/filepath"

// controlPlaneShims returns the binaries in assets themselves: without a
// parent-death signal there is nothing a shim could add.
func controlPlaneShims(_, assets string) (etcd, apiServer string, err error) {
	return filepath.Join(assets, "etcd"), filepath.Join(assets, "kube-apiserver"), nil
}
