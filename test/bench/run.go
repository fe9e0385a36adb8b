package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/test/localenv"
)

// run is one benchmark in progress.
type run struct {
	cfg    Config
	env    *localenv.Env
	client client.Client
	res    *Result
	// prof reads the operator's heap profile and metrics; nil without Config.Profile.
	prof *profiler
}

// Run starts a fresh environment, measures, stops the environment and returns
// the figures. The operator is installed from the chart and runs with the
// rendered Deployment's arguments and environment, followed by
// --partner-api-rps=cfg.RPS, --resync-period and --min-read-back-interval at
// cfg.ResyncPeriod, with cfg.Profile the addresses of its pprof and plain-HTTP
// metrics endpoints, and cfg.OperatorArgs; the simulator runs with
// --latency=cfg.Latency.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	operatorArgs := []string{
		"--partner-api-rps=" + strconv.FormatFloat(cfg.RPS, 'f', -1, 64),
		"--resync-period=" + cfg.ResyncPeriod.String(),
		// Every read-back at the resync period, also a young account's, so that
		// none falls in the idle and restart windows.
		"--min-read-back-interval=" + cfg.ResyncPeriod.String(),
	}
	var prof *profiler
	if cfg.Profile {
		if prof, err = newProfiler(); err != nil {
			return nil, err
		}
		operatorArgs = append(operatorArgs, prof.args()...)
	}
	env, err := startEnv(ctx, cfg.WorkDir, cfg.BinDir, cfg.Helm, cfg.Latency, cfg.ChartValues, cfg.logf,
		append(operatorArgs, cfg.OperatorArgs...)...)
	if err != nil {
		return nil, err
	}
	defer func() {
		if stopErr := env.Stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stop the environment: %w", stopErr))
		}
	}()

	c, watchCache, err := benchClients(ctx, env)
	if err != nil {
		return nil, err
	}
	tracker, err := trackReady(ctx, watchCache, cfg.Accounts)
	if err != nil {
		return nil, err
	}
	stopCache, err := startWatch(ctx, watchCache)
	if err != nil {
		return nil, err
	}
	defer stopCache()

	r := &run{cfg: cfg, env: env, client: c, res: &Result{Config: cfg, ServerVersion: env.ServerVersion}, prof: prof}
	steps := []step{
		{fmt.Sprintf("Create %d PartnerAccounts and wait for all to be Ready", cfg.Accounts),
			func(ctx context.Context) error { return r.toReady(ctx, tracker) }},
		{fmt.Sprintf("Leave them idle for %s", cfg.IdleWindow), r.idle},
		{fmt.Sprintf("Restart the operator and count for %s", cfg.RestartWindow), r.restart},
	}
	// With the tokens in Secrets already, the backlog phase's restart would find
	// nothing to do.
	if !cfg.SecretRefs && !cfg.SkipBacklog {
		steps = append(steps, step{"Restart the operator to move every token to a Secret, and change endsAt meanwhile",
			r.backlog})
	}
	for _, s := range steps {
		cfg.logf("==> %s", s.name)
		if err := s.fn(ctx); err != nil {
			return nil, &localenv.StepError{Step: s.name, Err: err}
		}
	}
	return r.res, nil
}

// benchClients creates the namespace of the benchmark's PartnerAccounts, and
// returns a client of kube-apiserver as cluster admin, allowed to create the
// objects as fast as kube-apiserver takes them, and a cache, not started yet, to
// watch them with.
func benchClients(ctx context.Context, env *localenv.Env) (client.Client, cache.Cache, error) {
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), billingv1alpha1.AddToScheme(scheme)); err != nil {
		return nil, nil, err
	}
	restCfg := *env.AdminConfig
	restCfg.QPS, restCfg.Burst = 1000, 2000
	c, err := client.New(&restCfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, nil, err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := c.Create(ctx, ns); err != nil {
		return nil, nil, err
	}
	watchCache, err := cache.New(&restCfg, cache.Options{Scheme: scheme,
		DefaultNamespaces: map[string]cache.Config{namespace: {}}})
	return c, watchCache, err
}

// startWatch starts the cache, once its handlers are registered, and waits until
// it has listed the PartnerAccounts; the function returned stops it.
func startWatch(ctx context.Context, watchCache cache.Cache) (func(), error) {
	cacheCtx, stopCache := context.WithCancel(ctx)
	go func() { _ = watchCache.Start(cacheCtx) }()
	if !watchCache.WaitForCacheSync(ctx) {
		stopCache()
		return nil, errors.New("the benchmark's watch of PartnerAccounts did not sync")
	}
	return stopCache, nil
}

// step is one phase of a run.
type step struct {
	name string
	fn   func(context.Context) error
}

// toReady creates the accounts and waits until the watch has seen each Ready,
// counting the operator's calls, writes and CPU time meanwhile.
func (r *run) toReady(ctx context.Context, tracker *readyTracker) error {
	if err := r.env.ResetSimulatorRequests(ctx); err != nil {
		return err
	}
	writes0, err := scrapeWrites(ctx, r.env.AdminConfig)
	if err != nil {
		return err
	}
	proc0, err := readProc(r.env.OperatorPID())
	if err != nil {
		return err
	}
	start := time.Now()
	tracker.begin(start)
	sent, err := createAccounts(ctx, r.client, r.cfg.Accounts, r.cfg.CreateWorkers, r.cfg.SecretRefs)
	r.res.BenchWrites = sent
	if err != nil {
		return err
	}
	r.res.CreateTime = time.Since(start)
	r.cfg.logf("    Created %d in %s; the bound is %s", r.cfg.Accounts, r.res.CreateTime.Round(time.Millisecond),
		r.res.Bound().Round(time.Millisecond))

	timeout := time.NewTimer(r.cfg.readyTimeout())
	defer timeout.Stop()
	progress := time.NewTicker(15 * time.Second)
	defer progress.Stop()
	for waiting := true; waiting; {
		select {
		case <-tracker.AllReady():
			waiting = false
		case <-progress.C:
			r.cfg.logf("    Ready: %d of %d after %s", tracker.Count(), r.cfg.Accounts,
				time.Since(start).Round(time.Second))
		case <-timeout.C:
			return fmt.Errorf("only %d of %d accounts were Ready after %s", tracker.Count(), r.cfg.Accounts,
				r.cfg.readyTimeout())
		case <-r.env.OperatorExited():
			return fmt.Errorf("the operator exited; see %s", r.env.OperatorLog)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.res.ReadyTimes = tracker.Times()
	r.res.ReadyTime = r.res.ReadyTimes[len(r.res.ReadyTimes)-1]

	if r.res.Calls, err = r.env.SimulatorRequests(ctx); err != nil {
		return err
	}
	writes1, err := scrapeWrites(ctx, r.env.AdminConfig)
	if err != nil {
		return err
	}
	r.res.Writes = writes1.minus(writes0)
	r.res.Writes.PartnerAccounts -= sent
	proc1, err := readProc(r.env.OperatorPID())
	if err != nil {
		return err
	}
	r.res.CPUToReady = proc1.CPU - proc0.CPU
	if r.res.OperatorArgs, r.res.OperatorEnv, err = commandOf(r.env.OperatorPID(), r.cfg.WorkDir); err != nil {
		return err
	}
	r.cfg.logf("    All Ready after %s: %.2f calls and %.2f writes per account", r.res.ReadyTime.Round(time.Millisecond),
		r.res.CallsPerAccount(), r.res.WritesPerAccount())
	if r.prof == nil {
		return nil
	}
	if r.res.HeapInUse, r.res.HeapTop, err = r.prof.heap(ctx, r.cfg.WorkDir, "ready"); err != nil {
		return err
	}
	r.cfg.logf("    Go heap in use when all are Ready: %.1f MiB", mib(r.res.HeapInUse))
	return nil
}

// idle counts calls and writes while nothing changes, and reads the operator's
// peak RSS at its end: the first process's whole life.
func (r *run) idle(ctx context.Context) error {
	proc0, err := readProc(r.env.OperatorPID())
	if err != nil {
		return err
	}
	sampler := startSampler(r.env.OperatorPID(), 500*time.Millisecond)
	calls, writes, err := r.window(ctx, r.cfg.IdleWindow, func() error { return nil })
	last, maxSampled, stopErr := sampler.Stop()
	if err = errors.Join(err, stopErr); err != nil {
		return err
	}
	r.res.IdleCalls, r.res.IdleWrites = calls, writes
	r.res.PeakRSS, r.res.MaxSampledRSS = last.PeakRSS, maxSampled
	r.res.CPUIdle = last.CPU - proc0.CPU
	r.cfg.logf("    Idle: %d calls, %d writes of PartnerAccounts; peak RSS %.1f MiB", calls.Total(),
		writes.PartnerAccounts, mib(r.res.PeakRSS))
	if r.prof == nil {
		return nil
	}
	if r.res.HeapInUseIdle, r.res.HeapTopIdle, err = r.prof.heap(ctx, r.cfg.WorkDir, "idle"); err != nil {
		return err
	}
	r.cfg.logf("    Go heap in use at the end of the idle window: %.1f MiB", mib(r.res.HeapInUseIdle))
	return nil
}

// restart stops the operator and starts it again with the same arguments, and
// counts calls and writes from the start of the new process.
func (r *run) restart(ctx context.Context) error {
	if err := r.env.StopOperator(); err != nil {
		return err
	}
	calls, writes, err := r.window(ctx, r.cfg.RestartWindow, func() error { return r.env.RestartOperator(ctx) })
	if err != nil {
		return err
	}
	st, err := readProc(r.env.OperatorPID())
	if err != nil {
		return err
	}
	r.res.RestartCalls, r.res.RestartWrites = calls, writes
	r.res.RestartPeakRSS, r.res.RestartCPU = st.PeakRSS, st.CPU
	r.cfg.logf("    After the restart: %d calls (%s), %d writes of PartnerAccounts", calls.Total(), calls,
		writes.PartnerAccounts)
	if r.prof == nil {
		return nil
	}
	if r.res.StartupSeconds, err = r.prof.startupSeconds(ctx); err != nil {
		return err
	}
	r.cfg.logf("    The new process indexed every account %.1f s after its controller started", r.res.StartupSeconds)
	return nil
}

// window forgets the simulator's counts and reads kube-apiserver's, calls begin,
// waits until d has passed since begin was called, and returns the calls and
// the writes over that time. No write of the benchmark's own falls in a window.
func (r *run) window(ctx context.Context, d time.Duration, begin func() error) (Counts, writeCounts, error) {
	if err := r.env.ResetSimulatorRequests(ctx); err != nil {
		return nil, writeCounts{}, err
	}
	writes0, err := scrapeWrites(ctx, r.env.AdminConfig)
	if err != nil {
		return nil, writeCounts{}, err
	}
	start := time.Now()
	if err := begin(); err != nil {
		return nil, writeCounts{}, err
	}
	if err := sleep(ctx, d-time.Since(start), r.env.OperatorExited()); err != nil {
		return nil, writeCounts{}, err
	}
	calls, err := r.env.SimulatorRequests(ctx)
	if err != nil {
		return nil, writeCounts{}, err
	}
	writes1, err := scrapeWrites(ctx, r.env.AdminConfig)
	if err != nil {
		return nil, writeCounts{}, err
	}
	return calls, writes1.minus(writes0), nil
}

// sleep waits d, or fails when the operator exits or ctx ends first.
func sleep(ctx context.Context, d time.Duration, operatorExited <-chan struct{}) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-operatorExited:
		return errors.New("the operator exited")
	case <-ctx.Done():
		return ctx.Err()
	}
}

func mib(bytes int64) float64 { return float64(bytes) / (1 << 20) }

// startEnv starts a fresh environment for one part of the benchmark: the
// simulator answering every call after latency, and the operator installed from
// the chart, rendered with chartValues, and run with the rendered Deployment's
// arguments and environment, followed by operatorArgs.
func startEnv(ctx context.Context, workDir, binDir, helm string, latency time.Duration, chartValues []string,
	logf func(string, ...any), operatorArgs ...string) (*localenv.Env, error) {
	return localenv.Start(ctx, localenv.Options{
		WorkDir:       workDir,
		BinDir:        binDir,
		Progress:      func(step string) { logf("==> %s", step) },
		Chart:         chart,
		Helm:          helm,
		ChartValues:   chartValues,
		SimulatorArgs: []string{"--latency=" + latency.String()},
		OperatorArgs:  operatorArgs,
	})
}
