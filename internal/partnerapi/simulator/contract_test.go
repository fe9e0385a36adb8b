package simulator_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

// TestContractDialectFollowsTheContract walks every operation through every
// answer the contract dialect gives; the harness checks each request and response
// against partnership-openapi.yml.
func TestContractDialectFollowsTheContract(t *testing.T) {
	h := newHarness(t, simulator.Options{})
	h.create("live", "I", "2050-02-05T13:00:00.000Z")
	h.create("gone", "F", "")
	wantStatus(t, "delete gone", h.do(http.MethodDelete, accountPath("gone"), nil), http.StatusNoContent)

	long := strings.Repeat("a", 201)
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		opts   []reqOption
		status int
		code   string // contract error code; "" for success
	}{
		{name: "create", method: "POST", path: accountsPath,
			body: createBody("new-1", "F", "b5test.eu", "2051-01-01T00:00:00Z"), status: 201},
		{name: "create with account_uid only", method: "POST", path: accountsPath,
			body: map[string]any{"account_uid": "new-2", "account_type": "I", "domain": "1password.com"}, status: 201},
		{name: "create again after delete", method: "POST", path: accountsPath,
			body: createBody("gone", "I", "b5test.com", ""), status: 201},
		{name: "create existing", method: "POST", path: accountsPath,
			body: createBody("live", "I", "b5test.com", ""), status: 409, code: "account_exists"},
		{name: "create without token", method: "POST", path: accountsPath, opts: []reqOption{noAuth(), invalidRequest("no token")},
			body: createBody("x", "I", "b5test.com", ""), status: 401, code: "unauthorized"},
		{name: "create with wrong token", method: "POST", path: accountsPath, opts: []reqOption{withToken("nope")},
			body: createBody("x", "I", "b5test.com", ""), status: 401, code: "unauthorized"},
		{name: "create malformed JSON", method: "POST", path: accountsPath, opts: []reqOption{invalidRequest("malformed")},
			body: `{"account_uid": "x",`, status: 400, code: "invalid_json"},
		{name: "create JSON array", method: "POST", path: accountsPath, opts: []reqOption{invalidRequest("not an object")},
			body: `[]`, status: 400, code: "invalid_json"},
		{name: "create without uid", method: "POST", path: accountsPath, opts: []reqOption{invalidRequest("no uid")},
			body: map[string]any{"account_type": "I", "domain": "b5test.com"}, status: 400, code: "missing_field"},
		{name: "create bad uid", method: "POST", path: accountsPath, opts: []reqOption{invalidRequest("bad uid")},
			body: createBody("a_b", "I", "b5test.com", ""), status: 400, code: "invalid_account_uid"},
		{name: "create uid too long", method: "POST", path: accountsPath, opts: []reqOption{invalidRequest("long uid")},
			body: createBody(long, "I", "b5test.com", ""), status: 400, code: "invalid_account_uid"},
		{name: "create uids differ", method: "POST", path: accountsPath,
			body:   map[string]any{"account_uid": "a", "customer_account_uid": "b", "account_type": "I", "domain": "b5test.com"},
			status: 400, code: "invalid_account_uid"},
		{name: "create without type", method: "POST", path: accountsPath, opts: []reqOption{invalidRequest("no type")},
			body: map[string]any{"account_uid": "x", "domain": "b5test.com"}, status: 400, code: "missing_field"},
		{name: "create team account", method: "POST", path: accountsPath, opts: []reqOption{invalidRequest("type T")},
			body: createBody("x", "T", "b5test.com", ""), status: 400, code: "invalid_account_type"},
		{name: "create without domain", method: "POST", path: accountsPath, opts: []reqOption{invalidRequest("no domain")},
			body: map[string]any{"account_uid": "x", "account_type": "I"}, status: 400, code: "missing_field"},
		{name: "create unknown domain", method: "POST", path: accountsPath,
			body: createBody("x", "I", "example.com", ""), status: 400, code: "invalid_domain"},
		{name: "create bad ends_at", method: "POST", path: accountsPath, opts: []reqOption{invalidRequest("bad date")},
			body: createBody("x", "I", "b5test.com", "next tuesday"), status: 400, code: "invalid_ends_at"},

		{name: "get", method: "GET", path: accountPath("live"), status: 200},
		{name: "get without token", method: "GET", path: accountPath("live"), opts: []reqOption{noAuth(), invalidRequest("no token")},
			status: 401, code: "unauthorized"},
		{name: "get never created", method: "GET", path: accountPath("never"), status: 404, code: "account_not_found"},
		{name: "get invalid uid", method: "GET", path: accountPath("a_b"), opts: []reqOption{invalidRequest("bad uid")},
			status: 404, code: "invalid_account_uid"},

		{name: "patch", method: "PATCH", path: accountPath("live"), body: map[string]any{"ends_at": "2052-03-04T05:06:07+02:00"}, status: 200},
		{name: "patch nothing", method: "PATCH", path: accountPath("live"), body: map[string]any{}, status: 200},
		// The contract has no way to clear an end date; the operator sends null and
		// the simulator honours it, so this request alone is not checked.
		{name: "patch null clears", method: "PATCH", path: accountPath("live"), body: `{"ends_at": null}`,
			opts: []reqOption{invalidRequest("null ends_at is not in the contract")}, status: 200},
		{name: "patch without token", method: "PATCH", path: accountPath("live"), body: map[string]any{},
			opts: []reqOption{noAuth(), invalidRequest("no token")}, status: 401, code: "unauthorized"},
		{name: "patch malformed JSON", method: "PATCH", path: accountPath("live"), body: `{`,
			opts: []reqOption{invalidRequest("malformed")}, status: 400, code: "invalid_json"},
		{name: "patch bad ends_at", method: "PATCH", path: accountPath("live"), body: map[string]any{"ends_at": 17},
			opts: []reqOption{invalidRequest("number")}, status: 400, code: "invalid_ends_at"},
		{name: "patch empty ends_at", method: "PATCH", path: accountPath("live"), body: map[string]any{"ends_at": ""},
			opts: []reqOption{invalidRequest("empty date")}, status: 400, code: "invalid_ends_at"},
		{name: "patch invalid uid", method: "PATCH", path: accountPath("a b"), body: map[string]any{},
			opts: []reqOption{invalidRequest("bad uid")}, status: 400, code: "invalid_account_uid"},
		{name: "patch never created", method: "PATCH", path: accountPath("never"), body: map[string]any{}, status: 404, code: "account_not_found"},

		{name: "delete without token", method: "DELETE", path: accountPath("live"), opts: []reqOption{withToken("nope")},
			status: 401, code: "unauthorized"},
		{name: "delete invalid uid", method: "DELETE", path: accountPath(long), opts: []reqOption{invalidRequest("long uid")},
			status: 404, code: "invalid_account_uid"},
		{name: "delete never created", method: "DELETE", path: accountPath("never"), status: 404, code: "account_not_found"},
		{name: "delete", method: "DELETE", path: accountPath("live"), status: 204},
		{name: "get deleted", method: "GET", path: accountPath("live"), status: 404, code: "account_not_found"},
		{name: "patch deleted", method: "PATCH", path: accountPath("live"), body: map[string]any{"ends_at": "2060-01-01T00:00:00Z"},
			status: 404, code: "account_not_found"},
		{name: "delete deleted", method: "DELETE", path: accountPath("live"), status: 404, code: "account_not_found"},
	}
	for _, tt := range tests {
		r := h.do(tt.method, tt.path, tt.body, tt.opts...)
		if tt.code == "" {
			wantStatus(t, tt.name, r, tt.status)
			if tt.status == http.StatusNoContent && len(r.body) != 0 {
				t.Errorf("%s: 204 with body %q", tt.name, r.body)
			}
			continue
		}
		wantError(t, h, tt.name, r, tt.status, tt.code)
	}
}

func TestContractAccountShape(t *testing.T) {
	h := newHarness(t, simulator.Options{})
	a := h.create("shape-1", "I", "2050-02-05T14:00:00+01:00")
	if a["account_uid"] != "shape-1" || a["account_type"] != "I" || a["domain"] != "b5test.com" || a["status"] != "entitled" {
		t.Errorf("created account %v", a)
	}
	if a["ends_at"] != "2050-02-05T13:00:00.000Z" {
		t.Errorf("ends_at %v, want 2050-02-05T13:00:00.000Z (UTC, milliseconds)", a["ends_at"])
	}
	if a["created_at"] != "2026-11-27T10:00:00.000Z" {
		t.Errorf("created_at %v, want the clock's time 2026-11-27T10:00:00.000Z", a["created_at"])
	}
	for _, k := range []string{"customer_account_uid", "deployed_members", "updated_at"} {
		if _, ok := a[k]; ok {
			t.Errorf("contract account has published field %q: %v", k, a)
		}
	}
	tok, _ := a["activation_token"].(string)
	if !activationToken.MatchString(tok) {
		t.Errorf("activation token %q, want PNS- and 8 uppercase letters or digits", tok)
	}

	r := h.do(http.MethodPatch, accountPath("shape-1"), `{"ends_at": null}`, invalidRequest("null ends_at is not in the contract"))
	wantStatus(t, "patch null", r, http.StatusOK)
	if _, ok := r.json(t)["ends_at"]; ok {
		t.Errorf("after clearing, ends_at is still there: %s", r.body)
	}
	st, _ := h.sim.Account("shape-1")
	if st.EndsAt != nil {
		t.Errorf("after clearing, the simulator keeps end date %v", st.EndsAt)
	}
}
