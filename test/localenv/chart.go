package localenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// renderChart renders the Helm chart with the simulator as its Partnership API,
// as helm template would for a user, followed by a --set of each of values, and
// returns the manifests.
func (e *Env) renderChart(ctx context.Context, helm, chart string, values []string) (string, error) {
	if !filepath.IsAbs(chart) {
		chart = filepath.Join(e.Root, chart)
	}
	// With the viewer, editor and admin roles, which the chart leaves out by default.
	sets := append([]string{"partnerAPI.url=" + e.PartnerAPIURL, "rbac.helpers.enabled=true"}, values...)
	args := make([]string, 0, 5+2*len(sets))
	args = append(args, "template", "partner-account-operator", chart, "--namespace", Namespace)
	for _, v := range sets {
		args = append(args, "--set", v)
	}
	out, _, err := run(ctx, e.Root, nil, "", helm, args...)
	return out, err
}

// managerContainer returns the manager container of the Deployment in manifests.
func managerContainer(manifests string) (*corev1.Container, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifests), 4096)
	for {
		var d appsv1.Deployment
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the manifests have no Deployment")
		}
		if err != nil {
			return nil, err
		}
		if d.Kind != "Deployment" {
			continue
		}
		for i := range d.Spec.Template.Spec.Containers {
			if c := &d.Spec.Template.Spec.Containers[i]; c.Name == "manager" {
				return c, nil
			}
		}
		return nil, fmt.Errorf("the Deployment %s has no manager container", d.Name)
	}
}

// hostCommand turns the manager container's arguments and environment into those
// of a process on this machine: exactly the same, but for what only a pod has.
// The token file is the one given, the metrics and health probe servers listen
// on the given loopback addresses, the kubeconfig and the leader election
// namespace are added (a pod finds them in its ServiceAccount), and an
// environment variable read from the container's resources gets its value.
func hostCommand(c *corev1.Container, tokenFile, metricsAddr, healthAddr, kubeconfig string) (
	args, env []string, err error) {
	for _, a := range c.Args {
		name, _, _ := strings.Cut(a, "=")
		switch name {
		case "--partner-api-token-file":
			a = name + "=" + tokenFile
		case "--metrics-bind-address":
			a = name + "=" + metricsAddr
		case "--health-probe-bind-address":
			a = name + "=" + healthAddr
		}
		args = append(args, a)
	}
	args = append(args, "--kubeconfig="+kubeconfig, "--leader-election-namespace="+Namespace)
	for _, v := range c.Env {
		switch {
		case v.ValueFrom == nil:
			env = append(env, v.Name+"="+v.Value)
		case v.ValueFrom.ResourceFieldRef != nil && v.ValueFrom.ResourceFieldRef.Resource == "limits.memory":
			limit, ok := c.Resources.Limits[corev1.ResourceMemory]
			if !ok {
				return nil, nil, fmt.Errorf("env %s reads limits.memory, which the container does not set", v.Name)
			}
			env = append(env, fmt.Sprintf("%s=%d", v.Name, limit.Value()))
		default:
			return nil, nil, fmt.Errorf("env %s comes from a source a process cannot have", v.Name)
		}
	}
	return args, env, nil
}

// namespaceManifest is the operator's namespace, which the chart does not create,
// labelled as config/manager labels it.
func namespaceManifest() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels:\n", Namespace)
	b.WriteString("    pod-security.kubernetes.io/enforce: restricted\n    pod-security.kubernetes.io/warn: restricted\n")
	return b.String()
}
