package simulator_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

// TestSimEndpoints drives the controls over HTTP, as the demo and the end-to-end
// tests do.
func TestSimEndpoints(t *testing.T) {
	h := newHarness(t, simulator.Options{Dialect: simulator.DialectPublished})
	h.create("s-1", "I", "")
	h.create("s-2", "F", "")
	h.do(http.MethodGet, accountPath("nobody"), nil)

	var health map[string]string
	decode(t, h.do(http.MethodGet, "/sim/health", nil), &health)
	if health["status"] != "ok" || health["dialect"] != "published" {
		t.Errorf("health %v", health)
	}

	var st simulator.AccountState
	for _, step := range []struct{ method, path, status string }{
		{"POST", "/sim/accounts/s-1/redeem", "provisioned"},
		{"POST", "/sim/accounts/s-1/suspend", "suspended"},
		{"POST", "/sim/accounts/s-1/unsuspend", "provisioned"},
		{"GET", "/sim/accounts/s-1", "provisioned"},
	} {
		r := h.do(step.method, step.path, nil)
		wantStatus(t, step.path, r, http.StatusOK)
		decode(t, r, &st)
		if st.Status != step.status || st.UID != "s-1" {
			t.Errorf("%s %s: %+v, want status %s", step.method, step.path, st, step.status)
		}
	}
	r := h.do(http.MethodDelete, "/sim/accounts/s-2", nil)
	wantStatus(t, "out-of-band delete", r, http.StatusOK)
	decode(t, r, &st)
	if !st.Deleted || st.DeletedBy != simulator.DeletedOutOfBand {
		t.Errorf("out-of-band delete: %+v", st)
	}
	wantError(t, h, "read after out-of-band delete", h.do(http.MethodGet, accountPath("s-2"), nil), http.StatusGone, "gone")

	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"POST", "/sim/accounts/nobody/redeem", http.StatusNotFound},
		{"POST", "/sim/accounts/s-2/redeem", http.StatusConflict},
		{"DELETE", "/sim/accounts/s-2", http.StatusConflict},
		{"GET", "/sim/accounts/nobody", http.StatusNotFound},
		{"POST", "/sim/accounts", http.StatusBadRequest},
		{"GET", "/sim/nothing", http.StatusNotFound},
	} {
		r := h.do(c.method, c.path, nil)
		wantStatus(t, c.method+" "+c.path, r, c.status)
		var e map[string]string
		decode(t, r, &e)
		if e["error"] == "" {
			t.Errorf("%s %s: no error message in %s", c.method, c.path, r.body)
		}
	}

	var list struct {
		Accounts []map[string]any `json:"accounts"`
	}
	decode(t, h.do(http.MethodGet, "/sim/accounts", nil), &list)
	if len(list.Accounts) != 2 || list.Accounts[0]["account_uid"] != "s-1" || list.Accounts[1]["deleted"] != true {
		t.Errorf("GET /sim/accounts: %v", list)
	}
	for _, a := range list.Accounts {
		if tok, _ := a["activation_token"].(string); !activationToken.MatchString(tok) {
			t.Errorf("GET /sim/accounts: activation token %v", a["activation_token"])
		}
		if ts, _ := a["created_at"].(string); !msTime.MatchString(ts) {
			t.Errorf("GET /sim/accounts: created_at %v, want RFC 3339 UTC with milliseconds", a["created_at"])
		}
	}

	var counts map[string]int
	decode(t, h.do(http.MethodGet, "/sim/requests", nil), &counts)
	want := map[string]int{"create 201": 2, "get 404": 1, "get 410": 1}
	if len(counts) != len(want) {
		t.Errorf("GET /sim/requests: %v, want %v (no /sim requests)", counts, want)
	}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("GET /sim/requests: %q = %d, want %d (%v)", k, counts[k], n, counts)
		}
	}
	wantStatus(t, "forget counts", h.do(http.MethodDelete, "/sim/requests", nil), http.StatusOK)
	if len(h.sim.Requests()) != 0 {
		t.Errorf("after DELETE /sim/requests: %v", h.sim.Requests())
	}

	wantStatus(t, "replace tokens", h.do(http.MethodPut, "/sim/tokens", `{"tokens":["next-token"]}`), http.StatusOK)
	wantError(t, h, "old token", h.do(http.MethodGet, accountPath("s-1"), nil), http.StatusForbidden, "forbidden")
	wantStatus(t, "new token", h.do(http.MethodGet, accountPath("s-1"), nil, withToken("next-token")), http.StatusOK)
	for _, body := range []string{`{}`, `{"tokens":[""]}`, `["x"]`} {
		wantStatus(t, "bad tokens "+body, h.do(http.MethodPut, "/sim/tokens", body), http.StatusBadRequest)
	}
	wantStatus(t, "revoke all", h.do(http.MethodPut, "/sim/tokens", `{"tokens":[]}`), http.StatusOK)
	wantError(t, h, "after revoking all", h.do(http.MethodGet, accountPath("s-1"), nil, withToken("next-token")), http.StatusForbidden, "forbidden")

	wantStatus(t, "reset", h.do(http.MethodPost, "/sim/reset", nil), http.StatusOK)
	if len(h.sim.Accounts()) != 0 || len(h.sim.Requests()) != 0 {
		t.Errorf("after POST /sim/reset: %d accounts, counts %v", len(h.sim.Accounts()), h.sim.Requests())
	}
}

func decode(t *testing.T, r result, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
}

// TestSeed checks that an account seeded as made before keeps its creation time,
// counts no request, and is refused when bad or already there.
func TestSeed(t *testing.T) {
	h := newHarness(t, simulator.Options{})
	created := time.Date(2049, 6, 1, 12, 0, 0, 0, time.UTC)
	r := h.do(http.MethodPost, "/sim/accounts", map[string]any{
		"account_uid": "old-1", "account_type": "F", "domain": "b5test.ca", "created_at": created})
	wantStatus(t, "seed", r, http.StatusOK)
	var st simulator.AccountState
	decode(t, r, &st)
	if st.UID != "old-1" || st.Type != "F" || st.Domain != "b5test.ca" || !st.CreatedAt.Equal(created) || st.ActivationToken == "" {
		t.Errorf("seeded %+v", st)
	}
	if n := len(h.sim.Requests()); n != 0 {
		t.Errorf("seeding counted %d requests", n)
	}
	var acct map[string]any
	decode(t, h.do(http.MethodGet, accountPath("old-1"), nil), &acct)
	if acct["created_at"] != "2049-06-01T12:00:00.000Z" {
		t.Errorf("the API reports created_at %v", acct["created_at"])
	}
	for _, bad := range []map[string]any{
		{"account_uid": "old-1", "account_type": "F", "domain": "b5test.ca"},
		{"account_uid": "old-2", "account_type": "X", "domain": "b5test.ca"},
		{"account_uid": "old-3", "account_type": "I", "domain": "example.com"},
		{"account_uid": "", "account_type": "I", "domain": "b5test.ca"},
	} {
		if r := h.do(http.MethodPost, "/sim/accounts", bad); r.status != http.StatusConflict && r.status != http.StatusBadRequest {
			t.Errorf("seed %v: status %d (%s)", bad, r.status, r.body)
		}
	}
}

// TestUnknownRoutesAnswerLikeTheAPI checks that a path outside the API and the
// controls (a wrong prefix, say) gets a 404 in the dialect's own error shape, as a
// real server's would, with the simulator's clock in the Date header.
func TestUnknownRoutesAnswerLikeTheAPI(t *testing.T) {
	for _, d := range []simulator.Dialect{simulator.DialectContract, simulator.DialectPublished} {
		t.Run(string(d), func(t *testing.T) {
			h := newHarness(t, simulator.Options{Dialect: d})
			for _, path := range []string{"/v2/api/v1/partners/accounts/acct-1", "/elsewhere"} {
				r := h.do(http.MethodGet, path, nil)
				wantError(t, h, path, r, http.StatusNotFound, "not_found")
				date, err := http.ParseTime(r.header.Get("Date"))
				if err != nil || !date.Equal(start) {
					t.Errorf("%s: Date %q, want the simulator's clock %s", path, r.header.Get("Date"), start)
				}
			}
			if n := h.sim.Requests()["other 404"]; n != 2 {
				t.Errorf("requests %v, want 2 counted as other 404", h.sim.Requests())
			}
		})
	}
}
