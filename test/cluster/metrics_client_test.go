//go:build cluster

package cluster

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// metricsClient is a pod that calls the operator's metrics endpoint from inside the
// cluster, with /fetch from the client image, as the ServiceAccount metrics-allowed
// (bound to the metrics reader role) or with another token.
type metricsClient struct {
	namespace, pod string
}

// The metrics client's namespace, and its ServiceAccount that may read metrics.
const (
	metricsClientNamespace = "metrics-client"
	metricsReaderAccount   = "metrics-allowed"
)

const metricsClientManifests = `apiVersion: v1
kind: Namespace
metadata:
  name: ` + metricsClientNamespace + `
  labels:
    pod-security.kubernetes.io/enforce: restricted
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: ` + metricsReaderAccount + `, namespace: ` + metricsClientNamespace + `}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: metrics-denied, namespace: ` + metricsClientNamespace + `}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: ` + metricsClientNamespace + `}
spec:
  serviceAccountName: ` + metricsReaderAccount + `
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: client
    image: ` + clientImage + `
    command: [/pause]
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
`

// startMetricsClient starts the client pod and, when bind is set, lets
// metrics-allowed read metrics through the ClusterRole reader (otherwise the install
// has bound it); it removes what it made when the spec ends.
func startMetricsClient(ctx context.Context, reader string, bind bool) metricsClient {
	GinkgoHelper()
	c := metricsClient{namespace: metricsClientNamespace, pod: "client"}
	DeferCleanup(func(ctx SpecContext) {
		if bind {
			_, _ = kubectlIn(ctx, "", "delete", "clusterrolebinding", metricsReaderAccount, "--ignore-not-found")
		}
		_, _ = kubectlIn(ctx, "", "delete", "namespace", c.namespace, "--ignore-not-found", "--timeout=60s")
	})
	_, err := kubectlIn(ctx, metricsClientManifests, "apply", "-f", "-")
	Expect(err).NotTo(HaveOccurred())
	if bind {
		kubectl(ctx, "create", "clusterrolebinding", metricsReaderAccount, "--clusterrole="+reader,
			"--serviceaccount="+c.namespace+":"+metricsReaderAccount)
	}
	kubectl(ctx, "wait", "-n", c.namespace, "--for=condition=Ready", "--timeout=60s", "pod/"+c.pod)
	return c
}

// fetch runs a command in the client pod with stdin, and returns its output.
func (c metricsClient) fetch(ctx context.Context, stdin string, command ...string) (string, error) {
	args := []string{"exec", "-n", c.namespace, c.pod}
	if stdin != "" {
		args = append(args, "-i")
	}
	return kubectlIn(ctx, stdin, append(append(args, "--"), command...)...)
}
