//go:build linux

package localenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// envtest starts etcd and kube-apiserver itself, in process groups of their own but
// without a parent-death signal, so a killed demo or a test binary killed by
// go test's timeout would leave them running. To prevent that, envtest is given
// shims to start instead: links named etcd and kube-apiserver to this program's own
// executable in a directory named by shimDirEnv. When this program starts under such
// a name, init (below) asks the kernel for SIGKILL on its parent's death and
// executes the real binary from shimAssetsEnv in its place, keeping that request.
const (
	shimDirEnv    = "LOCALENV_SHIM_DIR"
	shimAssetsEnv = "LOCALENV_SHIM_ASSETS"
	shimParentEnv = "LOCALENV_SHIM_PARENT"
)

func init() {
	dir := os.Getenv(shimDirEnv)
	if dir == "" || filepath.Dir(os.Args[0]) != dir {
		return
	}
	name := filepath.Base(os.Args[0])
	target := filepath.Join(os.Getenv(shimAssetsEnv), name)
	_, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0)
	if errno != 0 {
		fmt.Fprintf(os.Stderr, "localenv shim: prctl: %v\n", errno)
		os.Exit(1)
	}
	if strconv.Itoa(os.Getppid()) != os.Getenv(shimParentEnv) {
		os.Exit(1) // the parent died before the request took effect
	}
	err := syscall.Exec(target, append([]string{target}, os.Args[1:]...), os.Environ())
	fmt.Fprintf(os.Stderr, "localenv shim: exec %s: %v\n", target, err)
	os.Exit(1)
}

// controlPlaneShims returns the paths envtest should start for etcd and
// kube-apiserver: shims in dir that run the binaries in assets.
func controlPlaneShims(dir, assets string) (etcd, apiServer string, err error) {
	self, err := os.Executable()
	if err != nil {
		return "", "", err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	for _, name := range []string{"etcd", "kube-apiserver"} {
		if err := os.Symlink(self, filepath.Join(dir, name)); err != nil {
			return "", "", err
		}
	}
	for k, v := range map[string]string{shimDirEnv: dir, shimAssetsEnv: assets, shimParentEnv: strconv.Itoa(os.Getpid())} {
		if err := os.Setenv(k, v); err != nil {
			return "", "", err
		}
	}
	return filepath.Join(dir, "etcd"), filepath.Join(dir, "kube-apiserver"), nil
}
