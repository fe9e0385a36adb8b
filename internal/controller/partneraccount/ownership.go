package partneraccount

import (
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// plan is what a reconcile of a live PartnerAccount that is not a duplicate does
// with the Partnership API.
type plan int

const (
	// planWait calls nothing and writes nothing: the resource is stalled and its
	// spec has not changed since, so the API would answer the same.
	planWait plan = iota
	// planRead reads an account the resource owns and aligns its end date.
	planRead
	// planCreate creates the account; a claim is written first.
	planCreate
	// planReadFirst reads the account before deciding whether to create it: a
	// create whose outcome is unknown may have made it, an account was found
	// before, or one is to be adopted.
	planReadFirst
)

// owns reports whether the resource owns its remote account: it created it (a
// create answered 2xx, or recovered after a lost answer) or adopted it.
func owns(pa *billingv1alpha1.PartnerAccount) bool {
	return pa.Status.AccountUID != "" && pa.Status.AccountUID == pa.Spec.AccountUID
}

// planFor decides how a reconcile of a live, non-duplicate resource goes, from
// what its status records: previousReason is the Ready reason before this
// reconcile, requested whether a reconcile was asked for with the annotation, now
// the time. A resource reads first when an attempt of its claim may have made the
// account, when it adopts or never creates, and when its reason says so (the
// reason table's ReadFirst).
func planFor(pa *billingv1alpha1.PartnerAccount, previousReason string, requested bool, now time.Time) plan {
	switch {
	case waitsForSpecChange(pa, previousReason) && !requested:
		return planWait
	case owns(pa):
		return planRead
	case mayHaveMadeAny(currentClaim(&pa.Status, now)), pa.Spec.AdoptExisting, neverCreates(pa),
		billingv1alpha1.Reasons[previousReason].ReadFirst:
		return planReadFirst
	default:
		return planCreate
	}
}

// neverCreates reports whether pa's spec.createPolicy is Never.
func neverCreates(pa *billingv1alpha1.PartnerAccount) bool {
	return pa.Spec.CreatePolicy == billingv1alpha1.CreatePolicyNever
}

// waitsForSpecChange reports whether a stalled resource's spec is unchanged since
// the API refused it: calling again would get the same answer. A reason that waits
// for peers too (the reason table's RetryOnPeerChange) is looked at again each
// time, since the PartnerAccount that holds the account may be gone.
func waitsForSpecChange(pa *billingv1alpha1.PartnerAccount, previousReason string) bool {
	info := billingv1alpha1.Reasons[previousReason]
	return info.Retry == billingv1alpha1.RetryOnChange && !info.RetryOnPeerChange &&
		pa.Status.ObservedGeneration == pa.Generation
}

// finding is what an account found under the resource's accountUID is to it.
type finding int

const (
	// foundOwn: the resource's own create made it.
	foundOwn finding = iota
	// foundPreexisting: it existed before the resource's create attempts, or there
	// is no evidence that one of them made it.
	foundPreexisting
	// foundConflict: its type or domain differ from the spec, so it can never be
	// this resource's.
	foundConflict
)

// classifyRead says what an account read back is to a resource holding claim
// (nil: none). Only a created_at inside the window of the claim's attempts whose
// outcome is unknown proves that one of them made it; anything else, a missing
// created_at included, means it existed before.
func classifyRead(spec *billingv1alpha1.PartnerAccountSpec, claim *billingv1alpha1.CreateClaim,
	acct *partnerapi.Account, m claimMargins) finding {
	switch {
	case !matchesSpec(spec, acct):
		return foundConflict
	case claimCovers(claim, acct.CreatedAt, m):
		return foundOwn
	}
	return foundPreexisting
}

// classifyCreated says what the account in a 2xx answer to the resource's own
// create is to it. The 2xx itself is the evidence that the create made it, and
// what the answer lacks is taken from the request, unless the answer shows another
// account: one of another type or domain, or one created before this request was
// sent (a server answering a duplicate create with the existing account), which
// is this resource's only when an earlier attempt of its claim made it. sent is
// when the request went out on the API's clock; zero when the answer had no Date.
func classifyCreated(spec *billingv1alpha1.PartnerAccountSpec, claim *billingv1alpha1.CreateClaim,
	acct *partnerapi.Account, sent time.Time, m claimMargins) finding {
	switch {
	case !matchesSpec(spec, acct):
		return foundConflict
	case sent.IsZero() || acct.CreatedAt.IsZero() || !acct.CreatedAt.Before(sent.Add(-m.api)):
		return foundOwn
	case claimCovers(claim, acct.CreatedAt, m):
		return foundOwn
	}
	return foundPreexisting
}

// matchesSpec reports whether acct can be this resource's: the same type and
// domain (the only fields fixed for an account's life besides its UID).
func matchesSpec(spec *billingv1alpha1.PartnerAccountSpec, acct *partnerapi.Account) bool {
	return acct.Type == apiAccountType(spec.AccountType) && strings.EqualFold(acct.Domain, spec.Domain)
}

// identityChange describes how acct, read under the accountUID of a resource that
// owns its account, differs from the account it owns: its type or domain differ
// from the spec, or its created_at from the one recorded (createdAt, nil when none
// was). It is "" when acct is the account owned.
func identityChange(spec *billingv1alpha1.PartnerAccountSpec, createdAt *metav1.Time, acct *partnerapi.Account) string {
	var changes []string
	if t := apiAccountType(spec.AccountType); acct.Type != t {
		changes = append(changes, fmt.Sprintf("type %s, not %s", describeType(acct.Type), spec.AccountType))
	}
	if !strings.EqualFold(acct.Domain, spec.Domain) {
		changes = append(changes, fmt.Sprintf("domain %s, not %s", acct.Domain, spec.Domain))
	}
	if createdAt != nil && !acct.CreatedAt.IsZero() &&
		!acct.CreatedAt.UTC().Truncate(time.Second).Equal(createdAt.UTC().Truncate(time.Second)) {
		changes = append(changes, fmt.Sprintf("created at %s, not %s",
			acct.CreatedAt.UTC().Format(time.RFC3339), createdAt.UTC().Format(time.RFC3339)))
	}
	return strings.Join(changes, ", ")
}

// unknownOutcome reports whether a failed create may still have made the account:
// the request may have reached the API, and its answer is lost or not the API's.
func unknownOutcome(err error) bool {
	return errors.Is(err, partnerapi.ErrTransient) || errors.Is(err, partnerapi.ErrMisconfigured)
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
