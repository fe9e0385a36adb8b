//go:build bench

package bench_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/partnerbilling/partner-account-operator/test/bench"
)

// TestBench200 is make bench at 200 accounts, run by make test. It prints the same
// figures and asserts the ones per account, which do not depend on how fast the
// machine is: one create each and one read on the new connection (1.00 API calls
// per account), at most 3 writes per account, no call and no write while idle, no
// call after a restart. Times are printed, never asserted. It
// installs the operator from dist/chart with the helm at $HELM, or bin/helm.
//
//	HELM=bin/helm go test -tags bench ./test/bench/ -count=1 -v
func TestBench200(t *testing.T) {
	ctrllog.SetLogger(logr.Discard())
	cfg := bench.DefaultConfig(200)
	cfg.WorkDir = t.TempDir()
	cfg.Logf = func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	// A change stuck behind the backlog is reported as not reached after this.
	cfg.EndsAtTimeout = time.Minute
	// Half of make bench's windows: 200 accounts settle long before, and make test
	// stays within its time.
	cfg.IdleWindow, cfg.RestartWindow = 30*time.Second, 30*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 14*time.Minute)
	defer cancel()

	res, err := bench.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("\n%s\n", bench.Table(res))

	n := cfg.Accounts
	// One create each, and one read for the connection's first account: on a
	// connection where no account is known to exist, it reads before it creates
	// (so that a cluster rebuilt from Git sends no create).
	if got := res.Calls.Op("create"); got != n || res.Calls.Total() != n+1 {
		t.Errorf("%.2f API calls per account (%s), want %d creates and one read", res.CallsPerAccount(), res.Calls, n)
	}
	if got := res.Writes.PartnerAccounts; got > 3*n {
		t.Errorf("%.2f writes per account (%d writes), want at most 3", res.WritesPerAccount(), got)
	}
	if got := res.IdleCalls.Total(); got != 0 {
		t.Errorf("%d API calls in %s idle (%s), want 0", got, cfg.IdleWindow, res.IdleCalls)
	}
	if got := res.IdleWrites.PartnerAccounts; got != 0 {
		t.Errorf("%d writes of PartnerAccounts in %s idle, want 0", got, cfg.IdleWindow)
	}
	if got := res.RestartCalls.Total(); got != 0 {
		t.Errorf("%d API calls (%.2f per account) in the %s after a restart (%s), want 0",
			got, float64(got)/float64(n), cfg.RestartWindow, res.RestartCalls)
	}
}

// TestSignup50 is make bench's signup scenario, smaller: 50 accounts, the
// customers of 15 sign up within a minute of their account's creation, with the
// chart's read-back settings. 50 young accounts read every 20 s take 2.5 GETs a
// second, within the budget of 5, so every signup must be seen within 90 s (the
// schedule's 20 s ±20%, with room for a slow machine), and the GETs must stay
// within the budget, on average and over any 10 s.
func TestSignup50(t *testing.T) {
	ctrllog.SetLogger(logr.Discard())
	cfg := bench.DefaultSignupConfig()
	cfg.Accounts, cfg.Signups, cfg.Within, cfg.SeenTimeout = 50, 15, time.Minute, 90*time.Second
	cfg.WorkDir = t.TempDir()
	cfg.Logf = func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	res, err := bench.RunSignup(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("\n%s\n", bench.SignupTable(res))
	if res.Redeemed != cfg.Signups || res.Seen() != cfg.Signups {
		t.Errorf("%d of %d signups seen (%d made)", res.Seen(), cfg.Signups, res.Redeemed)
	}
	if len(res.Unexpected) > 0 {
		t.Errorf("shown provisioned though no customer signed up: %v", res.Unexpected)
	}
	if slowest := res.Lag(100); slowest > 90*time.Second {
		t.Errorf("the slowest signup was seen after %s, want within 90 s", slowest)
	}
	if rate := res.GetRate(); rate > cfg.Budget() {
		t.Errorf("%.2f GETs a second, above the budget of %g", rate, cfg.Budget())
	}
	// Read-backs that fell behind the creates must not then go all together: no
	// stretch of 10 s above the budget (2 GETs of room for the sampling).
	if most, at := res.PeakWindow(10 * time.Second); float64(most) > 10*cfg.Budget()+2 {
		t.Errorf("%d GETs in the 10 s from %s, above the budget of %g a second", most, at, cfg.Budget())
	}
}
