//go:build cluster

package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// The facts of a running container that only the node sees: the user its process
// runs as, and how its root filesystem is mounted.

// containerPID returns the host PID of a container's process, from containerd
// (the pod status's containerID is containerd://ID).
func containerPID(containerID string) (int, error) {
	id := strings.TrimPrefix(containerID, "containerd://")
	out, err := exec.Command("ctr", "--address", containerdSocket, "--namespace", "k8s.io", "tasks", "list").
		CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("ctr tasks list: %w: %s", err, out)
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == id {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("containerd runs no task %s", id)
}

// processUIDs returns the real, effective, saved and filesystem user IDs of a process.
func processUIDs(pid int) ([]string, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			return strings.Fields(rest), nil
		}
	}
	return nil, fmt.Errorf("no Uid line in /proc/%d/status", pid)
}

// rootMountOptions returns the mount options of a process's root filesystem, as its
// mount namespace shows it.
func rootMountOptions(pid int) ([]string, error) {
	info, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		return nil, err
	}
	for line := range strings.SplitSeq(string(info), "\n") {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ...
		if f := strings.Fields(line); len(f) > 5 && f[4] == "/" {
			return strings.Split(f[5], ","), nil
		}
	}
	return nil, fmt.Errorf("no root mount in /proc/%d/mountinfo", pid)
}
