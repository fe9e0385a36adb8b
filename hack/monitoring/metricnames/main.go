// Command metricnames prints, one a line and sorted, the name of every metric
// that the given alert rules and Grafana dashboards query. The end-to-end suite
// compares the list with what the operator serves on /metrics, so that a renamed
// metric cannot leave a panel empty or an alert silent.
//
//	metricnames config/prometheus/prometheus_rule.yaml config/grafana/*.json
//
// A .json file is a Grafana dashboard: every "expr" in it (panel targets, rows
// included) and every Prometheus query variable is read. Any other file is YAML:
// a PrometheusRule, or a Prometheus rule file. Names come from the PromQL parser,
// so histogram series appear as queried (..._bucket, ..._sum, ..._count). A query
// that does not parse, or a selector without a literal metric name, is an error.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: metricnames FILE...  (PrometheusRule or rule file YAML, Grafana dashboard JSON)")
		os.Exit(2)
	}
	names, err := fromFiles(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "metricnames:", err)
		os.Exit(1)
	}
	for _, n := range names {
		fmt.Println(n)
	}
}

// query is one PromQL expression and where it was found, for error messages.
type query struct {
	where string
	expr  string
}

func fromFiles(paths []string) ([]string, error) {
	seen := map[string]bool{}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var queries []query
		if filepath.Ext(path) == ".json" {
			queries, err = dashboardQueries(data)
		} else {
			queries, err = ruleQueries(data)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(queries) == 0 {
			return nil, fmt.Errorf("%s: no queries found", path)
		}
		for _, q := range queries {
			names, err := metricNames(q.expr)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", path, q.where, err)
			}
			for _, n := range names {
				seen[n] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

type ruleGroups struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert  string `json:"alert"`
			Record string `json:"record"`
			Expr   string `json:"expr"`
		} `json:"rules"`
	} `json:"groups"`
}

// ruleQueries reads a PrometheusRule (its spec holds the groups) or a plain
// Prometheus rule file.
func ruleQueries(data []byte) ([]query, error) {
	var doc struct {
		Kind string     `json:"kind"`
		Spec ruleGroups `json:"spec"`
		ruleGroups
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	groups := doc.ruleGroups
	if doc.Kind == "PrometheusRule" {
		groups = doc.Spec
	}
	var queries []query
	for _, g := range groups.Groups {
		for i, r := range g.Rules {
			name := r.Alert + r.Record
			if name == "" {
				return nil, fmt.Errorf("group %s: rule %d is neither an alert nor a recording rule", g.Name, i)
			}
			if strings.TrimSpace(r.Expr) == "" {
				return nil, fmt.Errorf("group %s: %s has no expr", g.Name, name)
			}
			queries = append(queries, query{where: "group " + g.Name + ": " + name, expr: r.Expr})
		}
	}
	return queries, nil
}

// dashboardQueries walks a Grafana dashboard for the "expr" of each target and
// the query of each Prometheus query variable.
func dashboardQueries(data []byte) ([]query, error) {
	var dashboard map[string]any
	if err := json.Unmarshal(data, &dashboard); err != nil {
		return nil, err
	}
	var queries []query
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if title, ok := v["title"].(string); ok && title != "" {
				where = title
			}
			for k, child := range v {
				if s, ok := child.(string); ok && k == "expr" {
					queries = append(queries, query{where: fmt.Sprintf("panel %q", where), expr: s})
					continue
				}
				walk(where, child)
			}
		case []any:
			for _, child := range v {
				walk(where, child)
			}
		}
	}
	walk("", dashboard["panels"])

	templating, _ := dashboard["templating"].(map[string]any)
	variables, _ := templating["list"].([]any)
	for _, v := range variables {
		variable, _ := v.(map[string]any)
		if variable["type"] != "query" {
			continue
		}
		q := variable["query"]
		if m, ok := q.(map[string]any); ok {
			q = m["query"]
		}
		s, _ := q.(string)
		expr, err := variableExpr(s)
		if err != nil {
			return nil, fmt.Errorf("variable %v: %w", variable["name"], err)
		}
		if expr != "" {
			queries = append(queries, query{where: fmt.Sprintf("variable %v", variable["name"]), expr: expr})
		}
	}
	return queries, nil
}

var (
	labelValuesWithMetric = regexp.MustCompile(`^\s*label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)
	labelValuesAlone      = regexp.MustCompile(`^\s*label_values\(\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)
	queryResult           = regexp.MustCompile(`^\s*query_result\((.+)\)\s*$`)
)

// variableExpr returns the PromQL in a Grafana Prometheus variable query, or ""
// when it names no metric (label_values(label)).
func variableExpr(q string) (string, error) {
	switch {
	case labelValuesAlone.MatchString(q):
		return "", nil
	case labelValuesWithMetric.MatchString(q):
		return labelValuesWithMetric.FindStringSubmatch(q)[1], nil
	case queryResult.MatchString(q):
		return queryResult.FindStringSubmatch(q)[1], nil
	}
	return "", fmt.Errorf("query %q is neither label_values(...) nor query_result(...)", q)
}

// grafanaRange matches Grafana's interval macros, which are durations once
// Grafana has replaced them.
var grafanaRange = regexp.MustCompile(`\$\{?__(rate_interval|interval|range)\}?`)

var promql = parser.NewParser(parser.Options{})

func metricNames(expr string) ([]string, error) {
	e, err := promql.ParseExpr(grafanaRange.ReplaceAllString(expr, "5m"))
	if err != nil {
		return nil, err
	}
	var names []string
	var errs []error
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			if vs.Name == "" {
				errs = append(errs, fmt.Errorf("selector %s has no metric name", vs))
			}
			names = append(names, vs.Name)
		}
		return nil
	})
	if len(names) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("queries no metric"))
	}
	return names, errors.Join(errs...)
}
