package node

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// What the cluster changes on this machine besides its work directory, and how it is
// put back. containerd 1.6, the CNI plugins and the kubelet use some fixed places
// whatever their configuration says; the kubelet sets kernel tunables and the bridge
// plugin turns on IP forwarding.

// fixedPaths are created by the components when missing; those that were missing
// before the cluster started are removed after it stopped.
var fixedPaths = []string{
	"/run/containerd",     // the shims' sockets
	"/run/netns",          // the pods' network namespaces (/var/run/netns)
	"/var/lib/cni",        // the CNI result cache
	"/var/lib/kubelet",    // kubelet fallbacks
	"/var/log/containers", // the kubelet's links to container logs
	"/var/log/pods",
	"/opt/cni",
	"/etc/cni",
	"/usr/libexec/kubernetes",
}

// sysctls are the kernel settings put back as they were.
var sysctls = []string{
	"net/ipv4/ip_forward",
	"vm/overcommit_memory",
	"vm/panic_on_oom",
	"kernel/panic",
	"kernel/panic_on_oops",
	"kernel/keys/root_maxkeys",
	"kernel/keys/root_maxbytes",
	"net/bridge/bridge-nf-call-iptables",
	"net/bridge/bridge-nf-call-ip6tables",
}

// hostState is what the machine had before the cluster started.
type hostState struct {
	dir      string
	existed  map[string]bool
	sysctls  map[string]string
	mounts   map[string]bool
	links    map[string]bool
	nft      map[string]bool
	cgroups  map[string]bool // kubepods directories under /sys/fs/cgroup
	restored bool
}

func snapshotHost(dir string) (*hostState, error) {
	h := &hostState{dir: dir, existed: map[string]bool{}, sysctls: map[string]string{}}
	for _, p := range fixedPaths {
		_, err := os.Lstat(p)
		h.existed[p] = err == nil
	}
	for _, s := range sysctls {
		if v, err := os.ReadFile("/proc/sys/" + s); err == nil {
			h.sysctls[s] = strings.TrimSpace(string(v))
		}
	}
	var err error
	if h.mounts, err = mountPoints(); err != nil {
		return nil, err
	}
	if h.links, err = links(); err != nil {
		return nil, err
	}
	if h.nft, err = nftTables(); err != nil {
		return nil, err
	}
	h.cgroups = set(kubepodsCgroups())
	return h, nil
}

// restore unmounts what the cluster mounted, puts the kernel settings back and removes
// the fixed paths and cgroups it created. Run it once every process has stopped.
func (h *hostState) restore() error {
	var errs []error
	now, err := mountPoints()
	if err != nil {
		errs = append(errs, err)
	}
	var added []string
	for m := range now {
		if !h.mounts[m] && h.ours(m) {
			added = append(added, m)
		}
	}
	// Deepest first.
	slices.SortFunc(added, func(a, b string) int { return len(b) - len(a) })
	for _, m := range added {
		if err := syscall.Unmount(m, 0); err != nil && !errors.Is(err, syscall.EINVAL) {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
				errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
			}
		}
	}
	for s, v := range h.sysctls {
		cur, _ := os.ReadFile("/proc/sys/" + s)
		if strings.TrimSpace(string(cur)) != v {
			if err := os.WriteFile("/proc/sys/"+s, []byte(v), 0o644); err != nil {
				errs = append(errs, fmt.Errorf("restore %s: %w", s, err))
			}
		}
	}
	for _, p := range fixedPaths {
		if !h.existed[p] {
			if err := os.RemoveAll(p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, cg := range kubepodsCgroups() {
		if !h.cgroups[cg] {
			if err := removeCgroup(cg); err != nil {
				errs = append(errs, err)
			}
		}
	}
	h.restored = true
	return errors.Join(errs...)
}

// ours reports whether a mount point is one the cluster may have made.
func (h *hostState) ours(m string) bool {
	if within(m, h.dir) {
		return true
	}
	return slices.ContainsFunc(fixedPaths, func(p string) bool { return within(m, p) })
}

// leftovers lists what the cluster left: processes in its directory or in pod
// cgroups, and mount points, network links and nftables tables that were not there
// before.
func (h *hostState) leftovers() []string {
	var out []string
	for _, pid := range clusterProcesses(h.dir) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " ")
		out = append(out, fmt.Sprintf("process %d %s", pid, args))
	}
	if now, err := mountPoints(); err == nil {
		for m := range now {
			if !h.mounts[m] {
				out = append(out, "mount "+m)
			}
		}
	}
	if now, err := links(); err == nil {
		for l := range now {
			if !h.links[l] {
				out = append(out, "network link "+l)
			}
		}
	}
	if now, err := nftTables(); err == nil {
		for t := range now {
			if !h.nft[t] {
				out = append(out, "nftables table "+t)
			}
		}
	}
	for _, cg := range kubepodsCgroups() {
		if !h.cgroups[cg] {
			out = append(out, "cgroup "+cg)
		}
	}
	slices.Sort(out)
	return out
}

func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

func set(items []string) map[string]bool {
	m := map[string]bool{}
	for _, i := range items {
		m[i] = true
	}
	return m
}

// mountPoints returns the mount points of this mount namespace, as findmnt lists them.
func mountPoints() (map[string]bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 {
			out[unescapeMount(fields[4])] = true
		}
	}
	return out, sc.Err()
}

func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

func links() (map[string]bool, error) {
	entries, err := os.ReadDir("/sys/class/net")
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, e := range entries {
		out[e.Name()] = true
	}
	return out, nil
}

// nftTables returns the tables nft list tables shows, as "FAMILY NAME".
func nftTables() (map[string]bool, error) {
	list, err := run("nft", "list", "tables")
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for line := range strings.SplitSeq(list, "\n") {
		if t, ok := strings.CutPrefix(strings.TrimSpace(line), "table "); ok {
			out[t] = true
		}
	}
	return out, nil
}

// kubepodsCgroups returns the kubelet's pod cgroup directories, one per controller
// of cgroup v1 (or the one of cgroup v2).
func kubepodsCgroups() []string {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	if _, err := os.Stat("/sys/fs/cgroup/kubepods"); err == nil {
		dirs = append(dirs, "/sys/fs/cgroup/kubepods")
	}
	return dirs
}

// removeCgroup removes a cgroup directory and those below it, deepest first; they
// must hold no process.
func removeCgroup(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, d := range slices.Backward(dirs) {
		if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove cgroup %s: %w", d, err)
		}
	}
	return nil
}

// clusterProcesses returns the PIDs of the processes whose command line mentions dir
// (the components and containerd's shims) or that run in a pod cgroup (the
// containers).
func clusterProcesses(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || len(cmdline) == 0 {
			continue // gone, or a kernel thread
		}
		cgroup, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if strings.Contains(string(cmdline), dir+"/") || strings.Contains(string(cgroup), "/kubepods") {
			out = append(out, pid)
		}
	}
	return out
}
