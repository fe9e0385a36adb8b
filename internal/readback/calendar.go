package readback

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// Calendar plans the background read-backs of settled accounts. They may use at
// most rate calls per second, half of the API rate limit, so that user work always
// has the other half: each read-back gets a slot of its own on a calendar with one
// slot per 1/rate seconds. An account is read again when the schedule says
// (Interval), at most --resync-period later, or later than that only when
// there are more accounts than the rate can read within it. When the budget binds,
// the accounts likely to change go first: read-backs of other accounts may take at
// most coldShare of the slots of any stretch of the calendar, so that the rest
// stays free for the hot ones.
type Calendar struct {
	resync time.Duration
	// slot is the calendar's granularity, 1/rate; zero when read-backs are not limited.
	slot time.Duration
	log  logr.Logger

	accounts atomic.Int64

	mu sync.Mutex
	// next holds the taken slots: next[k] is a slot after k that may be free (a
	// union-find with path compression, so that finding a free slot is cheap even
	// when thousands are taken in a row).
	next map[int64]int64
	// taken counts the taken slots of each stretch of stretchSlots slots.
	taken map[int64]int
	// nextAdmit is when Admit lets the next read-back go without tolerance (Unix
	// nanoseconds).
	nextAdmit  int64
	sweptBelow int64
	lastPeriod time.Duration
	onPeriod   func(time.Duration)
}

// Stretches of the calendar, and the share of each that read-backs of accounts
// unlikely to change may take.
const (
	stretchSlots = 50
	coldShare    = 0.8
)

// NewCalendar plans read-backs at most resync apart, at most rate per second (0 or
// +Inf: no limit). onPeriod, when set, is told the effective longest period each time
// it changes.
func NewCalendar(resync time.Duration, rate float64, log logr.Logger, onPeriod func(time.Duration)) *Calendar {
	rb := &Calendar{onPeriod: onPeriod, resync: resync, log: log, next: map[int64]int64{}, taken: map[int64]int{}}
	if rate > 0 && !math.IsInf(rate, 1) {
		rb.slot = time.Duration(float64(time.Second) / rate)
	}
	return rb
}

// AccountsChanged records that there are n accounts.
func (rb *Calendar) AccountsChanged(n int64) {
	rb.accounts.Store(n)
	p := rb.Period()
	if rb.onPeriod != nil {
		rb.onPeriod(p)
	}
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if rb.lastPeriod == 0 || p > rb.lastPeriod*11/10 || p < rb.lastPeriod*9/10 {
		rb.log.Info("Read-back period", "period", p.String(), "accounts", n, "resyncPeriod", rb.resync.String())
		rb.lastPeriod = p
	}
}

// Accounts returns the number of accounts last recorded by AccountsChanged.
func (rb *Calendar) Accounts() int64 { return rb.accounts.Load() }

// Period is the longest any account goes unread: --resync-period, or longer when
// reading every account back within it would take more than the read-back rate.
func (rb *Calendar) Period() time.Duration {
	return EffectivePeriod(rb.resync, rb.slot, rb.accounts.Load())
}

// EffectivePeriod is max(resync, accounts × slot): every account read once per
// period at one read per slot.
func EffectivePeriod(resync, slot time.Duration, accounts int64) time.Duration {
	if slot <= 0 || accounts <= 0 || int64(resync/slot) >= accounts {
		return resync
	}
	return time.Duration(accounts) * slot
}

// After returns how long until the read-back of an account read now, as plan
// says: its interval ±20%, moved on to a free slot.
func (rb *Calendar) After(now time.Time, plan Plan) time.Duration {
	return rb.Reserve(now, now.Add(jitter(plan.Every, 0.2)), plan.Hot)
}

// AfterRestart returns how long until the first read-back of a settled account
// found at start: an interval after its account last changed when that is yet to
// come, else a random time within one interval, so that a restart reads nothing
// at once and then nothing all together.
func (rb *Calendar) AfterRestart(now time.Time, plan Plan) time.Duration {
	return rb.Reserve(now, FirstReadBack(now, plan.LastChange, plan.Every, rand.Float64()), plan.Hot)
}

// FirstReadBack is when to read back, first after a restart, an account read every
// period that last changed at lastChange; u is uniform in [0, 1).
func FirstReadBack(now, lastChange time.Time, period time.Duration, u float64) time.Time {
	due := lastChange.Add(time.Duration(float64(period) * (0.8 + 0.4*u)))
	if due.After(now) {
		return due
	}
	return now.Add(time.Duration(float64(period) * u))
}

// Reserve takes a free slot at or after want and returns how long from now until
// it: the first free one for a hot account, the first in a stretch less than
// coldShare taken for another.
func (rb *Calendar) Reserve(now, want time.Time, hot bool) time.Duration {
	if rb.slot <= 0 {
		return max(want.Sub(now), 0)
	}
	k := max(want.UnixNano(), now.UnixNano()) / int64(rb.slot)
	rb.mu.Lock()
	for {
		k = rb.find(k)
		stretch := k / stretchSlots
		if hot || float64(rb.taken[stretch]) < coldShare*stretchSlots {
			break
		}
		k = (stretch + 1) * stretchSlots
	}
	rb.mark(k)
	rb.sweep(now.UnixNano() / int64(rb.slot))
	rb.mu.Unlock()
	return max(time.Unix(0, k*int64(rb.slot)).Sub(now), 0)
}

// admitTolerance is how many slots ahead of the pace Admit still lets a read-back
// go: read-backs a little late, then close together, pass; a backlog does not.
const admitTolerance = 1

// Admit says whether a read-back may be made now. Slots keep read-backs apart as
// planned; Admit keeps them apart as made, at most one a slot over time, however
// late they run (behind user work, which the work queue serves first, or a
// Retry-After pause): read-backs that fell behind do not then go all together at
// the full rate limit. When it says no, it takes a free slot at or after the next
// admission and returns how long until it.
func (rb *Calendar) Admit(now time.Time, hot bool) (wait time.Duration, ok bool) {
	if rb.slot <= 0 {
		return 0, true
	}
	t, slot := now.UnixNano(), int64(rb.slot)
	rb.mu.Lock()
	next := rb.nextAdmit
	if ok = next-t <= admitTolerance*slot; ok {
		rb.nextAdmit = max(next, t) + slot
	}
	rb.mu.Unlock()
	if ok {
		return 0, true
	}
	return max(rb.Reserve(now, time.Unix(0, next), hot), time.Duration(next-t)), false
}

// find returns the first free slot at or after k.
func (rb *Calendar) find(k int64) int64 {
	free := k
	for {
		n, taken := rb.next[free]
		if !taken {
			break
		}
		free = n
	}
	for k != free { // path compression
		n := rb.next[k]
		rb.next[k] = free
		k = n
	}
	return free
}

// mark takes the free slot k.
func (rb *Calendar) mark(k int64) {
	rb.next[k] = k + 1
	rb.taken[k/stretchSlots]++
}

// sweep forgets slots in the past, now and then.
func (rb *Calendar) sweep(current int64) {
	if len(rb.next) < 1024 || current-rb.sweptBelow < int64(time.Minute/rb.slot) {
		return
	}
	for k := range rb.next {
		if k < current {
			delete(rb.next, k)
		}
	}
	for stretch := range rb.taken {
		if (stretch+1)*stretchSlots <= current {
			delete(rb.taken, stretch)
		}
	}
	rb.sweptBelow = current
}

// jitter spreads d uniformly over [d-fraction*d, d+fraction*d), so that accounts
// read together are not read together again.
func jitter(d time.Duration, fraction float64) time.Duration {
	return time.Duration(float64(d) * (1 + fraction*(2*rand.Float64()-1)))
}
