package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func write(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDashboard(t *testing.T) {
	path := write(t, "d.json", `{
	  "panels": [
	    {"type": "row", "title": "r", "panels": [
	      {"title": "nested", "targets": [{"expr": "sum(rate(a_total{namespace=~\"$namespace\"}[$__rate_interval]))"}]}
	    ]},
	    {"title": "p", "targets": [
	      {"expr": "histogram_quantile(0.9, sum by (le) (rate(b_seconds_bucket[${__interval}])))"},
	      {"expr": "c / on() group_left d"}
	    ]}
	  ],
	  "templating": {"list": [
	    {"name": "datasource", "type": "datasource", "query": "prometheus"},
	    {"name": "namespace", "type": "query", "query": {"query": "label_values(e{job=\"x\"}, namespace)"}},
	    {"name": "job", "type": "query", "query": "label_values(job)"},
	    {"name": "q", "type": "query", "query": "query_result(max(f))"}
	  ]}
	}`)
	got, err := fromFiles([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a_total", "b_seconds_bucket", "c", "d", "e", "f"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestRules(t *testing.T) {
	rule := write(t, "rule.yaml", `apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: x}
spec:
  groups:
  - name: g
    rules:
    - alert: A
      expr: absent(up{job="x"} == 1) or rate(x_total[5m]) > 0
    - record: job:y:sum
      expr: sum by (job) (y)
`)
	plain := write(t, "plain.yaml", `groups:
- name: g
  rules:
  - alert: B
    expr: z > 1
`)
	got, err := fromFiles([]string{rule, plain})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"up", "x_total", "y", "z"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestErrors(t *testing.T) {
	for name, tc := range map[string]struct{ file, content, want string }{
		"unparsable query": {"d.json",
			`{"panels": [{"title": "bad", "targets": [{"expr": "sum(rate(x[5m])"}]}]}`, `panel "bad"`},
		"unknown macro": {"d.json",
			`{"panels": [{"title": "m", "targets": [{"expr": "rate(x[$interval])"}]}]}`, `panel "m"`},
		"no metric name": {"d.json",
			`{"panels": [{"title": "n", "targets": [{"expr": "{__name__=~\"x.*\"}"}]}]}`, "no metric name"},
		"no queries": {"d.json", `{"panels": []}`, "no queries"},
		"odd variable": {"d.json", `{"panels": [{"targets": [{"expr": "x"}]}], ` +
			`"templating": {"list": [{"name": "v", "type": "query", "query": "metrics(x)"}]}}`, "variable v"},
		"rule without expr": {"r.yaml", "groups:\n- name: g\n  rules:\n  - alert: A\n", "A has no expr"},
		"not a rule":        {"r.yaml", "groups:\n- name: g\n  rules:\n  - expr: x\n", "neither an alert"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := fromFiles([]string{write(t, tc.file, tc.content)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
