package simulator_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

// TestDeprovision checks the control that deprovisions an account before its end
// date: the API keeps serving the account, as deprovisioned, in both dialects.
func TestDeprovision(t *testing.T) {
	for _, d := range []simulator.Dialect{simulator.DialectContract, simulator.DialectPublished} {
		t.Run(string(d), func(t *testing.T) {
			h := newHarness(t, simulator.Options{Dialect: d})
			endsAt := start.Add(time.Hour).Format(time.RFC3339)
			h.create("dep-1", "I", endsAt)
			h.create("dep-2", "F", "")

			if err := h.sim.Deprovision("dep-1"); err != nil {
				t.Fatalf("Deprovision: %v", err)
			}
			if err := h.sim.Deprovision("dep-1"); err != nil {
				t.Errorf("Deprovision again: %v, want nil", err)
			}
			if err := h.sim.Deprovision("nobody"); !errors.Is(err, simulator.ErrNotFound) {
				t.Errorf("Deprovision unknown: %v, want ErrNotFound", err)
			}
			if err := h.sim.Redeem("dep-1"); !errors.Is(err, simulator.ErrInvalidState) {
				t.Errorf("Redeem deprovisioned: %v, want ErrInvalidState", err)
			}
			st, _ := h.sim.Account("dep-1")
			if st.Status != simulator.StatusDeprovisioned || st.Deleted || st.EndsAt == nil || !st.EndsAt.After(start) {
				t.Errorf("after Deprovision: %+v, want deprovisioned, not deleted, end date kept", st)
			}
			r := h.do(http.MethodGet, accountPath("dep-1"), nil)
			wantStatus(t, "read deprovisioned", r, http.StatusOK)
			if got := r.json(t)["status"]; got != simulator.StatusDeprovisioned {
				t.Errorf("read deprovisioned: status %v, want deprovisioned", got)
			}

			r = h.do(http.MethodPost, "/sim/accounts/dep-2/deprovision", nil)
			wantStatus(t, "POST /sim/accounts/dep-2/deprovision", r, http.StatusOK)
			var out simulator.AccountState
			decode(t, r, &out)
			if out.UID != "dep-2" || out.Status != simulator.StatusDeprovisioned {
				t.Errorf("POST /sim/accounts/dep-2/deprovision: %+v", out)
			}
			wantStatus(t, "deprovision unknown over HTTP",
				h.do(http.MethodPost, "/sim/accounts/nobody/deprovision", nil), http.StatusNotFound)
			if err := h.sim.DeleteOutOfBand("dep-2"); err != nil {
				t.Fatal(err)
			}
			wantStatus(t, "deprovision deleted over HTTP",
				h.do(http.MethodPost, "/sim/accounts/dep-2/deprovision", nil), http.StatusConflict)
		})
	}
}
