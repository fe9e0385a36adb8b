package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The repository's own rules and dashboard, from this module's directory.
var (
	repoRoot      = filepath.Join("..", "..", "..")
	ruleFile      = filepath.Join(repoRoot, "config", "prometheus", "prometheus_rule.yaml")
	dashboardFile = filepath.Join(repoRoot, "config", "grafana", "partner-account-operator.json")
	metricsDoc    = filepath.Join(repoRoot, "docs", "metrics.md")
)

// TestQueriedMetricsAreDocumented holds docs/metrics.md to what the alerts and
// the dashboard use. Whether the operator serves them is the end-to-end suite's
// check, against a running operator.
func TestQueriedMetricsAreDocumented(t *testing.T) {
	names, err := fromFiles([]string{ruleFile, dashboardFile})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(metricsDoc)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base = strings.TrimSuffix(base, suffix)
		}
		if !strings.Contains(string(doc), "`"+base+"`") {
			t.Errorf("%s is queried but docs/metrics.md does not name `%s`", name, base)
		}
	}
}

type panel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource map[string]any           `json:"datasource"`
	GridPos    struct{ H, W, X, Y int } `json:"gridPos"`
	Targets    []struct {
		Datasource map[string]any `json:"datasource"`
		Expr       string         `json:"expr"`
		RefID      string         `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// TestDashboardLayout checks what Grafana would not complain about but a reader
// would: the panels the issue asks for, every query on the dashboard's data source
// variable, and panels that neither overlap nor leave the 24-column grid.
func TestDashboardLayout(t *testing.T) {
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		UID    string  `json:"uid"`
		Title  string  `json:"title"`
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(data, &dashboard); err != nil {
		t.Fatal(err)
	}
	if dashboard.UID == "" || dashboard.Title == "" {
		t.Error("the dashboard needs a uid and a title")
	}
	var all []panel
	for _, p := range dashboard.Panels {
		all = append(all, p)
		all = append(all, p.Panels...)
	}
	ids := map[int]bool{}
	titles := map[string]bool{}
	type cell struct{ x, y int }
	used := map[cell]string{}
	for _, p := range all {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		titles[p.Title] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v is off the 24-column grid", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := used[cell{x, y}]; ok {
					t.Errorf("panel %q overlaps %q at %d,%d", p.Title, other, x, y)
				}
				used[cell{x, y}] = p.Title
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource["uid"] != "${datasource}" {
			t.Errorf("panel %q: datasource %v, want uid ${datasource}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			if target.Datasource["uid"] != "${datasource}" || target.Expr == "" || target.RefID == "" {
				t.Errorf("panel %q: target %+v needs the ${datasource} uid, an expr and a refId", p.Title, target)
			}
		}
	}
	for _, want := range []string{
		"Accounts by Ready status and reason",
		"Remote accounts by status",
		"Time from creation to first Ready",
		"API calls by connection, operation and code",
		"Time from account to signup",
		"Signup detection lag",
		"Entitled accounts by age",
		"Drifted accounts by field",
		"Rate-limiter wait",
		"Reconcile errors",
	} {
		if !titles[want] {
			t.Errorf("no panel %q", want)
		}
	}
}
