package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

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

// sets turns values as --set takes them into helm's arguments.
func sets(set ...string) []string {
	args := make([]string, 0, 2*len(set))
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return args
}

func helmTemplate(t *testing.T, set ...string) (objects, error) {
	t.Helper()
	return helmTemplateArgs(t, sets(set...)...)
}

// helmTemplateArgs runs helm template with more arguments: --set, --set-file, -f.
func helmTemplateArgs(t *testing.T, more ...string) (objects, error) {
	t.Helper()
	args := append([]string{"template", release, filepath.Join(root, "dist", "chart"), "--namespace", namespace}, more...)
	out, err := run(t, tool(t, "HELM"), args...)
	if err != nil {
		return nil, err
	}
	return decode(t, out), nil
}

func mustHelmTemplate(t *testing.T, set ...string) objects {
	t.Helper()
	return mustHelmTemplateArgs(t, sets(set...)...)
}

func mustHelmTemplateArgs(t *testing.T, more ...string) objects {
	t.Helper()
	objs, err := helmTemplateArgs(t, more...)
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
		case kind == "PodDisruptionBudget":
			c, ok := chart[key]
			if !ok {
				t.Errorf("the chart has no %s", key)
				continue
			}
			sameAs(t, key+" spec", c["spec"], obj["spec"])
		}
	}
	for key := range chart {
		if kind, _, _ := strings.Cut(key, "/"); rbacKinds[kind] || kind == "PodDisruptionBudget" || kind == "ConfigMap" {
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
		"controller.defaultDeletionPolicy=Orphan",
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
		"--default-deletion-policy=Orphan",
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

// argSet is the manager's arguments as a set.
func argSet(t *testing.T, objs objects) map[string]bool {
	t.Helper()
	args := map[string]bool{}
	for _, a := range managerArgs(t, objs) {
		args[a.(string)] = true
	}
	return args
}

// argWithPrefix returns the manager's argument that starts with prefix, or "".
func argWithPrefix(t *testing.T, objs objects, prefix string) string {
	t.Helper()
	for _, a := range managerArgs(t, objs) {
		if strings.HasPrefix(a.(string), prefix) {
			return a.(string)
		}
	}
	return ""
}

// names lists the name of each item, volumes or volume mounts.
func names(items any) []string {
	list, _ := items.([]any)
	out := make([]string, 0, len(list))
	for _, item := range list {
		out = append(out, get(item, "name").(string))
	}
	return out
}

func managerContainer(t *testing.T, objs objects) map[string]any {
	t.Helper()
	return podSpec(t, objs)["containers"].([]any)[0].(map[string]any)
}

func wantError(t *testing.T, what string, err error, mention string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), mention) {
		t.Errorf("%s: got error %v, want one naming %s", what, err, mention)
	}
}

// writeFile writes data into a file of t's temporary directory and returns its path.
func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// caPEM is a new self-signed CA certificate, PEM-encoded.
func caPEM(t *testing.T, name string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// The defaults of the values this chart adds to the plugin's: each renders
// nothing, or what config/manager has (TestChartDefaultsInstallWhatConfigDefaultDoes
// compares the rest).
func TestChartNewValuesDefaults(t *testing.T) {
	objs := mustHelmTemplate(t)
	args := argSet(t, objs)
	for _, want := range []string{"--partner-api-timeout=30s", "--zap-encoder=json", "--zap-log-level=info"} {
		if !args[want] {
			t.Errorf("no argument %s in %v", want, args)
		}
	}
	for _, unwanted := range []string{"--partner-api-ca-file", "--partner-api-allow-insecure-http"} {
		if a := argWithPrefix(t, objs, unwanted); a != "" {
			t.Errorf("%s with the default values", a)
		}
	}
	c := managerContainer(t, objs)
	sameAs(t, "the volumes", names(podSpec(t, objs)["volumes"]), []string{"partner-api-token"})
	sameAs(t, "the volume mounts", names(c["volumeMounts"]), []string{"partner-api-token"})
	for key := range objs {
		if strings.HasPrefix(key, "ConfigMap/") || strings.Contains(key, "metrics-reader-rolebinding") {
			t.Errorf("%s is rendered with the default values", key)
		}
	}
	if a := get(objs[deployment], "spec", "template", "metadata", "annotations", "checksum/partner-api-ca"); a != nil {
		t.Errorf("a CA checksum annotation without a CA bundle: %v", a)
	}
}

func TestChartPartnerAPICABundle(t *testing.T) {
	ca := caPEM(t, "private CA")
	objs := mustHelmTemplateArgs(t, "--set-file", "partnerAPI.caBundle="+writeFile(t, "ca.crt", ca))

	const configMap = "ConfigMap/partner-account-operator-partner-api-ca"
	cm, ok := objs[configMap]
	if !ok {
		t.Fatalf("partnerAPI.caBundle renders no %s", configMap)
	}
	if get(cm, "metadata", "namespace") != namespace {
		t.Errorf("%s is in namespace %v, not the release's", configMap, get(cm, "metadata", "namespace"))
	}
	for key, value := range get(cm, "data").(map[string]any) {
		if value != ca {
			t.Errorf("%s key %s is not the CA bundle given:\n%v", configMap, key, value)
		}
	}

	// The flag names a file that the ConfigMap's volume, mounted, provides.
	flag := argWithPrefix(t, objs, "--partner-api-ca-file=")
	if flag == "" {
		t.Fatalf("partnerAPI.caBundle passes no --partner-api-ca-file: %v", managerArgs(t, objs))
	}
	file := strings.TrimPrefix(flag, "--partner-api-ca-file=")
	var volumeName string
	for _, m := range managerContainer(t, objs)["volumeMounts"].([]any) {
		if get(m, "mountPath") == filepath.Dir(file) {
			volumeName, _ = get(m, "name").(string)
			if get(m, "readOnly") != true {
				t.Errorf("the CA mount %v is not read-only", m)
			}
		}
	}
	if volumeName == "" {
		t.Fatalf("no volume is mounted at %s, for %s", filepath.Dir(file), flag)
	}
	var volume any
	for _, v := range podSpec(t, objs)["volumes"].([]any) {
		if get(v, "name") == volumeName {
			volume = v
		}
	}
	if got := get(volume, "configMap", "name"); got != strings.TrimPrefix(configMap, "ConfigMap/") {
		t.Errorf("volume %s is of ConfigMap %v, not %s", volumeName, got, configMap)
	}
	if _, ok := get(cm, "data").(map[string]any)[filepath.Base(file)]; !ok {
		t.Errorf("%s has no key %s, the file %s names", configMap, filepath.Base(file), flag)
	}

	// The token is still mounted where --partner-api-token-file reads it.
	tokenFile := strings.TrimPrefix(argWithPrefix(t, objs, "--partner-api-token-file="), "--partner-api-token-file=")
	mounts := names(managerContainer(t, objs)["volumeMounts"])
	if tokenFile == "" || !slices.Contains(mounts, "partner-api-token") {
		t.Errorf("with partnerAPI.caBundle, the token file %q or its mount is gone: mounts %v", tokenFile, mounts)
	}

	// A changed CA rolls the pods: the operator reads it when it starts.
	annotation := func(objs objects) any {
		return get(objs[deployment], "spec", "template", "metadata", "annotations", "checksum/partner-api-ca")
	}
	other := mustHelmTemplateArgs(t, "--set-file", "partnerAPI.caBundle="+writeFile(t, "other.crt", caPEM(t, "other CA")))
	if annotation(objs) == nil || annotation(objs) == annotation(other) {
		t.Errorf("the pod's CA checksum does not follow the CA bundle: %v, then %v", annotation(objs), annotation(other))
	}

	// A path given with --set instead of --set-file.
	_, err := helmTemplate(t, "partnerAPI.caBundle=./ca.crt")
	wantError(t, "partnerAPI.caBundle=./ca.crt", err, "partnerAPI.caBundle")
}

func TestChartPartnerAPIInsecureHTTPAndTimeout(t *testing.T) {
	const url = "http://partner-api.internal:8080/api/v1"
	_, err := helmTemplate(t, "partnerAPI.url="+url)
	wantError(t, "an http:// URL on a host other than loopback", err, "partnerAPI.allowInsecureHTTP")

	objs := mustHelmTemplate(t, "partnerAPI.url="+url, "partnerAPI.allowInsecureHTTP=true", "partnerAPI.timeout=45s")
	args := argSet(t, objs)
	for _, want := range []string{
		"--partner-api-url=" + url, "--partner-api-allow-insecure-http", "--partner-api-timeout=45s",
	} {
		if !args[want] {
			t.Errorf("no argument %s in %v", want, args)
		}
	}

	// The operator accepts http:// on loopback by itself.
	for _, loopback := range []string{
		"http://localhost:8080/api/v1", "http://127.0.0.1:8080/api/v1", "http://[::1]:8080/api/v1",
	} {
		objs, err := helmTemplate(t, "partnerAPI.url="+loopback)
		if err != nil {
			t.Errorf("partnerAPI.url=%s: %v", loopback, err)
			continue
		}
		if a := argWithPrefix(t, objs, "--partner-api-allow-insecure-http"); a != "" {
			t.Errorf("partnerAPI.url=%s renders %s", loopback, a)
		}
	}
}

func TestChartExtraArgsAndVolumesAddToTheChartsOwn(t *testing.T) {
	defaults := mustHelmTemplate(t)
	values := writeFile(t, "values.yaml", `manager:
  extraArgs: [--pprof-bind-address=127.0.0.1:6060, --zap-stacktrace-level=panic]
  extraVolumes:
  - name: scratch
    emptyDir: {}
  extraVolumeMounts:
  - name: scratch
    mountPath: /scratch
`)
	ca := writeFile(t, "ca.crt", caPEM(t, "CA"))
	objs := mustHelmTemplateArgs(t, "-f", values, "--set-file", "partnerAPI.caBundle="+ca)

	want := append(managerArgs(t, defaults),
		"--partner-api-ca-file=/etc/partner-api-ca/ca.crt",
		"--pprof-bind-address=127.0.0.1:6060", "--zap-stacktrace-level=panic")
	sameAs(t, "the arguments: the chart's, then the CA's, then extraArgs", managerArgs(t, objs), want)

	sameAs(t, "the volumes", names(podSpec(t, objs)["volumes"]),
		[]string{"partner-api-token", "partner-api-ca", "scratch"})
	sameAs(t, "the volume mounts", names(managerContainer(t, objs)["volumeMounts"]),
		[]string{"partner-api-token", "partner-api-ca", "scratch"})
	sameAs(t, "the token volume", podSpec(t, objs)["volumes"].([]any)[0], podSpec(t, defaults)["volumes"].([]any)[0])
	sameAs(t, "the token mount", managerContainer(t, objs)["volumeMounts"].([]any)[0],
		managerContainer(t, defaults)["volumeMounts"].([]any)[0])

	// Without the CA, extraArgs follow the chart's own directly.
	objs = mustHelmTemplate(t, "manager.extraArgs[0]=--enable-http2")
	sameAs(t, "the arguments with one extraArg", managerArgs(t, objs), append(managerArgs(t, defaults), "--enable-http2"))
}

func TestChartLogs(t *testing.T) {
	args := argSet(t, mustHelmTemplate(t, "manager.logLevel=debug", "manager.logFormat=console"))
	for _, want := range []string{"--zap-log-level=debug", "--zap-encoder=console"} {
		if !args[want] {
			t.Errorf("no argument %s in %v", want, args)
		}
	}
	if !argSet(t, mustHelmTemplate(t, "manager.logLevel=3"))["--zap-log-level=3"] {
		t.Error("manager.logLevel=3 does not render --zap-log-level=3")
	}
	_, err := helmTemplate(t, "manager.logFormat=text")
	wantError(t, "manager.logFormat=text", err, "manager.logFormat")
	_, err = helmTemplate(t, "manager.logLevel=verbose")
	wantError(t, "manager.logLevel=verbose", err, "manager.logLevel")
}

const pdb = "PodDisruptionBudget/partner-account-operator-controller-manager"

func TestChartPodDisruptionBudgetAndAntiAffinity(t *testing.T) {
	objs := mustHelmTemplate(t)
	selector := get(objs[deployment], "spec", "selector", "matchLabels")
	p, ok := objs[pdb]
	if !ok {
		t.Fatalf("no %s with %v replicas", pdb, get(objs[deployment], "spec", "replicas"))
	}
	if got := get(p, "spec", "minAvailable"); got != float64(1) {
		t.Errorf("%s minAvailable %v, want 1", pdb, got)
	}
	sameAs(t, "the PodDisruptionBudget's selector and the Deployment's",
		get(p, "spec", "selector", "matchLabels"), selector)

	antiAffinity := get(podSpec(t, objs)["affinity"], "podAntiAffinity")
	terms, _ := get(antiAffinity, "preferredDuringSchedulingIgnoredDuringExecution").([]any)
	if len(terms) != 1 {
		t.Fatalf("the default affinity has no single preferred pod anti-affinity: %v", podSpec(t, objs)["affinity"])
	}
	if got := get(terms[0], "podAffinityTerm", "topologyKey"); got != "kubernetes.io/hostname" {
		t.Errorf("the pod anti-affinity's topologyKey is %v, not kubernetes.io/hostname", got)
	}
	sameAs(t, "the pod anti-affinity's selector and the Deployment's",
		get(terms[0], "podAffinityTerm", "labelSelector", "matchLabels"), selector)
	if required := get(antiAffinity, "requiredDuringSchedulingIgnoredDuringExecution"); required != nil {
		t.Errorf("the default pod anti-affinity is required, not preferred: %v", required)
	}

	for _, set := range [][]string{{"manager.replicas=1"}, {"manager.enabled=false"}} {
		if _, ok := mustHelmTemplate(t, set...)[pdb]; ok {
			t.Errorf("%v renders a PodDisruptionBudget", set)
		}
	}
	if _, ok := mustHelmTemplate(t, "manager.replicas=3")[pdb]; !ok {
		t.Error("manager.replicas=3 renders no PodDisruptionBudget")
	}

	// An affinity of the values replaces the default.
	arch := map[string]any{"key": "kubernetes.io/arch", "operator": "In", "values": []any{"amd64"}}
	affinity := map[string]any{"nodeAffinity": map[string]any{
		"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{
			"nodeSelectorTerms": []any{map[string]any{"matchExpressions": []any{arch}}},
		},
	}}
	data, err := yaml.Marshal(map[string]any{"manager": map[string]any{"affinity": affinity}})
	if err != nil {
		t.Fatal(err)
	}
	objs = mustHelmTemplateArgs(t, "-f", writeFile(t, "values.yaml", string(data)))
	sameAs(t, "the affinity with manager.affinity set", podSpec(t, objs)["affinity"], affinity)
}

func TestChartMetricsReaders(t *testing.T) {
	const binding = "ClusterRoleBinding/partner-account-operator-metrics-reader-rolebinding"
	objs := mustHelmTemplate(t,
		"metrics.readers[0].name=prometheus-k8s", "metrics.readers[0].namespace=monitoring",
		"metrics.readers[1].name=vmagent", "metrics.readers[1].namespace=victoria-metrics")
	b, ok := objs[binding]
	if !ok {
		t.Fatalf("metrics.readers renders no %s", binding)
	}
	sameAs(t, binding+" subjects", b["subjects"], []any{
		map[string]any{"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"},
		map[string]any{"kind": "ServiceAccount", "name": "vmagent", "namespace": "victoria-metrics"},
	})
	// The role it binds is the chart's, and may get /metrics.
	role, ok := objs["ClusterRole/"+get(b, "roleRef", "name").(string)]
	if !ok || get(b, "roleRef", "kind") != "ClusterRole" {
		t.Fatalf("%s binds %v, which the chart does not render", binding, b["roleRef"])
	}
	sameAs(t, "the rules of the role "+binding+" binds", role["rules"],
		[]any{map[string]any{"nonResourceURLs": []any{"/metrics"}, "verbs": []any{"get"}}})

	_, err := helmTemplate(t, "metrics.readers[0].name=prometheus-k8s")
	wantError(t, "a metrics reader without a namespace", err, "metrics.readers[0].namespace")
	if _, ok := mustHelmTemplate(t, "metrics.enabled=false", "metrics.readers[0].name=p",
		"metrics.readers[0].namespace=m")[binding]; ok {
		t.Errorf("metrics.enabled=false still renders %s", binding)
	}
}

// webhook.enabled did nothing, certManager.enabled pointed the ServiceMonitor at a
// Secret nothing creates, rbac.namespaced made a Role for a manager that watches
// every namespace. They are gone, and fail when set to true.
func TestChartRemovedValues(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "dist", "chart", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	for _, path := range [][]string{{"webhook"}, {"certManager"}, {"rbac", "namespaced"}} {
		if v := get(values, path...); v != nil {
			t.Errorf("values.yaml still has %s: %v", strings.Join(path, "."), v)
		}
	}
	templates := filepath.Join(root, "dist", "chart", "templates")
	err = filepath.WalkDir(templates, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "_values.tpl" { // _values.tpl holds the check below
			return err
		}
		text, err := os.ReadFile(path)
		for _, v := range []string{".Values.webhook", ".Values.certManager", ".Values.rbac.namespaced"} {
			if strings.Contains(string(text), v) {
				t.Errorf("%s still uses %s", path, v)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, value := range []string{"webhook.enabled", "certManager.enabled", "rbac.namespaced"} {
		_, err := helmTemplate(t, value+"=true")
		wantError(t, value+"=true", err, value)
		if _, err := helmTemplate(t, value+"=false"); err != nil {
			t.Errorf("%s=false: %v", value, err)
		}
	}

	const monitor = "ServiceMonitor/partner-account-operator-controller-manager-metrics-monitor"
	endpoints, _ := get(mustHelmTemplate(t, "prometheus.enabled=true")[monitor], "spec", "endpoints").([]any)
	if len(endpoints) != 1 || get(endpoints[0], "tlsConfig", "insecureSkipVerify") != true ||
		get(endpoints[0], "tlsConfig", "ca") != nil {
		t.Errorf("the ServiceMonitor's endpoints are not one with insecureSkipVerify and no CA: %v", endpoints)
	}
}

// notes renders NOTES.txt, as helm install prints it, with values set.
func notes(t *testing.T, set ...string) string {
	t.Helper()
	args := append([]string{"install", release, filepath.Join(root, "dist", "chart"), "--namespace", namespace,
		"--dry-run=client", "-o", "json"}, sets(set...)...)
	out, err := run(t, tool(t, "HELM"), args...)
	if err != nil {
		t.Fatal(err)
	}
	var rel struct {
		Info struct {
			Notes string `json:"notes"`
		} `json:"info"`
	}
	if err := json.Unmarshal(out, &rel); err != nil {
		t.Fatal(err)
	}
	if rel.Info.Notes == "" {
		t.Fatal("helm install prints no notes")
	}
	return rel.Info.Notes
}

func TestChartNotes(t *testing.T) {
	set := []string{"partnerAPI.tokenSecret.name=token-for-partner", "partnerAPI.tokenSecret.key=bearer"}
	text := notes(t, set...)
	objs := mustHelmTemplate(t, set...)
	name := get(objs[deployment], "metadata", "name").(string)
	labels := get(objs[deployment], "spec", "selector", "matchLabels").(map[string]any)
	selector := make([]string, 0, len(labels))
	for k, v := range labels {
		selector = append(selector, k+"="+v.(string))
	}
	slices.Sort(selector)
	for _, want := range []string{
		"kubectl -n " + namespace + " create secret generic token-for-partner --from-file=bearer=./partner-token",
		"kubectl -n " + namespace + " rollout status deployment/" + name,
		"kubectl get partneraccounts -A",
		"kubectl -n " + namespace + " logs -l " + strings.Join(selector, ",") + " -c manager",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, text)
		}
	}

	const readers = "metrics.readers"
	if text := notes(t, "prometheus.enabled=true"); !strings.Contains(text, readers) {
		t.Errorf("with a ServiceMonitor and no metrics reader, NOTES.txt does not say to set %s:\n%s", readers, text)
	}
	text = notes(t, "prometheus.enabled=true", "metrics.readers[0].name=p", "metrics.readers[0].namespace=m")
	if strings.Contains(text, readers) {
		t.Errorf("with a metrics reader, NOTES.txt still asks for one:\n%s", text)
	}
}

// connectionAPI is the PartnerConnection kind as --api-versions names it, for a
// cluster that has the CRD.
const connectionAPI = "billing.partnerbilling.io/v1alpha1/PartnerConnection"

func TestChartConnections(t *testing.T) {
	values := writeFile(t, "connections.yaml", `connections:
  - name: test-server
    url: https://billing.b5test.eu/api/v1
    tokenSecret: {name: partner-api-token-test}
    rateLimit: {rps: 5, burst: 10}
    namespaceSelector: {matchLabels: {billing: test}}
  - name: brand-b
    url: https://billing.1password.com/api/v1
    tokenSecret: {name: brand-b-token, key: bearer}
    caSecret: {name: brand-b-ca}
`)
	if objs := mustHelmTemplateArgs(t, "-f", values); len(objs.ofKind("PartnerConnection")) != 0 {
		t.Errorf("PartnerConnections rendered for a cluster without their CRD, which helm install refuses: %v",
			objs.ofKind("PartnerConnection"))
	}
	objs := mustHelmTemplateArgs(t, "-f", values, "--api-versions", connectionAPI)
	test, brand := objs["PartnerConnection/test-server"], objs["PartnerConnection/brand-b"]
	if test == nil || brand == nil {
		t.Fatalf("the PartnerConnections are not rendered: %v", objs.ofKind("PartnerConnection"))
	}
	for path, want := range map[string]any{
		"spec.url":                                   "https://billing.b5test.eu/api/v1",
		"spec.tokenSecretRef.name":                   "partner-api-token-test",
		"spec.tokenSecretRef.key":                    "token",
		"spec.rateLimit.rps":                         float64(5),
		"spec.rateLimit.burst":                       float64(10),
		"spec.namespaceSelector.matchLabels.billing": "test",
		"spec.caSecretRef":                           nil,
	} {
		if got := get(test, strings.Split(path, ".")...); got != want {
			t.Errorf("test-server %s = %v, want %v", path, got, want)
		}
	}
	for path, want := range map[string]any{
		"spec.tokenSecretRef.key": "bearer",
		"spec.caSecretRef.name":   "brand-b-ca",
		"spec.caSecretRef.key":    "ca.crt",
		"spec.rateLimit":          nil,
	} {
		if got := get(brand, strings.Split(path, ".")...); got != want {
			t.Errorf("brand-b %s = %v, want %v", path, got, want)
		}
	}

	for _, tt := range []struct{ values, mention string }{
		{"connections: [{url: https://x.example/api/v1, tokenSecret: {name: t}}]", "connections[0].name"},
		{"connections: [{name: a, tokenSecret: {name: t}}]", "connections[0].url"},
		{"connections: [{name: a, url: https://x.example/api/v1}]", "connections[0].tokenSecret.name"},
	} {
		_, err := helmTemplateArgs(t, "-f", writeFile(t, "bad.yaml", tt.values), "--api-versions", connectionAPI)
		wantError(t, tt.values, err, tt.mention)
	}

	if text := notes(t, "connections[0].name=a", "connections[0].url=https://x.example/api/v1",
		"connections[0].tokenSecret.name=t"); !strings.Contains(text, "helm upgrade --install again") {
		t.Errorf("after a first install, NOTES.txt does not say to run the upgrade again for the connections:\n%s", text)
	}
}

// ofKind returns the keys of the objects of kind.
func (o objects) ofKind(kind string) []string {
	var keys []string
	for k := range o {
		if strings.HasPrefix(k, kind+"/") {
			keys = append(keys, k)
		}
	}
	return keys
}
