package readback

import (
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

func TestEffectivePeriod(t *testing.T) {
	const slot = 200 * time.Millisecond // 5 read-backs a second: half of 10 rps
	tests := []struct {
		name     string
		resync   time.Duration
		slot     time.Duration
		accounts int64
		want     time.Duration
	}{
		{"few accounts: the resync period", 10 * time.Minute, slot, 100, 10 * time.Minute},
		{"exactly what fits", 10 * time.Minute, slot, 3000, 10 * time.Minute},
		{"10,000 accounts at 5 a second", 10 * time.Minute, slot, 10000, 2000 * time.Second},
		{"no limit", 10 * time.Minute, 0, 1_000_000, 10 * time.Minute},
		{"no accounts", time.Minute, slot, 0, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EffectivePeriod(tt.resync, tt.slot, tt.accounts); got != tt.want {
				t.Errorf("EffectivePeriod = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFirstReadBack(t *testing.T) {
	now := time.Date(2050, 1, 1, 12, 0, 0, 0, time.UTC)
	const period = 10 * time.Minute
	tests := []struct {
		name       string
		lastChange time.Time
		u          float64
		want       time.Time
	}{
		{"changed just now: one period after the change, at the earliest", now.Add(-time.Minute), 0, now.Add(7 * time.Minute)},
		{"changed just now: one period after, at the latest", now.Add(-time.Minute), 0.999999, now.Add(11*time.Minute - 600*time.Microsecond)},
		{"changed long ago: anywhere in the next period", now.Add(-time.Hour), 0.5, now.Add(5 * time.Minute)},
		{"changed long ago: not at once", now.Add(-time.Hour), 0, now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FirstReadBack(now, tt.lastChange, period, tt.u)
			if d := got.Sub(tt.want); d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("FirstReadBack = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestReadBackCalendar checks that read-backs never go faster than the read-back
// rate, however many want the same moment, and that slots in the past are forgotten.
func TestReadBackCalendar(t *testing.T) {
	rb := NewCalendar(10*time.Minute, 5, logr.Discard(), nil) // one slot every 200ms
	now := time.Date(2050, 1, 1, 12, 0, 0, 0, time.UTC)
	want := now.Add(time.Minute)
	seen := map[time.Duration]bool{}
	var last time.Duration
	for i := range 10000 {
		d := rb.Reserve(now, want, true)
		if seen[d] {
			t.Fatalf("reservation %d shares the slot at %v", i, d)
		}
		seen[d] = true
		if d < time.Minute-200*time.Millisecond {
			t.Fatalf("reservation %d at %v, before the minute it asked for", i, d)
		}
		last = max(last, d)
	}
	// 10,000 read-backs at 5 a second take 2,000 seconds.
	if wantLast := time.Minute + 1999*time.Second + 800*time.Millisecond; last < wantLast-time.Second || last > wantLast+time.Second {
		t.Errorf("the last read-back is at %v, want about %v", last, wantLast)
	}
	// Every 200ms slot in between is used once: no gaps, no doubles.
	if len(seen) != 10000 {
		t.Errorf("%d distinct slots", len(seen))
	}
	// Much later, the old slots are swept, and a reservation takes the slot it wants.
	later := now.Add(3 * time.Hour)
	if d := rb.Reserve(later, later.Add(time.Second), true); d > time.Second || d < 800*time.Millisecond {
		t.Errorf("a reservation after the backlog waits %v", d)
	}
	if len(rb.next) > 2 {
		t.Errorf("%d slots kept after a sweep", len(rb.next))
	}
}

// TestReadBackCalendarKeepsRoomForHotAccounts checks that read-backs of accounts
// unlikely to change leave a fifth of every stretch free, which hot ones take first
// when the budget binds.
func TestReadBackCalendarKeepsRoomForHotAccounts(t *testing.T) {
	rb := NewCalendar(24*time.Hour, 5, logr.Discard(), nil)
	now := time.Date(2050, 1, 1, 12, 0, 0, 0, time.UTC)
	want := now.Add(time.Minute)
	var coldLast time.Duration
	for range 1000 {
		coldLast = max(coldLast, rb.Reserve(now, want, false))
	}
	// 1,000 cold read-backs at 4 a second (80% of 5) take 250 seconds.
	if coldLast < 245*time.Second+time.Minute || coldLast > 255*time.Second+time.Minute {
		t.Errorf("the last cold read-back is at %v, want about 4m10s after the minute", coldLast)
	}
	// 100 hot read-backs wanted at the same minute go in the room left: within the
	// cold ones' stretch, not after it.
	var hotLast time.Duration
	for range 100 {
		hotLast = max(hotLast, rb.Reserve(now, want, true))
	}
	if hotLast > time.Minute+2*time.Minute {
		t.Errorf("the last of 100 hot read-backs is at %v, want within two minutes of the minute", hotLast)
	}
}

func TestReadBacksUnlimited(t *testing.T) {
	rb := NewCalendar(time.Minute, 0, logr.Discard(), nil)
	now := time.Now()
	if d := rb.Reserve(now, now.Add(time.Second), false); d != time.Second {
		t.Errorf("reserve = %v, want 1s", d)
	}
	if d := rb.Reserve(now, now.Add(-time.Second), false); d != 0 {
		t.Errorf("reserve in the past = %v, want 0", d)
	}
}

// TestAdmitSpreadsABacklog checks that read-backs which fell behind (150 due at
// once, as when creates held the workers) are made at most one a slot, each
// deferred one told when to come back, and that on-time read-backs all pass.
func TestAdmitSpreadsABacklog(t *testing.T) {
	const rate = 5.0 // half of 10 rps
	slot := time.Duration(float64(time.Second) / rate)
	start := time.Date(2050, 1, 1, 12, 0, 0, 0, time.UTC)

	t.Run("on time: every one passes", func(t *testing.T) {
		rb := NewCalendar(time.Hour, rate, logr.Discard(), nil)
		for i := range 100 {
			if wait, ok := rb.Admit(start.Add(time.Duration(i)*slot), false); !ok {
				t.Fatalf("read-back %d, on its slot, deferred by %v", i, wait)
			}
		}
	})

	t.Run("a backlog: one a slot", func(t *testing.T) {
		rb := NewCalendar(time.Hour, rate, logr.Discard(), nil)
		// Each pending read-back comes back when Admit says; made holds when each was made.
		pending := make([]time.Time, 150)
		for i := range pending {
			pending[i] = start
		}
		var made []time.Time
		for i := 0; len(pending) > 0; i++ {
			slices.SortFunc(pending, time.Time.Compare)
			now := pending[0]
			pending = pending[1:]
			wait, ok := rb.Admit(now, i%2 == 0)
			if ok {
				made = append(made, now)
				continue
			}
			if wait <= 0 {
				t.Fatalf("deferred at %v with no wait: it would come straight back", now.Sub(start))
			}
			pending = append(pending, now.Add(wait))
		}
		if len(made) != 150 {
			t.Fatalf("%d of 150 read-backs made", len(made))
		}
		window := 10 * time.Second
		for i, from := range made {
			n := 0
			for _, m := range made[i:] {
				if m.Sub(from) < window {
					n++
				}
			}
			if limit := int(window/slot) + admitTolerance + 1; n > limit {
				t.Fatalf("%d read-backs in the %v from %v, want at most %d", n, window, from.Sub(start), limit)
			}
		}
		if last := made[len(made)-1].Sub(start); last > 40*time.Second {
			t.Errorf("the last of 150 read-backs at 5 a second was made after %v, want about 30 s", last)
		}
	})

	t.Run("no limit", func(t *testing.T) {
		rb := NewCalendar(time.Hour, 0, logr.Discard(), nil)
		for range 100 {
			if _, ok := rb.Admit(start, false); !ok {
				t.Fatal("deferred with no limit")
			}
		}
	})
}
