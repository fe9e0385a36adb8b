package partneraccount

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/connection"
	"github.com/partnerbilling/partner-account-operator/internal/readback"
)

// readBackOverride reads pa's read-back-interval annotation: set says whether it is
// there; every is its duration (0: never read back unless asked); err says what is
// wrong with a value that is not a duration of zero or more.
func readBackOverride(pa *billingv1alpha1.PartnerAccount) (every time.Duration, set bool, err error) {
	v, ok := pa.Annotations[billingv1alpha1.ReadBackIntervalAnnotation]
	if !ok {
		return 0, false, nil
	}
	d, err := time.ParseDuration(v)
	if err == nil && d < 0 {
		err = fmt.Errorf("a negative duration")
	}
	if err != nil {
		return 0, false, fmt.Errorf("annotation %s: %q is not a duration such as 30s, 5m or 12h (%v), so the schedule applies",
			billingv1alpha1.ReadBackIntervalAnnotation, v, err)
	}
	return d, true, nil
}

// readBackPlanOf is the read-back plan of pa at now from its status: its interval
// (the schedule's, between shortest and longest, or the annotation's), whether it
// is hot, and when its account last changed. never is set when its annotation asks
// for no read-back at all.
func readBackPlanOf(pa *billingv1alpha1.PartnerAccount, now time.Time, shortest, longest time.Duration) (plan readback.Plan, never bool) {
	created := pa.CreationTimestamp.Time
	if pa.Status.CreatedAt != nil {
		created = pa.Status.CreatedAt.Time
	}
	lastChange := lastReadyChange(pa)
	if p := pa.Status.ProvisionedAt; p != nil && p.After(lastChange) {
		lastChange = p.Time
	}
	plan.Every, plan.Hot = readback.Interval(pa.Status.AccountStatus, now.Sub(created), now.Sub(lastChange), longest)
	plan.Every = max(plan.Every, min(shortest, longest))
	plan.LastChange = lastChange
	if d, set, err := readBackOverride(pa); set && err == nil {
		plan.Every = d
		return plan, d == 0
	}
	return plan, false
}

// readBackPlan is pa's read-back plan at now, between the shortest interval the
// options set and the longest conn's calendar allows.
func (r *Reconciler) readBackPlan(pa *billingv1alpha1.PartnerAccount, conn *connection.Connection,
	now time.Time) (plan readback.Plan, never bool) {
	return readBackPlanOf(pa, now, r.Options.MinReadBackInterval, conn.ReadBacks.Period())
}

// lastReadyChange is when pa's Ready condition last changed.
func lastReadyChange(pa *billingv1alpha1.PartnerAccount) time.Time {
	if c := meta.FindStatusCondition(pa.Status.Conditions, billingv1alpha1.ConditionReady); c != nil {
		return c.LastTransitionTime.Time
	}
	return time.Time{}
}
