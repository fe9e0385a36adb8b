package main

import (
	"strings"
	"testing"
	"time"

	"github.com/partnerbilling/partner-account-operator/test/bench"
)

// sizeResult is a run of n accounts as make bench would have it.
func sizeResult(n int, secretRefs bool, peakRSS int64) *sizeRun {
	cfg := bench.DefaultConfig(n)
	cfg.SecretRefs = secretRefs
	return &sizeRun{result: &bench.Result{
		Config:       cfg,
		CreateTime:   time.Second,
		ReadyTime:    time.Duration(n/10) * time.Second,
		PeakRSS:      peakRSS,
		OperatorArgs: []string{"--leader-elect", "--resync-period=24h", "--resync-period=1h0m0s"},
		OperatorEnv:  []string{"MEMORY_LIMIT=201326592", "GOGC=50"},
	}, loadBefore: "0.50 0.40 0.30", loadAfter: "1.00 0.90 0.80", took: time.Minute}
}

// scaleResult is a run of the scale part at n accounts as make bench would have it.
func scaleResult(n int, peakRSS int64) *sizeRun {
	cfg, err := scaleConfig(bench.DefaultConfig(n), 200, 100*time.Millisecond, 16, "256Mi")
	if err != nil {
		panic(err)
	}
	return &sizeRun{result: &bench.Result{
		Config:     cfg,
		CreateTime: time.Duration(n/250) * time.Second,
		ReadyTime:  time.Duration(n/190) * time.Second,
		PeakRSS:    peakRSS,
		OperatorArgs: []string{"--leader-elect", "--partner-api-rps=200", "--pprof-bind-address=127.0.0.1:40001",
			"--metrics-bind-address=127.0.0.1:40002", "--metrics-secure=false"},
		OperatorEnv: []string{"MEMORY_LIMIT=268435456", "GOGC=50"},
		HeapInUse:   int64(n) << 9,
		HeapTop: []string{
			"Showing nodes accounting for 19MB, 95% of 20MB total",
			"      flat  flat%   sum%        cum   cum%",
			"      12MB 60.00% 60.00%       12MB 60.00%  k8s.io/apimachinery/pkg/runtime.(*Unknown).Unmarshal",
		},
		HeapInUseIdle:  int64(n) << 8,
		HeapTopIdle:    []string{"Showing nodes accounting for 9MB, 90% of 10MB total", "IDLE TOP"},
		StartupSeconds: 3.26,
	}, loadBefore: "1.50 1.40 1.30", loadAfter: "2.00 1.90 1.80", took: 10 * time.Minute}
}

// fullOutcome is what a run of every part measured.
func fullOutcome() *outcome {
	small, large := sizeResult(1000, false, 60<<20), sizeResult(10000, false, 90<<20)
	withRefs := sizeResult(1000, true, 63<<20)
	sc := bench.DefaultSignupConfig()
	lags := make([]time.Duration, sc.Signups)
	for i := range lags {
		lags[i] = time.Duration(i+1) * time.Second
	}
	signup := &bench.SignupResult{Config: sc, Lags: lags, Redeemed: sc.Signups, End: 400 * time.Second,
		ReadyTime: 50 * time.Second, Calls: bench.Counts{"create 201": 500, "get 200": 1800},
		OperatorArgs: []string{"--leader-elect", "--resync-period=24h", "--partner-api-rps=10"},
		Gets:         []bench.GetSample{{At: 0, Gets: 0}, {At: 10 * time.Second, Gets: 50}, {At: 20 * time.Second, Gets: 90}}}
	imp := &bench.ImportResult{Config: bench.DefaultImportConfig(10000), Time: 1001 * time.Second, PeakRSS: 40 << 20,
		MaxRSS: 40 << 20, Documents: 10000, Summary: "imported 10000, skipped 0, failed 0 of 10000 UIDs in 16m41s",
		Calls: bench.Counts{"get 200": 10000}, Args: []string{"import", "--uids", "<work dir>/uids.txt", "--observe"}}
	l := load{date: "2030-01-01 00:00 UTC", before: "0.1 0.1 0.1", after: "0.2 0.2 0.2", took: time.Minute}
	return &outcome{machine: machine{CPUs: 2},
		runs: []*sizeRun{small, large}, withouts: []*sizeRun{small}, withRefs: []*sizeRun{withRefs},
		scale:  []*sizeRun{scaleResult(10000, 50<<20), scaleResult(50000, 120<<20)},
		signup: &signupRun{result: signup, load: l}, imp: &importRun{result: imp, load: l},
		simulation: &simulationRun{markdown: "SIMULATED FIGURES", load: l}}
}

// TestRender renders the document for a run of every part, as make bench would,
// and checks what it must say.
func TestRender(t *testing.T) {
	out, err := render(newDocData(fullOutcome()))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"`MEMORY_LIMIT=201326592 GOGC=50`",
		"manager --leader-elect --resync-period=24h --resync-period=1h0m0s",
		"(the chart's is `24h`)",
		"--resync-period=1h0m0s --min-read-back-interval=1h0m0s`",
		"### Token Secrets",
		"| 1,000 accounts, token in status | 1,000 accounts, token in a Secret |",
		"63.0 MiB = **1.05×** the run without",
		"| 1,000 accounts, token Secrets | ran 1m0s;",
		"![PartnerAccounts Ready over time, 10,000 accounts](benchmarks-ready-10000.png)",
		"## Memory at scale",
		"with the chart's\nmemory limit at 256Mi, so with `MEMORY_LIMIT=268435456 GOGC=50`, at\n`--partner-api-rps=200`",
		"`--set manager.resources.limits.memory=256Mi --set controller.maxConcurrentReconciles=16`",
		"| | target | 10,000 accounts | 50,000 accounts |",
		"| not measured: this run leaves the backlog phase out | not measured: this run leaves the backlog phase out |",
		"### 50,000 accounts\n\nPeak RSS 120.0 MiB, target ≤ 128 MiB: **met**. A restart lists and indexes 50,000 " +
			"accounts with 0 calls and 0 writes of PartnerAccounts (in the 1m0s from its start), ready to act after " +
			"**3.3 s**.",
		"Peak RSS 50.0 MiB, target ≤ 48 MiB: **not met**.",
		"The Go heap when all were Ready, 24.4 MiB in use:\n\n```\nShowing nodes accounting for 19MB, 95% of 20MB " +
			"total\n      flat  flat%   sum%        cum   cum%\n      12MB 60.00% 60.00%       12MB 60.00%  " +
			"k8s.io/apimachinery/pkg/runtime.(*Unknown).Unmarshal\n```",
		"idle window, the controller settled, 12.2 MiB in use:\n\n```\nShowing nodes accounting for 9MB, 90% of 10MB " +
			"total\nIDLE TOP\n```",
		"`--set manager.resources.limits.memory=256Mi --set controller.maxConcurrentReconciles=16`: the operator's",
		"manager --leader-elect --partner-api-rps=200 --pprof-bind-address=127.0.0.1:40001",
		"| 50,000 accounts | ran 10m0s; load average (1, 5, 15 min) 1.50 1.40 1.30 before",
		"## Signups",
		"| Signups shown as `accountStatus: provisioned` | all | **150 of 150**",
		"| Detection lag, median | ≤ 60.0 s | **75.0 s** |",
		"chart's read-back settings: its `--resync-period=24h`",
		"every 500 ÷ 5 = 1m40s",
		"## Importing UIDs with the kubectl plugin",
		"1001.0 s = **1.00×** the bound",
		"kubectl-partneraccount import --uids <work dir>/uids.txt --observe",
		"## The read-back schedule, simulated",
		"SIMULATED FIGURES",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the document lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "(benchmarks-ready-1000.png)"); n != 1 {
		t.Errorf("%d plots of 1,000 accounts, want 1: the run with token Secrets has none", n)
	}
	if strings.Contains(out, "Not measured yet") || strings.Contains(out, "Not run yet") {
		t.Errorf("a part that ran shows as not measured:\n%s", out)
	}
	if strings.Contains(out, "Before issue 28") {
		t.Errorf("the scale part shows a before without -scale-before:\n%s", out)
	}
}

// TestKeepSections checks that a run of one part rewrites its section alone and
// keeps the others as the document had them, and that a part never run says so.
func TestKeepSections(t *testing.T) {
	full := fullOutcome()
	previous, err := render(newDocData(full))
	if err != nil {
		t.Fatal(err)
	}
	// A run of the signups alone, with other figures.
	only := &outcome{machine: full.machine, signup: full.signup}
	only.signup.result.Lags = []time.Duration{7 * time.Second}
	only.signup.result.Redeemed = 1
	out, err := render(newDocData(only))
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{partSizes, partScale} {
		if !strings.Contains(out, "Not measured yet: `make bench BENCH_ARGS=\"-only "+part+"\"`") {
			t.Fatalf("the part %s that did not run does not say so:\n%s", part, out)
		}
	}
	kept, err := keepSections(out, previous, map[string]bool{partSignup: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{partSizes, partScale, partImport, partSimulation} {
		want, _ := section(previous, part)
		if got, ok := section(kept, part); !ok || got != want {
			t.Errorf("section %q not kept:\n%s", part, got)
		}
	}
	if got, _ := section(kept, partSignup); !strings.Contains(got, "**1 of 1**") {
		t.Errorf("the signups' section is not the new one:\n%s", got)
	}
	// A document without the section keeps the template's.
	fresh, err := keepSections(out, "", map[string]bool{partSignup: true})
	if err != nil || fresh != out {
		t.Errorf("with no previous document: %v, changed %v", err, fresh != out)
	}
}

// TestScaleSection checks that a run of the scale part alone, with -scale-before,
// shows the before verbatim in its section and keeps the other sections.
func TestScaleSection(t *testing.T) {
	previous, err := render(newDocData(fullOutcome()))
	if err != nil {
		t.Fatal(err)
	}
	before := "Measured on the code before issue 28:\n\n| | 50,000 accounts |\n|---|---|\n| Peak RSS | 410.0 MiB |"
	only := &outcome{machine: machine{CPUs: 2}, scale: []*sizeRun{scaleResult(50000, 100<<20)}, scaleBefore: before}
	out, err := render(newDocData(only))
	if err != nil {
		t.Fatal(err)
	}
	kept, err := keepSections(out, previous, map[string]bool{partScale: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{partSizes, partSignup, partImport, partSimulation} {
		want, _ := section(previous, part)
		if got, ok := section(kept, part); !ok || got != want {
			t.Errorf("section %q not kept:\n%s", part, got)
		}
	}
	got, _ := section(kept, partScale)
	for _, want := range []string{
		"### Before issue 28\n\n" + before + "\n",
		"| | target | 50,000 accounts |",
		"Peak RSS 100.0 MiB, target ≤ 128 MiB: **met**.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the scale section lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "10,000 accounts") {
		t.Errorf("the scale section kept the previous run's sizes:\n%s", got)
	}
}
