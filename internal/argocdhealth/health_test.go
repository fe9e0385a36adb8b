package argocdhealth

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/testenv"
)

func loadScript(t *testing.T) string {
	t.Helper()
	script, err := LoadScript()
	if err != nil {
		t.Fatal(err)
	}
	return script
}

// TestHealthTestYAML runs every case of health_test.yaml against its testdata file,
// as Argo CD's own tests of resource_customizations do, and checks that every file
// in testdata is a case.
func TestHealthTestYAML(t *testing.T) {
	script := loadScript(t)
	cases, err := ReadTests(TestsPath())
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatalf("%s has no tests", TestsPath())
	}
	inputs := make([]string, 0, len(cases))
	for _, tc := range cases {
		inputs = append(inputs, filepath.ToSlash(tc.InputPath))
		t.Run(tc.InputPath, func(t *testing.T) {
			obj, err := ReadObject(filepath.Join(Dir(), tc.InputPath))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Evaluate(script, obj)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.HealthStatus.Status {
				t.Errorf("status %q, want %q", got.Status, tc.HealthStatus.Status)
			}
			if got.Message != tc.HealthStatus.Message {
				t.Errorf("message %q, want %q", got.Message, tc.HealthStatus.Message)
			}
		})
	}
	files, err := filepath.Glob(filepath.Join(Dir(), "testdata", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata files")
	}
	for _, f := range files {
		rel := "testdata/" + filepath.Base(f)
		if !slices.Contains(inputs, rel) {
			t.Errorf("%s is not a case in health_test.yaml", rel)
		}
	}
}

// TestEdgeCases feeds the script hand-built objects the controller never writes (or
// writes only for an instant), to show that it guards every nil.
func TestEdgeCases(t *testing.T) {
	script := loadScript(t)
	const (
		unobserved  = "Waiting for the controller to observe the PartnerAccount"
		notReady    = "Waiting for the PartnerAccount to become Ready"
		deleting    = "The PartnerAccount is being deleted"
		suspendedBy = "spec.suspend is true: the controller makes no calls to the Partnership API"
	)
	cases := []struct {
		name string
		obj  string // YAML
		want Result
	}{
		{"empty object", `{}`, Result{StatusProgressing, unobserved}},
		{"no status", `{metadata: {generation: 1}, spec: {}}`, Result{StatusProgressing, unobserved}},
		{"null status", `{metadata: {generation: 1}, status: null}`, Result{StatusProgressing, unobserved}},
		{"status without observedGeneration",
			`{metadata: {generation: 1}, status: {conditions: [{type: Ready, status: "True", message: ok}]}}`,
			Result{StatusProgressing, unobserved}},
		{"generation ahead",
			`{metadata: {generation: 2}, status: {observedGeneration: 1, conditions: [{type: Ready, status: "True"}]}}`,
			Result{StatusProgressing, "Waiting for the controller to observe generation 2"}},
		{"no generation",
			`{metadata: {}, status: {observedGeneration: 1, conditions: [{type: Ready, status: "True", message: ok}]}}`,
			Result{StatusHealthy, "ok"}},
		{"no conditions", `{metadata: {generation: 1}, status: {observedGeneration: 1}}`,
			Result{StatusProgressing, notReady}},
		{"empty conditions", `{metadata: {generation: 1}, status: {observedGeneration: 1, conditions: []}}`,
			Result{StatusProgressing, notReady}},
		{"null conditions", `{metadata: {generation: 1}, status: {observedGeneration: 1, conditions: null}}`,
			Result{StatusProgressing, notReady}},
		{"Ready missing", `{metadata: {generation: 1}, status: {observedGeneration: 1,
			conditions: [{type: Reconciling, status: "True", reason: Progressing, message: busy}]}}`,
			Result{StatusProgressing, notReady}},
		{"Ready True without message",
			`{metadata: {generation: 1}, status: {observedGeneration: 1, conditions: [{type: Ready, status: "True"}]}}`,
			Result{StatusHealthy, ""}},
		{"Ready False without reason",
			`{metadata: {generation: 1}, status: {observedGeneration: 1, conditions: [{type: Ready, status: "False"}]}}`,
			Result{StatusProgressing, notReady}},
		{"Ready False for a passing reason", `{metadata: {generation: 1}, status: {observedGeneration: 1, conditions: [
			{type: Ready, status: "False", reason: RateLimited, message: slow down},
			{type: Reconciling, status: "True", reason: RateLimited, message: slow down}]}}`,
			Result{StatusProgressing, "slow down"}},
		{"Ready Unknown without message", `{metadata: {generation: 1}, status: {observedGeneration: 1,
			conditions: [{type: Ready, status: Unknown, reason: Progressing}]}}`,
			Result{StatusProgressing, notReady}},
		{"Ready False needing a person", `{metadata: {generation: 1}, status: {observedGeneration: 1,
			conditions: [{type: Ready, status: "False", reason: RemoteDeleted, message: gone}]}}`,
			Result{StatusDegraded, "gone"}},
		{"Stalled without message", `{metadata: {generation: 1}, status: {observedGeneration: 1, conditions: [
			{type: Ready, status: "False", reason: InvalidRequest}, {type: Stalled, status: "True", reason: InvalidRequest}]}}`,
			Result{StatusDegraded, ""}},
		{"Stalled False", `{metadata: {generation: 1}, status: {observedGeneration: 1, conditions: [
			{type: Ready, status: "True", message: ok}, {type: Stalled, status: "False"}]}}`,
			Result{StatusHealthy, "ok"}},
		{"Stalled beats suspend", `{metadata: {generation: 1}, spec: {suspend: true}, status: {observedGeneration: 1,
			conditions: [{type: Stalled, status: "True", reason: AccountConflict, message: conflict}]}}`,
			Result{StatusDegraded, "conflict"}},
		{"suspended without conditions", `{metadata: {generation: 1}, spec: {suspend: true}, status: {observedGeneration: 1}}`,
			Result{StatusSuspended, suspendedBy}},
		{"suspend false", `{metadata: {generation: 1}, spec: {suspend: false}, status: {observedGeneration: 1,
			conditions: [{type: Ready, status: "True", message: ok}]}}`,
			Result{StatusHealthy, "ok"}},
		{"deleting without status", `{metadata: {generation: 2, deletionTimestamp: "2026-01-01T00:00:00Z"}}`,
			Result{StatusProgressing, deleting}},
		{"deleting with a Ready for an older generation", `{metadata: {generation: 2, deletionTimestamp: "2026-01-01T00:00:00Z"},
			status: {observedGeneration: 1,
			conditions: [{type: Ready, status: "False", reason: RemoteDeleted, message: gone, observedGeneration: 1}]}}`,
			Result{StatusProgressing, deleting}},
		{"deleting with a Ready for the deletion", `{metadata: {generation: 2, deletionTimestamp: "2026-01-01T00:00:00Z"},
			status: {observedGeneration: 2,
			conditions: [{type: Ready, status: "False", reason: APIUnavailable, message: delete failed, observedGeneration: 2}]}}`,
			Result{StatusProgressing, "delete failed"}},
		{"deleting while Stalled", `{metadata: {generation: 1, deletionTimestamp: "2026-01-01T00:00:00Z"},
			status: {observedGeneration: 1, conditions: [{type: Stalled, status: "True", message: bad, observedGeneration: 1}]}}`,
			Result{StatusProgressing, deleting}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(tc.obj), &obj); err != nil {
				t.Fatal(err)
			}
			got, err := Evaluate(script, obj)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestEvaluate checks the runner itself: what the script sees and what Argo CD does
// with odd answers.
func TestEvaluate(t *testing.T) {
	obj := map[string]any{
		"metadata": map[string]any{"generation": int64(3), "labels": map[string]any{"a": "b"}},
		"spec":     map[string]any{"suspend": true, "list": []any{"x", float64(2), int32(4)}},
	}
	cases := []struct {
		name    string
		script  string
		want    Result
		wantErr string
	}{
		{name: "obj is a table", script: `local hs = {}
hs.status = "Healthy"
hs.message = obj.metadata.labels.a .. tostring(obj.metadata.generation) .. tostring(obj.spec.suspend) ..
  obj.spec.list[1] .. tostring(obj.spec.list[2] + obj.spec.list[3]) .. tostring(#obj.spec.list)
return hs`, want: Result{StatusHealthy, "b3truex63"}},
		{name: "table library", script: `local t = {"b", "a"}
table.sort(t)
return {status = "Healthy", message = table.concat(t, ",")}`, want: Result{StatusHealthy, "a,b"}},
		{name: "no os, io, string, math, require or file loading", script: `local missing = {}
for _, name in ipairs({"os", "io", "string", "math", "require", "module", "package", "dofile", "loadfile"}) do
  if _G[name] ~= nil then
    table.insert(missing, name)
  end
end
return {status = "Healthy", message = table.concat(missing, ",")}`, want: Result{StatusHealthy, ""}},
		{name: "unknown status", script: `return {status = "Great", message = "x"}`,
			want: Result{StatusUnknown, InvalidStatusMessage}},
		{name: "no status", script: `return {message = "x"}`, want: Result{StatusUnknown, InvalidStatusMessage}},
		{name: "not a table", script: `return "Healthy"`, wantErr: "expect table output from Lua script, not string"},
		{name: "nothing returned", script: `local hs = {}`, wantErr: "expect table output"},
		{name: "message not a string", script: `return {status = "Healthy", message = {}}`, wantErr: "message is a table"},
		{name: "runtime error", script: `return obj.status.conditions`, wantErr: "run health script"},
		{name: "endless loop", script: `while true do end`, wantErr: "run health script"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Evaluate(tc.script, obj)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if _, err := Evaluate(`return {status = "Healthy"}`, map[string]any{"x": struct{}{}}); err == nil {
		t.Error("an object holding a struct: no error")
	}
}

// TestLayout checks the files Argo CD expects sit where ScriptPath and TestsPath say.
func TestLayout(t *testing.T) {
	for _, p := range []string{ScriptPath(), TestsPath(), filepath.Join(Dir(), "testdata")} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	if want := filepath.Join("argocd", "resource_customizations", "billing.partnerbilling.io", "PartnerAccount", "health.lua"); !strings.HasSuffix(ScriptPath(), want) {
		t.Errorf("ScriptPath %s does not end in %s", ScriptPath(), want)
	}
}

// TestDocsCarryTheScript checks that the argocd-cm snippet in docs/gitops.md is
// health.lua, word for word.
func TestDocsCarryTheScript(t *testing.T) {
	script := loadScript(t)
	b, err := os.ReadFile(filepath.Join(testenv.Root(), "docs", "gitops.md"))
	if err != nil {
		t.Fatal(err)
	}
	const key = "  resource.customizations.health.billing.partnerbilling.io_PartnerAccount: |\n"
	_, rest, ok := strings.Cut(string(b), key)
	if !ok {
		t.Fatalf("docs/gitops.md has no %q", strings.TrimSpace(key))
	}
	var lines []string
	for line := range strings.Lines(rest) {
		if line == "\n" {
			lines = append(lines, line)
			continue
		}
		body, indented := strings.CutPrefix(line, "    ")
		if !indented {
			break
		}
		lines = append(lines, body)
	}
	if got := strings.TrimRight(strings.Join(lines, ""), "\n") + "\n"; got != script {
		t.Errorf("the script in docs/gitops.md differs from health.lua:\n%s", got)
	}
}

// TestAgreesWithTheReasonTable checks that health.lua gives every reason of the
// operator's reason table the health the table says, on an object whose status
// describes its generation, as the controller writes it.
func TestAgreesWithTheReasonTable(t *testing.T) {
	script := loadScript(t)
	for reason, info := range billingv1alpha1.Reasons {
		t.Run(reason, func(t *testing.T) {
			conditions := []any{map[string]any{"type": "Ready", "status": string(info.Ready), "reason": reason,
				"message": "m", "observedGeneration": int64(2)}}
			for condType, on := range map[string]bool{"Reconciling": info.Reconciling, "Stalled": info.Stalled} {
				if on {
					conditions = append(conditions, map[string]any{"type": condType, "status": "True", "reason": reason,
						"message": "m", "observedGeneration": int64(2)})
				}
			}
			obj := map[string]any{
				"metadata": map[string]any{"name": "customer", "generation": int64(2)},
				"spec":     map[string]any{"suspend": reason == billingv1alpha1.ReasonReconcileSuspended},
				"status":   map[string]any{"observedGeneration": int64(2), "conditions": conditions},
			}
			got, err := Evaluate(script, obj)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != string(info.Health) {
				t.Errorf("health.lua gives %s, the reason table %s", got.Status, info.Health)
			}
		})
	}
}
