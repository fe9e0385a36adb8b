package simulator_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/contract"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

func fixture(t *testing.T, name string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(contract.PublishedFixture(name), &m); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return m
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	}
	return fmt.Sprintf("%T", v)
}

// sameShape checks that got has exactly the fixture's keys, each with the same
// JSON type.
func sameShape(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	keys := func(m map[string]any) []string {
		k := slices.Sorted(maps.Keys(m))
		return k
	}
	if !reflect.DeepEqual(keys(got), keys(want)) {
		t.Errorf("%s: keys %v, fixture has %v", what, keys(got), keys(want))
	}
	for k, w := range want {
		if g, ok := got[k]; ok && jsonType(g) != jsonType(w) {
			t.Errorf("%s: %s is a %s (%v), fixture has a %s (%v)", what, k, jsonType(g), g, jsonType(w), w)
		}
	}
}

func TestPublishedAccountsMatchFixtures(t *testing.T) {
	h := newHarness(t, simulator.Options{Dialect: simulator.DialectPublished})

	entitled := fixture(t, contract.PublishedAccountEntitled)
	r := h.do(http.MethodPost, accountsPath, createBody("cust-0001", "I", "b5test.com", "2050-02-05T13:00:00.000Z"))
	wantStatus(t, "create", r, http.StatusCreated)
	if loc := r.header.Get("Location"); loc != accountsPath+"/cust-0001" {
		t.Errorf("Location %q, want %s/cust-0001", loc, accountsPath)
	}
	got := r.json(t)
	sameShape(t, "created account", got, entitled)
	for _, k := range []string{"customer_account_uid", "account_type", "domain", "status", "deployed_members", "ends_at", "created_at", "updated_at"} {
		if got[k] != entitled[k] {
			t.Errorf("created account: %s is %v, fixture has %v", k, got[k], entitled[k])
		}
	}
	if tok, _ := got["activation_token"].(string); !activationToken.MatchString(tok) {
		t.Errorf("activation token %q", tok)
	}

	noEnd := fixture(t, contract.PublishedAccountNoEndDate)
	h.create("cust-0002", "F", "")
	if err := h.sim.Redeem("cust-0002"); err != nil {
		t.Fatalf("Redeem: %v", err)
	}
	h.clock.Add(90 * time.Minute)
	r = h.do(http.MethodGet, accountPath("cust-0002"), nil)
	wantStatus(t, "get", r, http.StatusOK)
	got = r.json(t)
	sameShape(t, "provisioned account", got, noEnd)
	for _, k := range []string{"customer_account_uid", "account_type", "domain", "status", "ends_at", "created_at"} {
		if got[k] != noEnd[k] {
			t.Errorf("provisioned account: %s is %v, fixture has %v", k, got[k], noEnd[k])
		}
	}
	if got["deployed_members"] != float64(1) {
		t.Errorf("deployed_members %v after redeeming, want 1", got["deployed_members"])
	}
	for _, k := range []string{"created_at", "updated_at"} {
		if s, _ := got[k].(string); !msTime.MatchString(s) {
			t.Errorf("%s %q is not RFC 3339 UTC with milliseconds", k, s)
		}
	}
}

func TestPublishedErrorsMatchFixtures(t *testing.T) {
	h := newHarness(t, simulator.Options{Dialect: simulator.DialectPublished})
	h.create("deleted-1", "I", "")
	wantStatus(t, "delete", h.do(http.MethodDelete, accountPath("deleted-1"), nil), http.StatusNoContent)
	h.create("live-1", "I", "")

	tests := []struct {
		name    string
		method  string
		path    string
		body    any
		opts    []reqOption
		fixture string
		status  int
	}{
		{"missing token", "GET", accountPath("live-1"), nil, []reqOption{noAuth()}, contract.PublishedErrorForbidden, 403},
		{"wrong token", "POST", accountsPath, createBody("x", "I", "b5test.com", ""), []reqOption{withToken("nope")}, contract.PublishedErrorForbidden, 403},
		{"unknown domain", "POST", accountsPath, createBody("x", "I", "example.com", ""), nil, contract.PublishedErrorDomainNotFound, 404},
		{"get deleted", "GET", accountPath("deleted-1"), nil, nil, contract.PublishedErrorGone, 410},
		{"delete deleted", "DELETE", accountPath("deleted-1"), nil, nil, contract.PublishedErrorGone, 410},
		{"patch deleted", "PATCH", accountPath("deleted-1"), map[string]any{"ends_at": "2060-01-01T00:00:00Z"}, nil, contract.PublishedErrorUpdateDeleted, 400},
		{"create ending in the past", "POST", accountsPath, createBody("x", "I", "b5test.com", "2020-01-01T00:00:00Z"), nil, contract.PublishedErrorEndsAtPast, 400},
		{"patch into the past", "PATCH", accountPath("live-1"), map[string]any{"ends_at": "2026-11-27T09:59:59.999Z"}, nil, contract.PublishedErrorEndsAtPast, 400},
	}
	for _, tt := range tests {
		r := h.do(tt.method, tt.path, tt.body, tt.opts...)
		wantStatus(t, tt.name, r, tt.status)
		if got, want := r.json(t), fixture(t, tt.fixture); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: body %s, want %s", tt.name, r.body, contract.PublishedFixture(tt.fixture))
		}
	}

	if err := h.sim.SetFaults(simulator.Faults{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	r := h.do(http.MethodGet, accountPath("live-1"), nil)
	wantStatus(t, "injected 500", r, http.StatusInternalServerError)
	if got, want := r.json(t), fixture(t, contract.PublishedErrorInternal); !reflect.DeepEqual(got, want) {
		t.Errorf("injected 500: body %s, want %s", r.body, contract.PublishedFixture(contract.PublishedErrorInternal))
	}
}

func TestPublishedEndDate(t *testing.T) {
	h := newHarness(t, simulator.Options{Dialect: simulator.DialectPublished})
	a := h.create("ends-1", "I", "2050-02-05T13:00:00Z")
	if a["ends_at"] != "2050-02-05T13:00:00.000Z" {
		t.Fatalf("ends_at %v", a["ends_at"])
	}
	for _, clear := range []string{`{"ends_at": null}`, `{"ends_at": ""}`} {
		h.clock.Add(time.Minute)
		r := h.do(http.MethodPatch, accountPath("ends-1"), clear)
		wantStatus(t, clear, r, http.StatusOK)
		m := r.json(t)
		if v, ok := m["ends_at"]; !ok || v != nil {
			t.Errorf("%s: ends_at %v (present %v), want null", clear, v, ok)
		}
		if m["updated_at"] == m["created_at"] {
			t.Errorf("%s: updated_at %v did not move", clear, m["updated_at"])
		}
		r = h.do(http.MethodPatch, accountPath("ends-1"), map[string]any{"ends_at": "2051-01-01T00:00:00Z"})
		wantStatus(t, "set again", r, http.StatusOK)
	}
	r := h.do(http.MethodPost, accountsPath, `{"customer_account_uid":"ends-2","account_type":"F","domain":"1password.eu","ends_at":""}`)
	wantStatus(t, "create with empty ends_at", r, http.StatusCreated)
	if m := r.json(t); m["ends_at"] != nil {
		t.Errorf("create with empty ends_at: %v", m["ends_at"])
	}
}
