// Command rulefile prints the spec of a PrometheusRule, which is a Prometheus
// rule file, so that promtool can check and test the rules that the
// prometheus-operator would load.
//
//	rulefile config/prometheus/prometheus_rule.yaml > rules.yaml
package main

import (
	"errors"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: rulefile PROMETHEUSRULE.yaml")
		os.Exit(2)
	}
	out, err := ruleFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "rulefile:", err)
		os.Exit(1)
	}
	if _, err := os.Stdout.Write(out); err != nil {
		fmt.Fprintln(os.Stderr, "rulefile:", err)
		os.Exit(1)
	}
}

func ruleFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rule struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Spec       map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &rule); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if rule.APIVersion != "monitoring.coreos.com/v1" || rule.Kind != "PrometheusRule" {
		return nil, fmt.Errorf("%s: a %s %s, not a monitoring.coreos.com/v1 PrometheusRule", path, rule.APIVersion, rule.Kind)
	}
	if len(rule.Spec) == 0 {
		return nil, errors.New(path + ": the PrometheusRule has no spec")
	}
	return yaml.Marshal(rule.Spec)
}
