//go:build cluster

package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// installMethod is one way users get the operator's manifests; the suite runs every
// spec once for each.
type installMethod struct {
	name   string
	render func(ctx context.Context) string
	// configured is set when render has made the manifests call the simulator and
	// trust its CA, and bind the metrics client to the metrics reader role, as the
	// chart's values do. Otherwise the suite does it as a kustomize user would: a
	// patch of the Deployment, a ConfigMap of the CA, a ClusterRoleBinding.
	configured bool
}

// installMethods are the ways the suite installs the operator: make build-installer's
// dist/install.yaml, and the Helm chart rendered by helm template, both with the test
// image.
var installMethods = []installMethod{
	{"dist/install.yaml from make build-installer", func(context.Context) string {
		GinkgoHelper()
		data, err := os.ReadFile(installYAML)
		Expect(err).NotTo(HaveOccurred())
		return string(data)
	}, false},
	{"dist/chart with helm template", renderChart, true},
}

// renderChart renders dist/chart as the README's helm install would install it, with
// the test image, the simulator as the Partnership API and its CA as the chart's
// partnerAPI.caBundle, and the metrics client's ServiceAccount in metrics.readers.
func renderChart(ctx context.Context) string {
	GinkgoHelper()
	repository, tag, _ := strings.Cut(operatorImage, ":")
	args := []string{"template", "partner-account-operator", filepath.Join("..", "..", "dist", "chart"),
		"--namespace", "partner-account-operator-system",
		"--set", "manager.image.repository=" + repository, "--set", "manager.image.tag=" + tag,
		"--set", "partnerAPI.url=" + sim.SimulatorURL + "/api/v1",
		"--set-file", "partnerAPI.caBundle=" + sim.CAFile,
		"--set", "metrics.readers[0].name=" + metricsReaderAccount,
		"--set", "metrics.readers[0].namespace=" + metricsClientNamespace}
	GinkgoWriter.Printf("$ helm %s\n", strings.Join(args, " "))
	out, err := exec.CommandContext(ctx, helmPath, args...).Output()
	if exitErr, ok := err.(*exec.ExitError); ok {
		err = fmt.Errorf("%w: %s", err, exitErr.Stderr)
	}
	Expect(err).NotTo(HaveOccurred(), "helm template")
	return string(out)
}

// install is what the suite needs to know of a set of install manifests.
type install struct {
	manifests      string
	namespace      string
	deployment     *appsv1.Deployment
	container      int // the manager's index in the pod's containers
	metricsService *corev1.Service
	metricsReader  string // the ClusterRole that may get /metrics
	// createsNamespace is set when the manifests hold the namespace; a chart leaves
	// it to the user.
	createsNamespace bool
	namespaces       []string
}

// parseInstall finds the Deployment, its metrics Service and the metrics reader role
// in the manifests; there must be one of each.
func parseInstall(manifests string) install {
	GinkgoHelper()
	in := install{manifests: manifests}
	for doc := range strings.SplitSeq(manifests, "\n---") {
		var meta metav1.TypeMeta
		Expect(yaml.Unmarshal([]byte(doc), &meta)).To(Succeed())
		switch meta.Kind {
		case "Namespace":
			var ns corev1.Namespace
			Expect(yaml.Unmarshal([]byte(doc), &ns)).To(Succeed())
			in.namespaces = append(in.namespaces, ns.Name)
		case "Deployment":
			Expect(in.deployment).To(BeNil(), "more than one Deployment in the manifests")
			in.deployment = &appsv1.Deployment{}
			Expect(yaml.Unmarshal([]byte(doc), in.deployment)).To(Succeed())
		case "Service":
			svc := &corev1.Service{}
			Expect(yaml.Unmarshal([]byte(doc), svc)).To(Succeed())
			for _, p := range svc.Spec.Ports {
				if p.Port == 8443 {
					in.metricsService = svc
				}
			}
		case "ClusterRole":
			role := &rbacv1.ClusterRole{}
			Expect(yaml.Unmarshal([]byte(doc), role)).To(Succeed())
			for _, r := range role.Rules {
				if len(r.NonResourceURLs) == 1 && r.NonResourceURLs[0] == "/metrics" {
					in.metricsReader = role.Name
				}
			}
		}
	}
	Expect(in.deployment).NotTo(BeNil(), "no Deployment in the manifests")
	Expect(in.metricsService).NotTo(BeNil(), "no Service of port 8443 (metrics) in the manifests")
	Expect(in.metricsReader).NotTo(BeEmpty(), "no ClusterRole that may get /metrics in the manifests")
	in.namespace = in.deployment.Namespace
	in.createsNamespace = slices.Contains(in.namespaces, in.namespace)
	in.container = -1
	for i, c := range in.deployment.Spec.Template.Spec.Containers {
		if c.Name == "manager" {
			in.container = i
		}
	}
	Expect(in.container).To(BeNumerically(">=", 0), "no container named manager in the Deployment")
	return in
}

// replicas is the number of pods the Deployment runs.
func (in install) replicas() int {
	if r := in.deployment.Spec.Replicas; r != nil {
		return int(*r)
	}
	return 1
}

// selector is the Deployment's pod selector, for kubectl -l.
func (in install) selector() string {
	return labels.SelectorFromSet(in.deployment.Spec.Selector.MatchLabels).String()
}

// overlay writes a kustomization of the manifests into dir. Unless the manifests are
// configured already (the chart's values), it changes them as a kustomize user
// would for this test: the operator calls the simulator, and trusts the simulator's
// CA from the ConfigMap partner-api-ca, mounted at /etc/partner-api-ca.
func (in install) overlay(dir, apiURL string, configured bool) {
	GinkgoHelper()
	Expect(os.WriteFile(filepath.Join(dir, "install.yaml"), []byte(in.manifests), 0o600)).To(Succeed())
	if configured {
		Expect(os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("resources:\n- install.yaml\n"), 0o600)).
			To(Succeed())
		return
	}
	c := in.deployment.Spec.Template.Spec.Containers[in.container]
	urlArg := "/spec/template/spec/containers/%d/args/-"
	op := "add"
	for i, a := range c.Args {
		if strings.HasPrefix(a, "--partner-api-url=") {
			urlArg, op = fmt.Sprintf("/spec/template/spec/containers/%%d/args/%d", i), "replace"
		}
	}
	patch := fmt.Sprintf(`- op: %s
  path: %s
  value: --partner-api-url=%s/api/v1
- op: add
  path: /spec/template/spec/containers/%d/args/-
  value: --partner-api-ca-file=/etc/partner-api-ca/ca.crt
- op: add
  path: /spec/template/spec/volumes/-
  value: {name: partner-api-ca, configMap: {name: partner-api-ca}}
- op: add
  path: /spec/template/spec/containers/%d/volumeMounts/-
  value: {name: partner-api-ca, mountPath: /etc/partner-api-ca, readOnly: true}
`, op, fmt.Sprintf(urlArg, in.container), apiURL, in.container, in.container)
	kustomization := fmt.Sprintf(`resources:
- install.yaml
patches:
- target: {kind: Deployment, name: %s}
  patch: |-
%s`, in.deployment.Name, indent(patch, "    "))
	Expect(os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kustomization), 0o600)).To(Succeed())
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix) + "\n"
}
