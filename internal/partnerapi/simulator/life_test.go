package simulator_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

// lifeStep is one step of an account's life: an action on the simulator, or an
// API request with the answer it must get.
type lifeStep struct {
	name   string
	action func(h *harness) error // instead of a request
	method string
	body   any
	opts   []reqOption
	status int
	word   string // error code (contract) or error word (published)
	state  string // account status the answer must carry
}

func runLife(t *testing.T, dialect simulator.Dialect, uid string, steps []lifeStep) {
	h := newHarness(t, simulator.Options{Dialect: dialect})
	var token string
	for _, st := range steps {
		if st.action != nil {
			if err := st.action(h); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			continue
		}
		path := accountPath(uid)
		if st.method == http.MethodPost {
			path = accountsPath
		}
		r := h.do(st.method, path, st.body, st.opts...)
		if st.word != "" {
			wantError(t, h, st.name, r, st.status, st.word)
			continue
		}
		wantStatus(t, st.name, r, st.status)
		if st.state == "" {
			continue
		}
		m := r.json(t)
		if m["status"] != st.state {
			t.Errorf("%s: status %v, want %s", st.name, m["status"], st.state)
		}
		tok, _ := m["activation_token"].(string)
		if st.method == http.MethodPost && tok == token {
			t.Errorf("%s: re-created account kept activation token %s", st.name, tok)
		}
		token = tok
	}
}

func redeem(uid string) func(*harness) error {
	return func(h *harness) error { return h.sim.Redeem(uid) }
}
func suspend(uid string) func(*harness) error {
	return func(h *harness) error { return h.sim.Suspend(uid) }
}
func unsuspend(uid string) func(*harness) error {
	return func(h *harness) error { return h.sim.Unsuspend(uid) }
}
func advance(d time.Duration) func(*harness) error {
	return func(h *harness) error { h.clock.Add(d); return nil }
}

func TestAccountLife(t *testing.T) {
	const uid = "life-1"
	endsSoon := map[string]any{"ends_at": start.Add(time.Hour).Format(time.RFC3339)}
	endsLater := map[string]any{"ends_at": start.Add(72 * time.Hour).Format(time.RFC3339)}
	common := []lifeStep{
		{name: "create", method: "POST", body: createBody(uid, "I", "b5test.com", ""), status: 201, state: "entitled"},
		{name: "read", method: "GET", status: 200, state: "entitled"},
		{name: "redeem", action: redeem(uid)},
		{name: "read redeemed", method: "GET", status: 200, state: "provisioned"},
		{name: "suspend", action: suspend(uid)},
		{name: "read suspended", method: "GET", status: 200, state: "suspended"},
		{name: "unsuspend", action: unsuspend(uid)},
		{name: "read unsuspended", method: "GET", status: 200, state: "provisioned"},
		{name: "set end date", method: "PATCH", body: endsSoon, status: 200, state: "provisioned"},
		{name: "end date passes", action: advance(2 * time.Hour)},
		{name: "read ended", method: "GET", status: 200, state: "deprovisioned"},
	}
	contractLife := append(append([]lifeStep(nil), common...),
		lifeStep{name: "extend end date", method: "PATCH", body: endsLater, status: 200, state: "provisioned"},
		lifeStep{name: "clear end date", method: "PATCH", body: `{"ends_at": null}`,
			opts: []reqOption{invalidRequest("null ends_at is not in the contract")}, status: 200, state: "provisioned"},
		lifeStep{name: "create twice", method: "POST", body: createBody(uid, "I", "b5test.com", ""), status: 409, word: "account_exists"},
		lifeStep{name: "delete", method: "DELETE", status: 204},
		lifeStep{name: "read deleted", method: "GET", status: 404, word: "account_not_found"},
		lifeStep{name: "patch deleted", method: "PATCH", body: endsLater, status: 404, word: "account_not_found"},
		lifeStep{name: "delete deleted", method: "DELETE", status: 404, word: "account_not_found"},
		lifeStep{name: "redeem deleted", action: func(h *harness) error { return wantErr(h.sim.Redeem(uid), simulator.ErrDeleted) }},
		lifeStep{name: "create again", method: "POST", body: createBody(uid, "F", "b5test.ca", ""), status: 201, state: "entitled"},
		lifeStep{name: "read re-created", method: "GET", status: 200, state: "entitled"},
	)
	publishedLife := append(append([]lifeStep(nil), common...),
		lifeStep{name: "end date into the past", method: "PATCH", body: endsSoon, status: 400, word: "bad_request"},
		lifeStep{name: "extend end date", method: "PATCH", body: endsLater, status: 200, state: "provisioned"},
		lifeStep{name: "clear end date", method: "PATCH", body: `{"ends_at": null}`, status: 200, state: "provisioned"},
		lifeStep{name: "create twice", method: "POST", body: createBody(uid, "I", "b5test.com", ""), status: 400, word: "bad_request"},
		lifeStep{name: "delete", method: "DELETE", status: 204},
		lifeStep{name: "read deleted", method: "GET", status: 410, word: "gone"},
		lifeStep{name: "patch deleted", method: "PATCH", body: endsLater, status: 400, word: "bad_request"},
		lifeStep{name: "delete deleted", method: "DELETE", status: 410, word: "gone"},
		lifeStep{name: "create again", method: "POST", body: createBody(uid, "I", "b5test.com", ""), status: 400, word: "bad_request"},
		lifeStep{name: "still a tombstone", method: "GET", status: 410, word: "gone"},
	)
	t.Run("contract", func(t *testing.T) { runLife(t, simulator.DialectContract, uid, contractLife) })
	t.Run("published", func(t *testing.T) { runLife(t, simulator.DialectPublished, uid, publishedLife) })
}

func wantErr(got, want error) error {
	if !errors.Is(got, want) {
		return errors.New("got error " + errString(got) + ", want " + want.Error())
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return "none"
	}
	return err.Error()
}

func TestControls(t *testing.T) {
	h := newHarness(t, simulator.Options{})
	h.create("ctl-1", "F", start.Add(time.Hour).Format(time.RFC3339))

	checks := []struct {
		name string
		err  error
		want error
	}{
		{"redeem unknown", h.sim.Redeem("nobody"), simulator.ErrNotFound},
		{"suspend unknown", h.sim.Suspend("nobody"), simulator.ErrNotFound},
		{"delete unknown", h.sim.DeleteOutOfBand("nobody"), simulator.ErrNotFound},
		{"suspend", h.sim.Suspend("ctl-1"), nil},
		{"redeem suspended", h.sim.Redeem("ctl-1"), simulator.ErrInvalidState},
		{"unsuspend", h.sim.Unsuspend("ctl-1"), nil},
		{"unsuspend again", h.sim.Unsuspend("ctl-1"), nil},
	}
	for _, c := range checks {
		if !errors.Is(c.err, c.want) || (c.want == nil && c.err != nil) {
			t.Errorf("%s: error %v, want %v", c.name, c.err, c.want)
		}
	}
	if st, _ := h.sim.Account("ctl-1"); st.Status != simulator.StatusEntitled {
		t.Errorf("after suspend and unsuspend: status %s, want entitled", st.Status)
	}
	h.clock.Add(time.Hour)
	if err := h.sim.Redeem("ctl-1"); !errors.Is(err, simulator.ErrInvalidState) {
		t.Errorf("redeem ended account: %v, want ErrInvalidState", err)
	}
	if err := h.sim.DeleteOutOfBand("ctl-1"); err != nil {
		t.Fatalf("DeleteOutOfBand: %v", err)
	}
	st, ok := h.sim.Account("ctl-1")
	if !ok || !st.Deleted || st.DeletedBy != simulator.DeletedOutOfBand || st.DeletedAt == nil {
		t.Errorf("after out-of-band delete: %+v", st)
	}
	wantError(t, h, "read after out-of-band delete", h.do(http.MethodGet, accountPath("ctl-1"), nil), 404, "account_not_found")
	if err := h.sim.Reset(); err != nil {
		t.Fatal(err)
	}
	if n := len(h.sim.Accounts()); n != 0 {
		t.Errorf("after Reset: %d accounts", n)
	}
	if n := len(h.sim.Requests()); n != 0 {
		t.Errorf("after Reset: request counts %v", h.sim.Requests())
	}
}

func TestIDRules(t *testing.T) {
	tests := []struct {
		uid                 string
		contract, published bool // valid in each dialect
	}{
		{"a", true, true},
		{"Cust-0001", true, true},
		{"cust.0001", true, false},
		{strings.Repeat("x", 80), true, true},
		{strings.Repeat("x", 81), true, false},
		{strings.Repeat("x", 200), true, false},
		{strings.Repeat("x", 201), false, false},
		{"a_b", false, false},
		{"a b", false, false},
		{"a/b", false, false},
		{"café", false, false},
		{"", false, false},
	}
	for _, d := range []simulator.Dialect{simulator.DialectContract, simulator.DialectPublished} {
		t.Run(string(d), func(t *testing.T) {
			h := newHarness(t, simulator.Options{Dialect: d})
			for _, tt := range tests {
				valid := tt.contract
				if d == simulator.DialectPublished {
					valid = tt.published
				}
				var opts []reqOption
				if !tt.contract || tt.uid == "" {
					opts = append(opts, invalidRequest("uid breaks the rules"))
				}
				r := h.do(http.MethodPost, accountsPath, createBody(tt.uid, "I", "b5test.com", ""), opts...)
				want := http.StatusBadRequest
				if valid {
					want = http.StatusCreated
				}
				wantStatus(t, "create "+tt.uid, r, want)
				if tt.uid == "" {
					continue // the path is the collection
				}
				// Reading: a valid id is found (or not); a bad one is refused, with
				// 404 in the contract dialect where the contract declares no 400.
				want = http.StatusOK
				if !valid {
					want = http.StatusBadRequest
					if d == simulator.DialectContract {
						want = http.StatusNotFound
					}
				}
				wantStatus(t, "get "+tt.uid, h.do(http.MethodGet, accountPath(tt.uid), nil, opts...), want)
				if !valid {
					wantStatus(t, "patch "+tt.uid, h.do(http.MethodPatch, accountPath(tt.uid), map[string]any{}, opts...), http.StatusBadRequest)
				}
			}
		})
	}
}

func TestDomainRules(t *testing.T) {
	for _, d := range []simulator.Dialect{simulator.DialectContract, simulator.DialectPublished} {
		t.Run(string(d), func(t *testing.T) {
			h := newHarness(t, simulator.Options{Dialect: d})
			for i, dom := range simulator.DefaultDomains() {
				uid := "dom-" + string(rune('a'+i))
				wantStatus(t, dom, h.do(http.MethodPost, accountsPath, createBody(uid, "F", dom, "")), http.StatusCreated)
			}
			for _, dom := range []string{"example.com", "B5TEST.COM", "b5test.com.evil.example", ""} {
				r := h.do(http.MethodPost, accountsPath, createBody("dom-x", "I", dom, ""))
				if d == simulator.DialectPublished {
					wantError(t, h, dom, r, http.StatusNotFound, "not_found")
				} else {
					wantError(t, h, dom, r, http.StatusBadRequest, "invalid_domain")
				}
			}
			custom := newHarness(t, simulator.Options{Dialect: d, Domains: []string{"partner.test"}})
			wantStatus(t, "custom domain", custom.do(http.MethodPost, accountsPath, createBody("c1", "I", "partner.test", "")), http.StatusCreated)
			r := custom.do(http.MethodPost, accountsPath, createBody("c2", "I", "b5test.com", ""))
			if r.status != http.StatusBadRequest && r.status != http.StatusNotFound {
				t.Errorf("default domain with a custom list: %d %s", r.status, r.body)
			}
		})
	}
}

func TestTokenRules(t *testing.T) {
	for _, d := range []simulator.Dialect{simulator.DialectContract, simulator.DialectPublished} {
		t.Run(string(d), func(t *testing.T) {
			refused, word := http.StatusUnauthorized, "unauthorized"
			if d == simulator.DialectPublished {
				refused, word = http.StatusForbidden, "forbidden"
			}
			file := filepath.Join(t.TempDir(), "tokens")
			if err := os.WriteFile(file, []byte("# partner tokens\n\nfile-token\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, simulator.Options{Dialect: d, Tokens: []string{testToken}, TokenFile: file})
			h.create("tok-1", "I", "")
			path := accountPath("tok-1")
			wantStatus(t, "file token", h.do(http.MethodGet, path, nil, withToken("file-token")), http.StatusOK)
			for _, c := range []struct {
				name string
				opts []reqOption
			}{
				{"no header", []reqOption{noAuth(), invalidRequest("no token")}},
				{"wrong token", []reqOption{withToken("not-it")}},
				{"token prefix", []reqOption{withToken(testToken[:5])}},
				{"comment line of the file", []reqOption{withToken("#")}},
			} {
				wantError(t, h, c.name, h.do(http.MethodGet, path, nil, c.opts...), refused, word)
			}
			wantError(t, h, "basic auth", h.do(http.MethodGet, path, nil, withAuthorization("Basic "+testToken), invalidRequest("basic auth")), refused, word)
			wantStatus(t, "right token", h.do(http.MethodGet, path, nil, withToken(testToken)), http.StatusOK)
			wantStatus(t, "lower-case scheme", h.do(http.MethodGet, path, nil, withAuthorization("bearer "+testToken), invalidRequest("lower-case scheme")), http.StatusOK)

			if err := h.sim.SetTokens([]string{"rotated"}); err != nil {
				t.Fatal(err)
			}
			wantError(t, h, "revoked token", h.do(http.MethodGet, path, nil), refused, word)
			wantStatus(t, "new token", h.do(http.MethodGet, path, nil, withToken("rotated")), http.StatusOK)
			if err := h.sim.SetTokens([]string{"has space"}); err == nil {
				t.Error("SetTokens took a token with a space")
			}
			if got := h.sim.Requests()["get "+itoa(refused)]; got != 6 {
				t.Errorf("refused reads counted %d, want 6 (%v)", got, h.sim.Requests())
			}
		})
	}
	if _, err := simulator.New(simulator.Options{}); !errors.Is(err, simulator.ErrNoToken) {
		t.Errorf("New without a token: %v, want ErrNoToken", err)
	}
}

func TestWireDetails(t *testing.T) {
	h := newHarness(t, simulator.Options{})
	seen := map[string]bool{}
	for i := range 300 {
		a := h.create("tok-"+itoa(i), "I", "")
		tok := a["activation_token"].(string)
		if !activationToken.MatchString(tok) || seen[tok] {
			t.Fatalf("activation token %q (seen before: %v)", tok, seen[tok])
		}
		seen[tok] = true
	}
	r := h.do(http.MethodPut, accountsPath, nil, invalidRequest("wrong method"), outsideSpec("405 is not in the contract"))
	wantError(t, h, "PUT collection", r, http.StatusMethodNotAllowed, "method_not_allowed")
	if r.header.Get("Allow") != "POST" {
		t.Errorf("Allow %q", r.header.Get("Allow"))
	}
	r = h.do(http.MethodPost, accountPath("tok-1"), map[string]any{}, invalidRequest("wrong method"), outsideSpec("405 is not in the contract"))
	wantError(t, h, "POST item", r, http.StatusMethodNotAllowed, "method_not_allowed")
	if r.header.Get("Allow") != "GET, PATCH, DELETE" {
		t.Errorf("Allow %q", r.header.Get("Allow"))
	}
	r = h.do(http.MethodGet, "/api/v1/partners/accounts/tok-1/extra", nil, invalidRequest("no such path"), outsideSpec("no such path"))
	wantError(t, h, "unknown path", r, http.StatusNotFound, "not_found")
	r = h.do(http.MethodGet, "/api/v1/partners/accounts/tok%2D1", nil, invalidRequest("kin-openapi matches the escaped path segment"))
	wantStatus(t, "escaped uid", r, http.StatusOK)
	counts := h.sim.Requests()
	if counts["create 201"] != 300 || counts["other 405"] != 2 || counts["other 404"] != 1 || counts["get 200"] != 1 {
		t.Errorf("request counts %v", counts)
	}
	h.sim.ResetCounts()
	if len(h.sim.Requests()) != 0 {
		t.Errorf("after ResetCounts: %v", h.sim.Requests())
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestSetDeployedMembers(t *testing.T) {
	h := newHarness(t, simulator.Options{Dialect: simulator.DialectPublished})
	h.create("members-1", "F", "")
	if err := h.sim.Redeem("members-1"); err != nil {
		t.Fatal(err)
	}
	before, _ := h.sim.Account("members-1")
	h.clock.Add(time.Minute)
	if err := h.sim.SetDeployedMembers("members-1", 4); err != nil {
		t.Fatal(err)
	}
	after, _ := h.sim.Account("members-1")
	if after.DeployedMembers != 4 || !after.UpdatedAt.After(before.UpdatedAt) {
		t.Errorf("after: %+v", after)
	}
	if got := h.do(http.MethodGet, accountPath("members-1"), nil).json(t)["deployed_members"]; got != float64(4) {
		t.Errorf("the API answers deployed_members %v", got)
	}
	if err := h.sim.SetDeployedMembers("nobody", 1); !errors.Is(err, simulator.ErrNotFound) {
		t.Errorf("an unknown account: %v", err)
	}
}
