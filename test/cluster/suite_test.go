//go:build cluster

package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The cluster suite installs the operator the way its users do, into a real
// one-node cluster on this machine, and uses it with kubectl: the operator runs as
// a pod from its image, under the restricted Pod Security Standard, with the RBAC,
// probes, volumes and metrics Service of its install manifests.
//
// It needs the cluster that make test-cluster starts (test/cluster/harness), which
// it finds through the CLUSTER_* variables below; run it with
//
//	sudo make test-cluster

// What the harness tells the suite.
var (
	kubeconfig       = os.Getenv("CLUSTER_KUBECONFIG")
	kubectlPath      = os.Getenv("CLUSTER_KUBECTL")
	nodeIP           = os.Getenv("CLUSTER_NODE_IP")
	containerdSocket = os.Getenv("CLUSTER_CONTAINERD_SOCKET")
	installYAML      = os.Getenv("CLUSTER_INSTALL_YAML")
	helmPath         = os.Getenv("CLUSTER_HELM")
)

// Images the harness imported into containerd.
const (
	operatorImage = "localhost/partner-account-operator:test"
	clientImage   = "localhost/cluster-client:test"
)

func TestCluster(t *testing.T) {
	RegisterFailHandler(Fail)
	suiteConfig, reporterConfig := GinkgoConfiguration()
	// Below go test's -timeout (20m in the Makefile), so that on a hang the suite
	// still stops the simulator and says where it was.
	if suiteConfig.Timeout > 18*time.Minute {
		suiteConfig.Timeout = 18 * time.Minute
	}
	RunSpecs(t, "Cluster Suite", suiteConfig, reporterConfig)
}

var sim *simulator

var _ = BeforeSuite(func(ctx SpecContext) {
	for name, v := range map[string]string{
		"CLUSTER_KUBECONFIG": kubeconfig, "CLUSTER_KUBECTL": kubectlPath, "CLUSTER_NODE_IP": nodeIP,
		"CLUSTER_CONTAINERD_SOCKET": containerdSocket, "CLUSTER_INSTALL_YAML": installYAML, "CLUSTER_HELM": helmPath,
	} {
		Expect(v).NotTo(BeEmpty(), "%s is not set: this suite runs in the cluster that make test-cluster starts", name)
	}
	SetDefaultEventuallyTimeout(60 * time.Second)
	SetDefaultEventuallyPollingInterval(500 * time.Millisecond)
	if want := os.Getenv("ENVTEST_K8S_VERSION"); want != "" {
		var version struct {
			GitVersion string `json:"gitVersion"`
		}
		Expect(json.Unmarshal([]byte(kubectl(ctx, "get", "--raw", "/version")), &version)).To(Succeed())
		Expect(version.GitVersion).To(Equal(want), "kube-apiserver's version")
	}
	By("Start the Partnership API simulator over TLS on " + nodeIP)
	sim = startSimulator(ctx, GinkgoT().TempDir(), nodeIP)
	DeferCleanup(func() {
		if CurrentSpecReport().Failed() || anyFailed {
			showSimulatorLog()
		}
		sim.stop()
	})
}, NodeTimeout(5*time.Minute)) // building the simulator on a cold build cache takes minutes

// anyFailed is set when a spec fails, to show the simulator's log at the end.
var anyFailed bool

var _ = AfterEach(func() {
	if CurrentSpecReport().Failed() {
		anyFailed = true
	}
})

// kubectl runs kubectl as cluster admin and returns its stdout; it must succeed.
func kubectl(ctx context.Context, args ...string) string {
	GinkgoHelper()
	out, err := kubectlIn(ctx, "", args...)
	Expect(err).NotTo(HaveOccurred())
	return out
}

// kubectlIn runs kubectl with stdin, shows the command and its output, and returns
// its stdout; a non-zero exit is an error that carries stderr.
func kubectlIn(ctx context.Context, stdin string, args ...string) (string, error) {
	return runKubectl(ctx, stdin, true, args...)
}

// runKubectl is kubectlIn, showing stdout only when echo is set.
func runKubectl(ctx context.Context, stdin string, echo bool, args ...string) (string, error) {
	GinkgoWriter.Printf("$ kubectl %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, kubectlPath, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	shown := []string{stderr.String()}
	if echo {
		shown = append(shown, stdout.String())
	}
	for _, out := range shown {
		if out != "" && !strings.HasSuffix(out, "\n") {
			out += "\n"
		}
		GinkgoWriter.Print(out)
	}
	if err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %v: %s",
			strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
