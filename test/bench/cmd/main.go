// Command bench is make bench: it measures the operator at 1,000 and 10,000
// PartnerAccounts, each size on a fresh environment (see package test/bench), and
// 1,000 a second time with spec.activationTokenSecretRef on every account, to
// compare; it prints the figures and writes them to docs/benchmarks.md, with a PNG
// of Ready accounts over time for each size (drawn by hack/benchplot) and a summary
// in README.md.
//
//	make bench
//	make bench BENCH_ARGS="-accounts 1000 -rps 20"
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
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/partnerbilling/partner-account-operator/test/bench"
	"github.com/partnerbilling/partner-account-operator/test/localenv"
)

func main() {
	os.Exit(run())
}

// flags are the command line.
type flags struct {
	sizes        []int
	secretRefs   []int        // the sizes to run again with token Secrets
	cfg          bench.Config // all but Accounts, SecretRefs and WorkDir
	doc, readme  string
	plot         bool
	operatorArgs stringList
}

func parseFlags() (*flags, error) {
	def := bench.DefaultConfig(0)
	f := &flags{}
	sizes := flag.String("accounts", "1000,10000",
		"comma-separated numbers of PartnerAccounts; each runs on a fresh environment")
	secretRefs := flag.String("secret-refs", "1000",
		"comma-separated sizes, among -accounts, to run a second time with spec.activationTokenSecretRef on every "+
			"account, and compare; empty: none")
	flag.Float64Var(&f.cfg.RPS, "rps", def.RPS, "the operator's --partner-api-rps, the rate limit of the bound")
	flag.DurationVar(&f.cfg.Latency, "latency", def.Latency, "the simulator's latency on every API answer")
	flag.IntVar(&f.cfg.CreateWorkers, "create-workers", def.CreateWorkers, "creates in flight at once")
	flag.DurationVar(&f.cfg.ReadyTimeout, "ready-timeout", 0, "how long to wait for all Ready; 0: 3× the bound + 2m")
	flag.DurationVar(&f.cfg.IdleWindow, "idle", def.IdleWindow, "how long to count calls and writes while idle")
	flag.DurationVar(&f.cfg.RestartWindow, "restart", def.RestartWindow, "how long to count calls after a restart")
	flag.DurationVar(&f.cfg.ResyncPeriod, "resync-period", def.ResyncPeriod,
		"the operator's --resync-period: longer than the run, so that no read-back falls in the idle and restart windows")
	flag.DurationVar(&f.cfg.BacklogSettle, "backlog-settle", def.BacklogSettle,
		"how long reads are counted in the backlog phase before the endsAt changes")
	flag.IntVar(&f.cfg.EndsAtChanges, "endsat-changes", def.EndsAtChanges,
		"how many endsAt changes to time, one after the other")
	flag.DurationVar(&f.cfg.EndsAtTimeout, "endsat-timeout", def.EndsAtTimeout, "how long to wait for each endsAt change")
	flag.StringVar(&f.cfg.BinDir, "bin-dir", "bin", "where to build the operator and the simulator")
	flag.StringVar(&f.cfg.Helm, "helm", def.Helm, "the helm that renders dist/chart (default $HELM, or bin/helm)")
	flag.StringVar(&f.doc, "doc", "docs/benchmarks.md", "the Markdown file to write, with the PNGs beside it; empty: none")
	flag.StringVar(&f.readme, "readme", "README.md", "the README whose benchmark summary to rewrite; empty: none")
	flag.BoolVar(&f.plot, "plot", true, "draw the PNGs with hack/benchplot (go run)")
	flag.Var(&f.operatorArgs, "operator-arg", "an argument added to the operator's command line; repeat for more")
	flag.Parse()
	var err error
	if f.sizes, err = parseSizes("accounts", *sizes); err != nil {
		return nil, err
	}
	if *secretRefs != "" {
		if f.secretRefs, err = parseSizes("secret-refs", *secretRefs); err != nil {
			return nil, err
		}
	}
	f.cfg.OperatorArgs = f.operatorArgs
	return f, nil
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

func run() int {
	ctrllog.SetLogger(logr.Discard()) // envtest's own logging is not for the benchmark
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	m := describeMachine()
	fmt.Printf("Machine: %s\n", m)

	var runs, withRefs, withoutRefs []*sizeRun
	for _, n := range f.sizes {
		sr, err := runSize(ctx, f, n, false)
		if err != nil {
			return fail(ctx, err)
		}
		runs = append(runs, sr)
		fmt.Printf("\n%s\n", bench.Table(sr.result))
		if !slices.Contains(f.secretRefs, n) {
			continue
		}
		ref, err := runSize(ctx, f, n, true)
		if err != nil {
			return fail(ctx, err)
		}
		withoutRefs, withRefs = append(withoutRefs, sr), append(withRefs, ref)
		fmt.Printf("\n%s\n", bench.SecretRefsTable([]*bench.Result{sr.result}, []*bench.Result{ref.result}))
	}
	if len(runs) > 1 {
		fmt.Printf("All sizes:\n\n%s\n", bench.Table(results(runs)...))
	}
	if len(withRefs) > 1 {
		fmt.Printf("Token Secrets:\n\n%s\n", bench.SecretRefsTable(results(withoutRefs), results(withRefs)))
	}
	if err := publish(f, m, runs, withoutRefs, withRefs); err != nil {
		fmt.Fprintln(os.Stderr, "bench: step \"Write the report\" failed:", err)
		return 1
	}
	return 0
}

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
// each when secretRefs is set, in a work directory of its own, which is removed
// unless the run fails.
func runSize(ctx context.Context, f *flags, n int, secretRefs bool) (*sizeRun, error) {
	dir, err := os.MkdirTemp("", "partner-account-bench-")
	if err != nil {
		return nil, err
	}
	cfg := f.cfg
	cfg.Accounts, cfg.SecretRefs, cfg.WorkDir = n, secretRefs, dir
	cfg.Logf = func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	tokens := "tokens in status"
	if secretRefs {
		tokens = "tokens in Secrets named by spec.activationTokenSecretRef"
	}
	fmt.Printf("\n=== %d PartnerAccounts, %s, at --partner-api-rps=%g, simulator latency %s (logs in %s)\n",
		n, tokens, cfg.RPS, cfg.Latency, dir)
	sr := &sizeRun{loadBefore: loadAverage()}
	start := time.Now()
	sr.result, err = bench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: logs kept in", dir)
		return nil, err
	}
	sr.took, sr.loadAfter = time.Since(start), loadAverage()
	_ = os.RemoveAll(dir)
	return sr, nil
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
