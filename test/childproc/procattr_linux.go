//go:build linux

package childproc

import "syscall"

// procAttr puts a child in a process group of its own and has the kernel kill it
// when this program ends, however it ends.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
