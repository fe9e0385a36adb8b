package connection

import (
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// TestReadBackPeriodByConnection checks that each connection exports the longest
// any of its accounts goes unread under its own name, by its own rate, and that
// the series goes with the connection.
func TestReadBackPeriodByConnection(t *testing.T) {
	r := NewRegistry(nil, 5, Options{ResyncPeriod: time.Hour, Log: logr.Discard()})
	if _, err := r.UseClient("brand-b", 1, partnerapi.Config{BaseURL: "https://billing.example/api/v1",
		Token: func() (string, error) { return "t", nil }, RequestsPerSecond: 2}, "1"); err != nil {
		t.Fatal(err)
	}

	// 9,000 accounts at 5 a second fit in an hour; at 1 a second they take 2.5 hours.
	r.AccountsChanged("", 9000)
	r.AccountsChanged("brand-b", 9000)
	period := func(connection string) float64 {
		return testutil.ToFloat64(readBackPeriod.WithLabelValues(connection))
	}
	if got := period(partnerapi.DefaultConnection); got != time.Hour.Seconds() {
		t.Errorf("default connection: %v s, want 3600", got)
	}
	if got := period("brand-b"); got != 9000 {
		t.Errorf("brand-b: %v s, want 9000", got)
	}

	r.Forget("brand-b")
	if readBackPeriod.DeleteLabelValues("brand-b") {
		t.Error("brand-b's series outlived the connection")
	}
}

// TestUseClientKeepsWhatTheConnectionLearnt checks that a connection whose spec
// changes keeps its client while nothing the client depends on changed, and its
// create mode and verification when it gets a new one.
func TestUseClientKeepsWhatTheConnectionLearnt(t *testing.T) {
	r := NewRegistry(nil, 0, Options{ResyncPeriod: time.Hour, Log: logr.Discard()})
	cfg := partnerapi.Config{BaseURL: "https://billing.example/api/v1", Token: func() (string, error) { return "t", nil }}
	c, err := r.UseClient("brand-b", 1, cfg, "1")
	if err != nil {
		t.Fatal(err)
	}
	c.ProbeDone(true, false)
	c.Verified.Generation = 3
	if again, _ := r.UseClient("brand-b", 2, cfg, "1"); again != c || again.Generation() != 2 {
		t.Error("the same configuration made a new client, or kept the generation it was set up for before")
	}
	cfg.RequestsPerSecond = 50
	next, err := r.UseClient("brand-b", 3, cfg, "2")
	if err != nil || next == c || next.API == c.API {
		t.Fatalf("a new configuration kept the client (%v)", err)
	}
	if next.CreateMode(false) != ReadFirst || next.Verified.Generation != 3 || next.Generation() != 3 {
		t.Errorf("the new client forgot: mode %v, verified %+v", next.CreateMode(false), next.Verified)
	}
	r.MarkUnusable("brand-b", 4, "no Secret")
	u := r.Get("brand-b")
	if u.Unusable() != "no Secret" || u.ReadBacks == nil || u.CreateMode(false) != ReadFirst || u.Generation() != 4 {
		t.Errorf("unusable connection = %+v", u)
	}
}

// TestCreateModeProbesOnce checks that on a connection with no account known, one
// resource reads first while the others wait, and that what it finds decides for
// all; that a known account means creating at once; and that a failed probe lets
// the next resource probe.
func TestCreateModeProbesOnce(t *testing.T) {
	for _, tt := range []struct {
		name                string
		preexisting, absent bool
		want                CreateMode
	}{
		{"an account that existed before", true, false, ReadFirst},
		{"no account", false, true, CreateAtOnce},
		{"a failed read", false, false, ProbeFirst},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &Connection{}
			if m := c.CreateMode(false); m != ProbeFirst {
				t.Fatalf("first resource: %v, want ProbeFirst", m)
			}
			if m := c.CreateMode(false); m != WaitForProbe {
				t.Fatalf("second resource during the probe: %v, want WaitForProbe", m)
			}
			c.ProbeDone(tt.preexisting, tt.absent)
			if m := c.CreateMode(false); m != tt.want {
				t.Errorf("after the probe: %v, want %v", m, tt.want)
			}
		})
	}
	c := &Connection{}
	if m := c.CreateMode(true); m != CreateAtOnce {
		t.Errorf("with an account known: %v, want CreateAtOnce", m)
	}
	if m := c.CreateMode(false); m != CreateAtOnce {
		t.Errorf("once known safe: %v, want CreateAtOnce", m)
	}
}
