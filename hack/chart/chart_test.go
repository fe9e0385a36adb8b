package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// These tests hold dist/chart to config/: with its default values the chart must
// install what kustomize build config/default does, in RBAC, in the manager's pod
// (arguments, env, security contexts, volumes, probes, resources) and in the
// metrics Service. They need helm and kustomize: make test-chart passes them in
// HELM and KUSTOMIZE, otherwise bin/ is looked in.

const (
	root      = "../.."
	release   = "partner-account-operator"
	namespace = "partner-account-operator-system"
)

func tool(t *testing.T, env string) string {
	t.Helper()
	if path := os.Getenv(env); path != "" {
		return path
	}
	path, err := filepath.Abs(filepath.Join(root, "bin", strings.ToLower(env)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is not set and %s is missing: run make test-chart, or make %s first", env, path, strings.ToLower(env))
	}
	return path
}

func run(t *testing.T, name string, args ...string) ([]byte, error) {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, errors.New(err.Error() + ": " + stderr.String())
	}
	return out, nil
}

// object is one manifest, keyed kind/name.
type objects map[string]map[string]any

func decode(t *testing.T, manifests []byte) objects {
	t.Helper()
	objs := objects{}
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	for {
		var obj map[string]any
		if err := d.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatal(err)
		}
		if obj == nil {
			continue
		}
		meta, _ := obj["metadata"].(map[string]any)
		objs[obj["kind"].(string)+"/"+meta["name"].(string)] = obj
	}
}

func kustomize(t *testing.T, dir string) objects {
	t.Helper()
	out, err := run(t, tool(t, "KUSTOMIZE"), "build", filepath.Join(root, dir))
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, out)
}

func helmTemplate(t *testing.T, set ...string) (objects, error) {
	t.Helper()
	args := make([]string, 0, 5+2*len(set))
	args = append(args, "template", release, filepath.Join(root, "dist", "chart"), "--namespace", namespace)
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := run(t, tool(t, "HELM"), args...)
	if err != nil {
		return nil, err
	}
	return decode(t, out), nil
}

func mustHelmTemplate(t *testing.T, set ...string) objects {
	t.Helper()
	objs, err := helmTemplate(t, set...)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func get(obj any, path ...string) any {
	for _, p := range path {
		m, ok := obj.(map[string]any)
		if !ok {
			return nil
		}
		obj = m[p]
	}
	return obj
}

func sameAs(t *testing.T, what string, chart, config any) {
	t.Helper()
	if !reflect.DeepEqual(chart, config) {
		c, _ := yaml.Marshal(chart)
		k, _ := yaml.Marshal(config)
		t.Errorf("%s differs between the chart and config/ (run make chart after changing config/; "+
			"hack/chart/main.go if that is not enough)\nchart:\n%s\nconfig:\n%s", what, c, k)
	}
}

const deployment = "Deployment/partner-account-operator-controller-manager"

// podSpec is the manager's pod spec without the image, which the chart takes
// from its values and config/ from make build-installer's IMG.
func podSpec(t *testing.T, objs objects) map[string]any {
	t.Helper()
	d, ok := objs[deployment]
	if !ok {
		t.Fatalf("no %s", deployment)
	}
	spec := get(d, "spec", "template", "spec").(map[string]any)
	for _, c := range spec["containers"].([]any) {
		delete(c.(map[string]any), "image")
		delete(c.(map[string]any), "imagePullPolicy")
	}
	return spec
}

func managerArgs(t *testing.T, objs objects) []any {
	t.Helper()
	return get(podSpec(t, objs)["containers"].([]any)[0], "args").([]any)
}

func TestChartDefaultsInstallWhatConfigDefaultDoes(t *testing.T) {
	config := kustomize(t, "config/default")
	// The helper roles are off by default in the chart; config/default has them.
	chart := mustHelmTemplate(t, "rbac.helpers.enabled=true")

	sameAs(t, "the manager's pod spec", podSpec(t, chart), podSpec(t, config))
	sameAs(t, "the manager's replicas",
		get(chart[deployment], "spec", "replicas"), get(config[deployment], "spec", "replicas"))

	rbacKinds := map[string]bool{
		"ServiceAccount": true, "Role": true, "ClusterRole": true, "RoleBinding": true, "ClusterRoleBinding": true,
	}
	for key, obj := range config {
		kind, _, _ := strings.Cut(key, "/")
		switch {
		case rbacKinds[kind]:
			c, ok := chart[key]
			if !ok {
				t.Errorf("the chart has no %s", key)
				continue
			}
			for _, field := range []string{"rules", "roleRef", "subjects"} {
				sameAs(t, key+" "+field, c[field], obj[field])
			}
			if kind == "Role" || kind == "RoleBinding" || kind == "ServiceAccount" {
				sameAs(t, key+" namespace", get(c, "metadata", "namespace"), get(obj, "metadata", "namespace"))
			}
		case kind == "Service":
			c, ok := chart[key]
			if !ok {
				t.Errorf("the chart has no %s", key)
				continue
			}
			sameAs(t, key+" ports", get(c, "spec", "ports"), get(obj, "spec", "ports"))
		}
	}
	for key := range chart {
		if kind, _, _ := strings.Cut(key, "/"); rbacKinds[kind] {
			if _, ok := config[key]; !ok {
				t.Errorf("the chart has %s, config/default does not", key)
			}
		}
	}
}

func TestChartTestServerIsTheOverlay(t *testing.T) {
	sameAs(t, "the manager's arguments with partnerAPI.url=test",
		managerArgs(t, mustHelmTemplate(t, "partnerAPI.url=test")),
		managerArgs(t, kustomize(t, "config/overlays/test-server")))
}

func TestChartValues(t *testing.T) {
	objs := mustHelmTemplate(t,
		"partnerAPI.url=http://127.0.0.1:8080/api/v1",
		"partnerAPI.tokenSecret.name=token-for-partner",
		"partnerAPI.tokenSecret.key=bearer",
		"partnerAPI.requestsPerSecond=2.5",
		"partnerAPI.burst=5",
		"controller.readBackPeriod=1h",
		"controller.maxConcurrentReconciles=8",
		"controller.activationTokenInStatus=false",
		"leaderElection.enabled=false",
		"manager.replicas=3",
	)
	args := map[string]bool{}
	for _, a := range managerArgs(t, objs) {
		args[a.(string)] = true
	}
	for _, want := range []string{
		"--partner-api-url=http://127.0.0.1:8080/api/v1",
		"--partner-api-rps=2.5",
		"--partner-api-burst=5",
		"--resync-period=1h",
		"--max-concurrent-reconciles=8",
		"--activation-token-in-status=false",
		"--leader-elect=false",
	} {
		if !args[want] {
			t.Errorf("no argument %s in %v", want, args)
		}
	}
	volumes := podSpec(t, objs)["volumes"].([]any)
	sameAs(t, "the token volume", volumes[0], map[string]any{
		"name": "partner-api-token",
		"secret": map[string]any{
			"secretName": "token-for-partner",
			"items":      []any{map[string]any{"key": "bearer", "path": "token"}},
		},
	})
	if r := get(objs[deployment], "spec", "replicas"); r != float64(3) {
		t.Errorf("replicas %v, want 3", r)
	}

	_, err := helmTemplate(t, "partnerAPI.url=staging")
	if err == nil || !strings.Contains(err.Error(), "partnerAPI.url") {
		t.Errorf("partnerAPI.url=staging: got error %v, want one naming partnerAPI.url", err)
	}
}

func TestChartMonitoringToggles(t *testing.T) {
	off := mustHelmTemplate(t)
	for key := range off {
		kind, _, _ := strings.Cut(key, "/")
		if kind == "ServiceMonitor" || kind == "PrometheusRule" || kind == "ConfigMap" {
			t.Errorf("%s is rendered with the default values", key)
		}
	}
	if _, ok := off["Service/partner-account-operator-controller-manager-metrics-service"]; !ok {
		t.Error("no metrics Service with the default values")
	}
	noMetrics := mustHelmTemplate(t, "metrics.enabled=false")
	if _, ok := noMetrics["Service/partner-account-operator-controller-manager-metrics-service"]; ok {
		t.Error("metrics.enabled=false still renders the metrics Service")
	}

	on := mustHelmTemplate(t, "prometheus.enabled=true", "prometheusRule.enabled=true", "grafanaDashboard.enabled=true",
		"prometheusRule.labels.release=kube-prometheus-stack")
	if _, ok := on["ServiceMonitor/partner-account-operator-controller-manager-metrics-monitor"]; !ok {
		t.Error("prometheus.enabled=true renders no ServiceMonitor")
	}

	rule, ok := on["PrometheusRule/partner-account-operator-controller-manager-alerts"]
	if !ok {
		t.Fatal("prometheusRule.enabled=true renders no PrometheusRule")
	}
	data, err := os.ReadFile(filepath.Join(root, "config", "prometheus", "prometheus_rule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var configRule map[string]any
	if err := yaml.Unmarshal(data, &configRule); err != nil {
		t.Fatal(err)
	}
	sameAs(t, "the PrometheusRule's spec", rule["spec"], configRule["spec"])
	if get(rule, "metadata", "labels", "release") != "kube-prometheus-stack" {
		t.Errorf("prometheusRule.labels not on the PrometheusRule: %v", get(rule, "metadata", "labels"))
	}

	dashboard, ok := on["ConfigMap/partner-account-operator-grafana-dashboard"]
	if !ok {
		t.Fatal("grafanaDashboard.enabled=true renders no ConfigMap")
	}
	dashboardJSON, err := os.ReadFile(filepath.Join(root, "config", "grafana", "partner-account-operator.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := get(dashboard, "data", "partner-account-operator.json")
	if got != strings.TrimSuffix(string(dashboardJSON), "\n") {
		t.Error("the dashboard ConfigMap does not hold config/grafana/partner-account-operator.json")
	}
	if get(dashboard, "metadata", "labels", "grafana_dashboard") != "1" {
		t.Errorf("the dashboard ConfigMap lacks the grafana_dashboard label: %v", get(dashboard, "metadata", "labels"))
	}
}
