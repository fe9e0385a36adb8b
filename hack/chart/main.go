// Command chart finishes the Helm chart that kubebuilder's helm/v2-alpha plugin
// generates from config/ (make chart runs both). The plugin moves the manager's
// arguments and volumes into values.yaml as literals; this makes them follow the
// chart's own values, and adds what config/default does not install: the alerts,
// the dashboard, and the helper that turns partnerAPI.url into a URL.
//
//	go run ./hack/chart CHART_DIR MANIFESTS
//
// MANIFESTS is the kustomize output the plugin read.
//
// Everything it writes comes from config/ and hack/chart/, so running the plugin
// and this again reproduces dist/chart byte for byte; make test checks that.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// templatedArgs maps a manager flag, as config/manager writes it, to the argument
// the chart renders instead (values.yaml's manager.args are rendered with tpl).
// A flag that config/manager does not have is an error, so a renamed flag cannot
// silently lose its value.
var templatedArgs = map[string]string{
	"--leader-elect": `{{ if .Values.leaderElection.enabled }}--leader-elect` +
		`{{ else }}--leader-elect=false{{ end }}`,
	"--partner-api-url":            `--partner-api-url={{ include "partner-account-operator.partnerAPIURL" . }}`,
	"--partner-api-rps":            `--partner-api-rps={{ .Values.partnerAPI.requestsPerSecond }}`,
	"--partner-api-burst":          `--partner-api-burst={{ .Values.partnerAPI.burst }}`,
	"--resync-period":              `--resync-period={{ .Values.controller.readBackPeriod }}`,
	"--max-concurrent-reconciles":  `--max-concurrent-reconciles={{ .Values.controller.maxConcurrentReconciles }}`,
	"--activation-token-in-status": `--activation-token-in-status={{ .Values.controller.activationTokenInStatus }}`,
}

const argsComment = `  ## Arguments, each rendered with tpl. Those in quotes follow the values
  ## partnerAPI, controller and leaderElection below; set those, not these.
  ##
`

// tokenVolume is the partner token's volume in values.yaml's manager.extraVolumes,
// as the plugin writes it from config/manager; its Secret and key become values.
const (
	tokenVolume = `    - name: partner-api-token
      secret:
        items:
        - key: token
          path: token
        secretName: partner-api-token
`
	tokenVolumeTpl = `    - name: partner-api-token
      secret:
        items:
        - key: '{{ .Values.partnerAPI.tokenSecret.key }}'
          path: token
        secretName: '{{ .Values.partnerAPI.tokenSecret.name }}'
`
)

// The manager template renders extraVolumes with toYaml; through tpl, so that the
// token volume above can use values.
const (
	volumesToYaml    = "{{- toYaml .Values.manager.extraVolumes | nindent 8 }}"
	volumesToYamlTpl = "{{- tpl (toYaml .Values.manager.extraVolumes) $ | nindent 8 }}"
)

// copies are the files this adds to the chart, from the repository root: the
// chart cannot read files outside its directory.
var copies = map[string]string{
	"hack/chart/Chart.yaml":                                  "Chart.yaml",
	"hack/chart/templates/_partner-api.tpl":                  "templates/_partner-api.tpl",
	"hack/chart/templates/monitoring/prometheusrule.yaml":    "templates/monitoring/prometheusrule.yaml",
	"hack/chart/templates/monitoring/grafana-dashboard.yaml": "templates/monitoring/grafana-dashboard.yaml",
	"config/prometheus/prometheus_rule.yaml":                 "files/prometheus_rule.yaml",
	"config/grafana/partner-account-operator.json":           "files/partner-account-operator.json",
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go run ./hack/chart CHART_DIR MANIFESTS  (from the repository root)")
		os.Exit(2)
	}
	if err := finish(".", os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

func finish(root, chart, manifests string) error {
	valuesPath := filepath.Join(chart, "values.yaml")
	values, err := os.ReadFile(valuesPath)
	if err != nil {
		return err
	}
	replicas, err := managerReplicas(manifests)
	if err != nil {
		return err
	}
	extra, err := os.ReadFile(filepath.Join(root, "hack", "chart", "values.yaml"))
	if err != nil {
		return err
	}
	out, err := templateValues(string(values), replicas)
	if err != nil {
		return fmt.Errorf("%s: %w", valuesPath, err)
	}
	if err := os.WriteFile(valuesPath, []byte(out+string(extra)), 0o644); err != nil {
		return err
	}

	managerPath := filepath.Join(chart, "templates", "manager", "manager.yaml")
	manager, err := os.ReadFile(managerPath)
	if err != nil {
		return err
	}
	m, err := replaceOnce(string(manager), volumesToYaml, volumesToYamlTpl)
	if err != nil {
		return fmt.Errorf("%s: %w", managerPath, err)
	}
	if err := os.WriteFile(managerPath, []byte(m), 0o644); err != nil {
		return err
	}

	for from, to := range copies {
		data, err := os.ReadFile(filepath.Join(root, from))
		if err != nil {
			return err
		}
		dst := filepath.Join(chart, to)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// argLine is one item of values.yaml's manager.args, as the plugin writes it.
var argLine = regexp.MustCompile(`(?m)^    - (--[a-z0-9-]+)(=.*)?$`)

// replicasLine is values.yaml's manager.replicas. kubebuilder v4.16.0's plugin
// writes 1 whatever the Deployment says: it reads spec.replicas as an int64 from
// YAML decoded into int.
var replicasLine = regexp.MustCompile(`(?m)^  replicas: \d+$`)

func templateValues(values string, replicas int64) (string, error) {
	if n := len(replicasLine.FindAllString(values, -1)); n != 1 {
		return "", fmt.Errorf("found manager.replicas %d times, not once", n)
	}
	values = replicasLine.ReplaceAllString(values, fmt.Sprintf("  replicas: %d", replicas))

	start := strings.Index(values, "\n  args:\n")
	if start < 0 {
		return "", fmt.Errorf("no manager.args")
	}
	end := start + len("\n  args:\n")
	for end < len(values) && strings.HasPrefix(values[end:], "    - ") {
		end += strings.Index(values[end:], "\n") + 1
	}
	args := values[start:end]
	found := map[string]bool{}
	args = argLine.ReplaceAllStringFunc(args, func(line string) string {
		flag := argLine.FindStringSubmatch(line)[1]
		tpl, ok := templatedArgs[flag]
		if !ok {
			return line
		}
		found[flag] = true
		return "    - '" + tpl + "'"
	})
	for flag := range templatedArgs {
		if !found[flag] {
			return "", fmt.Errorf("manager.args has no %s: has config/manager changed? Update hack/chart/main.go", flag)
		}
	}
	values = values[:start] + args + values[end:]
	values, err := replaceOnce(values, "  ## Arguments\n  ##\n", argsComment)
	if err != nil {
		return "", err
	}
	return replaceOnce(values, tokenVolume, tokenVolumeTpl)
}

// managerReplicas reads the manager Deployment's replicas from the manifests.
func managerReplicas(manifests string) (int64, error) {
	f, err := os.Open(manifests)
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	d := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
			Spec struct {
				Replicas *int64 `json:"replicas"`
			} `json:"spec"`
		}
		if err := d.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return 0, fmt.Errorf("%s: no Deployment labelled control-plane: controller-manager", manifests)
			}
			return 0, fmt.Errorf("%s: %w", manifests, err)
		}
		if obj.Kind == "Deployment" && obj.Metadata.Labels["control-plane"] == "controller-manager" {
			if obj.Spec.Replicas == nil {
				return 1, nil
			}
			return *obj.Spec.Replicas, nil
		}
	}
}

func replaceOnce(s, old, replacement string) (string, error) {
	if n := strings.Count(s, old); n != 1 {
		return "", fmt.Errorf("found %q %d times, not once: has the helm plugin's output changed? "+
			"Update hack/chart/main.go", old, n)
	}
	return strings.Replace(s, old, replacement, 1), nil
}
