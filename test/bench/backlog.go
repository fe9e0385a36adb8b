package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/partnerbilling/partner-account-operator/test/childproc"
)

// backlog restarts the operator with --activation-token-in-status=false. No
// account is settled then, as its activation token must move from status to a
// Secret: at start all N are queued at low priority, and each reconcile reads its
// account and writes a Secret, a backlog of N reads draining at the rate limit.
// While it drains, the phase changes endsAt of a few accounts, one after the
// other, and times each: a change must not wait behind the backlog.
func (r *run) backlog(ctx context.Context) error {
	port, err := childproc.FreePort()
	if err != nil {
		return err
	}
	metricsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	started, err := workersStarted(r.env.OperatorLog)
	if err != nil {
		return err
	}
	if err := r.env.RestartOperator(ctx, "--activation-token-in-status=false",
		"--metrics-bind-address="+metricsAddr, "--metrics-secure=false"); err != nil {
		return err
	}
	// The backlog is queued when the controller has listed the accounts.
	if err := r.waitWorkers(ctx, started); err != nil {
		return err
	}

	b := &r.res.Backlog
	calls, writes, err := r.window(ctx, r.cfg.BacklogSettle, func() error { return nil })
	if err != nil {
		return err
	}
	b.ReadsPerSecond = float64(calls.Op("get")) / r.cfg.BacklogSettle.Seconds()
	b.SecretWritesPerSecond = float64(writes.Secrets) / r.cfg.BacklogSettle.Seconds()
	metricsURL := "http://" + metricsAddr + "/metrics"
	b.QueueDepth = r.queueDepth(ctx, metricsURL)
	r.cfg.logf("    %.1f reads/s answered, %.1f Secret writes/s; work queue depth %d", b.ReadsPerSecond,
		b.SecretWritesPerSecond, b.QueueDepth)

	for i := 1; i <= r.cfg.EndsAtChanges; i++ {
		c := EndsAtChange{Account: accountName(i * r.cfg.Accounts / (r.cfg.EndsAtChanges + 1))}
		c.Latency, c.Reached, err = changeEndsAt(ctx, r.client, r.env, c.Account, r.cfg.EndsAtTimeout)
		if err != nil {
			return err
		}
		b.Changes = append(b.Changes, c)
		r.cfg.logf("    %s: %s", c.Account, c.describe())
	}
	b.QueueDepthAfter = r.queueDepth(ctx, metricsURL)
	r.cfg.logf("    Work queue depth %d after the last change", b.QueueDepthAfter)
	return nil
}

// queueDepth is the operator's work queue depth, or -1 when it cannot be read.
func (r *run) queueDepth(ctx context.Context, metricsURL string) int {
	depth, err := queueDepth(ctx, metricsURL)
	if err != nil {
		r.cfg.logf("    Cannot read the operator's work queue depth: %v", err)
		return -1
	}
	return depth
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
// operator's controller in its log, which every process appends to, in the JSON
// the chart's arguments ask for or in the console format.
func workersStarted(logPath string) (int, error) {
	data, err := os.ReadFile(logPath)
	if err != nil {
		return 0, err
	}
	n := 0
	for line := range strings.Lines(string(data)) {
		if strings.Contains(line, "Starting workers") && (strings.Contains(line, `"controller":"`+controllerName+`"`) ||
			strings.Contains(line, `"controller": "`+controllerName+`"`)) {
			n++
		}
	}
	return n, nil
}
