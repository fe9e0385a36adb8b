// Command readbacksim simulates the operator's read-back schedule alone, with a
// simulated clock: accounts are created, customers sign up, and each account is
// read back as internal/readback says (Interval for how often, a Calendar at the
// read-back budget for when exactly), from an event queue keyed by due time. A
// read at or after a signup sees it. It prints how long signups took to be seen,
// the GETs per account per day by state and age, and the peak GET rate against
// the budget.
//
//	go run ./hack/readbacksim                # the model of docs/benchmarks.md
//	go run ./hack/readbacksim -accounts 2000 -days 3
//	go run ./hack/readbacksim -markdown      # the section of docs/benchmarks.md
//
// It is pure: no API, no cluster, no wall clock but for its own run time.
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// Targets of issue 22.
const (
	// targetFirstDayMedian is the median detection lag of signups in an account's
	// first day.
	targetFirstDayMedian = 5 * time.Minute
	// targetProvisionedPerDay is the GETs per provisioned account per day, on average.
	targetProvisionedPerDay = 1.0
)

func main() {
	m := DefaultModel()
	fs := flag.NewFlagSet("readbacksim", flag.ExitOnError)
	fs.IntVar(&m.Accounts, "accounts", m.Accounts, "accounts to create")
	days := fs.Float64("days", m.Window.Hours()/24, "days over which the accounts are created, uniformly")
	fs.Float64Var(&m.Redeemed, "redeemed", m.Redeemed, "share of accounts whose customer signs up")
	fs.Float64Var(&m.Budget, "budget", m.Budget, "read-backs a second at most: half of --partner-api-rps")
	fs.DurationVar(&m.Resync, "resync-period", m.Resync, "the operator's --resync-period")
	fs.DurationVar(&m.Horizon, "horizon", 0,
		"how long the clock runs; 0: until every signup can have been read (creations, latest signup, 1.2 × resync)")
	fs.Uint64Var(&m.Seed, "seed", m.Seed, "random seed")
	markdown := fs.Bool("markdown", false, "print the section of docs/benchmarks.md")
	_ = fs.Parse(os.Args[1:])
	m.Window = time.Duration(*days * float64(day))

	res := Simulate(m)
	if *markdown {
		writeMarkdown(os.Stdout, res, os.Args[1:])
		return
	}
	writeText(os.Stdout, res)
}

// Check lists the targets res misses, and the invariants it breaks.
func Check(res *Result) []string {
	var missed []string
	m := res.Model
	if res.Detected != res.Signups {
		missed = append(missed, fmt.Sprintf("%d of %d signups seen", res.Detected, res.Signups))
	}
	if p := res.FirstDay.Pct(50); p > targetFirstDayMedian {
		missed = append(missed, fmt.Sprintf("median lag of first-day signups %s, above %s", dur(p),
			dur(targetFirstDayMedian)))
	}
	if p := res.ProvisionedPerDay(); p > targetProvisionedPerDay {
		missed = append(missed, fmt.Sprintf("%.2f GETs per provisioned account per day, above %.0f", p,
			targetProvisionedPerDay))
	}
	if !res.WithinBudget() {
		missed = append(missed, fmt.Sprintf("peak %d GETs in a second, %d in a minute: above the budget of %g/s",
			res.PeakSecond, res.PeakMinute, m.Budget))
	}
	return missed
}

// WithinBudget reports whether no second and no minute of the clock had more GETs
// than the budget allows (rounded up: at 0.5 a second, one in a second is allowed).
func (r *Result) WithinBudget() bool {
	b := r.Model.Budget
	return float64(r.PeakSecond) <= math.Ceil(b-1e-9) && float64(r.PeakMinute) <= math.Ceil(60*b-1e-9)
}

// describeModel says what was simulated, in a sentence or two.
func describeModel(m Model, horizon time.Duration) string {
	groups := make([]string, 0, len(m.Signups))
	for _, g := range m.Signups {
		how := fmt.Sprintf("uniformly between %s and %s", dur(g.From), dur(g.To))
		if g.Mean > 0 {
			how = fmt.Sprintf("exponentially with a mean of %s, below %s", dur(g.Mean), dur(g.To))
		}
		groups = append(groups, fmt.Sprintf("%.0f%% %s after the account was made", 100*g.Share, how))
	}
	return fmt.Sprintf("%s accounts created at random times uniform over %s; the customers of %.0f%% sign up "+
		"(%s), the others never. Read-back budget %g GET/s (half of the default --partner-api-rps=%g), "+
		"--resync-period=%s. The clock runs %s from the first creation, so that every signup can be seen; seed %d.",
		thousands(m.Accounts), dur(m.Window), 100*m.Redeemed, strings.Join(groups, "; "), m.Budget, 2*m.Budget,
		flagDuration(m.Resync), dur(horizon), m.Seed)
}

// scheduleLines describe the schedule in effect, read off readback.Interval.
func scheduleLines(resync time.Duration) []string {
	states := []struct{ state, by string }{
		{partnerapi.StatusEntitled, "age"},
		{partnerapi.StatusProvisioned, "time since the last change"},
	}
	lines := make([]string, 0, len(states))
	for _, st := range states {
		var parts []string
		for _, s := range Steps(st.state, resync) {
			part := fmt.Sprintf("%s to %s: every %s", dur(s.From), dur(s.To), dur(s.Every))
			if s.To == 0 {
				part = fmt.Sprintf("from %s: every %s", dur(s.From), dur(s.Every))
			}
			if s.Hot {
				part += " (hot)"
			}
			parts = append(parts, part)
		}
		name := st.state
		if st.state != partnerapi.StatusEntitled {
			name = "provisioned (and any other state)"
		}
		lines = append(lines, fmt.Sprintf("%s, by %s: %s", name, st.by, strings.Join(parts, "; ")))
	}
	return lines
}

func writeText(w io.Writer, res *Result) {
	m := res.Model
	p := func(format string, args ...any) { _, _ = fmt.Fprintf(w, format+"\n", args...) }
	p("Model: %s", describeModel(m, res.Horizon))
	p("Schedule (readback.Interval):")
	for _, l := range scheduleLines(m.Resync) {
		p("  %s", l)
	}
	p("")
	p("Detection lag, from the signup to the read that saw it:")
	p("  %-34s %8s %9s %9s %9s %9s", "signups", "count", "p50", "p95", "p99", "max")
	for _, l := range lagRows(res) {
		p("  %-34s %8s %9s %9s %9s %9s", l.name, thousands(len(l.lags)), dur(l.lags.Pct(50)), dur(l.lags.Pct(95)),
			dur(l.lags.Pct(99)), dur(l.lags.Max()))
	}
	p("  seen: %s of %s signups", thousands(res.Detected), thousands(res.Signups))
	p("")
	p("GETs per account per day:")
	for _, b := range bandRows(res) {
		p("  %-52s %10.2f  (%s account-days)", b.name, b.band.PerDay(), thousandsF(b.band.AccountDays))
	}
	p("  %-52s %10.2f", "provisioned, overall", res.ProvisionedPerDay())
	p("")
	p("GET rate: %.2f/s on average over the clock; busiest hour %.2f/s; peak %d in a second, %d in a minute "+
		"(budget %g/s, %g/min): %s", res.AverageRate(), res.BusiestHour, res.PeakSecond, res.PeakMinute,
		m.Budget, 60*m.Budget, budgetVerdict(res))
	p("Reads of hot accounts: %.1f%% of %s; reads the calendar put later than the schedule asked: %s (%.1f%%), "+
		"by %s on average", 100*float64(res.HotReads)/float64(max(res.Reads, 1)), thousands64(res.Reads),
		thousands64(res.LateReads), 100*float64(res.LateReads)/float64(max(res.Reads, 1)), dur(res.LateBy))
	p("Run time: %s", res.RunTime.Round(time.Millisecond))
	if missed := Check(res); len(missed) > 0 {
		p("Targets missed: %s", strings.Join(missed, "; "))
	} else {
		p("Targets met: every signup seen; median lag of first-day signups ≤ %s; ≤ %.0f GET per provisioned "+
			"account per day on average; never above the budget.", dur(targetFirstDayMedian), targetProvisionedPerDay)
	}
}

type lagRow struct {
	name string
	lags Lags
}

func lagRows(res *Result) []lagRow {
	return []lagRow{
		{"all", res.All},
		{"in the account's first hour", res.FirstHour},
		{"in the account's first day", res.FirstDay},
		{"after the account's first day", res.Later},
	}
}

type bandRow struct {
	name string
	band Band
}

func bandRows(res *Result) []bandRow {
	rows := make([]bandRow, 0, len(res.Entitled)+len(res.Provisioned))
	for _, b := range res.Entitled {
		name := fmt.Sprintf("entitled, %s to %s old", dur(b.From), dur(b.To))
		if b.To == 0 {
			name = fmt.Sprintf("entitled, older than %s", dur(b.From))
		}
		rows = append(rows, bandRow{name, b})
	}
	for _, b := range res.Provisioned {
		name := fmt.Sprintf("provisioned, %s to %s after the signup", dur(b.From), dur(b.To))
		if b.To == 0 {
			name = fmt.Sprintf("provisioned, later than %s after the signup", dur(b.From))
		}
		rows = append(rows, bandRow{name, b})
	}
	return rows
}

func budgetVerdict(res *Result) string {
	if res.WithinBudget() {
		return "never above it"
	}
	return "ABOVE IT"
}

// writeMarkdown writes the section of docs/benchmarks.md.
func writeMarkdown(w io.Writer, res *Result, args []string) {
	m := res.Model
	p := func(format string, a ...any) { _, _ = fmt.Fprintf(w, format+"\n", a...) }
	cmd := "go run ./hack/readbacksim"
	if rest := strings.Join(filterArgs(args), " "); rest != "" {
		cmd += " " + rest
	}
	p("`%s` ran the schedule alone, with a simulated clock, in %s. It drives the operator's own "+
		"`internal/readback`: each account is read back when `readback.Interval` and a `readback.Calendar` at "+
		"the budget say, from an event queue keyed by due time, and a read at or after the customer's signup "+
		"sees it. Reads take no time and happen exactly at their slot: the work queue, the rate limiter and the "+
		"API's latency are left out, which the signup scenario above measures.", cmd,
		res.RunTime.Round(100*time.Millisecond))
	p("")
	p("**Model.** %s", describeModel(m, res.Horizon))
	p("")
	p("**Schedule** (read off `readback.Interval`; hot accounts go first when the budget binds):")
	p("")
	for _, l := range scheduleLines(m.Resync) {
		p("- %s", l)
	}
	p("")
	p("| detection lag, from the signup to the read that saw it | signups | p50 | p95 | p99 | max |")
	p("|---|---|---|---|---|---|")
	for _, l := range lagRows(res) {
		p("| %s | %s | %s | %s | %s | %s |", l.name, thousands(len(l.lags)), dur(l.lags.Pct(50)),
			dur(l.lags.Pct(95)), dur(l.lags.Pct(99)), dur(l.lags.Max()))
	}
	p("")
	p("| GETs per account per day | GETs/day | account-days |")
	p("|---|---|---|")
	for _, b := range bandRows(res) {
		p("| %s | %.2f | %s |", b.name, b.band.PerDay(), thousandsF(b.band.AccountDays))
	}
	p("| **provisioned, overall** | **%.2f** | |", res.ProvisionedPerDay())
	p("")
	p("| | target | simulated |")
	p("|---|---|---|")
	p("| Signups seen | all | %s of %s |", thousands(res.Detected), thousands(res.Signups))
	p("| Median lag of signups in an account's first day | ≤ %s | **%s** |", dur(targetFirstDayMedian),
		dur(res.FirstDay.Pct(50)))
	p("| GETs per provisioned account per day, on average | ≤ %.0f | **%.2f** |", targetProvisionedPerDay,
		res.ProvisionedPerDay())
	p("| Peak GET rate | ≤ %g/s (%g/min) | **%d** in a second, **%d** in a minute: %s; busiest hour %.2f/s, "+
		"average %.2f/s |", m.Budget, 60*m.Budget, res.PeakSecond, res.PeakMinute, budgetVerdict(res),
		res.BusiestHour, res.AverageRate())
	p("| Reads the calendar put later than the schedule asked | | %s of %s (%.1f%%), by %s on average |",
		thousands64(res.LateReads), thousands64(res.Reads), 100*float64(res.LateReads)/float64(max(res.Reads, 1)),
		dur(res.LateBy))
}

// filterArgs drops -markdown from the command line shown.
func filterArgs(args []string) []string {
	var out []string
	for _, a := range args {
		if a != "-markdown" && a != "--markdown" {
			out = append(out, a)
		}
	}
	return out
}

// flagDuration shows a duration as a flag would be given it: 24h, not 24h0m0s.
func flagDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// dur shows a duration in the largest unit that keeps it readable: 12 s, 4.2 min,
// 3.5 h, 2.1 d.
func dur(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < time.Minute:
		return trim(fmt.Sprintf("%.1f", d.Seconds())) + " s"
	case d < time.Hour:
		return trim(fmt.Sprintf("%.1f", d.Minutes())) + " min"
	case d < day:
		return trim(fmt.Sprintf("%.1f", d.Hours())) + " h"
	}
	return trim(fmt.Sprintf("%.1f", d.Hours()/24)) + " d"
}

// trim drops a trailing ".0".
func trim(s string) string { return strings.TrimSuffix(s, ".0") }

func thousands(n int) string { return thousands64(int64(n)) }

func thousandsF(f float64) string { return thousands64(int64(f + 0.5)) }

// thousands64 shows n with comma separators, e.g. 10,000.
func thousands64(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
