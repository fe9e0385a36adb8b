// Command bench is make bench. Its parts, each on a fresh environment (see package
// test/bench):
//
//   - sizes: the operator at 1,000 and 10,000 PartnerAccounts, and 1,000 a second
//     time with spec.activationTokenSecretRef on every account, to compare;
//   - scale: its memory at 10,000 and 50,000 PartnerAccounts (issue 28), with the
//     chart's memory limit at 256Mi, at --partner-api-rps=200: the sizes' figures
//     but the backlog phase, the Go heap's top functions when all are Ready and
//     when idle, and how soon a restarted operator has indexed every account (only
//     when named);
//   - signup: how soon the operator sees customers sign up (500 accounts, 150
//     signups), with the chart's read-back settings, and the GET rate meanwhile;
//   - import: the kubectl plugin importing 10,000 UIDs (only when named: it takes
//     about 17 minutes);
//   - simulation: the read-back schedule alone, simulated (go run ./hack/readbacksim).
//
// It prints the figures and writes them to docs/benchmarks.md, with a PNG of Ready
// accounts over time for each size (drawn by hack/benchplot) and, when the sizes
// ran, a summary in README.md. A run of some parts (-only) rewrites their sections
// of the document and keeps the others as they were.
//
//	make bench
//	make bench BENCH_ARGS="-accounts 1000 -rps 20"
//	make bench BENCH_ARGS="-only signup"
//	make bench BENCH_ARGS="-only import -readme="
//	make bench BENCH_ARGS="-only scale -scale-before before.md"
//
// It exits non-zero, naming the step, when a step fails, and then keeps the
// environment's logs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/resource"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/partnerbilling/partner-account-operator/internal/testenv"
	"github.com/partnerbilling/partner-account-operator/test/bench"
	"github.com/partnerbilling/partner-account-operator/test/localenv"
)

func main() {
	os.Exit(run())
}

// The parts of make bench, each a section of the document.
const (
	partSizes      = "sizes"
	partScale      = "scale"
	partSignup     = "signup"
	partImport     = "import"
	partSimulation = "simulation"
)

// allParts are the parts in the order they run and the document shows them;
// defaultParts those a run without -only runs.
var (
	allParts     = []string{partSizes, partScale, partSignup, partImport, partSimulation}
	defaultParts = []string{partSizes, partSignup, partSimulation}
)

// flags are the command line.
type flags struct {
	parts        map[string]bool
	sizes        []int
	secretRefs   []int        // the sizes to run again with token Secrets
	cfg          bench.Config // all but Accounts, SecretRefs and WorkDir
	scaleSizes   []int
	scale        bench.Config // the scale part's: cfg with its own settings
	scaleBefore  string       // the Markdown of -scale-before
	signup       bench.SignupConfig
	importUIDs   int
	doc, readme  string
	plot         bool
	operatorArgs stringList
}

func parseFlags() (*flags, error) {
	def := bench.DefaultConfig(0)
	f := &flags{signup: bench.DefaultSignupConfig()}
	only := flag.String("only", "",
		"comma-separated parts to run, among "+strings.Join(allParts, ", ")+"; the document keeps the sections of "+
			"the others as they were (default: "+strings.Join(defaultParts, ", ")+")")
	sizes := flag.String("accounts", "1000,10000",
		"sizes: comma-separated numbers of PartnerAccounts; each runs on a fresh environment")
	secretRefs := flag.String("secret-refs", "1000",
		"sizes: comma-separated sizes, among -accounts, to run a second time with spec.activationTokenSecretRef on "+
			"every account, and compare; empty: none")
	flag.Float64Var(&f.cfg.RPS, "rps", def.RPS, "the operator's --partner-api-rps, the rate limit of the bound")
	flag.DurationVar(&f.cfg.Latency, "latency", def.Latency, "the simulator's latency on every API answer")
	flag.IntVar(&f.cfg.CreateWorkers, "create-workers", def.CreateWorkers, "creates in flight at once")
	flag.DurationVar(&f.cfg.ReadyTimeout, "ready-timeout", 0,
		"sizes and scale: how long to wait for all Ready; 0: 3× the bound + 2m")
	flag.DurationVar(&f.cfg.IdleWindow, "idle", def.IdleWindow,
		"sizes and scale: how long to count calls and writes while idle")
	flag.DurationVar(&f.cfg.RestartWindow, "restart", def.RestartWindow,
		"sizes and scale: how long to count calls after a restart")
	flag.DurationVar(&f.cfg.ResyncPeriod, "resync-period", def.ResyncPeriod,
		"sizes and scale: the operator's --resync-period and --min-read-back-interval, so that no read-back falls in "+
			"the idle and restart windows")
	flag.DurationVar(&f.cfg.BacklogSettle, "backlog-settle", def.BacklogSettle,
		"sizes: how long reads are counted in the backlog phase before the endsAt changes")
	flag.IntVar(&f.cfg.EndsAtChanges, "endsat-changes", def.EndsAtChanges,
		"sizes: how many endsAt changes to time, one after the other")
	flag.DurationVar(&f.cfg.EndsAtTimeout, "endsat-timeout", def.EndsAtTimeout,
		"sizes: how long to wait for each endsAt change")
	scaleSizes := flag.String("scale-accounts", "10000,50000",
		"scale: comma-separated numbers of PartnerAccounts; each runs on a fresh environment")
	scaleRPS := flag.Float64("scale-rps", 200, "scale: the operator's --partner-api-rps")
	scaleLatency := flag.Duration("scale-latency", 100*time.Millisecond, "scale: the simulator's latency")
	scaleWorkers := flag.Int("scale-workers", 16,
		"scale: the operator's workers, PartnerAccounts reconciled at once (the chart's controller.maxConcurrentReconciles)")
	scaleMemory := flag.String("scale-memory-limit", "256Mi",
		"scale: the chart's manager.resources.limits.memory, from which it derives GOMEMLIMIT")
	scaleBefore := flag.String("scale-before", "",
		"scale: a Markdown file shown verbatim under \"Before issue 28\" in the section, such as a measurement of "+
			"the code before; empty: none")
	flag.IntVar(&f.signup.Accounts, "signup-accounts", f.signup.Accounts, "signup: PartnerAccounts to create")
	flag.IntVar(&f.signup.Signups, "signups", f.signup.Signups, "signup: how many of them are redeemed")
	flag.DurationVar(&f.signup.Within, "signup-within", f.signup.Within,
		"signup: each signup comes at a random time within this of its account's creation")
	flag.IntVar(&f.importUIDs, "import-uids", 10000, "import: UIDs to import with the kubectl plugin")
	flag.StringVar(&f.cfg.BinDir, "bin-dir", "bin", "where to build the operator, the simulator and the plugin")
	flag.StringVar(&f.cfg.Helm, "helm", def.Helm, "the helm that renders dist/chart (default $HELM, or bin/helm)")
	flag.StringVar(&f.doc, "doc", "docs/benchmarks.md", "the Markdown file to write, with the PNGs beside it; empty: none")
	flag.StringVar(&f.readme, "readme", "README.md",
		"the README whose benchmark summary to rewrite when the sizes run; empty: none")
	flag.BoolVar(&f.plot, "plot", true, "draw the PNGs with hack/benchplot (go run)")
	flag.Var(&f.operatorArgs, "operator-arg", "an argument added to the operator's command line; repeat for more")
	flag.Parse()
	var err error
	if f.parts, err = parseParts(*only); err != nil {
		return nil, err
	}
	if f.sizes, err = parseSizes("accounts", *sizes); err != nil {
		return nil, err
	}
	if *secretRefs != "" {
		if f.secretRefs, err = parseSizes("secret-refs", *secretRefs); err != nil {
			return nil, err
		}
	}
	f.cfg.OperatorArgs = f.operatorArgs
	if f.scaleSizes, err = parseSizes("scale-accounts", *scaleSizes); err != nil {
		return nil, err
	}
	if f.scale, err = scaleConfig(f.cfg, *scaleRPS, *scaleLatency, *scaleWorkers, *scaleMemory); err != nil {
		return nil, err
	}
	if *scaleBefore != "" {
		before, err := os.ReadFile(abs(testenv.Root(), *scaleBefore))
		if err != nil {
			return nil, fmt.Errorf("-scale-before: %w", err)
		}
		f.scaleBefore = strings.TrimSpace(string(before))
	}
	f.signup.RPS, f.signup.Latency, f.signup.CreateWorkers = f.cfg.RPS, f.cfg.Latency, f.cfg.CreateWorkers
	f.signup.Helm, f.signup.BinDir, f.signup.OperatorArgs = f.cfg.Helm, f.cfg.BinDir, f.operatorArgs
	return f, nil
}

// scaleConfig is the scale part's configuration: cfg, the sizes' settings, at rps
// with the simulator's latency, the operator's workers and the chart's memory
// limit at memoryLimit, profiled and without the backlog phase.
func scaleConfig(cfg bench.Config, rps float64, latency time.Duration, workers int, memoryLimit string) (
	bench.Config, error) {
	if _, err := resource.ParseQuantity(memoryLimit); err != nil {
		return cfg, fmt.Errorf("-scale-memory-limit %q: %w", memoryLimit, err)
	}
	cfg.RPS, cfg.Latency = rps, latency
	cfg.ChartValues = []string{memoryLimitValue + "=" + memoryLimit, workersValue + "=" + strconv.Itoa(workers)}
	cfg.Profile, cfg.SkipBacklog = true, true
	return cfg, nil
}

// The chart's values of the operator's memory limit and of its workers.
const (
	memoryLimitValue = "manager.resources.limits.memory"
	workersValue     = "controller.maxConcurrentReconciles"
)

// parseParts parses -only.
func parseParts(list string) (map[string]bool, error) {
	parts := map[string]bool{}
	if list == "" {
		for _, p := range defaultParts {
			parts[p] = true
		}
		return parts, nil
	}
	for p := range strings.SplitSeq(list, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(allParts, p) {
			return nil, fmt.Errorf("-only %q: want parts among %s, separated by commas", list, strings.Join(allParts, ", "))
		}
		parts[p] = true
	}
	return parts, nil
}

// parseSizes parses the comma-separated numbers of the flag name.
func parseSizes(name, list string) ([]int, error) {
	var sizes []int
	for s := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-%s %q: want positive numbers separated by commas", name, list)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

// outcome is what a run of make bench measured, part by part; a part not run is nil.
type outcome struct {
	machine                  machine
	runs, withRefs, withouts []*sizeRun
	scale                    []*sizeRun
	signup                   *signupRun
	imp                      *importRun
	simulation               *simulationRun
	// scaleBefore is the Markdown of -scale-before, for the scale part's section.
	scaleBefore string
}

func run() int {
	ctrllog.SetLogger(logr.Discard()) // envtest's own logging is not for the benchmark
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	o := &outcome{machine: describeMachine(), scaleBefore: f.scaleBefore}
	fmt.Printf("Machine: %s\n", o.machine)

	if f.parts[partSizes] {
		if err := runSizes(ctx, f, o); err != nil {
			return fail(ctx, err)
		}
	}
	if f.parts[partScale] {
		if err := runScale(ctx, f, o); err != nil {
			return fail(ctx, err)
		}
	}
	if f.parts[partSignup] {
		if o.signup, err = runSignup(ctx, f); err != nil {
			return fail(ctx, err)
		}
	}
	if f.parts[partImport] {
		if o.imp, err = runImportPart(ctx, f); err != nil {
			return fail(ctx, err)
		}
	}
	if f.parts[partSimulation] {
		if o.simulation, err = runSimulation(ctx); err != nil {
			return fail(ctx, &localenv.StepError{Step: "Simulate the read-back schedule", Err: err})
		}
	}
	if err := publish(f, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench: step \"Write the report\" failed:", err)
		return 1
	}
	return 0
}

// runSizes runs the sizes, and those again with token Secrets.
func runSizes(ctx context.Context, f *flags, o *outcome) error {
	for _, n := range f.sizes {
		sr, err := runSize(ctx, f, n, false)
		if err != nil {
			return err
		}
		o.runs = append(o.runs, sr)
		fmt.Printf("\n%s\n", bench.Table(sr.result))
		if !slices.Contains(f.secretRefs, n) {
			continue
		}
		ref, err := runSize(ctx, f, n, true)
		if err != nil {
			return err
		}
		o.withouts, o.withRefs = append(o.withouts, sr), append(o.withRefs, ref)
		fmt.Printf("\n%s\n", bench.SecretRefsTable([]*bench.Result{sr.result}, []*bench.Result{ref.result}))
	}
	if len(o.runs) > 1 {
		fmt.Printf("All sizes:\n\n%s\n", bench.Table(results(o.runs)...))
	}
	if len(o.withRefs) > 1 {
		fmt.Printf("Token Secrets:\n\n%s\n", bench.SecretRefsTable(results(o.withouts), results(o.withRefs)))
	}
	return nil
}

// load is the load on the machine around a part, and how long it took.
type load struct {
	date, before, after string
	took                time.Duration
}

// measure runs fn in a work directory of its own, which is removed unless fn
// fails, and notes the load around it.
func measure(title string, fn func(dir string) error) (load, error) {
	dir, err := os.MkdirTemp("", "partner-account-bench-")
	if err != nil {
		return load{}, err
	}
	fmt.Printf("\n=== %s (logs in %s)\n", title, dir)
	l := load{date: now(), before: loadAverage()}
	start := time.Now()
	if err := fn(dir); err != nil {
		fmt.Fprintln(os.Stderr, "bench: logs kept in", dir)
		return l, err
	}
	l.took, l.after = time.Since(start), loadAverage()
	_ = os.RemoveAll(dir)
	return l, nil
}

// now is the time a part ran, as the document shows it.
func now() string { return time.Now().UTC().Format("2006-01-02 15:04 MST") }

func logf(format string, args ...any) { fmt.Printf(format+"\n", args...) }

// sizeRun is one size's result and the load on the machine around it.
type sizeRun struct {
	result                *bench.Result
	loadBefore, loadAfter string
	took                  time.Duration
}

func results(runs []*sizeRun) []*bench.Result {
	out := make([]*bench.Result, len(runs))
	for i, r := range runs {
		out[i] = r.result
	}
	return out
}

// runSize runs the benchmark at n accounts, with spec.activationTokenSecretRef on
// each when secretRefs is set.
func runSize(ctx context.Context, f *flags, n int, secretRefs bool) (*sizeRun, error) {
	cfg := f.cfg
	cfg.Accounts, cfg.SecretRefs = n, secretRefs
	tokens := "tokens in status"
	if secretRefs {
		tokens = "tokens in Secrets named by spec.activationTokenSecretRef"
	}
	return runBench(ctx, fmt.Sprintf("%d PartnerAccounts, %s, at --partner-api-rps=%g, simulator latency %s", n,
		tokens, cfg.RPS, cfg.Latency), cfg)
}

// runBench runs the benchmark with cfg, titled title, in a work directory of its own.
func runBench(ctx context.Context, title string, cfg bench.Config) (*sizeRun, error) {
	cfg.Logf = logf
	sr := &sizeRun{}
	l, err := measure(title, func(dir string) error {
		cfg.WorkDir = dir
		var err error
		sr.result, err = bench.Run(ctx, cfg)
		return err
	})
	sr.loadBefore, sr.loadAfter, sr.took = l.before, l.after, l.took
	return sr, err
}

// runScale runs the scale part's sizes and prints, for each, its figures, its heap
// tops and how soon the restarted operator was ready to act.
func runScale(ctx context.Context, f *flags, o *outcome) error {
	for _, n := range f.scaleSizes {
		cfg := f.scale
		cfg.Accounts = n
		sr, err := runBench(ctx, fmt.Sprintf("Scale: %d PartnerAccounts at --partner-api-rps=%g, simulator latency %s, "+
			"%s=%s, profiled", n, cfg.RPS, cfg.Latency, memoryLimitValue, memoryLimit(cfg)), cfg)
		if err != nil {
			return err
		}
		o.scale = append(o.scale, sr)
		r := sr.result
		fmt.Printf("\n%s\n", bench.Table(r))
		fmt.Printf("Go heap when all were Ready:\n\n%s\n\n", strings.Join(r.HeapTop, "\n"))
		fmt.Printf("Go heap at the end of the idle window:\n\n%s\n\n", strings.Join(r.HeapTopIdle, "\n"))
		fmt.Println(startupSummary(r))
		if target := peakRSSTarget(r); target != "" {
			fmt.Println(target)
		}
	}
	if len(o.scale) > 1 {
		fmt.Printf("\nAll scale sizes:\n\n%s\n", bench.Table(results(o.scale)...))
	}
	return nil
}

// memoryLimit is the chart's memory limit the run of cfg set.
func memoryLimit(cfg bench.Config) string { return firstFlag(cfg.ChartValues, memoryLimitValue) }

// startupSummary says how soon the restarted operator of r was ready to act.
func startupSummary(r *bench.Result) string {
	return fmt.Sprintf("A restart lists and indexes %s accounts with %d calls and %d writes of PartnerAccounts "+
		"(in the %s from its start), ready to act after **%.1f s**.", bench.Thousands(r.Config.Accounts),
		r.RestartCalls.Total(), r.RestartWrites.PartnerAccounts, r.Config.RestartWindow, r.StartupSeconds)
}

// scalePeakRSSTargets are issue 28's targets of peak RSS, by number of accounts.
var scalePeakRSSTargets = map[int]int64{10000: 48 << 20, 50000: 128 << 20}

// peakRSSTarget compares the peak RSS of r with issue 28's target for its size;
// empty when the size has none.
func peakRSSTarget(r *bench.Result) string {
	target, ok := scalePeakRSSTargets[r.Config.Accounts]
	if !ok {
		return ""
	}
	verdict := "met"
	if r.PeakRSS > target {
		verdict = "not met"
	}
	return fmt.Sprintf("Peak RSS %.1f MiB, target ≤ %d MiB: **%s**.", float64(r.PeakRSS)/(1<<20), target>>20, verdict)
}

// signupRun is the signup scenario's result and the load around it.
type signupRun struct {
	result *bench.SignupResult
	load
}

func runSignup(ctx context.Context, f *flags) (*signupRun, error) {
	cfg := f.signup
	cfg.Logf = logf
	sr := &signupRun{}
	var err error
	sr.load, err = measure(fmt.Sprintf("Signups: %d PartnerAccounts, %d signups within %s, at --partner-api-rps=%g "+
		"and the chart's read-back settings", cfg.Accounts, cfg.Signups, cfg.Within, cfg.RPS), func(dir string) error {
		cfg.WorkDir = dir
		var err error
		sr.result, err = bench.RunSignup(ctx, cfg)
		return err
	})
	if err == nil {
		fmt.Printf("\n%s\n", bench.SignupTable(sr.result))
	}
	return sr, err
}

// importRun is the plugin import's result and the load around it.
type importRun struct {
	result *bench.ImportResult
	load
}

func runImportPart(ctx context.Context, f *flags) (*importRun, error) {
	cfg := bench.DefaultImportConfig(f.importUIDs)
	cfg.Latency, cfg.Helm, cfg.BinDir, cfg.Logf = f.cfg.Latency, f.cfg.Helm, f.cfg.BinDir, logf
	ir := &importRun{}
	var err error
	ir.load, err = measure(fmt.Sprintf("Import %d UIDs with the kubectl plugin at --partner-api-rps=%g",
		cfg.UIDs, cfg.RPS), func(dir string) error {
		cfg.WorkDir = dir
		var err error
		ir.result, err = bench.RunImport(ctx, cfg)
		return err
	})
	if err == nil {
		fmt.Printf("\n%s\n", bench.ImportTable(ir.result))
	}
	return ir, err
}

// simulationRun is hack/readbacksim's section of the document.
type simulationRun struct {
	markdown string
	load
}

// runSimulation runs hack/readbacksim with its model and keeps its Markdown.
func runSimulation(ctx context.Context) (*simulationRun, error) {
	fmt.Printf("\n=== Simulate the read-back schedule: go run ./hack/readbacksim -markdown\n")
	s := &simulationRun{load: load{date: now(), before: loadAverage()}}
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "run", "./hack/readbacksim", "-markdown")
	cmd.Dir, cmd.Stderr = testenv.Root(), os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go run ./hack/readbacksim: %w", err)
	}
	s.markdown, s.took, s.after = strings.TrimSpace(string(out)), time.Since(start), loadAverage()
	fmt.Printf("%s\n", s.markdown)
	return s, nil
}

// fail reports a failed step and returns the exit code.
func fail(ctx context.Context, err error) int {
	step := "start"
	if se, ok := errors.AsType[*localenv.StepError](err); ok {
		step, err = se.Step, se.Err
	}
	if ctx.Err() != nil {
		fmt.Fprintf(os.Stderr, "bench: interrupted during step %q: %v\n", step, err)
		return 130
	}
	fmt.Fprintf(os.Stderr, "bench: step %q failed: %v\n", step, err)
	return 1
}

// stringList is a flag that may be repeated.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// abs is path under root unless it is absolute.
func abs(root, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(root, path)
}
