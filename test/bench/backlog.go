package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// backlog restarts the operator with a short resync period, so that more
// read-backs are due than its rate limit lets through, and changes every account's
// endsAt (the wave), as users would while it runs; once the wave has reached the
// API, it changes endsAt of a few accounts, one after the other, and times each.
//
// The wave is there because controller-runtime's priority queue gives the
// objects listed at start-up a low priority, which they keep on every requeue:
// with the restart alone, every read-back waiting would be of low priority, as
// they are not in an operator that saw the accounts created or changed.
func (r *run) backlog(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	metricsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := r.env.ResetSimulatorRequests(ctx); err != nil {
		return err
	}
	started, err := workersStarted(r.env.OperatorLog)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := r.env.RestartOperator(ctx,
		"--resync-period="+r.cfg.BacklogResync.String(),
		"--partner-api-rps="+strconv.FormatFloat(r.cfg.BacklogRPS, 'f', -1, 64),
		"--metrics-bind-address="+metricsAddr, "--metrics-secure=false"); err != nil {
		return err
	}
	// A change made before the controller has listed the accounts would come in
	// with that list, at its low priority, rather than as a change.
	if err := r.waitWorkers(ctx, started); err != nil {
		return err
	}
	wave := r.cfg.backlogWave()
	err = parallel(ctx, wave, r.cfg.CreateWorkers, func(i int) error {
		return patchEndsAt(ctx, r.client, accountName(i*r.cfg.Accounts/wave), waveEndsAt)
	})
	if err != nil {
		return err
	}
	b := &r.res.Backlog
	if b.WaveUpdates, err = r.waitWave(ctx, start); err != nil {
		return err
	}
	b.WaveTime = time.Since(start)
	r.cfg.logf("    %d of %d end dates changed in the %s since the restart", b.WaveUpdates, wave,
		b.WaveTime.Round(time.Second))

	if err := r.env.ResetSimulatorRequests(ctx); err != nil {
		return err
	}
	if err := sleep(ctx, r.cfg.BacklogSettle, r.env.OperatorExited()); err != nil {
		return err
	}
	calls, err := r.env.SimulatorRequests(ctx)
	if err != nil {
		return err
	}
	b.ReadBacksPerSecond = float64(Counts(calls).Op("get")) / r.cfg.BacklogSettle.Seconds()
	b.QueueDepth, err = queueDepth(ctx, "http://"+metricsAddr+"/metrics")
	if err != nil {
		r.cfg.logf("    Cannot read the operator's work queue depth: %v", err)
		b.QueueDepth = -1
	}
	r.cfg.logf("    %.1f read-backs/s answered; work queue depth %d", b.ReadBacksPerSecond, b.QueueDepth)

	for i := 1; i <= r.cfg.EndsAtChanges; i++ {
		c := EndsAtChange{Account: accountName(i * r.cfg.Accounts / (r.cfg.EndsAtChanges + 1))}
		c.Latency, c.Reached, err = changeEndsAt(ctx, r.client, r.env, c.Account, r.cfg.EndsAtTimeout)
		if err != nil {
			return err
		}
		b.Changes = append(b.Changes, c)
		r.cfg.logf("    %s: %s", c.Account, c.describe())
	}
	return nil
}

// waitWorkers waits until the operator's log says the controller's workers have
// started more often than before times: the new process has the leader lease and
// has listed the accounts.
func (r *run) waitWorkers(ctx context.Context, before int) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		n, err := workersStarted(r.env.OperatorLog)
		if err != nil || n > before {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the operator's controller did not start its workers within 2m; see %s", r.env.OperatorLog)
		}
		if err := sleep(ctx, 100*time.Millisecond, r.env.OperatorExited()); err != nil {
			return err
		}
	}
}

// workersStarted counts controller-runtime's "Starting workers" lines for the
// operator's controller in its log, which every process appends to.
func workersStarted(logPath string) (int, error) {
	data, err := os.ReadFile(logPath)
	if err != nil {
		return 0, err
	}
	n := 0
	for line := range strings.Lines(string(data)) {
		if strings.Contains(line, "Starting workers") && strings.Contains(line, `"controller": "`+controllerName+`"`) {
			n++
		}
	}
	return n, nil
}

// waitWave waits until the simulator has answered an update per account of the
// wave since start, or the warm-up has passed, and returns how many it answered.
func (r *run) waitWave(ctx context.Context, start time.Time) (int, error) {
	progress := time.Now()
	for {
		calls, err := r.env.SimulatorRequests(ctx)
		if err != nil {
			return 0, err
		}
		n := Counts(calls).Op("update")
		if n >= r.cfg.backlogWave() || time.Since(start) >= r.cfg.backlogWarmup() {
			return n, nil
		}
		if time.Since(progress) >= 15*time.Second {
			progress = time.Now()
			r.cfg.logf("    End dates changed: %d of %d after %s", n, r.cfg.backlogWave(),
				time.Since(start).Round(time.Second))
		}
		if err := sleep(ctx, time.Second, r.env.OperatorExited()); err != nil {
			return 0, err
		}
	}
}
