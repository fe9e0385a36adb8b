// Package bench measures the operator at scale on the environment of test/localenv:
// etcd and kube-apiserver, the Partnership API simulator with a set latency, and the
// operator as its own process, installed from the Helm chart (dist/chart) and run
// with the rendered Deployment's arguments and environment, so with the production
// memory settings. Run creates N PartnerAccounts and measures, each from a source
// outside the operator:
//
//   - the time until all are Ready, from a watch, against the bound
//     max(N ÷ --partner-api-rps, time to create the objects);
//   - Partnership API calls per account, from the simulator's request counts;
//   - Kubernetes writes per account, from kube-apiserver's apiserver_request_total,
//     less the benchmark's own writes;
//   - the operator's peak RSS and CPU seconds, from /proc;
//   - calls and writes while the accounts sit idle, and calls after a restart;
//   - how long a change of spec.endsAt takes to reach the API while a backlog of
//     N reconciles, each reading its account, waits.
//
// With Config.Profile it also keeps the operator's heap profile when all are
// Ready and when idle, and how long a restarted operator took to index every
// account (its own gauge partneraccount_startup_seconds): these describe its
// memory and its start, and come from the operator.
//
// make bench runs it at 1,000 and 10,000 accounts, and at 1,000 again with token
// Secrets (Config.SecretRefs); its scale part (issue 28) at 10,000 and 50,000
// accounts with a 256Mi memory limit in the chart (Config.ChartValues), profiled
// and without the backlog phase (Config.Profile, Config.SkipBacklog). It writes
// docs/benchmarks.md (cmd). make test runs it at 200 accounts (bench_test.go,
// build tag bench) and asserts the per-account figures.
package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/partnerbilling/partner-account-operator/internal/testenv"
)

// chart is the Helm chart the operator is installed from.
const chart = "dist/chart"

// Config says what to measure and how.
type Config struct {
	// Accounts is how many PartnerAccounts to create.
	Accounts int
	// RPS is the operator's --partner-api-rps: the rate limit of the bound.
	RPS float64
	// Latency is the simulator's delay on every Partnership API answer.
	Latency time.Duration
	// CreateWorkers is how many creates the benchmark sends at once.
	CreateWorkers int
	// ReadyTimeout is how long to wait for all accounts to be Ready; 0 means
	// three times the bound plus two minutes.
	ReadyTimeout time.Duration
	// IdleWindow and RestartWindow are how long calls and writes are counted while
	// the accounts sit idle, and after a restart of the operator.
	IdleWindow, RestartWindow time.Duration
	// ResyncPeriod is the operator's --resync-period in every phase. Longer than
	// the run, so that no periodic read-back falls in the idle and restart
	// windows: those show that the operator does nothing unprompted. Read-backs
	// are rate-limited by design; the backlog phase makes a backlog of reads of
	// its own.
	ResyncPeriod time.Duration
	// SecretRefs creates every account with spec.activationTokenSecretRef naming
	// the Secret <name>-token, to compare the operator's memory with tokens in
	// Secrets against tokens in status (issue 11). The backlog phase, which
	// moves tokens from status to Secrets, is then left out.
	SecretRefs bool
	// BacklogSettle is how long reads are counted in the backlog phase once the
	// restarted controller has started, before the endsAt changes.
	BacklogSettle time.Duration
	// EndsAtChanges is how many accounts' endsAt to change, one after the other:
	// where a change lands in the backlog is chance, so one is not enough.
	EndsAtChanges int
	// EndsAtTimeout is how long to wait for each endsAt change to reach the API.
	EndsAtTimeout time.Duration
	// SkipBacklog leaves the backlog phase out.
	SkipBacklog bool
	// Profile has every operator process of the run serve its pprof endpoints and
	// its metrics in plain HTTP on loopback, to keep its heap profile when all are
	// Ready and at the end of the idle window (Result.HeapTop, HeapTopIdle) and the
	// restarted process's partneraccount_startup_seconds (Result.StartupSeconds).
	Profile bool
	// ChartValues are --set values for helm template, after the benchmark's own,
	// e.g. manager.resources.limits.memory=256Mi, 90% of which the operator
	// gives the Go runtime as its GOMEMLIMIT.
	ChartValues []string
	// OperatorArgs are added to the operator's command line in every phase, after
	// the chart's; a flag here overrides the chart's.
	OperatorArgs []string
	// Helm is the helm that renders the chart.
	Helm string
	// WorkDir receives the environment's kubeconfigs and logs; the caller removes it.
	WorkDir string
	// BinDir is where the operator and the simulator are built; see localenv.Options.
	BinDir string
	// Logf, when set, receives progress lines.
	Logf func(format string, args ...any)
}

// DefaultConfig returns the settings of make bench for n accounts.
func DefaultConfig(n int) Config {
	return Config{
		Accounts:      n,
		RPS:           10, // the operator's default
		Latency:       100 * time.Millisecond,
		CreateWorkers: 32,
		IdleWindow:    60 * time.Second,
		RestartWindow: 60 * time.Second,
		ResyncPeriod:  time.Hour,
		BacklogSettle: 10 * time.Second,
		EndsAtChanges: 3,
		EndsAtTimeout: 2 * time.Minute,
		Helm:          defaultHelm(),
	}
}

// defaultHelm is $HELM, or else bin/helm in the repository, as make test's
// end-to-end suite finds it.
func defaultHelm() string {
	if p := os.Getenv("HELM"); p != "" {
		return p
	}
	return filepath.Join(testenv.Root(), "bin", "helm")
}

// Bound is the time the accounts cannot be Ready faster than: N ÷ RPS, or the time
// the benchmark took to create them, whichever is longer.
func (c Config) Bound(createTime time.Duration) time.Duration {
	return max(time.Duration(float64(c.Accounts)/c.RPS*float64(time.Second)), createTime)
}

func (c Config) validate() error {
	switch {
	case c.Accounts < 1:
		return fmt.Errorf("bench: %d accounts: want at least 1", c.Accounts)
	case c.RPS <= 0:
		return fmt.Errorf("bench: rate %v must be positive", c.RPS)
	case c.ResyncPeriod <= 0:
		return fmt.Errorf("bench: resync period %s must be positive", c.ResyncPeriod)
	case c.EndsAtChanges < 1 || c.EndsAtChanges > c.Accounts:
		return fmt.Errorf("bench: %d endsAt changes: want 1 to %d", c.EndsAtChanges, c.Accounts)
	case c.CreateWorkers < 1:
		return fmt.Errorf("bench: %d create workers: want at least 1", c.CreateWorkers)
	case c.WorkDir == "":
		return fmt.Errorf("bench: Config.WorkDir is required")
	case c.Helm == "":
		return fmt.Errorf("bench: Config.Helm is required, to render %s", chart)
	}
	return nil
}

func (c Config) readyTimeout() time.Duration {
	if c.ReadyTimeout > 0 {
		return c.ReadyTimeout
	}
	return 3*c.Bound(0) + 2*time.Minute
}

func (c Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}
