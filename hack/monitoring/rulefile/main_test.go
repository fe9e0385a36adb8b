package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRuleFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	out, err := ruleFile(write("rule.yaml", `apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: x}
spec:
  groups:
  - name: g
    rules:
    - alert: A
      expr: up == 0
`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n"; string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}

	for name, content := range map[string]string{
		"a rule file":   "groups: []\n",
		"another kind":  "apiVersion: v1\nkind: ConfigMap\n",
		"no spec":       "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\n",
		"not even YAML": "{",
	} {
		if _, err := ruleFile(write("bad.yaml", content)); err == nil || !strings.Contains(err.Error(), "bad.yaml") {
			t.Errorf("%s: got error %v, want one naming the file", name, err)
		}
	}
}
