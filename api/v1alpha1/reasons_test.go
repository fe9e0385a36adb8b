package v1alpha1

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// repoFile reads a file of the repository, from this package's directory.
func repoFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReasonTableIsWhole checks that every reason has a meaning that holds
// together: what kstatus, the alerts and Argo CD make of it agree.
func TestReasonTableIsWhole(t *testing.T) {
	for reason, info := range Reasons {
		t.Run(reason, func(t *testing.T) {
			switch {
			case info.Ready == "" || info.Retry == "" || info.Alert == "" || info.Health == "":
				t.Errorf("incomplete: %+v", info)
			case info.Stalled && (info.Retry != RetryOnChange || info.Alert != AlertStalled || info.Health != HealthDegraded):
				t.Errorf("a Stalled reason is retried only on a change, counted by %s and Degraded: %+v", AlertStalled, info)
			case info.Ready == metav1.ConditionTrue && (info.Warning || info.Alert != AlertNone || info.Health != HealthHealthy):
				t.Errorf("a Ready reason warns of nothing and is Healthy: %+v", info)
			case info.Ready == metav1.ConditionFalse && !info.Warning:
				t.Errorf("a failure records no Warning event: %+v", info)
			case info.Ready == metav1.ConditionFalse && info.Alert == AlertNone:
				t.Errorf("no alert counts a failure: %+v", info)
			case info.Reconciling && info.Health != HealthProgressing:
				t.Errorf("Reconciling=True is Progressing for Argo CD: %+v", info)
			}
		})
	}
}

// readmeReasons are the rows of the README's table of reasons: the Ready status
// each reason is listed under, and whether the row says Stalled=True.
func readmeReasons(t *testing.T) map[string]struct {
	ready   string
	stalled bool
} {
	t.Helper()
	readme := repoFile(t, "README.md")
	start := strings.Index(readme, "| Ready | reason |")
	if start < 0 {
		t.Fatal("README.md has no table of reasons")
	}
	quoted := regexp.MustCompile("`([A-Za-z]+)`")
	rows := map[string]struct {
		ready   string
		stalled bool
	}{}
	for _, line := range strings.Split(readme[start:], "\n")[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			t.Fatalf("README.md: a row of the table of reasons has too few cells: %q", line)
		}
		ready, names := strings.TrimSpace(cells[1]), cells[2]
		for _, m := range quoted.FindAllStringSubmatch(names, -1) {
			if m[1] == "Stalled" || m[1] == "Reconciling" {
				continue
			}
			if _, dup := rows[m[1]]; dup {
				t.Errorf("README.md lists %s twice", m[1])
			}
			rows[m[1]] = struct {
				ready   string
				stalled bool
			}{ready, strings.Contains(names, "`Stalled=True`")}
		}
	}
	return rows
}

// TestReadmeAgreesWithTheReasonTable checks that the README lists every reason,
// and only those, under the Ready status the table gives, with Stalled=True where
// the table says so.
func TestReadmeAgreesWithTheReasonTable(t *testing.T) {
	rows := readmeReasons(t)
	for reason, info := range Reasons {
		row, ok := rows[reason]
		switch {
		case !ok:
			t.Errorf("README.md does not list %s", reason)
		case row.ready != string(info.Ready):
			t.Errorf("README.md lists %s under Ready=%s, the table says %s", reason, row.ready, info.Ready)
		case row.stalled != info.Stalled:
			t.Errorf("README.md says Stalled=True of %s: %v; the table: %v", reason, row.stalled, info.Stalled)
		}
	}
	for reason := range rows {
		if _, ok := Reasons[reason]; !ok {
			t.Errorf("README.md lists %s, which is not a reason", reason)
		}
	}
}

// reasonsOf returns the set of reasons Alert a counts, and of those with Ready
// status ready when ready is not empty.
func reasonsOf(a Alert) map[string]bool {
	out := map[string]bool{}
	for reason, info := range Reasons {
		if info.Alert == a {
			out[reason] = true
		}
	}
	return out
}

// setOf splits a PromQL alternation ("A|B|C") or a list of quoted names.
func setOf(alternation string) map[string]bool {
	out := map[string]bool{}
	for r := range strings.SplitSeq(alternation, "|") {
		out[strings.TrimSpace(r)] = true
	}
	return out
}

// union is the union of sets.
func union(sets ...map[string]bool) map[string]bool {
	out := map[string]bool{}
	for _, s := range sets {
		for k := range s {
			out[k] = true
		}
	}
	return out
}

// alertMatchers returns, for each alert of the PrometheusRule, the reason matchers
// of its expression: operator (=~, !~ or =) to the set of reasons.
func alertMatchers(t *testing.T) map[string]map[string]map[string]bool {
	t.Helper()
	rules := repoFile(t, "config/prometheus/prometheus_rule.yaml")
	alertRE := regexp.MustCompile(`(?m)^\s*- alert: (\w+)\n([\s\S]*?)\n\s+for:`)
	matcherRE := regexp.MustCompile(`reason(=~|!~|=)"([^"]*)"`)
	out := map[string]map[string]map[string]bool{}
	for _, m := range alertRE.FindAllStringSubmatch(rules, -1) {
		out[m[1]] = map[string]map[string]bool{}
		for _, mm := range matcherRE.FindAllStringSubmatch(m[2], -1) {
			out[m[1]][mm[1]] = setOf(mm[2])
		}
	}
	if len(out) == 0 {
		t.Fatal("no alert found in config/prometheus/prometheus_rule.yaml")
	}
	return out
}

// TestAlertsAgreeWithTheReasonTable checks that each alert counts exactly the
// reasons the table gives it: PartnerAccountsStalled the Stalled ones,
// PartnerAPITokenRejected Unauthorized, and PartnerAccountsFailing every other
// Ready=False reason.
func TestAlertsAgreeWithTheReasonTable(t *testing.T) {
	alerts := alertMatchers(t)
	stalled, token := reasonsOf(AlertStalled), reasonsOf(AlertTokenRejected)
	if got := alerts[string(AlertStalled)]["=~"]; !equalSets(got, stalled) {
		t.Errorf("%s counts %v, the table %v", AlertStalled, keys(got), keys(stalled))
	}
	if got := alerts[string(AlertTokenRejected)]["="]; !equalSets(got, token) {
		t.Errorf("%s counts %v, the table %v", AlertTokenRejected, keys(got), keys(token))
	}
	// PartnerAccountsFailing counts Ready=False but for what it leaves out.
	if got, want := alerts[string(AlertFailing)]["!~"], union(stalled, token); !equalSets(got, want) {
		t.Errorf("%s leaves out %v, the table gives %v to other alerts", AlertFailing, keys(got), keys(want))
	}
	for reason, info := range Reasons {
		failing := info.Ready == metav1.ConditionFalse && !stalled[reason] && !token[reason]
		if failing != (info.Alert == AlertFailing) {
			t.Errorf("%s: counted by %s is %v, the table says %s", reason, AlertFailing, failing, info.Alert)
		}
	}
}

// TestDashboardAndDocsAgreeWithTheReasonTable checks the dashboard's Stalled panel
// and docs/metrics.md's lists of reasons.
func TestDashboardAndDocsAgreeWithTheReasonTable(t *testing.T) {
	stalled := reasonsOf(AlertStalled)
	dashboard := repoFile(t, "config/grafana/partner-account-operator.json")
	panel := regexp.MustCompile(`"title": "Stalled"[\s\S]*?reason=~\\"([^"\\]*)\\"`).FindStringSubmatch(dashboard)
	if panel == nil || !equalSets(setOf(panel[1]), stalled) {
		t.Errorf("the dashboard's Stalled panel counts %v, the table %v", panel, keys(stalled))
	}

	docs := repoFile(t, "docs/metrics.md")
	quoted := regexp.MustCompile("`([A-Za-z]+)`")
	listIn := func(text string) map[string]bool {
		out := map[string]bool{}
		for _, m := range quoted.FindAllStringSubmatch(text, -1) {
			out[m[1]] = true
		}
		return out
	}
	row := regexp.MustCompile("(?m)^\\| `partneraccount_resources` .*Reasons: (.*)\\|$").FindStringSubmatch(docs)
	if row == nil {
		t.Fatal("docs/metrics.md has no row for partneraccount_resources listing its reasons")
	}
	listed, stalledListed := row[1], ""
	if i := strings.Index(listed, "the Stalled ones"); i >= 0 {
		listed, stalledListed = listed[:i], listed[i:strings.Index(listed, ". What")]
	}
	all := map[string]bool{}
	for reason := range Reasons {
		all[reason] = true
	}
	if got := union(listIn(listed), listIn(stalledListed)); !equalSets(got, all) {
		t.Errorf("docs/metrics.md lists the reasons %v, the table has %v", keys(got), keys(all))
	}
	if got := listIn(stalledListed); !equalSets(got, stalled) {
		t.Errorf("docs/metrics.md calls %v Stalled, the table %v", keys(got), keys(stalled))
	}
	alertRow := regexp.MustCompile("(?m)^\\| `PartnerAccountsStalled` .*\\((.*?)\\)").FindStringSubmatch(docs)
	if alertRow == nil || !equalSets(listIn(alertRow[1]), stalled) {
		t.Errorf("docs/metrics.md's PartnerAccountsStalled row lists %v, the table %v", alertRow, keys(stalled))
	}
}

func equalSets(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestTroubleshootingCoversEveryReason checks that docs/troubleshooting.md has a
// section for every Ready reason of both kinds, under its kind's heading, saying
// the Ready status the reason table gives it, and none for a reason that is not.
func TestTroubleshootingCoversEveryReason(t *testing.T) {
	doc := repoFile(t, "docs/troubleshooting.md")
	const (
		accounts    = "## The Ready reasons\n"
		connections = "## The PartnerConnection's Ready reasons\n"
	)
	a, c := strings.Index(doc, accounts), strings.Index(doc, connections)
	if a < 0 || c < a {
		t.Fatalf("docs/troubleshooting.md lacks %q followed by %q", accounts, connections)
	}
	heading := regexp.MustCompile("(?m)^### `([A-Za-z]+)` \\(([^)]*)\\)")
	sections := func(part string) map[string]string {
		found := map[string]string{}
		for _, m := range heading.FindAllStringSubmatch(part, -1) {
			found[m[1]] = m[2]
		}
		return found
	}
	end := len(doc)
	if next := strings.Index(doc[c+len(connections):], "\n## "); next >= 0 {
		end = c + len(connections) + next
	}
	check := func(kind string, found map[string]string, want map[string]metav1.ConditionStatus) {
		for reason, ready := range want {
			meaning, ok := found[reason]
			switch {
			case !ok:
				t.Errorf("docs/troubleshooting.md has no section for the %s reason %s", kind, reason)
			case !strings.Contains(meaning, "Ready="+string(ready)):
				t.Errorf("docs/troubleshooting.md: %s %s says (%s), the table says Ready=%s", kind, reason, meaning, ready)
			}
		}
		for reason := range found {
			if _, ok := want[reason]; !ok {
				t.Errorf("docs/troubleshooting.md has a %s section for %s, which is not a reason", kind, reason)
			}
		}
	}
	readyOf := map[string]metav1.ConditionStatus{}
	for reason, info := range Reasons {
		readyOf[reason] = info.Ready
	}
	check("PartnerAccount", sections(doc[a:c]), readyOf)
	check("PartnerConnection", sections(doc[c:end]), ConnectionReasons)
}
