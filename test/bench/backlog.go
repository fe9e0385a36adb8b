package bench

import (
	"context"
	"net"
	"strconv"
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
	start := time.Now()
	if err := r.env.RestartOperator(ctx,
		"--resync-period="+r.cfg.BacklogResync.String(),
		"--partner-api-rps="+strconv.FormatFloat(r.cfg.BacklogRPS, 'f', -1, 64),
		"--metrics-bind-address="+metricsAddr, "--metrics-secure=false"); err != nil {
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
