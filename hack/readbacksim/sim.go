package main

import (
	"cmp"
	"container/heap"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/go-logr/logr"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
	"github.com/partnerbilling/partner-account-operator/internal/readback"
)

const day = 24 * time.Hour

// Model is what is simulated: how many accounts are made and when, when their
// customers sign up, and the operator's settings.
type Model struct {
	// Accounts are created at times uniform over Window.
	Accounts int
	Window   time.Duration
	// Redeemed is the share of accounts whose customer signs up; Signups says when,
	// after the account was made.
	Redeemed float64
	Signups  []SignupGroup
	// Budget is the read-backs' rate, GETs a second: half of --partner-api-rps.
	Budget float64
	// Resync is --resync-period, the longest any account goes unread.
	Resync time.Duration
	// Horizon is how long the simulated clock runs from the first creation; 0 is
	// Window, plus the latest signup delay, plus 1.2 × Resync and an hour, so that
	// every signup has been read.
	Horizon time.Duration
	// Seed makes the run repeatable.
	Seed uint64
}

// SignupGroup is a share of the signups, with a delay after the account's creation
// drawn uniformly from [From, To), or exponentially with mean Mean (truncated to
// [From, To)) when Mean is set.
type SignupGroup struct {
	Share    float64
	From, To time.Duration
	Mean     time.Duration
}

// DefaultModel is the model of the documentation: 100,000 accounts over 30 days,
// 60% redeemed (half of those within the first hour, exponentially with a mean of
// 15 minutes; 30% between an hour and a day; 20% over days 1 to 30), at the
// budget of the default --partner-api-rps (10, so 5 read-backs a second) and
// --resync-period (24h).
func DefaultModel() Model {
	return Model{
		Accounts: 100_000,
		Window:   30 * day,
		Redeemed: 0.6,
		Signups: []SignupGroup{
			{Share: 0.5, From: 0, To: time.Hour, Mean: 15 * time.Minute},
			{Share: 0.3, From: time.Hour, To: day},
			{Share: 0.2, From: day, To: 30 * day},
		},
		Budget: 5,
		Resync: day,
		Seed:   1,
	}
}

func (m Model) horizon() time.Duration {
	if m.Horizon > 0 {
		return m.Horizon
	}
	latest := time.Duration(0)
	for _, g := range m.Signups {
		latest = max(latest, g.To)
	}
	return m.Window + latest + m.Resync*6/5 + time.Hour
}

// draw is a signup delay of the group.
func (g SignupGroup) draw(r *rand.Rand) time.Duration {
	if g.Mean <= 0 {
		return g.From + time.Duration(r.Float64()*float64(g.To-g.From))
	}
	for {
		d := g.From + time.Duration(r.ExpFloat64()*float64(g.Mean))
		if d < g.To {
			return d
		}
	}
}

// Band is a range of ages, or of times since the signup, with the GETs and the
// account-time spent in it.
type Band struct {
	From, To time.Duration // To 0: no end
	Reads    int64
	// AccountDays is the time accounts spent in the band, in days.
	AccountDays float64
}

// PerDay is the band's GETs per account per day.
func (b Band) PerDay() float64 {
	if b.AccountDays == 0 {
		return 0
	}
	return float64(b.Reads) / b.AccountDays
}

// Lags are the detection lags of a set of signups, sorted.
type Lags []time.Duration

// Pct is the p-th percentile (0 to 100), nearest rank; 0 when there are none.
func (l Lags) Pct(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(l)))) - 1
	return l[min(max(i, 0), len(l)-1)]
}

// Max is the longest lag.
func (l Lags) Max() time.Duration {
	if len(l) == 0 {
		return 0
	}
	return l[len(l)-1]
}

// Result is what Simulate measured.
type Result struct {
	Model   Model
	Horizon time.Duration
	// Signups counts the accounts redeemed within the horizon; Detected those whose
	// signup a read saw.
	Signups, Detected int
	// Lags are the detection lags: all signups, those in an account's first hour,
	// its first day, and later.
	All, FirstHour, FirstDay, Later Lags
	// Entitled are the GETs and account-time of accounts the operator saw entitled
	// (until the read that saw the signup, which counts here), by age, in the bands
	// of readback.EntitledSchedule.
	Entitled []Band
	// Provisioned are those of accounts after the read that saw their signup: in the
	// day after the signup, and after that.
	Provisioned []Band
	// Reads counts every GET; HotReads those of hot accounts.
	Reads, HotReads int64
	// PeakSecond and PeakMinute are the most GETs in one second and in one minute of
	// the clock.
	PeakSecond, PeakMinute int
	// Busiest is the highest average rate of GETs over an hour of the clock.
	BusiestHour float64
	// LateReads counts reads the calendar put later than the schedule asked
	// (beyond its ±20% jitter and a slot), and LateBy is their average delay.
	LateReads int64
	LateBy    time.Duration
	// RunTime is how long the simulation took.
	RunTime time.Duration
}

// ProvisionedPerDay is the GETs per provisioned account per day over the whole
// time after the signups were seen.
func (r *Result) ProvisionedPerDay() float64 {
	var b Band
	for _, p := range r.Provisioned {
		b.Reads += p.Reads
		b.AccountDays += p.AccountDays
	}
	return b.PerDay()
}

// AverageRate is the GETs a second over the horizon.
func (r *Result) AverageRate() float64 { return float64(r.Reads) / r.Horizon.Seconds() }

// account is one simulated account. Times are nanoseconds since the start.
type account struct {
	created, redeemAt, seenAt int64 // redeemAt, seenAt -1: never
}

// event is a read due at t of account a, reserved as hot or not.
type event struct {
	t   int64
	a   int32
	hot bool
}

type events []event

func (e events) Len() int           { return len(e) }
func (e events) Less(i, j int) bool { return e[i].t < e[j].t }
func (e events) Swap(i, j int)      { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)        { *e = append(*e, x.(event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

// start is the simulated clock's origin; any time works.
var start = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// Simulate runs the model: each account is created at its time and read back as
// readback.Interval and a readback.Calendar with the model's budget say, the
// calendar being given the simulated time. A read at or after the account's
// signup sees it. Reads take no time and each happens exactly at its slot: the
// operator's work queue and rate limiter are not simulated, only the schedule.
func Simulate(m Model) *Result {
	began := time.Now()
	r := rand.New(rand.NewPCG(m.Seed, 0x5eed))
	horizon := m.horizon()
	res := &Result{Model: m, Horizon: horizon}
	accounts := make([]account, m.Accounts)
	for i := range accounts {
		a := &accounts[i]
		a.created = int64(r.Float64() * float64(m.Window))
		a.redeemAt, a.seenAt = -1, -1
		if r.Float64() < m.Redeemed {
			a.redeemAt = a.created + int64(pick(m.Signups, r).draw(r))
			if a.redeemAt >= int64(horizon) {
				a.redeemAt = -1
			} else {
				res.Signups++
			}
		}
	}
	slices.SortFunc(accounts, func(a, b account) int { return cmp.Compare(a.created, b.created) })

	cal := readback.NewCalendar(m.Resync, m.Budget, logr.Discard(), nil)
	res.Entitled = entitledBands(m.Resync)
	res.Provisioned = []Band{{From: 0, To: day}, {From: day}}
	perSecond := make([]uint16, horizon/time.Second+1)
	perMinute := make([]uint32, horizon/time.Minute+1)
	var lateBy time.Duration
	slot := time.Duration(float64(time.Second) / m.Budget)

	// schedule reserves the next read of a, read (or created) at now.
	schedule := func(q *events, i int32, now int64) {
		a := &accounts[i]
		state, lastChange := partnerapi.StatusEntitled, a.created
		if a.seenAt >= 0 {
			// provisionedAt is the API's updated_at: when the customer signed up.
			state, lastChange = partnerapi.StatusProvisioned, a.redeemAt
		}
		every, hot := readback.Interval(state, time.Duration(now-a.created), time.Duration(now-lastChange),
			cal.Period())
		// As Calendar.After does, with the simulation's random source.
		want := time.Duration(float64(every) * (1 + 0.2*(2*r.Float64()-1)))
		t := start.Add(time.Duration(now))
		d := cal.Reserve(t, t.Add(want), hot)
		if late := d - want - slot; late > 0 {
			res.LateReads++
			lateBy += late
		}
		heap.Push(q, event{t: now + int64(d), a: i, hot: hot})
	}

	q := &events{}
	next := 0 // the next account to create
	for {
		creating := next < len(accounts) && (q.Len() == 0 || accounts[next].created <= (*q)[0].t)
		if creating {
			cal.AccountsChanged(int64(next + 1))
			schedule(q, int32(next), accounts[next].created)
			next++
			continue
		}
		if q.Len() == 0 || (*q)[0].t >= int64(horizon) {
			break
		}
		e := heap.Pop(q).(event)
		a := &accounts[e.a]
		res.Reads++
		perSecond[e.t/int64(time.Second)]++
		perMinute[e.t/int64(time.Minute)]++
		if a.seenAt >= 0 {
			res.Provisioned[bandOf(res.Provisioned, time.Duration(e.t-a.redeemAt))].Reads++
		} else {
			res.Entitled[bandOf(res.Entitled, time.Duration(e.t-a.created))].Reads++
			if a.redeemAt >= 0 && a.redeemAt <= e.t {
				a.seenAt = e.t
			}
		}
		if e.hot {
			res.HotReads++
		}
		schedule(q, e.a, e.t)
	}
	if res.LateReads > 0 {
		res.LateBy = lateBy / time.Duration(res.LateReads)
	}

	for i := range accounts {
		a := &accounts[i]
		seen := int64(horizon)
		if a.seenAt >= 0 {
			seen = a.seenAt
			res.Detected++
			lag := time.Duration(a.seenAt - a.redeemAt)
			res.All = append(res.All, lag)
			switch delay := time.Duration(a.redeemAt - a.created); {
			case delay < time.Hour:
				res.FirstHour = append(res.FirstHour, lag)
				res.FirstDay = append(res.FirstDay, lag)
			case delay < day:
				res.FirstDay = append(res.FirstDay, lag)
			default:
				res.Later = append(res.Later, lag)
			}
			addTime(res.Provisioned, time.Duration(seen-a.redeemAt), time.Duration(int64(horizon)-a.redeemAt))
		}
		addTime(res.Entitled, 0, time.Duration(seen-a.created))
	}
	for _, l := range []Lags{res.All, res.FirstHour, res.FirstDay, res.Later} {
		slices.Sort(l)
	}
	for _, n := range perSecond {
		res.PeakSecond = max(res.PeakSecond, int(n))
	}
	hour := 0
	for i, n := range perMinute {
		res.PeakMinute = max(res.PeakMinute, int(n))
		hour += int(n)
		if i >= 60 {
			hour -= int(perMinute[i-60])
		}
		res.BusiestHour = max(res.BusiestHour, float64(hour)/3600)
	}
	res.RunTime = time.Since(began)
	return res
}

// entitledBands are the age bands of the schedule of entitled accounts: those
// where readback.Interval gives one interval, and one for the ages after.
func entitledBands(longest time.Duration) []Band {
	var bands []Band
	from := time.Duration(0)
	for _, s := range Steps(partnerapi.StatusEntitled, longest) {
		if s.To != 0 {
			bands = append(bands, Band{From: from, To: s.To})
			from = s.To
		}
	}
	return append(bands, Band{From: from})
}

// Step is a range of ages (or times since a change) over which readback.Interval
// gives one interval; To 0 is no end.
type Step struct {
	From, To, Every time.Duration
	Hot             bool
}

// Steps reads the schedule of an account in state off readback.Interval, by age
// for an entitled account and by time since its last change for another, up to
// 90 days: where the interval (or whether it is hot) changes, to the nanosecond.
func Steps(state string, longest time.Duration) []Step {
	at := func(d time.Duration) (time.Duration, bool) {
		if state == partnerapi.StatusEntitled {
			return readback.Interval(state, d, d, longest)
		}
		return readback.Interval(state, 90*day, d, longest)
	}
	var steps []Step
	every, hot := at(0)
	cur := Step{Every: every, Hot: hot}
	const grid = time.Minute
	for d := grid; d <= 90*day; d += grid {
		e, h := at(d)
		if e == cur.Every && h == cur.Hot {
			continue
		}
		// The change is in (d-grid, d]: find where.
		lo, hi := d-grid, d
		for hi-lo > 1 {
			mid := lo + (hi-lo)/2
			if me, mh := at(mid); me == cur.Every && mh == cur.Hot {
				lo = mid
			} else {
				hi = mid
			}
		}
		cur.To = hi
		steps = append(steps, cur)
		cur = Step{From: hi, Every: e, Hot: h}
	}
	return append(steps, cur)
}

// bandOf is the index of the band that holds d.
func bandOf(bands []Band, d time.Duration) int {
	for i, b := range bands {
		if b.To == 0 || d < b.To {
			return i
		}
	}
	return len(bands) - 1
}

// addTime adds to each band the part of [from, to) within it.
func addTime(bands []Band, from, to time.Duration) {
	for i := range bands {
		b := &bands[i]
		end := to
		if b.To != 0 {
			end = min(end, b.To)
		}
		if d := end - max(from, b.From); d > 0 {
			b.AccountDays += float64(d) / float64(day)
		}
	}
}

// pick chooses a group by share.
func pick(groups []SignupGroup, r *rand.Rand) SignupGroup {
	u := r.Float64()
	for _, g := range groups {
		if u < g.Share {
			return g
		}
		u -= g.Share
	}
	return groups[len(groups)-1]
}
