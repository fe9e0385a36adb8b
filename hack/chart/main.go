// Command chart finishes the Helm chart that kubebuilder's helm/v2-alpha plugin
// generates from config/ (make chart runs both). The plugin moves the manager's
// arguments, volumes and affinity into values.yaml as literals; this makes the
// arguments follow the chart's own values, keeps the token volume and the default
// affinity in the Deployment's template (so that the values extraVolumes,
// extraVolumeMounts, extraArgs and affinity add to them or replace only what they
// name), makes the PodDisruptionBudget depend on manager.replicas, removes values
// that did nothing (webhook, certManager, rbac.namespaced), and adds what
// config/default does not install: the partner API's CA bundle, the metrics
// readers' binding, the alerts, the dashboard, NOTES.txt and the helpers that turn
// values into arguments.
//
//	go run ./hack/chart CHART_DIR MANIFESTS
//
// MANIFESTS is the kustomize output the plugin read.
//
// Everything it writes comes from config/ and hack/chart/, so running the plugin
// and this again reproduces dist/chart byte for byte; make test checks that. Each
// edit expects the plugin's output exactly, and fails when it has changed.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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
	"--partner-api-timeout":        `--partner-api-timeout={{ .Values.partnerAPI.timeout }}`,
	"--resync-period":              `--resync-period={{ .Values.controller.readBackPeriod }}`,
	"--max-concurrent-reconciles":  `--max-concurrent-reconciles={{ .Values.controller.maxConcurrentReconciles }}`,
	"--activation-token-in-status": `--activation-token-in-status={{ .Values.controller.activationTokenInStatus }}`,
	"--default-deletion-policy":    `--default-deletion-policy={{ .Values.controller.defaultDeletionPolicy }}`,
	"--zap-encoder":                `--zap-encoder={{ include "partner-account-operator.logFormat" . }}`,
	"--zap-log-level":              `--zap-log-level={{ include "partner-account-operator.logLevel" . }}`,
}

const argsComment = `  ## The chart's arguments, each rendered with tpl. Those in quotes follow the
  ## values partnerAPI, controller, leaderElection, logLevel and logFormat: set
  ## those, not these. Add your own with extraArgs below, which keeps these.
  ##
`

// afterArgs follows manager.args in values.yaml: the values the chart adds to the
// manager's.
const afterArgs = `
  ## More arguments, after the chart's own (the last of a flag given twice wins),
  ## e.g. [--pprof-bind-address=127.0.0.1:6060]
  ##
  extraArgs: []

  ## Log level: debug, info, error, or a number above 0 for more than debug
  ## (--zap-log-level). The operator caps it below the level at which client-go
  ## would log request bodies.
  ##
  logLevel: info

  ## Log format: json, one object a line, or console, for a terminal (--zap-encoder)
  ##
  logFormat: json
`

// replicasComment documents manager.replicas, which the plugin leaves bare.
const replicasComment = `  ## Replicas: one leads (leaderElection), the others take over when it goes.
  ## Above 1, a PodDisruptionBudget keeps one running through node drains.
  ##
`

// The partner token's volume and mount, as the plugin writes them into values.yaml's
// manager.extraVolumes and extraVolumeMounts from config/manager. They move into
// the Deployment's template, the Secret and key following partnerAPI.tokenSecret,
// so that the extra volumes of the values add to them.
const (
	tokenVolumeValues = `  ## Extra volumes and volume mounts
  ##
  extraVolumes:
    - name: partner-api-token
      secret:
        items:
        - key: token
          path: token
        secretName: partner-api-token

  extraVolumeMounts:
    - mountPath: /var/run/secrets/partnerbilling.io
      name: partner-api-token
      readOnly: true
`
	extraVolumesValues = `  ## Extra volumes and volume mounts, after the chart's own: the partner token's
  ## Secret (partnerAPI.tokenSecret) at /var/run/secrets/partnerbilling.io and,
  ## with partnerAPI.caBundle, its ConfigMap at /etc/partner-api-ca.
  ##
  extraVolumes: []

  extraVolumeMounts: []
`
	volumeMountsTemplate = `        volumeMounts:
          {{- if .Values.manager.extraVolumeMounts }}
          {{- toYaml .Values.manager.extraVolumeMounts | nindent 10 }}
          {{- else }}
          []
          {{- end }}
`
	volumeMountsTemplateNew = `        volumeMounts:
        - mountPath: /var/run/secrets/partnerbilling.io
          name: partner-api-token
          readOnly: true
        {{- if .Values.partnerAPI.caBundle }}
        - mountPath: {{ include "partner-account-operator.partnerAPICADir" . }}
          name: partner-api-ca
          readOnly: true
        {{- end }}
        {{- with .Values.manager.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
`
	volumesTemplate = `      volumes:
        {{- if .Values.manager.extraVolumes }}
        {{- toYaml .Values.manager.extraVolumes | nindent 8 }}
        {{- else }}
        []
        {{- end }}
`
	volumesTemplateNew = `      volumes:
      - name: partner-api-token
        secret:
          items:
          - key: {{ .Values.partnerAPI.tokenSecret.key | quote }}
            path: token
          secretName: {{ .Values.partnerAPI.tokenSecret.name | quote }}
      {{- if .Values.partnerAPI.caBundle }}
      - name: partner-api-ca
        configMap:
          name: {{ include "partner-account-operator.partnerAPICAConfigMap" . }}
      {{- end }}
      {{- with .Values.manager.extraVolumes }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
`
)

// The arguments the values turn on, and extraArgs, after manager.args.
const (
	argsTemplate = `        {{- range .Values.manager.args }}
        - {{ tpl . $ }}
        {{- end }}
`
	argsTemplateNew = argsTemplate + `        {{- if .Values.partnerAPI.allowInsecureHTTP }}
        - --partner-api-allow-insecure-http
        {{- end }}
        {{- if .Values.partnerAPI.caBundle }}
        - --partner-api-ca-file={{ include "partner-account-operator.partnerAPICADir" . }}/ca.crt
        {{- end }}
        {{- range .Values.manager.extraArgs }}
        - {{ . | quote }}
        {{- end }}
`
)

// The pod's annotations: a changed CA bundle rolls the pods, as the operator reads
// it when it starts.
const (
	podAnnotations    = "        kubectl.kubernetes.io/default-container: manager\n"
	podAnnotationsNew = podAnnotations + `        {{- with .Values.partnerAPI.caBundle }}
        checksum/partner-api-ca: {{ sha256sum . }}
        {{- end }}
`
)

// The manager template's first line, before which the check of removed values goes,
// so that it runs whatever manager.enabled says.
const (
	managerFirst    = "{{- if or (not (hasKey .Values.manager \"enabled\")) (.Values.manager.enabled) }}\n"
	managerFirstNew = "{{- include \"partner-account-operator.removedValues\" . }}\n" + managerFirst
)

// affinityTemplate is how the plugin renders manager.affinity. The chart renders
// the affinity of config/manager instead when the value is empty.
const (
	affinityTemplate = `      {{- with .Values.manager.affinity }}
      affinity: {{ toYaml . | nindent 10 }}
      {{- end }}
`
	affinityTemplateNew = `      affinity:
        {{- if .Values.manager.affinity }}
        {{- toYaml .Values.manager.affinity | nindent 8 }}
        {{- else }}
%s        {{- end }}
`
	affinityComment = `  ## Manager pod's affinity. Empty: the replicas on different nodes where the
  ## scheduler can (a preferred pod anti-affinity on kubernetes.io/hostname).
  ## Set, it replaces that.
  ##
  affinity: {}
`
)

// nameLabel is the app.kubernetes.io/name label in the affinity's selector, whose
// value the chart takes from its name, as the Deployment's selector does.
var nameLabel = regexp.MustCompile(`(?m)^(\s+app\.kubernetes\.io/name: )\S+$`)

// The values that did nothing or broke the install, as the plugin writes them.
// The templates fail when they are set to true (templates/_values.tpl).
var removedValues = []string{
	`  ## RBAC resource scope
  ## - false (default): ClusterRole/ClusterRoleBinding (all namespaces)
  ## - true: Role/RoleBinding (release namespace only)
  ##
  namespaced: false

`,
	`## Cert-manager integration for TLS certificates.
## Required for webhook certificates and metrics endpoint certificates.
##
certManager:
  enabled: false

`,
	`## Webhook server configuration
##
webhook:
  enabled: false
  # Webhook server port
  port: 9443

`,
}

// The metrics values, to which metrics.readers is added.
const (
	metricsValues = `  # Enable secure metrics: HTTPS with certs/auth (true) or HTTP (false).
  # Note: Metrics authn/authz needs ClusterRole access.
  secure: true
`
	metricsValuesNew = `  # Enable secure metrics: HTTPS with a ServiceAccount token (true) or HTTP (false).
  secure: true

  ## ServiceAccounts that may read the metrics, bound to the metrics-reader
  ## ClusterRole: add your Prometheus's, or its scrapes are refused with 403.
  ## e.g. [{name: prometheus-k8s, namespace: monitoring}]
  ##
  readers: []
`
)

// The ServiceMonitor's TLS: certManager.enabled pointed it at a Secret that nothing
// creates. The operator serves a self-signed certificate.
const (
	monitorTLS = `      {{- if .Values.certManager.enabled }}
      ca:
        secret:
          name: metrics-server-cert
          key: ca.crt
      cert:
        secret:
          name: metrics-server-cert
          key: tls.crt
      keySecret:
        name: metrics-server-cert
        key: tls.key
      {{- else }}
      insecureSkipVerify: true
      {{- end }}
`
	monitorTLSNew = `      # The operator's certificate is self-signed; what lets Prometheus in is its
      # ServiceAccount's token, once the ServiceAccount is in metrics.readers.
      insecureSkipVerify: true
`
)

// The PodDisruptionBudget of config/manager, which the plugin puts among its extras;
// it moves beside the Deployment and is rendered only when manager.replicas > 1.
const (
	extrasPDB  = "templates/extras/controller-manager.yaml"
	managerPDB = "templates/manager/pod-disruption-budget.yaml"
	pdbKind    = "apiVersion: policy/v1\nkind: PodDisruptionBudget\n"
	pdbIf      = `{{- if and (or (not (hasKey .Values.manager "enabled")) .Values.manager.enabled)` +
		` (gt (int .Values.manager.replicas) 1) }}` + "\n"
)

// copies are the files this adds to the chart, from the repository root: the
// chart cannot read files outside its directory.
var copies = map[string]string{
	"hack/chart/Chart.yaml":                                     "Chart.yaml",
	"hack/chart/templates/NOTES.txt":                            "templates/NOTES.txt",
	"hack/chart/templates/_partner-api.tpl":                     "templates/_partner-api.tpl",
	"hack/chart/templates/_values.tpl":                          "templates/_values.tpl",
	"hack/chart/templates/manager/partner-api-ca.yaml":          "templates/manager/partner-api-ca.yaml",
	"hack/chart/templates/connections/partner-connections.yaml": "templates/connections/partner-connections.yaml",
	"hack/chart/templates/rbac/metrics-reader-rolebinding.yaml": "templates/rbac/metrics-reader-rolebinding.yaml",
	"hack/chart/templates/monitoring/prometheusrule.yaml":       "templates/monitoring/prometheusrule.yaml",
	"hack/chart/templates/monitoring/grafana-dashboard.yaml":    "templates/monitoring/grafana-dashboard.yaml",
	"config/prometheus/prometheus_rule.yaml":                    "files/prometheus_rule.yaml",
	"config/grafana/partner-account-operator.json":              "files/partner-account-operator.json",
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
	replicas, err := managerReplicas(manifests)
	if err != nil {
		return err
	}
	extra, err := os.ReadFile(filepath.Join(root, "hack", "chart", "values.yaml"))
	if err != nil {
		return err
	}
	var affinity string
	if err := edit(filepath.Join(chart, "values.yaml"), func(values string) (string, error) {
		out, a, err := templateValues(values, replicas)
		affinity = a
		return out + string(extra), err
	}); err != nil {
		return err
	}
	if err := edit(filepath.Join(chart, "templates", "manager", "manager.yaml"), func(m string) (string, error) {
		return templateManager(m, affinity)
	}); err != nil {
		return err
	}
	if err := edit(filepath.Join(chart, "templates", "prometheus", "controller-manager-metrics-monitor.yaml"),
		func(m string) (string, error) { return replaceOnce(m, monitorTLS, monitorTLSNew) }); err != nil {
		return err
	}
	rbac, err := filepath.Glob(filepath.Join(chart, "templates", "rbac", "*.yaml"))
	if err != nil {
		return err
	}
	for _, path := range rbac {
		if err := edit(path, clusterScoped); err != nil {
			return err
		}
	}
	if err := movePDB(chart); err != nil {
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

// edit rewrites the file at path with f.
func edit(path string, f func(string) (string, error)) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := f(string(data))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

// argLine is one item of values.yaml's manager.args, as the plugin writes it.
var argLine = regexp.MustCompile(`(?m)^    - (--[a-z0-9-]+)(=.*)?$`)

// replicasLine is values.yaml's manager.replicas. kubebuilder v4.16.0's plugin
// writes 1 whatever the Deployment says: it reads spec.replicas as an int64 from
// YAML decoded into int.
var replicasLine = regexp.MustCompile(`(?m)^  replicas: \d+\n`)

// templateValues edits the plugin's values.yaml, and returns the affinity it held,
// which goes into the Deployment's template as the default.
func templateValues(values string, replicas int64) (string, string, error) {
	if n := len(replicasLine.FindAllString(values, -1)); n != 1 {
		return "", "", fmt.Errorf("found manager.replicas %d times, not once", n)
	}
	values = replicasLine.ReplaceAllString(values, fmt.Sprintf("%s  replicas: %d\n", replicasComment, replicas))

	start := strings.Index(values, "\n  args:\n")
	if start < 0 {
		return "", "", errors.New("no manager.args")
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
	var missing []string
	for flag := range templatedArgs {
		if !found[flag] {
			missing = append(missing, flag)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return "", "", fmt.Errorf("manager.args has no %s: has config/manager changed? Update hack/chart/main.go",
			strings.Join(missing, ", "))
	}
	values = values[:start] + args + afterArgs + values[end:]

	values, err := replaceOnce(values, "  ## Arguments\n  ##\n", argsComment)
	if err != nil {
		return "", "", err
	}
	if values, err = replaceOnce(values, tokenVolumeValues, extraVolumesValues); err != nil {
		return "", "", err
	}
	var affinity string
	if values, affinity, err = cutAffinity(values); err != nil {
		return "", "", err
	}
	for _, removed := range removedValues {
		if values, err = replaceOnce(values, removed, ""); err != nil {
			return "", "", err
		}
	}
	values, err = replaceOnce(values, metricsValues, metricsValuesNew)
	return values, affinity, err
}

// cutAffinity replaces manager.affinity in values.yaml, which the plugin fills
// from config/manager, with {} and returns what it held.
func cutAffinity(values string) (string, string, error) {
	const head = "  ## Manager pod's affinity\n  ##\n  affinity:\n"
	if n := strings.Count(values, head); n != 1 {
		return "", "", fmt.Errorf("found manager.affinity %d times, not once: has config/manager lost its affinity? "+
			"Update hack/chart/main.go", n)
	}
	start := strings.Index(values, head)
	end := start + len(head)
	for end < len(values) && strings.HasPrefix(values[end:], "    ") {
		end += strings.Index(values[end:], "\n") + 1
	}
	affinity := values[start+len(head) : end]
	if affinity == "" {
		return "", "", errors.New("manager.affinity is empty: config/manager's affinity is the chart's default")
	}
	return values[:start] + affinityComment + values[end:], affinity, nil
}

// templateManager edits the plugin's Deployment template; affinity is the default
// affinity, as values.yaml held it.
func templateManager(m, affinity string) (string, error) {
	if n := len(nameLabel.FindAllString(affinity, -1)); n != 1 {
		return "", fmt.Errorf("the affinity has %d app.kubernetes.io/name labels, not one:\n%s", n, affinity)
	}
	affinity = nameLabel.ReplaceAllString(affinity, `${1}{{ include "partner-account-operator.name" . }}`)
	var indented strings.Builder
	for line := range strings.Lines(affinity) {
		indented.WriteString("    " + line)
	}
	var err error
	for _, r := range [][2]string{
		{managerFirst, managerFirstNew},
		{podAnnotations, podAnnotationsNew},
		{affinityTemplate, fmt.Sprintf(affinityTemplateNew, indented.String())},
		{argsTemplate, argsTemplateNew},
		{volumeMountsTemplate, volumeMountsTemplateNew},
		{volumesTemplate, volumesTemplateNew},
	} {
		if m, err = replaceOnce(m, r[0], r[1]); err != nil {
			return "", err
		}
	}
	return m, nil
}

// namespacedIf opens the plugin's rbac.namespaced branches in the RBAC templates.
const namespacedIf = "{{- if .Values.rbac.namespaced }}"

// clusterScoped keeps the cluster-wide side of each rbac.namespaced branch of an
// RBAC template: the operator watches every namespace.
func clusterScoped(tpl string) (string, error) {
	var out strings.Builder
	// state: 0 outside a branch, 1 in its namespaced side, 2 in its cluster-wide side
	state := 0
	for line := range strings.Lines(tpl) {
		t := strings.TrimSpace(line)
		switch {
		case t == namespacedIf:
			if state != 0 {
				return "", errors.New("nested rbac.namespaced branches")
			}
			state = 1
		case state != 0 && t == "{{- else }}":
			state = 2
		case state != 0 && t == "{{- end }}":
			state = 0
		case state != 0 && strings.HasPrefix(t, "{{"):
			return "", fmt.Errorf("unexpected template action in an rbac.namespaced branch: %s", t)
		case state == 1:
		default:
			out.WriteString(line)
		}
	}
	if state != 0 {
		return "", errors.New("an rbac.namespaced branch has no end")
	}
	if strings.Contains(out.String(), "rbac.namespaced") {
		return "", errors.New("rbac.namespaced is still there")
	}
	return out.String(), nil
}

// movePDB moves config/manager's PodDisruptionBudget from the plugin's extras,
// which must hold nothing else, beside the Deployment, rendered only when there
// is more than one replica.
func movePDB(chart string) error {
	extras := filepath.Join(chart, "templates", "extras")
	entries, err := os.ReadDir(extras)
	if err != nil {
		return fmt.Errorf("no PodDisruptionBudget from config/manager: %w", err)
	}
	if len(entries) != 1 || entries[0].Name() != filepath.Base(extrasPDB) {
		held := make([]string, 0, len(entries))
		for _, e := range entries {
			held = append(held, e.Name())
		}
		return fmt.Errorf("%s holds %v: expected only the PodDisruptionBudget; update hack/chart/main.go", extras, held)
	}
	pdb, err := os.ReadFile(filepath.Join(chart, extrasPDB))
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(pdb), pdbKind) {
		return fmt.Errorf("%s is not a PodDisruptionBudget", extrasPDB)
	}
	out := pdbIf + strings.TrimSuffix(string(pdb), "\n") + "\n{{- end }}\n"
	if err := os.WriteFile(filepath.Join(chart, managerPDB), []byte(out), 0o644); err != nil {
		return err
	}
	return os.RemoveAll(extras)
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
