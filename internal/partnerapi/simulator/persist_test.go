package simulator_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

func TestStateFileRoundTrip(t *testing.T) {
	for _, d := range []simulator.Dialect{simulator.DialectContract, simulator.DialectPublished} {
		t.Run(string(d), func(t *testing.T) {
			dir := t.TempDir()
			state := filepath.Join(dir, "sim-state.json")
			h := newHarness(t, simulator.Options{Dialect: d, StateFile: state})
			h.create("keep-1", "I", "2050-02-05T13:00:00Z")
			h.create("keep-2", "F", "")
			h.create("keep-3", "I", "")
			if err := h.sim.Redeem("keep-2"); err != nil {
				t.Fatal(err)
			}
			if err := h.sim.Suspend("keep-3"); err != nil {
				t.Fatal(err)
			}
			h.create("drop-1", "I", "")
			wantStatus(t, "delete", h.do(http.MethodDelete, accountPath("drop-1"), nil), http.StatusNoContent)
			before := h.sim.Accounts()
			reads := map[string][]byte{}
			for _, uid := range []string{"keep-1", "keep-2", "keep-3", "drop-1"} {
				reads[uid] = h.do(http.MethodGet, accountPath(uid), nil).body
			}

			data, err := os.ReadFile(state)
			if err != nil {
				t.Fatalf("state file: %v", err)
			}
			if bytes.Contains(data, []byte(testToken)) {
				t.Error("the state file holds the bearer token")
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("state directory holds %d files, want only the state file", len(entries))
			}

			again := newHarness(t, simulator.Options{Dialect: d, StateFile: state, Tokens: []string{testToken}})
			if got, want := mustJSON(t, again.sim.Accounts()), mustJSON(t, before); got != want {
				t.Errorf("accounts after restart:\n%s\nwant\n%s", got, want)
			}
			for uid, want := range reads {
				if got := again.do(http.MethodGet, accountPath(uid), nil).body; !bytes.Equal(got, want) {
					t.Errorf("GET %s after restart: %s, want %s", uid, got, want)
				}
			}
			st, _ := again.sim.Account("keep-3")
			if st.Status != simulator.StatusSuspended {
				t.Errorf("keep-3 after restart: %s", st.Status)
			}
			if err := again.sim.Unsuspend("keep-3"); err != nil {
				t.Fatal(err)
			}
			if st, _ := again.sim.Account("keep-3"); st.Status != simulator.StatusEntitled {
				t.Errorf("keep-3 unsuspended after restart: %s, want its status before the suspension", st.Status)
			}
		})
	}
}

func TestStateFileConcurrentWrites(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	h := newHarness(t, simulator.Options{StateFile: state})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 25 {
				uid := "c-" + strconv.Itoa(w) + "-" + strconv.Itoa(i)
				body, _ := json.Marshal(createBody(uid, "I", "b5test.com", ""))
				req, _ := http.NewRequest(http.MethodPost, h.srv.URL+accountsPath, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+testToken)
				resp, err := h.srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_ = resp.Body.Close()
			}
		})
	}
	wg.Wait()
	again, err := simulator.New(simulator.Options{Tokens: []string{"t"}, StateFile: state})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(again.Accounts()); n != 200 {
		t.Errorf("after 200 concurrent creates the state file holds %d accounts", n)
	}
	if err := h.sim.Reset(); err != nil {
		t.Fatal(err)
	}
	again, err = simulator.New(simulator.Options{Tokens: []string{"t"}, StateFile: state})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(again.Accounts()); n != 0 {
		t.Errorf("after Reset the state file holds %d accounts", n)
	}
}

func TestStateFileErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.json")
	sim, err := simulator.New(simulator.Options{Tokens: []string{"t"}, StateFile: missing})
	if err != nil || len(sim.Accounts()) != 0 {
		t.Errorf("missing state file: %v", err)
	}
	if _, err := os.Stat(missing); err != nil {
		t.Errorf("New did not write the missing state file: %v", err)
	}
	if _, err := simulator.New(simulator.Options{Tokens: []string{"t"}, StateFile: filepath.Join(dir, "no-such-dir", "s.json")}); err == nil {
		t.Error("New accepted a state file in a directory that does not exist")
	}
	for name, content := range map[string]string{
		"garbage.json":   "{not json",
		"version.json":   `{"version": 99, "accounts": []}`,
		"duplicate.json": `{"version": 1, "accounts": [{"uid": "a"}, {"uid": "a"}]}`,
		"no-uid.json":    `{"version": 1, "accounts": [{"account_type": "I"}]}`,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := simulator.New(simulator.Options{Tokens: []string{"t"}, StateFile: path}); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
