package main

import (
	"testing"
	"time"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
	"github.com/partnerbilling/partner-account-operator/internal/readback"
)

// TestSimulateSmall runs small versions of the model (2,000 accounts over 3 days
// at the default budget, and 1,000 at a budget so tight that the calendar binds
// for days; the late signups within days 1 to 3, so that it takes seconds even
// with -race) and checks the invariants: never more GETs than the budget in any
// second or minute, every signup seen, at most one GET per provisioned account per
// day on average.
func TestSimulateSmall(t *testing.T) {
	for _, tt := range []struct {
		accounts int
		budget   float64
	}{{2000, 5}, {1000, 0.25}} {
		m := DefaultModel()
		budget := tt.budget
		m.Accounts, m.Window, m.Budget = tt.accounts, 3*day, budget
		m.Signups[len(m.Signups)-1].To = 3 * day
		res := Simulate(m)
		t.Logf("budget %g/s: %d signups, first-day median lag %s, p95 %s; %.2f GETs per provisioned account per day; "+
			"peak %d/s, %d/min; busiest hour %.2f/s; %.1f%% of reads late; ran %s", budget, res.Signups,
			dur(res.FirstDay.Pct(50)), dur(res.FirstDay.Pct(95)), res.ProvisionedPerDay(), res.PeakSecond,
			res.PeakMinute, res.BusiestHour, 100*float64(res.LateReads)/float64(res.Reads), res.RunTime)
		if res.Signups < tt.accounts/2 {
			t.Fatalf("budget %g: only %d signups of %d accounts", budget, res.Signups, tt.accounts)
		}
		if res.Detected != res.Signups || len(res.All) != res.Signups {
			t.Errorf("budget %g: %d of %d signups seen", budget, res.Detected, res.Signups)
		}
		if !res.WithinBudget() {
			t.Errorf("budget %g/s: %d GETs in a second, %d in a minute", budget, res.PeakSecond, res.PeakMinute)
		}
		if p := res.ProvisionedPerDay(); p > 1 {
			t.Errorf("budget %g: %.3f GETs per provisioned account per day, want at most 1", budget, p)
		}
		// Nothing goes unread longer than the resync period, but for the wait for a
		// slot: every signup is seen within it.
		if lag := res.All.Max(); lag > m.Resync*6/5+time.Hour {
			t.Errorf("budget %g: a signup seen after %s, longer than the resync period allows", budget, dur(lag))
		}
	}
}

// TestSteps checks that the schedule read off readback.Interval is the schedule.
func TestSteps(t *testing.T) {
	steps := Steps(partnerapi.StatusEntitled, day)
	if len(steps) < 2 || steps[0].From != 0 || steps[len(steps)-1].To != 0 {
		t.Fatalf("steps %+v", steps)
	}
	for i, s := range steps {
		if i > 0 && s.From != steps[i-1].To {
			t.Errorf("step %d starts at %v, the one before ends at %v", i, s.From, steps[i-1].To)
		}
		for _, age := range []time.Duration{s.From, s.From + (s.To-s.From)/2} {
			if s.To == 0 {
				age = s.From + time.Hour
			}
			if every, hot := readback.Interval(partnerapi.StatusEntitled, age, age, day); every != s.Every || hot != s.Hot {
				t.Errorf("at age %v: Interval says every %v (hot %v), the step %+v", age, every, hot, s)
			}
		}
	}
}

func TestLagsPct(t *testing.T) {
	l := Lags{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, 5}, {95, 10}, {99, 10}, {10, 1}, {0, 1}} {
		if got := l.Pct(tt.p); got != tt.want {
			t.Errorf("p%g = %v, want %v", tt.p, got, tt.want)
		}
	}
	if (Lags{}).Pct(50) != 0 || (Lags{}).Max() != 0 {
		t.Error("no lags")
	}
}

func TestFormats(t *testing.T) {
	for d, want := range map[time.Duration]string{day: "24h", 90 * time.Minute: "1h30m", 10 * time.Minute: "10m",
		20 * time.Second: "20s", 36 * time.Hour: "36h"} {
		if got := flagDuration(d); got != want {
			t.Errorf("flagDuration(%v) = %q, want %q", d, got, want)
		}
	}
	for d, want := range map[time.Duration]string{0: "0", 20 * time.Second: "20 s", 90 * time.Second: "1.5 min",
		6 * time.Hour: "6 h", 30 * day: "30 d"} {
		if got := dur(d); got != want {
			t.Errorf("dur(%v) = %q, want %q", d, got, want)
		}
	}
	if got := thousands64(-1234567); got != "-1,234,567" {
		t.Errorf("thousands64 = %q", got)
	}
}
