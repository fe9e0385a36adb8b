package controller

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// Margins of a create claim's window: how far an account's created_at may lie
// outside it and still count as made by the claim's attempts.
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

// claimMargins are the margins of a claim's window on each clock.
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

// currentClaim returns the claim status records, reading a createAttemptedAt
// written by an earlier version as a claim on the local clock whose attempts'
// outcome is unknown until now (those versions kept no end), or nil.
func currentClaim(status *billingv1alpha1.PartnerAccountStatus, now time.Time) *billingv1alpha1.CreateClaim {
	switch {
	case status.CreateClaim != nil:
		return status.CreateClaim.DeepCopy()
	case status.CreateAttemptedAt != nil:
		until := metav1.NewTime(now.UTC().Truncate(time.Second))
		return &billingv1alpha1.CreateClaim{FirstAttemptAt: *status.CreateAttemptedAt.DeepCopy(),
			UnknownUntil: &until, Clock: billingv1alpha1.ClockLocal}
	}
	return nil
}

// newClaim is the claim written before a first create request sent at sent, on
// clock, whose answer may come as late as timeout after: until it does, the
// attempt's outcome is unknown.
func newClaim(sent time.Time, clock billingv1alpha1.Clock, timeout time.Duration) *billingv1alpha1.CreateClaim {
	first := metav1.NewTime(sent.UTC().Truncate(time.Second))
	until := metav1.NewTime(sent.Add(timeout).UTC().Truncate(time.Second).Add(time.Second))
	return &billingv1alpha1.CreateClaim{FirstAttemptAt: first, UnknownUntil: &until, Clock: clock}
}

// extendClaim returns c with its window reaching the end of an attempt sent at
// sent (on c's clock) whose outcome is unknown, at most timeout later. The window
// only grows.
func extendClaim(c *billingv1alpha1.CreateClaim, sent time.Time, timeout time.Duration) *billingv1alpha1.CreateClaim {
	out := c.DeepCopy()
	end := metav1.NewTime(sent.Add(timeout).UTC().Truncate(time.Second).Add(time.Second))
	if out.UnknownUntil == nil || out.UnknownUntil.Before(&end) {
		out.UnknownUntil = &end
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
	out.FirstAttemptAt = shift(out.FirstAttemptAt)
	if out.UnknownUntil != nil {
		until := shift(*out.UnknownUntil)
		out.UnknownUntil = &until
	}
	out.Clock = billingv1alpha1.ClockAPI
	return out
}

// claimCovers reports whether an account created at created falls inside the
// window of c's attempts whose outcome is unknown, give or take c's clock's margin.
// A claim without such attempts, or an account without a creation time, covers
// nothing.
func claimCovers(c *billingv1alpha1.CreateClaim, created time.Time, m claimMargins) bool {
	if c == nil || c.UnknownUntil == nil || created.IsZero() {
		return false
	}
	margin := m.of(c.Clock)
	return !created.Before(c.FirstAttemptAt.Add(-margin)) && !created.After(c.UnknownUntil.Add(margin))
}

// mayHaveMadeAny reports whether an attempt of c may have created the account:
// one of them has an unknown outcome.
func mayHaveMadeAny(c *billingv1alpha1.CreateClaim) bool {
	return c != nil && c.UnknownUntil != nil
}
