// Package argocdhealth runs the PartnerAccount health check for Argo CD
// (argocd/resource_customizations/billing.partnerbilling.io/PartnerAccount/health.lua)
// the way Argo CD runs it, so that tests can check the script against objects the
// controller really wrote.
//
// Argo CD converts the live object to a Lua table, sets it as the global obj, runs
// the script with a one-second deadline and reads the status and message of the
// table it returns. For a health check set in argocd-cm it opens only a few
// libraries (base, table, package and a reduced os); this package opens fewer (base
// and table, without dofile, loadfile, require and module), so a script that runs
// here also runs there, whether or not resource.customizations.useOpenLibs is set.
package argocdhealth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"

	"github.com/partnerbilling/partner-account-operator/internal/testenv"
)

// Argo CD's health statuses: the values a health script may return as hs.status.
const (
	// StatusHealthy: the resource is as declared.
	StatusHealthy = "Healthy"
	// StatusProgressing: the resource is not yet as declared but is getting there.
	StatusProgressing = "Progressing"
	// StatusDegraded: the resource failed, or needs a person to act.
	StatusDegraded = "Degraded"
	// StatusSuspended: the resource is paused on purpose.
	StatusSuspended = "Suspended"
	// StatusMissing: the resource does not exist.
	StatusMissing = "Missing"
	// StatusUnknown: the health could not be told; Argo CD also uses it when a script
	// returns a status it does not know.
	StatusUnknown = "Unknown"
)

// InvalidStatusMessage is the message Argo CD shows, with StatusUnknown, when a
// script returns a status that is not one of the statuses above.
const InvalidStatusMessage = "Lua returned an invalid health status"

// Timeout is how long a script may run, as in Argo CD.
const Timeout = time.Second

// Result is the health a script returned: the table's status and message fields.
type Result struct {
	// Status is one of the Status constants.
	Status string `json:"status"`
	// Message explains the status to people.
	Message string `json:"message,omitempty"`
}

// Dir returns the directory of the PartnerAccount customization, in Argo CD's
// resource_customizations/<group>/<kind> layout, under the repository root.
func Dir() string {
	return filepath.Join(testenv.Root(), "argocd", "resource_customizations",
		"billing.partnerbilling.io", "PartnerAccount")
}

// ScriptPath returns the path of the PartnerAccount health.lua.
func ScriptPath() string { return filepath.Join(Dir(), "health.lua") }

// TestsPath returns the path of the health_test.yaml next to health.lua.
func TestsPath() string { return filepath.Join(Dir(), "health_test.yaml") }

// LoadScript reads the PartnerAccount health.lua.
func LoadScript() (string, error) {
	b, err := os.ReadFile(ScriptPath())
	if err != nil {
		return "", fmt.Errorf("argocdhealth: read health script: %w", err)
	}
	return string(b), nil
}

// TestCase is one entry of a health_test.yaml, in Argo CD's format: the health the
// script must return for the object in InputPath (relative to the file).
type TestCase struct {
	// HealthStatus is the expected status and message.
	HealthStatus Result `json:"healthStatus"`
	// InputPath is the object's file, such as testdata/ready.yaml.
	InputPath string `json:"inputPath"`
}

// ReadTests reads the test cases of a health_test.yaml.
func ReadTests(path string) ([]TestCase, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("argocdhealth: read tests: %w", err)
	}
	var f struct {
		Tests []TestCase `json:"tests"`
	}
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		return nil, fmt.Errorf("argocdhealth: %s: %w", path, err)
	}
	return f.Tests, nil
}

// ReadObject reads a YAML or JSON file holding one Kubernetes object.
func ReadObject(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("argocdhealth: read object: %w", err)
	}
	var obj map[string]any
	if err := yaml.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("argocdhealth: %s: %w", path, err)
	}
	if obj == nil {
		return nil, fmt.Errorf("argocdhealth: %s holds no object", path)
	}
	return obj, nil
}

// Evaluate runs a health script against obj, a decoded object (as from JSON, YAML or
// unstructured.Unstructured), and returns the health it reports. An error means the
// script failed, ran too long, or returned something other than a table with string
// fields; Argo CD shows such a resource with a health error.
func Evaluate(script string, obj map[string]any) (Result, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(lib.open), NRet: 0, Protect: true},
			lua.LString(lib.name)); err != nil {
			return Result{}, fmt.Errorf("argocdhealth: open Lua library %q: %w", lib.name, err)
		}
	}
	// The base library can read and load files; a health check never needs to.
	for _, name := range []string{"dofile", "loadfile", "require", "module"} {
		L.SetGlobal(name, lua.LNil)
	}

	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	L.SetContext(ctx)

	value, err := toLua(L, obj)
	if err != nil {
		return Result{}, err
	}
	L.SetGlobal("obj", value)
	if err := L.DoString(script); err != nil {
		return Result{}, fmt.Errorf("argocdhealth: run health script: %w", err)
	}
	ret := L.Get(-1)
	tbl, ok := ret.(*lua.LTable)
	if !ok {
		return Result{}, fmt.Errorf("argocdhealth: expect table output from Lua script, not %s", ret.Type())
	}
	var res Result
	if res.Status, err = stringField(tbl, "status"); err != nil {
		return Result{}, err
	}
	if res.Message, err = stringField(tbl, "message"); err != nil {
		return Result{}, err
	}
	if !validStatus(res.Status) {
		return Result{Status: StatusUnknown, Message: InvalidStatusMessage}, nil
	}
	return res, nil
}

func validStatus(s string) bool {
	switch s {
	case StatusHealthy, StatusProgressing, StatusDegraded, StatusSuspended, StatusMissing, StatusUnknown:
		return true
	}
	return false
}

// stringField reads a string field of the returned table; absent is "".
func stringField(tbl *lua.LTable, name string) (string, error) {
	switch v := tbl.RawGetString(name).(type) {
	case *lua.LNilType:
		return "", nil
	case lua.LString:
		return string(v), nil
	default:
		return "", fmt.Errorf("argocdhealth: the returned table's %s is a %s, not a string", name, v.Type())
	}
}

// errUnsupported is returned for a value that cannot come from decoding JSON or YAML.
var errUnsupported = errors.New("argocdhealth: unsupported value in object")

// toLua converts a decoded value to Lua as Argo CD does: maps and slices become
// tables, numbers become numbers, except json.Number, which becomes a string.
func toLua(L *lua.LState, v any) (lua.LValue, error) {
	switch x := v.(type) {
	case nil:
		return lua.LNil, nil
	case bool:
		return lua.LBool(x), nil
	case string:
		return lua.LString(x), nil
	case json.Number:
		return lua.LString(x), nil
	case float64:
		return lua.LNumber(x), nil
	case float32:
		return lua.LNumber(x), nil
	case int:
		return lua.LNumber(x), nil
	case int32:
		return lua.LNumber(x), nil
	case int64:
		return lua.LNumber(x), nil
	case []any:
		arr := L.CreateTable(len(x), 0)
		for _, item := range x {
			lv, err := toLua(L, item)
			if err != nil {
				return nil, err
			}
			arr.Append(lv)
		}
		return arr, nil
	case map[string]any:
		tbl := L.CreateTable(0, len(x))
		for k, item := range x {
			lv, err := toLua(L, item)
			if err != nil {
				return nil, err
			}
			tbl.RawSetString(k, lv)
		}
		return tbl, nil
	}
	return nil, fmt.Errorf("%w: %T", errUnsupported, v)
}
