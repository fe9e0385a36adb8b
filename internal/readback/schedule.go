// Package readback plans when the operator reads accounts back from the
// Partnership API: how often, by the odds that an account changed (Interval), and
// when exactly, within the budget of read-backs a second (Calendar). It is pure: a
// simulation drives it with a clock of its own.
package readback

import (
	"time"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// The read-back schedule follows the odds that an account changed. Only reading
// tells when a customer signs up (entitled to provisioned), and most do so soon
// after the account is made, so a young entitled account is read often, then less
// often as it ages. Provisioned and other settled accounts change only by end date,
// suspension or out-of-band action: they are read once per --resync-period. No
// account goes longer unread than --resync-period.
// EntitledSchedule is how often an entitled account is read, by its age.
var EntitledSchedule = []struct {
	below, every time.Duration
}{
	{10 * time.Minute, 20 * time.Second},
	{time.Hour, time.Minute},
	{6 * time.Hour, 5 * time.Minute},
	{24 * time.Hour, 20 * time.Minute},
	{7 * 24 * time.Hour, 4 * time.Hour},
	{30 * 24 * time.Hour, 12 * time.Hour},
}

// SettledSchedule is the same for an account in any other state, by the time
// since it last changed. It is empty: a settled account is read once per
// --resync-period, also just after it changed. Reading it more often then (every
// 10 minutes for an hour, every 2 hours for a day) cost 17 GETs in the day after
// each signup: 1.35 GETs per provisioned account per day in hack/readbacksim's
// model, against a target of at most 1 (docs/benchmarks.md).
var SettledSchedule = []struct {
	below, every time.Duration
}{}

// HotAge is the age below which an entitled account is likely enough to change
// that its read-backs go first when the budget binds.
const HotAge = 24 * time.Hour

// Interval is how long after a read an account in state, age old and
// unchanged for sinceChange, is read again; longest (--resync-period) caps it. hot
// says whether it is likely to change soon: a young entitled account.
func Interval(state string, age, sinceChange, longest time.Duration) (every time.Duration, hot bool) {
	every = longest
	if state == partnerapi.StatusEntitled {
		for _, step := range EntitledSchedule {
			if age < step.below {
				every = step.every
				break
			}
		}
	} else {
		for _, step := range SettledSchedule {
			if sinceChange < step.below {
				every = step.every
				break
			}
		}
	}
	return min(every, longest), state == partnerapi.StatusEntitled && age < HotAge
}

// Plan is when an account is to be read back.
type Plan struct {
	// Every is the interval between reads.
	Every time.Duration
	// Hot says the account is likely to change soon: its read-backs go first when
	// the budget binds.
	Hot bool
	// LastChange is when the account last changed, for the first read-back after a
	// restart.
	LastChange time.Time
}
