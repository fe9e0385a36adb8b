package main

import (
	"strings"
	"testing"
	"time"

	"github.com/partnerbilling/partner-account-operator/test/bench"
)

// TestRender renders the document for a run of each size and a run with token
// Secrets, as make bench would, and checks what it must say.
func TestRender(t *testing.T) {
	result := func(n int, secretRefs bool, peakRSS int64) *sizeRun {
		cfg := bench.DefaultConfig(n)
		cfg.SecretRefs = secretRefs
		return &sizeRun{result: &bench.Result{
			Config:       cfg,
			CreateTime:   time.Second,
			ReadyTime:    time.Duration(n/10) * time.Second,
			PeakRSS:      peakRSS,
			OperatorArgs: []string{"--leader-elect", "--resync-period=10m", "--resync-period=1h0m0s"},
			OperatorEnv:  []string{"GOMEMLIMIT=201326592", "GOGC=50"},
		}, loadBefore: "0.50 0.40 0.30", loadAfter: "1.00 0.90 0.80", took: time.Minute}
	}
	small, large := result(1000, false, 60<<20), result(10000, false, 90<<20)
	withRefs := result(1000, true, 63<<20)
	out, err := render(newDocData(machine{CPUs: 2}, []*sizeRun{small, large}, []*sizeRun{small}, []*sizeRun{withRefs}))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"`GOMEMLIMIT=201326592 GOGC=50`",
		"manager --leader-elect --resync-period=10m --resync-period=1h0m0s",
		"The chart's `--resync-period=10m`",
		"--resync-period=1h0m0s`",
		"## Token Secrets",
		"| 1,000 accounts, token in status | 1,000 accounts, token in a Secret |",
		"63.0 MiB = **1.05×** the run without",
		"| 1,000 accounts, token Secrets | ran 1m0s;",
		"![PartnerAccounts Ready over time, 10,000 accounts](benchmarks-ready-10000.png)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the document lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "(benchmarks-ready-1000.png)"); n != 1 {
		t.Errorf("%d plots of 1,000 accounts, want 1: the run with token Secrets has none", n)
	}
}
