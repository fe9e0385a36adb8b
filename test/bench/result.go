package bench

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Result holds what Run measured.
type Result struct {
	Config Config
	// ServerVersion is kube-apiserver's version.
	ServerVersion string

	// CreateTime is how long the benchmark took to create the accounts; ReadyTime is
	// from its first create until the last account was seen Ready.
	CreateTime, ReadyTime time.Duration
	// ReadyTimes are when each account was first seen Ready, in order.
	ReadyTimes []time.Duration
	// Calls are the simulator's request counts from the first create to all Ready.
	Calls Counts
	// Writes are kube-apiserver's write counts over the same time, less the
	// benchmark's own (BenchWrites, all creates of PartnerAccounts).
	Writes      writeCounts
	BenchWrites int
	// CPUToReady is the operator's CPU time from the first create to all Ready.
	CPUToReady time.Duration
	// OperatorArgs and OperatorEnv are the arguments the operator ran with and the
	// environment variables set for it (the chart's), read from its /proc entries
	// when all were Ready; paths in the work directory show as <work dir>.
	OperatorArgs, OperatorEnv []string

	// IdleCalls and IdleWrites are counted over Config.IdleWindow after all Ready;
	// CPUIdle is the operator's CPU time then.
	IdleCalls  Counts
	IdleWrites writeCounts
	CPUIdle    time.Duration
	// PeakRSS is the operator's VmHWM at the end of the idle window: its highest
	// resident set since it started. MaxSampledRSS is the highest VmRSS sampled
	// every 500 ms over the same time.
	PeakRSS, MaxSampledRSS int64

	// RestartCalls and RestartWrites are counted over Config.RestartWindow from the
	// start of a new operator process; RestartPeakRSS and RestartCPU are its VmHWM
	// and CPU time at the end of that window.
	RestartCalls   Counts
	RestartWrites  writeCounts
	RestartPeakRSS int64
	RestartCPU     time.Duration

	// Backlog is the endsAt measurement; none with Config.SecretRefs or
	// Config.SkipBacklog.
	Backlog Backlog

	// With Config.Profile: HeapInUse is the Go heap in use (inuse_space) that the
	// operator's heap profile accounts for when all accounts were Ready, and
	// HeapTop the top of that profile as go tool pprof -top shows it, its header
	// lines included; HeapInUseIdle and HeapTopIdle the same at the end of the
	// idle window.
	HeapInUse, HeapInUseIdle int64
	HeapTop, HeapTopIdle     []string
	// StartupSeconds is the restarted operator's partneraccount_startup_seconds
	// at the end of Config.RestartWindow: how long after its controller started
	// it had indexed every account, ready to act. With Config.Profile.
	StartupSeconds float64
}

// Backlog is how long changes of endsAt took to reach the API while the
// restarted operator moved every account's token to a Secret.
type Backlog struct {
	// ReadsPerSecond and SecretWritesPerSecond are the GETs the simulator answered
	// and the writes of Secrets kube-apiserver counted, per second, over
	// Config.BacklogSettle from the start of the controller's workers.
	ReadsPerSecond, SecretWritesPerSecond float64
	// QueueDepth and QueueDepthAfter are the operator's workqueue_depth just
	// before the first change and just after the last; -1 when it could not be
	// read.
	QueueDepth, QueueDepthAfter int
	// Changes are the endsAt changes, made one after the other.
	Changes []EndsAtChange
}

// EndsAtChange is one change of spec.endsAt.
type EndsAtChange struct {
	// Account is the account whose endsAt was changed.
	Account string
	// Latency is from the patch of spec.endsAt until the simulator held the new
	// end date; Reached is false when it did not within Config.EndsAtTimeout.
	Latency time.Duration
	Reached bool
}

func (c EndsAtChange) describe() string {
	if !c.Reached {
		return "not within " + c.Latency.Round(time.Second).String()
	}
	return secs(c.Latency)
}

// UnderBacklog reports whether the work queue held at least a tenth of the
// accounts both before the first change and after the last: whether every change
// had a backlog to wait behind.
func (b Backlog) UnderBacklog(c Config) bool {
	least := float64(c.Accounts) / 10
	return float64(b.QueueDepth) >= least && float64(b.QueueDepthAfter) >= least
}

// Slowest is the change that took longest; a change that was not reached is
// slower than any that was.
func (b Backlog) Slowest() EndsAtChange {
	var s EndsAtChange
	for i, c := range b.Changes {
		if i == 0 || (!c.Reached && s.Reached) || (c.Reached == s.Reached && c.Latency > s.Latency) {
			s = c
		}
	}
	return s
}

// Counts are the simulator's request counts, by "<operation> <status>".
type Counts map[string]int

// Total is the number of requests of any operation and answer.
func (c Counts) Total() int {
	total := 0
	for _, n := range c {
		total += n
	}
	return total
}

// Op is the number of requests of one operation (create, get, update, delete).
func (c Counts) Op(op string) int {
	total := 0
	for k, n := range c {
		if strings.HasPrefix(k, op+" ") {
			total += n
		}
	}
	return total
}

// String lists the counts, e.g. "create 201: 1000, get 200: 3".
func (c Counts) String() string {
	if len(c) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c)) {
		parts = append(parts, k+": "+strconv.Itoa(c[k]))
	}
	return strings.Join(parts, ", ")
}

// Bound is max(N ÷ rps, time to create the objects).
func (r *Result) Bound() time.Duration { return r.Config.Bound(r.CreateTime) }

// CallsPerAccount is the Partnership API calls per account, from the first
// create to all Ready.
func (r *Result) CallsPerAccount() float64 {
	return float64(r.Calls.Total()) / float64(r.Config.Accounts)
}

// WritesPerAccount is the operator's writes of PartnerAccounts (and their status)
// per account, from the first create to all Ready.
func (r *Result) WritesPerAccount() float64 {
	return float64(r.Writes.PartnerAccounts) / float64(r.Config.Accounts)
}

// ReadyRatio is ReadyTime over Bound.
func (r *Result) ReadyRatio() float64 { return r.ReadyTime.Seconds() / r.Bound().Seconds() }
