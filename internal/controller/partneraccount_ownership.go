package controller

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// DefaultCreateClockSkew is how far the API's clock may be behind the operator's
// when an account's created_at is compared with the time of a resource's first
// create attempt: an account created up to this long before the attempt still
// counts as created by it. A larger margin would let an account made by someone
// else just before the attempt pass as this resource's own.
const DefaultCreateClockSkew = time.Minute

// nextCall is the first Partnership API call a reconcile of a live resource makes.
type nextCall int

const (
	// callRead reads an account the resource owns and aligns its end date.
	callRead nextCall = iota
	// callCreate creates the account; a claim (createAttemptedAt) is written first.
	callCreate
	// callReadFirst reads the account before deciding whether to create it: a
	// create may have happened unconfirmed, or an account was found before.
	callReadFirst
)

// owns reports whether the resource owns its remote account: it created it (a
// create answered 2xx, or recovered after a lost answer) or adopted it.
func owns(pa *billingv1alpha1.PartnerAccount) bool {
	return pa.Status.AccountUID != "" && pa.Status.AccountUID == pa.Spec.AccountUID
}

// nextCallFor decides how a reconcile of a live, non-duplicate resource starts,
// from what its status records. previousReason is the Ready reason before this
// reconcile.
func nextCallFor(pa *billingv1alpha1.PartnerAccount, previousReason string) nextCall {
	switch {
	case owns(pa):
		return callRead
	case pa.Status.CreateAttemptedAt != nil,
		previousReason == billingv1alpha1.ReasonAccountExists,
		previousReason == billingv1alpha1.ReasonAccountConflict:
		return callReadFirst
	default:
		return callCreate
	}
}

// finding is what an account found under the resource's accountUID is to it.
type finding int

const (
	// foundOwn: the resource's own create made it.
	foundOwn finding = iota
	// foundPreexisting: it existed before the resource's first create attempt, or
	// there is no evidence that the attempt made it.
	foundPreexisting
	// foundConflict: its type or domain differ from the spec, so it can never be
	// this resource's.
	foundConflict
)

// classifyRead says what an account read back is to a resource whose first create
// attempt was at attemptedAt (nil: none recorded). Only created_at at or after the
// attempt, less skew, proves the attempt made it; anything else, a missing
// created_at included, means it existed before.
func classifyRead(spec *billingv1alpha1.PartnerAccountSpec, attemptedAt *metav1.Time, acct *partnerapi.Account, skew time.Duration) finding {
	switch {
	case !matchesSpec(spec, acct):
		return foundConflict
	case attemptedAt == nil || acct.CreatedAt.IsZero():
		return foundPreexisting
	case acct.CreatedAt.Before(attemptedAt.Add(-skew)):
		return foundPreexisting
	}
	return foundOwn
}

// classifyCreated says what the account in a 2xx answer to the resource's own
// create is to it. The 2xx itself is the evidence that the create made it, unless
// the answer shows another account: one of another type or domain, or one created
// before the attempt (a server answering a duplicate create with the existing
// account). A missing created_at does not take the account away from its creator.
func classifyCreated(spec *billingv1alpha1.PartnerAccountSpec, attemptedAt *metav1.Time, acct *partnerapi.Account, skew time.Duration) finding {
	switch {
	case !matchesSpec(spec, acct):
		return foundConflict
	case attemptedAt != nil && !acct.CreatedAt.IsZero() && acct.CreatedAt.Before(attemptedAt.Add(-skew)):
		return foundPreexisting
	}
	return foundOwn
}

// reconcileRequest returns the value of the reconcile-requested-at annotation when
// it asks for a reconcile not handled yet, and "" otherwise.
func reconcileRequest(pa *billingv1alpha1.PartnerAccount) string {
	v := pa.Annotations[billingv1alpha1.ReconcileRequestedAtAnnotation]
	if v == pa.Status.LastHandledReconcileAt {
		return ""
	}
	return v
}
