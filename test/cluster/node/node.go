// Package node runs a one-node Kubernetes cluster on this machine, for make
// test-cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, a
// kubelet with containerd and runc, kube-proxy in nftables mode and a CNI bridge
// network, each a process of its own. Its files are in a work directory; the pods
// and the host reach each other on a bridge of their own, whose address is the
// node's and kube-apiserver's. Stop undoes everything it did to the machine.
//
// It needs root, containerd, runc, ctr, nft and ip, and the binaries that make
// cluster-node builds.
package node

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/partnerbilling/partner-account-operator/test/childproc"
)

// The cluster's fixed addresses and names.
const (
	// Bridge is the pods' bridge; its address is NodeIP.
	Bridge = "testcluster0"
	// NodeIP is the node's address, and so kube-apiserver's and the host's as the
	// pods see it.
	NodeIP = "10.244.0.1"
	// PodCIDR holds the pods' addresses.
	PodCIDR = "10.244.0.0/24"
	// ServiceCIDR holds the Services' cluster IPs.
	ServiceCIDR = "10.96.0.0/24"
	// NodeName is the name of the Node.
	NodeName = "test-cluster-node"
	// PauseImage is the image of pod sandboxes; Options.Images must hold it.
	PauseImage = "localhost/pause:test"
	// guardTable is an nftables table that keeps the pods' traffic on this machine.
	guardTable = "inet test_cluster_guard"
)

// The components, as their binaries and their processes are named.
const (
	containerd            = "containerd"
	etcd                  = "etcd"
	kubeAPIServer         = "kube-apiserver"
	kubeControllerManager = "kube-controller-manager"
	kubeScheduler         = "kube-scheduler"
	kubelet               = "kubelet"
	kubeProxy             = "kube-proxy"
)

// Options configure Start.
type Options struct {
	// Dir is the work directory; it must exist and be empty. Stop removes it.
	Dir string
	// Assets holds etcd, kube-apiserver, kubectl, kube-controller-manager,
	// kube-scheduler, kubelet and kube-proxy.
	Assets string
	// CNIBinDir holds the CNI plugins bridge, host-local and loopback.
	CNIBinDir string
	// Images are image tarballs to import into containerd.
	Images []string
	// Progress, when set, is called with the name of each step as it starts.
	Progress func(step string)
}

// Cluster is a running cluster. Stop it.
type Cluster struct {
	// Dir is Options.Dir.
	Dir string
	// Kubeconfig is a cluster-admin kubeconfig.
	Kubeconfig string
	// KubectlPath is the kubectl of Options.Assets.
	KubectlPath string
	// ContainerdSocket is containerd's address, for ctr --address.
	ContainerdSocket string
	// PauseImage, NodeIP, PodCIDR and Bridge are this package's constants, and
	// CNIBinDir is Options.CNIBinDir, for the configuration templates.
	PauseImage, NodeIP, PodCIDR, Bridge, CNIBinDir string

	opts    Options
	pki     string
	ca      *CA
	host    *hostState
	procs   map[string]*childproc.Process
	order   []string // the processes by start
	network bool
}

// Start starts the cluster and waits until its Node is Ready and kube-proxy serves
// the kubernetes Service. On failure it stops whatever it started.
func Start(opts Options) (*Cluster, error) {
	c := &Cluster{
		Dir: opts.Dir, opts: opts, procs: map[string]*childproc.Process{},
		KubectlPath:      filepath.Join(opts.Assets, "kubectl"),
		ContainerdSocket: filepath.Join(opts.Dir, containerd, "containerd.sock"),
		Kubeconfig:       filepath.Join(opts.Dir, "pki", "admin.kubeconfig"),
		PauseImage:       PauseImage, NodeIP: NodeIP, PodCIDR: PodCIDR, Bridge: Bridge, CNIBinDir: opts.CNIBinDir,
		pki: filepath.Join(opts.Dir, "pki"),
	}
	steps := []struct {
		name string
		fn   func() error
	}{
		{"Check this machine", c.check},
		{"Write certificates and configuration", c.configure},
		{"Create the bridge " + Bridge + " with address " + NodeIP, c.createNetwork},
		{"Start containerd and import the images", c.startContainerd},
		{"Start etcd and kube-apiserver", c.startAPIServer},
		{"Start kube-controller-manager and kube-scheduler", c.startControllers},
		{"Start the kubelet and wait for the Node to be Ready", c.startKubelet},
		{"Start kube-proxy and wait for the kubernetes Service's rules", c.startKubeProxy},
	}
	for _, s := range steps {
		if opts.Progress != nil {
			opts.Progress(s.name)
		}
		if err := s.fn(); err != nil {
			err = fmt.Errorf("%s: %w", s.name, err)
			if stopErr := c.Stop(); stopErr != nil {
				err = errors.Join(err, fmt.Errorf("while stopping: %w", stopErr))
			}
			return nil, err
		}
	}
	return c, nil
}

func (c *Cluster) check() error {
	if os.Geteuid() != 0 {
		return errors.New("not root: the kubelet, containerd and kube-proxy need root")
	}
	for _, tool := range []string{containerd, "containerd-shim-runc-v2", "runc", "ctr", "nft", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is missing (make cluster-host installs it): %w", tool, err)
		}
	}
	for _, bin := range []string{
		etcd, kubeAPIServer, "kubectl", kubeControllerManager, kubeScheduler, kubelet, kubeProxy,
	} {
		if _, err := os.Stat(filepath.Join(c.opts.Assets, bin)); err != nil {
			return fmt.Errorf("%s is missing (make cluster-node builds it): %w", bin, err)
		}
	}
	if _, err := net.InterfaceByName(Bridge); err == nil {
		return fmt.Errorf("the bridge %s exists: another test cluster runs, or one was killed before it could "+
			"clean up (remove it with ip link delete %s)", Bridge, Bridge)
	}
	host, err := snapshotHost(c.Dir)
	if err != nil {
		return err
	}
	c.host = host
	return nil
}

func (c *Cluster) configure() error {
	for _, d := range []string{"pki", "logs", containerd, "cni/net.d", kubelet, "pod-logs"} {
		if err := os.MkdirAll(filepath.Join(c.Dir, d), 0o700); err != nil {
			return err
		}
	}
	var err error
	if c.ca, err = NewCA(c.pki, "test-cluster-ca"); err != nil {
		return err
	}
	certs := []struct {
		name, cn string
		orgs     []string
		ips      []net.IP
		dns      []string
	}{
		{"apiserver", kubeAPIServer, nil, []net.IP{net.ParseIP(NodeIP), kubernetesServiceIP(), net.ParseIP("127.0.0.1")},
			[]string{"kubernetes", "kubernetes.default", "kubernetes.default.svc",
				"kubernetes.default.svc.cluster.local", "localhost"}},
		{"admin", "admin", []string{"system:masters"}, nil, nil},
		{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, nil, nil},
		{kubelet, "system:node:" + NodeName, []string{"system:nodes"}, nil, nil},
		{"controller-manager", "system:kube-controller-manager", nil, nil, nil},
		{"scheduler", "system:kube-scheduler", nil, nil, nil},
		{kubeProxy, "system:kube-proxy", nil, nil, nil},
	}
	server := "https://" + net.JoinHostPort(NodeIP, "6443")
	for _, ct := range certs {
		if err := c.ca.Issue(ct.name, ct.cn, ct.orgs, ct.ips, ct.dns); err != nil {
			return err
		}
		if ct.name != "apiserver" && ct.name != "apiserver-kubelet-client" {
			if err := c.ca.writeKubeconfig(c.kubeconfig(ct.name), server, ct.name); err != nil {
				return err
			}
		}
	}
	if err := serviceAccountKey(c.pki); err != nil {
		return err
	}
	if err := writeTemplate(filepath.Join(c.Dir, containerd, "config.toml"), containerdConfig, c); err != nil {
		return err
	}
	if err := writeTemplate(filepath.Join(c.Dir, "cni", "net.d", "10-bridge.conflist"), cniConfig, c); err != nil {
		return err
	}
	return writeTemplate(filepath.Join(c.Dir, kubelet, "config.yaml"), kubeletConfig, c)
}

// kubernetesServiceIP is the cluster IP of the kubernetes Service: the first of
// ServiceCIDR.
func kubernetesServiceIP() net.IP {
	_, serviceNet, _ := net.ParseCIDR(ServiceCIDR)
	ip := slices.Clone(serviceNet.IP.To4())
	ip[3]++
	return ip
}

func (c *Cluster) kubeconfig(name string) string { return filepath.Join(c.pki, name+".kubeconfig") }

// createNetwork creates the bridge and an nftables table that keeps the pods off
// every other network, and drops what the host would send to a cluster IP that
// kube-proxy does not serve, so that no cluster traffic leaves this machine.
func (c *Cluster) createNetwork() error {
	c.network = true
	for _, args := range [][]string{
		{"link", "add", Bridge, "type", "bridge"},
		{"addr", "add", NodeIP + "/24", "dev", Bridge},
		{"link", "set", Bridge, "up"},
	} {
		if _, err := run("ip", args...); err != nil {
			return err
		}
	}
	rules := fmt.Sprintf(`table %s {
	chain forward {
		type filter hook forward priority 0;
		iifname %[2]q oifname != %[2]q drop;
		oifname %[2]q iifname != %[2]q drop;
	}
	chain output { type filter hook output priority 0; ip daddr %[3]s drop; }
}`, guardTable, Bridge, ServiceCIDR)
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft: %w: %s", err, out)
	}
	return nil
}

// start starts a component with its log in the logs directory.
func (c *Cluster) start(name, bin string, args ...string) error {
	p, _, err := childproc.Start(name, bin, args, nil, filepath.Join(c.Dir, "logs", name+".log"), false)
	if err != nil {
		return err
	}
	c.procs[name] = p
	c.order = append(c.order, name)
	return nil
}

func (c *Cluster) asset(name string) string { return filepath.Join(c.opts.Assets, name) }

// ctr runs ctr against this cluster's containerd, in the kubelet's namespace.
func (c *Cluster) ctr(args ...string) (string, error) {
	return run("ctr", append([]string{"--address", c.ContainerdSocket, "--namespace", "k8s.io"}, args...)...)
}

// waitFor calls check until it succeeds, one of the processes named exits, or
// timeout passes; the error names what was awaited and the last failure.
func (c *Cluster) waitFor(what string, timeout time.Duration, check func() error, watch ...string) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		for _, name := range watch {
			if exitErr := exited(c.procs[name]); exitErr != nil {
				return fmt.Errorf("waiting for %s: %w", what, exitErr)
			}
		}
		if time.Now().After(deadline) {
			var tails strings.Builder
			for _, name := range watch {
				tails.WriteString(childproc.LogTail(c.procs[name].LogPath(), 10))
			}
			return fmt.Errorf("%s: not within %s: %w%s", what, timeout, err, tails.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Kubectl runs kubectl as cluster admin and returns its output.
func (c *Cluster) Kubectl(args ...string) (string, error) {
	return run(c.KubectlPath, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
}
