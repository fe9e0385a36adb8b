package node

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Stop tears the cluster down and puts the machine back as it was: it deletes the
// pods (so that the kubelet takes their network and mounts down), stops every
// component by its PID, kills what containerd's shims left, unmounts what the
// kubelet and containerd mounted, removes the bridge, kube-proxy's and the guard's
// nftables tables, puts the kernel settings back, and removes the work directory. It
// returns an error naming anything it could not undo, or anything left behind.
// It may be called more than once.
func (c *Cluster) Stop() error {
	if c.host == nil || c.host.restored {
		return nil
	}
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(c.deletePods())
	add(c.stopProcess(kubeProxy, 10*time.Second))
	if c.procs[kubeProxy] != nil {
		// kube-proxy --cleanup also tries iptables and IPVS; only its nftables matter here.
		_, _ = run(c.asset(kubeProxy), append(c.kubeProxyFlags(), "--cleanup")...)
	}
	for _, name := range []string{kubeScheduler, kubeControllerManager, kubelet} {
		add(c.stopProcess(name, 15*time.Second))
	}
	// The containers, and the shims that containerd leaves running without it.
	c.killStrays()
	add(c.stopProcess(containerd, 15*time.Second))
	c.killStrays()
	for _, name := range []string{kubeAPIServer, etcd} {
		add(c.stopProcess(name, 15*time.Second))
	}
	for _, name := range c.order {
		add(c.stopProcess(name, 5*time.Second)) // any started but not named above
	}
	add(c.host.restore())
	if c.network {
		add(c.removeNetwork())
	}
	if left := c.host.leftovers(); len(left) > 0 {
		errs = append(errs, fmt.Errorf("left behind:\n  %s", strings.Join(left, "\n  ")))
	}
	add(os.RemoveAll(c.Dir))
	return errors.Join(errs...)
}

// killStrays sends SIGKILL to the processes of the cluster that it did not start
// itself: the containers and containerd's shims.
func (c *Cluster) killStrays() {
	ours := make([]int, 0, len(c.procs))
	for _, p := range c.procs {
		ours = append(ours, p.PID())
	}
	for _, pid := range clusterProcesses(c.Dir) {
		if !slices.Contains(ours, pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func (c *Cluster) stopProcess(name string, grace time.Duration) error {
	p := c.procs[name]
	if p == nil {
		return nil
	}
	return p.Stop(grace)
}

// deletePods deletes every pod, with no controller left to replace them, and waits
// until the kubelet has stopped them and taken their sandboxes down.
func (c *Cluster) deletePods() error {
	for _, name := range []string{kubeAPIServer, kubelet, containerd} {
		if p := c.procs[name]; p == nil || exited(p) != nil {
			return nil // nothing to ask; what is left is killed and unmounted
		}
	}
	for _, name := range []string{kubeControllerManager, kubeScheduler} {
		if err := c.stopProcess(name, 15*time.Second); err != nil {
			return err
		}
	}
	if _, err := c.Kubectl("delete", "pods", "--all", "--all-namespaces", "--grace-period=5", "--wait=false"); err != nil {
		return err
	}
	return c.waitFor("the pods to be gone", 60*time.Second, func() error {
		out, err := c.Kubectl("get", "pods", "--all-namespaces", "-o", "name")
		if err == nil && strings.TrimSpace(out) != "" {
			return fmt.Errorf("still there: %s", strings.Join(strings.Fields(out), " "))
		}
		if err != nil {
			return err
		}
		// Deleted from the API once their containers stopped; wait for the sandboxes too.
		out, err = c.ctr("tasks", "list")
		if err == nil && strings.Contains(out, "RUNNING") {
			return fmt.Errorf("containerd still runs tasks:\n%s", out)
		}
		return err
	}, kubelet)
}

// removeNetwork deletes the bridge and the nftables tables of the guard and of
// kube-proxy, when they are still there.
func (c *Cluster) removeNetwork() error {
	var errs []error
	if _, err := os.Stat("/sys/class/net/" + Bridge); err == nil {
		if _, err := run("ip", "link", "delete", Bridge); err != nil {
			errs = append(errs, err)
		}
	}
	tables, err := nftTables()
	if err != nil {
		return err
	}
	for _, t := range []string{guardTable, "ip kube-proxy", "ip6 kube-proxy"} {
		if tables[t] && !c.host.nft[t] {
			if _, err := run("nft", slices.Concat([]string{"delete", "table"}, strings.Fields(t))...); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
