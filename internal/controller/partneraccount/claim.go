package partneraccount

import (
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/connection"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// Margins of a create claim's attempts: how far an account's created_at may lie
// outside one and still count as made by it.
const (
	// DefaultAPIClockMargin is the margin of a claim on the API's clock: its Date
	// header has one-second resolution, and its servers' clocks may differ by a
	// little.
	DefaultAPIClockMargin = 5 * time.Second
	// DefaultCreateClockSkew is the margin of a claim on the operator's own clock,
	// used only until the API has sent a Date header: how far the two clocks may
	// disagree. A larger margin would let an account made by someone else just
	// before or after the attempts pass as this resource's own.
	DefaultCreateClockSkew = time.Minute
)

// maxAttempts is how many attempts a claim holds; beyond it the two oldest are
// merged into one that spans both, which can only cover more.
const maxAttempts = 16

// claimMargins are the margins of a claim's attempts on each clock.
type claimMargins struct {
	api, local time.Duration
}

// of returns the margin of a claim on clock.
func (m claimMargins) of(clock billingv1alpha1.Clock) time.Duration {
	if clock == billingv1alpha1.ClockAPI {
		return m.api
	}
	return m.local
}

// currentClaim returns the claim status records with its attempts whose outcome is
// unknown, or nil when there are none. Claims written by earlier versions are read
// as one attempt: createAttemptedAt (which kept no end) until now on the local
// clock, or the window from firstAttemptAt to unknownUntil.
func currentClaim(status *billingv1alpha1.PartnerAccountStatus, now time.Time) *billingv1alpha1.CreateClaim {
	var c *billingv1alpha1.CreateClaim
	switch {
	case status.CreateClaim != nil:
		c = status.CreateClaim.DeepCopy()
	case status.CreateAttemptedAt != nil:
		until := metav1.NewTime(now.UTC().Truncate(time.Second))
		c = &billingv1alpha1.CreateClaim{Clock: billingv1alpha1.ClockLocal, FirstAttemptAt: status.CreateAttemptedAt.DeepCopy(),
			UnknownUntil: &until}
	default:
		return nil
	}
	if c.FirstAttemptAt != nil && c.UnknownUntil != nil {
		c.Attempts = append([]billingv1alpha1.CreateAttempt{{SentAt: *c.FirstAttemptAt, Until: *c.UnknownUntil}},
			c.Attempts...)
	}
	c.FirstAttemptAt, c.UnknownUntil = nil, nil
	if len(c.Attempts) == 0 {
		return nil
	}
	return c
}

// newAttempt is an attempt sent at sent whose answer may come as late as timeout
// after.
func newAttempt(sent time.Time, timeout time.Duration) billingv1alpha1.CreateAttempt {
	return billingv1alpha1.CreateAttempt{SentAt: metav1.NewTime(sent.UTC().Truncate(time.Second)),
		Until: metav1.NewTime(sent.Add(timeout).UTC().Truncate(time.Second).Add(time.Second))}
}

// withAttempt returns c with attempt a added, a (sent on c's clock) being about to
// be sent to origin, which becomes the claim's; a nil c starts a claim on clock.
// Only an origin that holds the earlier attempts' origin's accounts gets a later
// attempt (see readFirst), so the claim keeps one.
func withAttempt(c *billingv1alpha1.CreateClaim, a billingv1alpha1.CreateAttempt, clock billingv1alpha1.Clock,
	origin partnerapi.Origin) *billingv1alpha1.CreateClaim {
	out := c.DeepCopy()
	if out == nil {
		out = &billingv1alpha1.CreateClaim{Clock: clock}
	}
	out.Endpoint, out.EndpointID = origin.URL, origin.ID
	out.Attempts = append(out.Attempts, a)
	if len(out.Attempts) > maxAttempts {
		first, second := out.Attempts[0], out.Attempts[1]
		if second.Until.Before(&first.Until) {
			second.Until = first.Until
		}
		second.SentAt = first.SentAt
		out.Attempts = append([]billingv1alpha1.CreateAttempt{second}, out.Attempts[2:]...)
	}
	return out
}

// withoutAttempt returns c without attempt a, answered with a refusal that made
// nothing; nil when no attempt is left.
func withoutAttempt(c *billingv1alpha1.CreateClaim, a billingv1alpha1.CreateAttempt) *billingv1alpha1.CreateClaim {
	if c == nil {
		return nil
	}
	out := c.DeepCopy()
	if i := slices.IndexFunc(out.Attempts, func(x billingv1alpha1.CreateAttempt) bool {
		return x.SentAt.Equal(&a.SentAt) && x.Until.Equal(&a.Until)
	}); i >= 0 {
		out.Attempts = slices.Delete(out.Attempts, i, i+1)
	}
	if len(out.Attempts) == 0 {
		return nil
	}
	return out
}

// withoutSettled returns c without the attempts whose answer can no longer come at
// now (on c's clock, past its margin): the account was just proven absent at the
// claim's origin, so they made nothing. An attempt whose answer may still come
// stays: its account may still land. nil when no attempt is left.
func withoutSettled(c *billingv1alpha1.CreateClaim, now time.Time, m claimMargins) *billingv1alpha1.CreateClaim {
	if c == nil {
		return nil
	}
	out := c.DeepCopy()
	margin := m.of(c.Clock)
	out.Attempts = slices.DeleteFunc(out.Attempts, func(a billingv1alpha1.CreateAttempt) bool {
		return a.Until.Add(margin).Before(now)
	})
	if len(out.Attempts) == 0 {
		return nil
	}
	return out
}

// claimOnAPIClock returns c moved to the API's clock, given offset, the API's
// time minus the operator's: a claim taken before the API had sent a Date header
// is compared on the API's clock as soon as one is known. A claim already on it is
// returned as it is.
func claimOnAPIClock(c *billingv1alpha1.CreateClaim, offset time.Duration) *billingv1alpha1.CreateClaim {
	if c == nil || c.Clock == billingv1alpha1.ClockAPI {
		return c
	}
	out := c.DeepCopy()
	shift := func(t metav1.Time) metav1.Time { return metav1.NewTime(t.Add(offset).UTC().Truncate(time.Second)) }
	for i := range out.Attempts {
		out.Attempts[i].SentAt, out.Attempts[i].Until = shift(out.Attempts[i].SentAt), shift(out.Attempts[i].Until)
	}
	out.Clock = billingv1alpha1.ClockAPI
	return out
}

// claimCovers reports whether an account created at created falls inside one of
// c's attempts whose outcome is unknown, give or take c's clock's margin. An
// account without a creation time is covered by none.
func claimCovers(c *billingv1alpha1.CreateClaim, created time.Time, m claimMargins) bool {
	if c == nil || created.IsZero() {
		return false
	}
	margin := m.of(c.Clock)
	return slices.ContainsFunc(c.Attempts, func(a billingv1alpha1.CreateAttempt) bool {
		return !created.Before(a.SentAt.Add(-margin)) && !created.After(a.Until.Add(margin))
	})
}

// mayHaveMadeAny reports whether an attempt of c may have created the account:
// one of them has an unknown outcome.
func mayHaveMadeAny(c *billingv1alpha1.CreateClaim) bool {
	return c != nil && len(c.Attempts) > 0
}

// claimOrigin is where c's attempts were sent; empty for a claim written before
// claims recorded it.
func claimOrigin(c *billingv1alpha1.CreateClaim) partnerapi.Origin {
	if c == nil {
		return partnerapi.Origin{}
	}
	return partnerapi.Origin{URL: c.Endpoint, ID: c.EndpointID}
}

// onAPIClock moves claim onto the API's clock when c's client knows it.
func onAPIClock(c *connection.Connection, claim *billingv1alpha1.CreateClaim) *billingv1alpha1.CreateClaim {
	now, known := c.API.Now()
	if !known {
		return claim
	}
	return claimOnAPIClock(claim, time.Until(now))
}

// sentAt is when a request sent at local time sent went out, on clock.
func sentAt(c *connection.Connection, sent time.Time, clock billingv1alpha1.Clock) time.Time {
	if now, known := c.API.Now(); known && clock == billingv1alpha1.ClockAPI {
		return now.Add(-time.Since(sent))
	}
	return sent
}

// apiNow is the time on c's API clock when its client knows it, and the local time
// before.
func apiNow(c *connection.Connection) time.Time {
	now, _ := c.API.Now()
	return now
}
