package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/partnerbilling/partner-account-operator/test/localenv"
)

// ImportConfig says how to measure the kubectl plugin's import (issue 21): the
// simulator holds UIDs accounts made outside the operator, and
// `kubectl partneraccount import --uids FILE --observe` reads each, at the
// plugin's --partner-api-rps=RPS, and writes a PartnerAccount for each.
type ImportConfig struct {
	// UIDs is how many accounts to import.
	UIDs int
	// RPS is the plugin's --partner-api-rps (its default is the operator's, 10).
	RPS float64
	// Latency is the simulator's delay on every Partnership API answer.
	Latency time.Duration
	// SampleEvery is how often the plugin's /proc entries are read.
	SampleEvery time.Duration
	// Timeout is how long the import may take; 0 means twice the bound plus two
	// minutes.
	Timeout time.Duration
	// Helm, WorkDir, BinDir and Logf are as in Config.
	Helm, WorkDir, BinDir string
	Logf                  func(format string, args ...any)
}

// DefaultImportConfig returns the settings of make bench for n UIDs.
func DefaultImportConfig(n int) ImportConfig {
	return ImportConfig{
		UIDs:        n,
		RPS:         10,
		Latency:     100 * time.Millisecond,
		SampleEvery: 100 * time.Millisecond,
		Helm:        defaultHelm(),
	}
}

// Bound is N ÷ the rate limit: one GET per UID.
func (c ImportConfig) Bound() time.Duration {
	return time.Duration(float64(c.UIDs) / c.RPS * float64(time.Second))
}

func (c ImportConfig) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 2*c.Bound() + 2*time.Minute
}

func (c ImportConfig) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// ImportResult holds what RunImport measured.
type ImportResult struct {
	Config        ImportConfig
	ServerVersion string
	// Args is the plugin's command line, paths in the work directory shown as
	// <work dir>.
	Args []string
	// Time is from the plugin's start until it exited.
	Time time.Duration
	// PeakRSS is the plugin's VmHWM, last read before it exited (every
	// Config.SampleEvery); MaxSampledRSS the highest VmRSS read; MaxRSS the
	// kernel's ru_maxrss of the process at its exit, the same high-water mark.
	PeakRSS, MaxSampledRSS, MaxRSS int64
	// CPU is its user and system time, from its rusage.
	CPU time.Duration
	// Documents counts the PartnerAccounts in its output, of OutputBytes.
	Documents   int
	OutputBytes int64
	// Summary is the last line of its stderr.
	Summary string
	// Calls are the simulator's request counts over the import.
	Calls Counts
}

// PeakRSSBytes is the higher of VmHWM as last read and ru_maxrss.
func (r *ImportResult) PeakRSSBytes() int64 { return max(r.PeakRSS, r.MaxRSS) }

// Ratio is Time over the bound.
func (r *ImportResult) Ratio() float64 { return r.Time.Seconds() / r.Config.Bound().Seconds() }

// RunImport starts a fresh environment (the operator runs, with nothing to do),
// makes the simulator hold the accounts, builds the plugin as make build does and
// times its import, reading its /proc entries meanwhile; then stops the
// environment.
func RunImport(ctx context.Context, cfg ImportConfig) (res *ImportResult, err error) {
	if cfg.UIDs < 1 || cfg.RPS <= 0 || cfg.WorkDir == "" || cfg.Helm == "" {
		return nil, fmt.Errorf("bench: import of %d UIDs at %g rps: want UIDs, a rate, a work directory and helm",
			cfg.UIDs, cfg.RPS)
	}
	env, err := startEnv(ctx, cfg.WorkDir, cfg.BinDir, cfg.Helm, cfg.Latency, nil, cfg.logf)
	if err != nil {
		return nil, err
	}
	defer func() {
		if stopErr := env.Stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stop the environment: %w", stopErr))
		}
	}()
	res = &ImportResult{Config: cfg, ServerVersion: env.ServerVersion}
	steps := []step{
		{"Build the kubectl plugin", func(ctx context.Context) error { return buildPlugin(ctx, env, cfg) }},
		{fmt.Sprintf("Make the simulator hold %d accounts made outside the operator", cfg.UIDs),
			func(ctx context.Context) error { return seedAccounts(ctx, env, cfg.UIDs) }},
		{fmt.Sprintf("Import %d UIDs with kubectl partneraccount import --observe", cfg.UIDs),
			func(ctx context.Context) error { return runImport(ctx, env, cfg, res) }},
	}
	for _, s := range steps {
		cfg.logf("==> %s", s.name)
		if err := s.fn(ctx); err != nil {
			return nil, &localenv.StepError{Step: s.name, Err: err}
		}
	}
	return res, nil
}

// pluginBinary is where the plugin is built.
func pluginBinary(env *localenv.Env, cfg ImportConfig) string {
	dir := cfg.BinDir
	if dir == "" {
		dir = cfg.WorkDir
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(env.Root, dir)
	}
	return filepath.Join(dir, "kubectl-partneraccount")
}

func buildPlugin(ctx context.Context, env *localenv.Env, cfg ImportConfig) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", pluginBinary(env, cfg), "./cmd/kubectl-partneraccount")
	cmd.Dir = env.Root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/kubectl-partneraccount: %w\n%s", err, out)
	}
	return nil
}

// importUID is the i-th account the billing system made.
func importUID(i int) string { return fmt.Sprintf("billing-%05d", i) }

// seedAccounts makes the simulator hold n accounts, as the billing system would
// have made them before, through its /sim controls.
func seedAccounts(ctx context.Context, env *localenv.Env, n int) error {
	made := time.Now().Add(-24 * time.Hour)
	return parallel(ctx, n, 16, func(i int) error {
		return env.SeedRemoteAccount(ctx, importUID(i), "I", "b5test.com", made)
	})
}

// runImport writes the UID file, runs the plugin on it and measures it.
func runImport(ctx context.Context, env *localenv.Env, cfg ImportConfig, res *ImportResult) error {
	var uids strings.Builder
	for i := range cfg.UIDs {
		uids.WriteString(importUID(i) + "\n")
	}
	uidFile := filepath.Join(cfg.WorkDir, "uids.txt")
	if err := os.WriteFile(uidFile, []byte(uids.String()), 0o600); err != nil {
		return err
	}
	out, err := os.Create(filepath.Join(cfg.WorkDir, "accounts.yaml"))
	if err != nil {
		return err
	}
	defer func() { _ = out.Close() }()
	args := []string{"import", "--uids", uidFile, "--observe", "-n", namespace,
		"--partner-api-url", env.PartnerAPIURL, "--partner-api-token-file", env.TokenFile,
		"--partner-api-rps", strconv.FormatFloat(cfg.RPS, 'f', -1, 64), "--kubeconfig", env.Kubeconfig}
	for _, a := range args {
		res.Args = append(res.Args, strings.ReplaceAll(a, cfg.WorkDir, "<work dir>"))
	}
	if err := env.ResetSimulatorRequests(ctx); err != nil {
		return err
	}
	runCtx, cancel := context.WithTimeout(ctx, cfg.timeout())
	defer cancel()
	cmd := exec.CommandContext(runCtx, pluginBinary(env, cfg), args...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	var last atomic.Pointer[procStat]
	var maxSampled atomic.Int64
	exited := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(cfg.SampleEvery)
		defer t.Stop()
		progress := time.NewTicker(time.Minute)
		defer progress.Stop()
		for {
			if st, err := readProc(cmd.Process.Pid); err == nil && st.PeakRSS > 0 {
				last.Store(&st)
				maxSampled.Store(max(maxSampled.Load(), st.RSS))
			}
			select {
			case <-t.C:
			case <-progress.C:
				cfg.logf("    %s: %d documents written", time.Since(start).Round(time.Second), countDocuments(out.Name()))
			case <-exited:
				return
			}
		}
	}()
	waitErr := cmd.Wait()
	res.Time = time.Since(start)
	close(exited)
	<-sampled
	if st := last.Load(); st != nil {
		res.PeakRSS = st.PeakRSS
	}
	res.MaxSampledRSS = maxSampled.Load()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.MaxRSS = ru.Maxrss << 10 // kB on Linux
		res.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	res.Summary = lastLine(stderr.String())
	if waitErr != nil {
		return fmt.Errorf("kubectl partneraccount import: %w; stderr ends: %s", waitErr, tail(stderr.String(), 2000))
	}
	if err := out.Sync(); err != nil {
		return err
	}
	if st, err := out.Stat(); err == nil {
		res.OutputBytes = st.Size()
	}
	res.Documents = countDocuments(out.Name())
	calls, err := env.SimulatorRequests(ctx)
	if err != nil {
		return err
	}
	res.Calls = calls
	cfg.logf("    %d UIDs in %s (%.2f× the bound of %s); peak RSS %.1f MiB; %s", cfg.UIDs, secs(res.Time), res.Ratio(),
		secs(cfg.Bound()), mib(res.PeakRSSBytes()), res.Summary)
	if res.Documents != cfg.UIDs {
		return fmt.Errorf("the plugin wrote %d PartnerAccounts for %d UIDs", res.Documents, cfg.UIDs)
	}
	return nil
}

// countDocuments counts the PartnerAccounts in a YAML stream file.
func countDocuments(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if sc.Text() == "kind: PartnerAccount" {
			n++
		}
	}
	return n
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
