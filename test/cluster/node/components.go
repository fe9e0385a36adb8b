package node

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/partnerbilling/partner-account-operator/test/childproc"
)

func (c *Cluster) startContainerd() error {
	config := filepath.Join(c.Dir, containerd, "config.toml")
	if err := c.start(containerd, containerd, "--config", config); err != nil {
		return err
	}
	err := c.waitFor("containerd to answer", 30*time.Second, func() error {
		_, err := c.ctr("version")
		return err
	}, containerd)
	if err != nil {
		return err
	}
	for _, img := range c.opts.Images {
		if _, err := c.ctr("images", "import", img); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) startAPIServer() error {
	clientPort, err := childproc.FreePort()
	if err != nil {
		return err
	}
	peerPort, err := childproc.FreePort()
	if err != nil {
		return err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	err = c.start(etcd, c.asset(etcd),
		"--data-dir", filepath.Join(c.Dir, etcd),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", "http://127.0.0.1:"+strconv.Itoa(peerPort),
		"--initial-advertise-peer-urls", "http://127.0.0.1:"+strconv.Itoa(peerPort),
		"--initial-cluster", "default=http://127.0.0.1:"+strconv.Itoa(peerPort),
		"--unsafe-no-fsync")
	if err != nil {
		return err
	}
	pki := func(name string) string { return filepath.Join(c.pki, name) }
	err = c.start(kubeAPIServer, c.asset(kubeAPIServer),
		"--etcd-servers", etcdURL,
		"--bind-address", NodeIP, "--advertise-address", NodeIP, "--secure-port", "6443",
		"--cert-dir", filepath.Join(c.Dir, "apiserver"),
		"--tls-cert-file", pki("apiserver.crt"), "--tls-private-key-file", pki("apiserver.key"),
		"--client-ca-file", pki("ca.crt"),
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", pki("sa.pub"), "--service-account-signing-key-file", pki("sa.key"),
		"--service-cluster-ip-range", ServiceCIDR,
		"--authorization-mode", "Node,RBAC",
		"--enable-admission-plugins", "NodeRestriction",
		"--kubelet-client-certificate", pki("apiserver-kubelet-client.crt"),
		"--kubelet-client-key", pki("apiserver-kubelet-client.key"),
		// The kubelet's hostname resolves to 127.0.0.1 here; logs and exec go to its address.
		"--kubelet-preferred-address-types", "InternalIP")
	if err != nil {
		return err
	}
	return c.waitFor("kube-apiserver to be ready", 60*time.Second, func() error {
		_, err := c.Kubectl("get", "--raw", "/readyz")
		return err
	}, etcd, kubeAPIServer)
}

// startControllers starts kube-controller-manager and kube-scheduler once
// kube-apiserver is ready: started earlier, they may exit.
func (c *Cluster) startControllers() error {
	err := c.start(kubeControllerManager, c.asset(kubeControllerManager),
		"--kubeconfig", c.kubeconfig("controller-manager"),
		"--secure-port", "0", "--leader-elect=false",
		"--root-ca-file", filepath.Join(c.pki, "ca.crt"),
		"--service-account-private-key-file", filepath.Join(c.pki, "sa.key"),
		"--use-service-account-credentials")
	if err != nil {
		return err
	}
	if err := c.start(kubeScheduler, c.asset(kubeScheduler),
		"--kubeconfig", c.kubeconfig("scheduler"), "--secure-port", "0", "--leader-elect=false"); err != nil {
		return err
	}
	return c.waitFor("the default ServiceAccount", 60*time.Second, func() error {
		_, err := c.Kubectl("get", "serviceaccount", "default", "-n", "default")
		return err
	}, kubeControllerManager, kubeScheduler)
}

func (c *Cluster) startKubelet() error {
	err := c.start(kubelet, c.asset(kubelet),
		"--config", filepath.Join(c.Dir, kubelet, "config.yaml"),
		"--kubeconfig", c.kubeconfig(kubelet),
		"--root-dir", filepath.Join(c.Dir, kubelet),
		"--hostname-override", NodeName, "--node-ip", NodeIP)
	if err != nil {
		return err
	}
	return c.waitFor("the Node to be Ready", 90*time.Second, func() error {
		out, err := c.Kubectl("get", "node", NodeName,
			"-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}`)
		if err == nil && !strings.HasPrefix(out, "True") {
			err = fmt.Errorf("node not Ready: %s", out)
		}
		return err
	}, kubelet, containerd)
}

func (c *Cluster) startKubeProxy() error {
	err := c.start(kubeProxy, c.asset(kubeProxy), c.kubeProxyFlags()...)
	if err != nil {
		return err
	}
	ip := kubernetesServiceIP()
	return c.waitFor("kube-proxy to route "+ip.String(), 60*time.Second, func() error {
		out, err := run("nft", "list", "table", "ip", kubeProxy)
		if err == nil && !strings.Contains(out, ip.String()) {
			err = errors.New("no rule for it yet")
		}
		return err
	}, kubeProxy)
}

// kubeProxyFlags run kube-proxy in nftables mode, leaving the conntrack settings of
// this machine as they are.
func (c *Cluster) kubeProxyFlags() []string {
	return []string{
		"--kubeconfig", c.kubeconfig(kubeProxy),
		"--proxy-mode", "nftables", "--hostname-override", NodeName, "--cluster-cidr", PodCIDR,
		"--conntrack-max-per-core", "0",
		"--conntrack-tcp-timeout-established", "0", "--conntrack-tcp-timeout-close-wait", "0",
		"--healthz-bind-address", "127.0.0.1:10256", "--metrics-bind-address", "127.0.0.1:10249",
	}
}
