// Command harness is make test-cluster's driver: it starts a one-node cluster on
// this machine (package node) in a temporary directory, runs the test command given
// after -- with the cluster described in its environment, and tears the cluster down
// whatever happens, on SIGINT and SIGTERM too. It exits non-zero if the cluster does
// not start, the test fails, or the teardown leaves anything behind.
//
//	harness --assets bin/k8s/1.37.2-linux-amd64 --cni bin/cni/v1.10.0 \
//		--images bin/clustertools/images --install bin/clustertools/install.yaml --helm bin/helm \
//		-- go test -tags cluster ./test/cluster/
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/partnerbilling/partner-account-operator/test/cluster/node"
)

// What the test command finds in its environment.
const (
	envKubeconfig       = "CLUSTER_KUBECONFIG"
	envKubectl          = "CLUSTER_KUBECTL"
	envNodeIP           = "CLUSTER_NODE_IP"
	envContainerdSocket = "CLUSTER_CONTAINERD_SOCKET"
	envInstall          = "CLUSTER_INSTALL_YAML"
	envHelm             = "CLUSTER_HELM"
)

func main() {
	assets := flag.String("assets", "", "directory of etcd, kube-apiserver, kubectl, "+
		"kube-controller-manager, kube-scheduler, kubelet and kube-proxy")
	cni := flag.String("cni", "", "directory of the CNI plugins bridge, host-local and loopback")
	images := flag.String("images", "", "directory of image tarballs (*.tar) to import into containerd")
	install := flag.String("install", "", "the install manifests (make build-installer's dist/install.yaml)")
	helm := flag.String("helm", "", "helm, to render dist/chart")
	logs := flag.String("logs", "", "directory that receives the components' logs when something fails")
	flag.Parse()
	if *assets == "" || *cni == "" || *images == "" || *install == "" || *helm == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr,
			"usage: harness --assets DIR --cni DIR --images DIR --install FILE --helm FILE [--logs DIR] -- COMMAND...")
		os.Exit(2)
	}
	// The test runs in its package's directory.
	for _, path := range []*string{assets, cni, images, install, helm, logs} {
		if *path != "" {
			*path, _ = filepath.Abs(*path)
		}
	}
	env := []string{envInstall + "=" + *install, envHelm + "=" + *helm}
	if err := run(*assets, *cni, *images, *logs, env, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "test-cluster:", err)
		os.Exit(1)
	}
}

// run starts the cluster, runs command with env and what it needs to know of the
// cluster in its environment, and tears the cluster down.
func run(assets, cni, images, logs string, env, command []string) (err error) {
	start := time.Now()
	progress := func(step string) { fmt.Printf("[%3.0fs] %s\n", time.Since(start).Seconds(), step) }

	// Signals are caught from here on, so that the teardown always runs; the
	// components and the test are in process groups of their own and get none from
	// the terminal.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)

	if logs != "" {
		_ = os.RemoveAll(logs) // those of an earlier run
	}
	tarballs, err := filepath.Glob(filepath.Join(images, "*.tar"))
	if err != nil || len(tarballs) == 0 {
		return fmt.Errorf("no image tarballs in %s (make cluster-images writes them)", images)
	}
	dir, err := os.MkdirTemp("", "test-cluster-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	cluster, err := node.Start(node.Options{
		Dir: dir, Assets: assets, CNIBinDir: cni, Images: tarballs, Progress: progress,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			keepLogs(dir, logs)
		}
		progress("Tear the cluster down")
		if stopErr := cluster.Stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("teardown: %w", stopErr))
			return
		}
		progress("Torn down: no process, mount, network link, nftables table or cgroup left behind")
	}()
	select {
	case sig := <-signals:
		return fmt.Errorf("stopped by %s", sig)
	default:
	}

	progress("Run " + fmt.Sprint(command))
	return runTest(command, signals, append([]string{
		envKubeconfig + "=" + cluster.Kubeconfig,
		envKubectl + "=" + cluster.KubectlPath,
		envNodeIP + "=" + node.NodeIP,
		envContainerdSocket + "=" + cluster.ContainerdSocket,
	}, env...))
}

// runTest runs the test command in a process group of its own, and passes SIGINT
// and SIGTERM on to it as SIGINT, as a terminal's Ctrl-C would: go test then waits
// for the test binary, which runs its cleanup. It returns once every process of the
// group has ended, killing those still there 30 seconds after the command.
func runTest(command []string, signals <-chan os.Signal, env []string) error {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var stopped os.Signal
	for {
		select {
		case err := <-done:
			waitGroup(cmd.Process.Pid, 30*time.Second)
			if stopped != nil {
				return fmt.Errorf("stopped by %s", stopped)
			}
			if err != nil {
				return fmt.Errorf("the test failed: %w", err)
			}
			return nil
		case sig := <-signals:
			stopped = sig
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		}
	}
}

// waitGroup waits until no process is left in the process group pgid, and after
// grace kills those that are.
func waitGroup(pgid int, grace time.Duration) {
	deadline := time.Now().Add(grace)
	for syscall.Kill(-pgid, 0) == nil {
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "test-cluster: killing what the test left in process group %d\n", pgid)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// keepLogs copies the components' logs to logs, when set.
func keepLogs(dir, logs string) {
	if logs == "" {
		return
	}
	if err := os.CopyFS(logs, os.DirFS(filepath.Join(dir, "logs"))); err != nil {
		fmt.Fprintln(os.Stderr, "test-cluster: keeping the logs:", err)
		return
	}
	fmt.Fprintf(os.Stderr, "test-cluster: the components' logs are in %s\n", logs)
}
