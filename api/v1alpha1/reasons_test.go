package v1alpha1

import (
	"os"
	"path/filepath"
	"regexp"
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
