package bench

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// row is one figure of the report: what it is, the target for it, and how
// to show it for one result.
type row struct {
	what, target string
	show         func(r *Result) string
}

var rows = []row{
	{"Time to create the objects", "", func(r *Result) string {
		return fmt.Sprintf("%s (%.0f creates/s, %d at once)", secs(r.CreateTime),
			float64(r.Config.Accounts)/r.CreateTime.Seconds(), r.Config.CreateWorkers)
	}},
	{"Bound: max(N ÷ rate limit, time to create)", "", func(r *Result) string {
		return fmt.Sprintf("%s (N ÷ %g rps = %s)", secs(r.Bound()), r.Config.RPS,
			secs(r.Config.Bound(0)))
	}},
	{"Time to all Ready", "≤ 1.1× the bound", func(r *Result) string {
		return fmt.Sprintf("%s = **%.2f×** the bound", secs(r.ReadyTime), r.ReadyRatio())
	}},
	{"Partnership API calls per account", "1.00", func(r *Result) string {
		return fmt.Sprintf("**%.2f** (%s)", r.CallsPerAccount(), r.Calls)
	}},
	{"Kubernetes writes per account (PartnerAccounts and their status)", "≤ 3", func(r *Result) string {
		return fmt.Sprintf("**%.2f** (%d writes; the benchmark's own %d creates left out)",
			r.WritesPerAccount(), r.Writes.PartnerAccounts, r.BenchWrites)
	}},
	{"The operator's other writes meanwhile", "", func(r *Result) string {
		return otherWrites(r.Writes)
	}},
	{"Peak RSS (VmHWM)", "≤ 96 MiB", func(r *Result) string {
		return fmt.Sprintf("**%.1f MiB** (highest VmRSS sampled: %.1f MiB)", mib(r.PeakRSS), mib(r.MaxSampledRSS))
	}},
	{"CPU seconds, first create to all Ready", "", func(r *Result) string {
		return fmt.Sprintf("%.1f s", r.CPUToReady.Seconds())
	}},
	{"Calls and writes during the idle window", "0 and 0", func(r *Result) string {
		return fmt.Sprintf("**%d** calls, **%d** writes in %s (%s; %.2f CPU s)",
			r.IdleCalls.Total(), r.IdleWrites.PartnerAccounts, r.Config.IdleWindow,
			otherWrites(r.IdleWrites), r.CPUIdle.Seconds())
	}},
	{"Calls in the window after a restart", "0", func(r *Result) string {
		return fmt.Sprintf("**%d** in %s (%s); %d writes; new process: peak RSS %.1f MiB, %.1f CPU s",
			r.RestartCalls.Total(), r.Config.RestartWindow, r.RestartCalls, r.RestartWrites.PartnerAccounts,
			mib(r.RestartPeakRSS), r.RestartCPU.Seconds())
	}},
	{"`endsAt` change reaching the API under backlog", "≤ 5 s", func(r *Result) string {
		if r.Config.SecretRefs {
			return "not measured: the tokens are in Secrets already, so the restart that makes the backlog finds nothing to do"
		}
		if r.Config.SkipBacklog {
			return "not measured: this run leaves the backlog phase out"
		}
		b := r.Backlog
		each := make([]string, 0, len(b.Changes))
		for _, c := range b.Changes {
			each = append(each, c.describe())
		}
		caveat := ""
		if !b.UnderBacklog(r.Config) {
			caveat = fmt.Sprintf("; **the work queue held fewer than N ÷ 10 = %s accounts: "+
				"this is not a figure under backlog**", Thousands(r.Config.Accounts/10))
		}
		return fmt.Sprintf("slowest of %d: **%s** (each: %s; restarted with --activation-token-in-status=false, "+
			"so all %s accounts to reconcile: %.1f reads/s and %.1f Secret writes/s over %s; "+
			"work queue depth %s before the first change, %s after the last%s)",
			len(b.Changes), b.Slowest().describe(), strings.Join(each, ", "), Thousands(r.Config.Accounts),
			b.ReadsPerSecond, b.SecretWritesPerSecond, r.Config.BacklogSettle,
			depth(b.QueueDepth), depth(b.QueueDepthAfter), caveat)
	}},
}

// otherWrites shows the operator's writes other than of PartnerAccounts.
func otherWrites(w writeCounts) string {
	return fmt.Sprintf("Secrets %d, events %d, leases %d", w.Secrets, w.Events, w.Leases)
}

// depth shows a work queue depth, -1 being unknown.
func depth(d int) string {
	if d < 0 {
		return "unknown"
	}
	return Thousands(d)
}

// Table renders the figures of one or more results as a Markdown table, a column
// per result.
func Table(results ...*Result) string {
	var b strings.Builder
	b.WriteString("| | target |")
	for _, r := range results {
		fmt.Fprintf(&b, " %s accounts |", Thousands(r.Config.Accounts))
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(results)) + "\n")
	for _, row := range rows {
		fmt.Fprintf(&b, "| %s | %s |", row.what, row.target)
		for _, r := range results {
			fmt.Fprintf(&b, " %s |", row.show(r))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// secs shows a duration in seconds with one decimal, e.g. "103.2 s".
func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// Thousands shows n with comma separators, e.g. 10,000.
func Thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// secretRefRows are the figures SecretRefsTable compares; base is the run
// without spec.activationTokenSecretRef, nil in its own column.
var secretRefRows = []struct {
	what, target string
	show         func(r, base *Result) string
}{
	{"Time to all Ready", "", func(r, _ *Result) string {
		return fmt.Sprintf("%s = %.2f× the bound", secs(r.ReadyTime), r.ReadyRatio())
	}},
	{"Partnership API calls per account", "1.00", func(r, _ *Result) string {
		return fmt.Sprintf("%.2f", r.CallsPerAccount())
	}},
	{"Kubernetes writes per account (PartnerAccounts and their status)", "≤ 3", func(r, _ *Result) string {
		return fmt.Sprintf("%.2f", r.WritesPerAccount())
	}},
	{"The operator's other writes meanwhile", "", func(r, _ *Result) string { return otherWrites(r.Writes) }},
	{"Peak RSS (VmHWM)", "within 10% of the run without", func(r, base *Result) string {
		if base == nil {
			return fmt.Sprintf("%.1f MiB", mib(r.PeakRSS))
		}
		return fmt.Sprintf("%.1f MiB = **%.2f×** the run without", mib(r.PeakRSS), PeakRSSRatio(r, base))
	}},
	{"Calls and writes idle; calls after a restart", "0, 0; 0", func(r, _ *Result) string {
		return fmt.Sprintf("%d, %d; %d", r.IdleCalls.Total(), r.IdleWrites.PartnerAccounts, r.RestartCalls.Total())
	}},
}

// PeakRSSRatio is the peak RSS of r over that of base.
func PeakRSSRatio(r, base *Result) float64 { return float64(r.PeakRSS) / float64(base.PeakRSS) }

// SecretRefsTable renders as a Markdown table runs of the same size without
// spec.activationTokenSecretRef (without[i]) and with it (with[i]), side by side.
func SecretRefsTable(without, with []*Result) string {
	var b strings.Builder
	b.WriteString("| | target |")
	for i := range with {
		n := Thousands(with[i].Config.Accounts)
		fmt.Fprintf(&b, " %s accounts, token in status | %s accounts, token in a Secret |", n, n)
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|---|", len(with)) + "\n")
	for _, row := range secretRefRows {
		fmt.Fprintf(&b, "| %s | %s |", row.what, row.target)
		for i := range with {
			fmt.Fprintf(&b, " %s | %s |", row.show(without[i], nil), row.show(with[i], without[i]))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Targets of the signup scenario (issue 22).
const (
	SignupTargetMedian = 60 * time.Second
	SignupTargetP95    = 180 * time.Second
)

// SignupTable renders the figures of the signup scenario as a Markdown table.
func SignupTable(r *SignupResult) string {
	c := r.Config
	var b strings.Builder
	fmt.Fprintf(&b, "| | target | %s accounts, %s signups within %s of their account's creation |\n|---|---|---|\n",
		Thousands(c.Accounts), Thousands(c.Signups), c.Within)
	row := func(what, target, format string, args ...any) {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", what, target, fmt.Sprintf(format, args...))
	}
	unexpected := "no other account shown provisioned"
	if len(r.Unexpected) > 0 {
		unexpected = fmt.Sprintf("**%d accounts shown provisioned that no customer redeemed**: %s", len(r.Unexpected),
			strings.Join(r.Unexpected, ", "))
	}
	row("Signups shown as `accountStatus: provisioned`", "all", "**%d of %d** (%s)", r.Seen(), r.Redeemed, unexpected)
	row("Detection lag, median", "≤ "+secs(SignupTargetMedian), "**%s**", secs(r.Lag(50)))
	row("Detection lag, 95th percentile", "≤ "+secs(SignupTargetP95), "**%s**", secs(r.Lag(95)))
	row("Detection lag, max", "", "%s", secs(r.Lag(100)))
	budget := c.Budget()
	after := "unknown"
	if rate, ok := r.GetRateAfterReady(); ok {
		after = fmt.Sprintf("%.2f/s", rate)
	}
	row("GETs a second, first create to last signup seen", fmt.Sprintf("≤ %g (half of %g rps)", budget, c.RPS),
		"**%.2f** (%d GETs in %s; %s from all Ready on)", r.GetRate(), r.Calls.Op("get"), secs(r.End), after)
	peak, at := r.PeakWindow(10 * time.Second)
	row("Most GETs in 10 s", fmt.Sprintf("≤ %g", 10*budget), "**%d** = %.1f/s (from %s after the first create)",
		peak, float64(peak)/10, secs(at))
	whole, rest, restFor := r.GetsPerMinute()
	perMinute := make([]string, 0, len(whole)+1)
	for _, n := range whole {
		perMinute = append(perMinute, strconv.Itoa(n))
	}
	if restFor > 0 {
		perMinute = append(perMinute, fmt.Sprintf("then %d in %s", rest, secs(restFor)))
	}
	row("GETs in each minute from the first create", fmt.Sprintf("≤ %g", 60*budget), "%s",
		strings.Join(perMinute, ", "))
	row("All Partnership API calls", "", "%s", r.Calls)
	row("Time to create the objects; to all Ready", "", "%s; %s", secs(r.CreateTime), secs(r.ReadyTime))
	row("Signups made", "", "from %s to %s after the first create", secs(r.FirstSignup), secs(r.LastSignup))
	return b.String()
}

// ImportTable renders the figures of the plugin's import as a Markdown table.
func ImportTable(r *ImportResult) string {
	c := r.Config
	var b strings.Builder
	fmt.Fprintf(&b, "| | target | %s UIDs |\n|---|---|---|\n", Thousands(c.UIDs))
	row := func(what, target, format string, args ...any) {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", what, target, fmt.Sprintf(format, args...))
	}
	row("Bound: N ÷ rate limit", "", "%s (N ÷ %g rps)", secs(c.Bound()), c.RPS)
	row("Time to import", "", "%s = **%.2f×** the bound", secs(r.Time), r.Ratio())
	row("Partnership API calls", "1 per UID", "%s", r.Calls)
	row("Peak RSS of the plugin (VmHWM)", "", "**%.1f MiB** (the kernel's ru_maxrss at exit: %.1f MiB; highest VmRSS "+
		"sampled: %.1f MiB)", mib(r.PeakRSS), mib(r.MaxRSS), mib(r.MaxSampledRSS))
	row("CPU seconds of the plugin", "", "%.1f s", r.CPU.Seconds())
	row("Output", "", "%s PartnerAccounts, %.1f MiB of YAML; stderr's summary: %s", Thousands(r.Documents),
		mib(r.OutputBytes), "`"+r.Summary+"`")
	return b.String()
}
