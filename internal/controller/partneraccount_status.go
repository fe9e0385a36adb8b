package controller

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// outcome is what one reconcile concluded: the Ready reason and a message for people.
// The reason decides the three conditions; see conditionsFor.
type outcome struct {
	reason  string
	message string
	// err is the API error behind a failure, kept for the retry decision (its
	// Retry-After, or the backoff it earns); it is not written anywhere.
	err error
}

// reasonShape says how a reason shows in the conditions, and whether it is a failure
// worth a Warning event.
type reasonShape struct {
	ready       metav1.ConditionStatus
	reconciling bool
	stalled     bool
	failure     bool
}

var reasonShapes = map[string]reasonShape{
	billingv1alpha1.ReasonAccountReady:        {ready: metav1.ConditionTrue},
	billingv1alpha1.ReasonEnded:               {ready: metav1.ConditionTrue},
	billingv1alpha1.ReasonProgressing:         {ready: metav1.ConditionUnknown, reconciling: true},
	billingv1alpha1.ReasonReconcileSuspended:  {ready: metav1.ConditionUnknown},
	billingv1alpha1.ReasonRateLimited:         {ready: metav1.ConditionFalse, reconciling: true, failure: true},
	billingv1alpha1.ReasonAPIUnavailable:      {ready: metav1.ConditionFalse, reconciling: true, failure: true},
	billingv1alpha1.ReasonUnauthorized:        {ready: metav1.ConditionFalse, failure: true},
	billingv1alpha1.ReasonRemoteDeleted:       {ready: metav1.ConditionFalse, failure: true},
	billingv1alpha1.ReasonDeprovisioned:       {ready: metav1.ConditionFalse, failure: true},
	billingv1alpha1.ReasonAccountSuspended:    {ready: metav1.ConditionFalse, failure: true},
	billingv1alpha1.ReasonInvalidRequest:      {ready: metav1.ConditionFalse, stalled: true, failure: true},
	billingv1alpha1.ReasonAccountConflict:     {ready: metav1.ConditionFalse, stalled: true, failure: true},
	billingv1alpha1.ReasonDuplicateAccountUID: {ready: metav1.ConditionFalse, stalled: true, failure: true},
	billingv1alpha1.ReasonAccountExists:       {ready: metav1.ConditionFalse, stalled: true, failure: true},

	billingv1alpha1.ReasonAPIEndpointMisconfigured: {ready: metav1.ConditionFalse, failure: true},
	billingv1alpha1.ReasonSecretConflict:           {ready: metav1.ConditionFalse, failure: true},
}

// isFailure reports whether reason is one that gets a Warning event when it first appears.
func isFailure(reason string) bool { return reasonShapes[reason].failure }

// isStalled reports whether reason stops the controller until the spec changes.
func isStalled(reason string) bool { return reasonShapes[reason].stalled }

// setConditions writes Ready, Reconciling and Stalled for o into status. Ready is
// always present; Reconciling and Stalled are present only while True, as kstatus
// recommends. meta.SetStatusCondition keeps lastTransitionTime unless the status
// flips, so an unchanged outcome changes nothing.
func setConditions(status *billingv1alpha1.PartnerAccountStatus, generation int64, o outcome) {
	shape, ok := reasonShapes[o.reason]
	if !ok {
		panic(fmt.Sprintf("controller: no condition shape for reason %q", o.reason))
	}
	status.ObservedGeneration = generation
	set := func(condType string, s metav1.ConditionStatus) {
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type:               condType,
			Status:             s,
			Reason:             o.reason,
			Message:            o.message,
			ObservedGeneration: generation,
		})
	}
	set(billingv1alpha1.ConditionReady, shape.ready)
	if shape.reconciling {
		set(billingv1alpha1.ConditionReconciling, metav1.ConditionTrue)
	} else {
		meta.RemoveStatusCondition(&status.Conditions, billingv1alpha1.ConditionReconciling)
	}
	if shape.stalled {
		set(billingv1alpha1.ConditionStalled, metav1.ConditionTrue)
	} else {
		meta.RemoveStatusCondition(&status.Conditions, billingv1alpha1.ConditionStalled)
	}
}

// outageReasons are the reasons of a failing or throttling API. Within one outage
// the status keeps the first of them, so that an outage writes one status change
// per account however its answers mix.
var outageReasons = map[string]bool{
	billingv1alpha1.ReasonAPIUnavailable: true,
	billingv1alpha1.ReasonRateLimited:    true,
}

// conditionOutcome is the outcome to write in the conditions: o, unless o and the
// Ready condition of previous are both part of an API outage, in which case the
// condition stays as it is. The retry still follows o.
func conditionOutcome(previous *billingv1alpha1.PartnerAccountStatus, o outcome) outcome {
	ready := meta.FindStatusCondition(previous.Conditions, billingv1alpha1.ConditionReady)
	if ready != nil && outageReasons[ready.Reason] && outageReasons[o.reason] {
		return outcome{reason: ready.Reason, message: ready.Message, err: o.err}
	}
	return o
}

// readyReason returns the reason of the Ready condition, or "" when there is none.
func readyReason(status *billingv1alpha1.PartnerAccountStatus) string {
	if c := meta.FindStatusCondition(status.Conditions, billingv1alpha1.ConditionReady); c != nil {
		return c.Reason
	}
	return ""
}

// apiAccountType is the API's spelling of an account type.
func apiAccountType(t billingv1alpha1.AccountType) partnerapi.AccountType {
	if t == billingv1alpha1.AccountTypeFamily {
		return partnerapi.AccountTypeFamily
	}
	return partnerapi.AccountTypeIndividual
}

// redemptionURL is the link the customer follows to redeem token in domain.
func redemptionURL(domain string, t partnerapi.AccountType, token string) string {
	if token == "" {
		return ""
	}
	q := url.Values{"t": {string(t)}, "c": {token}}
	return "https://start." + domain + "/partnership/redeem?" + q.Encode()
}

// setAccountFields copies what the API reported about acct into status.
func setAccountFields(status *billingv1alpha1.PartnerAccountStatus, domain string, acct *partnerapi.Account) {
	status.AccountStatus = acct.Status
	status.ActivationToken = acct.ActivationToken
	status.RedemptionURL = redemptionURL(domain, acct.Type, acct.ActivationToken)
	status.EndsAt = toMetaTime(acct.EndsAt)
	status.CreatedAt = nil
	if !acct.CreatedAt.IsZero() {
		status.CreatedAt = toMetaTime(&acct.CreatedAt)
	}
}

// clearAccountFields forgets a remote account that is gone. accountUID and
// createdAt stay: the resource owned an account that existed, so it is never
// re-created silently.
func clearAccountFields(status *billingv1alpha1.PartnerAccountStatus) {
	status.AccountStatus = ""
	status.ActivationToken = ""
	status.RedemptionURL = ""
	status.EndsAt = nil
}

// disown forgets everything about a remote account this resource does not own,
// its token first of all.
func disown(status *billingv1alpha1.PartnerAccountStatus) {
	clearAccountFields(status)
	status.AccountUID = ""
	status.CreatedAt = nil
	status.CreateAttemptedAt = nil
}

// toMetaTime converts t to a metav1.Time in UTC at the one-second precision
// Kubernetes stores.
func toMetaTime(t *time.Time) *metav1.Time {
	if t == nil {
		return nil
	}
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &mt
}

// endsAtDiffers reports whether the declared end date differs from the remote one at
// one-second precision, a missing end date being different from any date.
func endsAtDiffers(declared *metav1.Time, remote *time.Time) bool {
	if declared == nil || remote == nil {
		return (declared == nil) != (remote == nil)
	}
	return !declared.UTC().Truncate(time.Second).Equal(remote.UTC().Truncate(time.Second))
}

// matchesSpec reports whether acct can be adopted by a resource with spec: the same
// type and domain (the only fields fixed for an account's life besides its UID).
func matchesSpec(spec *billingv1alpha1.PartnerAccountSpec, acct *partnerapi.Account) bool {
	return acct.Type == apiAccountType(spec.AccountType) && strings.EqualFold(acct.Domain, spec.Domain)
}

// accountOutcome is the Ready outcome for a remote account as the API reports it.
func accountOutcome(acct *partnerapi.Account, now time.Time) outcome {
	switch acct.Status {
	case partnerapi.StatusSuspended:
		return outcome{reason: billingv1alpha1.ReasonAccountSuspended,
			message: "1Password reports the account as suspended; it is checked again on every resync"}
	case partnerapi.StatusDeprovisioned:
		if acct.EndsAt != nil && !acct.EndsAt.After(now) {
			return outcome{reason: billingv1alpha1.ReasonEnded,
				message: fmt.Sprintf("The account ended on its end date %s", acct.EndsAt.UTC().Format(time.RFC3339))}
		}
		return outcome{reason: billingv1alpha1.ReasonDeprovisioned,
			message: "1Password deprovisioned the account before its end date; " +
				"contact 1Password partner support, or delete this PartnerAccount if the customer has left"}
	}
	return outcome{reason: billingv1alpha1.ReasonAccountReady, message: fmt.Sprintf("The account is %s", acct.Status)}
}

// progressingOutcome is the outcome written before the first remote call.
func progressingOutcome() outcome {
	return outcome{reason: billingv1alpha1.ReasonProgressing, message: "Reconciling the remote account"}
}

// suspendedOutcome is the outcome while spec.suspend is true.
func suspendedOutcome() outcome {
	return outcome{reason: billingv1alpha1.ReasonReconcileSuspended,
		message: "spec.suspend is true: the controller makes no calls to the Partnership API for this resource"}
}

// duplicateOutcome is the outcome of a PartnerAccount whose accountUID an older one,
// owner, declares. accountUID cannot change, so the message says what works.
func duplicateOutcome(owner *billingv1alpha1.PartnerAccount, uid string) outcome {
	return outcome{reason: billingv1alpha1.ReasonDuplicateAccountUID,
		message: fmt.Sprintf("PartnerAccount %s/%s is older and manages account %q; this one makes no calls and its "+
			"deletion deletes nothing remotely. Delete this one; or, to hand the account over to it, set "+
			"spec.adoptExisting to true here and delete %s/%s with spec.deletionPolicy Orphan",
			owner.Namespace, owner.Name, uid, owner.Namespace, owner.Name)}
}

// conflictOutcome is the outcome when the account under the resource's accountUID
// has another type or domain.
func conflictOutcome(uid string, acct *partnerapi.Account) outcome {
	return outcome{reason: billingv1alpha1.ReasonAccountConflict,
		message: fmt.Sprintf("Account %q already exists with type %s in domain %s, which this spec does not match, "+
			"so it is left alone; choose another accountUID", uid, describeType(acct.Type), acct.Domain)}
}

// existsOutcome is the outcome when the account under the resource's accountUID
// existed before the resource's first create attempt and is not to be adopted.
func existsOutcome(uid string, acct *partnerapi.Account) outcome {
	created := "at a time the API does not report"
	if !acct.CreatedAt.IsZero() {
		created = "at " + acct.CreatedAt.UTC().Format(time.RFC3339)
	}
	return outcome{reason: billingv1alpha1.ReasonAccountExists,
		message: fmt.Sprintf("Account %q (type %s, domain %s) was created %s, before this resource tried to create it, "+
			"so this resource leaves it alone: it does not change its end date, and deleting this resource deletes nothing "+
			"remotely. To manage it from here, set spec.adoptExisting to true", uid, describeType(acct.Type), acct.Domain, created)}
}

// describeType spells an API account type as the spec does.
func describeType(t partnerapi.AccountType) string {
	switch t {
	case partnerapi.AccountTypeIndividual:
		return string(billingv1alpha1.AccountTypeIndividual)
	case partnerapi.AccountTypeFamily:
		return string(billingv1alpha1.AccountTypeFamily)
	}
	return fmt.Sprintf("%q", string(t))
}

// secretConflictOutcome is the outcome when the Secret that should hold the
// activation token belongs to someone else.
func secretConflictOutcome(name string) outcome {
	return outcome{reason: billingv1alpha1.ReasonSecretConflict,
		message: fmt.Sprintf("Secret %q exists and was not written by this PartnerAccount, so the activation token is "+
			"not written to it; delete that Secret, or name another in spec.activationTokenSecretRef", name)}
}

// remoteDeletedOutcome is the outcome when an account the resource owned is gone.
func remoteDeletedOutcome(uid string) outcome {
	return outcome{reason: billingv1alpha1.ReasonRemoteDeleted,
		message: fmt.Sprintf("Remote account %q was deleted outside the operator and is not re-created on its own; "+
			"delete this PartnerAccount, and apply it again to create a new account", uid)}
}

// errorOutcome is the outcome of a failed call to the Partnership API. op says what
// the controller was doing, for the message.
func errorOutcome(op string, err error) outcome {
	o := outcome{err: err}
	switch {
	case errors.Is(err, partnerapi.ErrUnauthorized):
		o.reason = billingv1alpha1.ReasonUnauthorized
		o.message = fmt.Sprintf("The Partnership API rejected the partner token while trying to %s; "+
			"fix the token file (the Secret the operator mounts), the controller retries on its own", op)
	case errors.Is(err, partnerapi.ErrRateLimited):
		o.reason = billingv1alpha1.ReasonRateLimited
		o.message = fmt.Sprintf("The Partnership API is rate limiting the partner while trying to %s; "+
			"retrying after the delay it asked for", op)
	case errors.Is(err, partnerapi.ErrMisconfigured):
		o.reason = billingv1alpha1.ReasonAPIEndpointMisconfigured
		o.message = fmt.Sprintf("Trying to %s, the operator got an answer that is not the Partnership API's: %s. "+
			"Fix the operator's --partner-api-url; until then nothing is concluded about the account and the call is "+
			"retried with backoff", op, strings.TrimSuffix(stableMessage(err), "; check the base URL"))
	case errors.Is(err, partnerapi.ErrInvalidRequest), errors.Is(err, partnerapi.ErrAlreadyExists):
		o.reason = billingv1alpha1.ReasonInvalidRequest
		o.message = fmt.Sprintf("The Partnership API refused to %s: %s; fix the spec, nothing is retried until it changes",
			op, strings.TrimSuffix(partnerapi.ServerMessage(err), "."))
	default:
		o.reason = billingv1alpha1.ReasonAPIUnavailable
		o.message = fmt.Sprintf("The Partnership API failed while trying to %s; retrying with backoff: %s",
			op, stableMessage(err))
	}
	return o
}

// readErrorOutcome is the outcome of a failed read. A read has no spec to fix, so a
// refusal (a 4xx other than 404 and 410) is retried with backoff, never Stalled.
func readErrorOutcome(op string, err error) outcome {
	if errors.Is(err, partnerapi.ErrInvalidRequest) || errors.Is(err, partnerapi.ErrAlreadyExists) {
		return outcome{reason: billingv1alpha1.ReasonAPIUnavailable, err: err,
			message: fmt.Sprintf("The Partnership API refused to %s; retrying with backoff: %s", op, stableMessage(err))}
	}
	return errorOutcome(op, err)
}

// mayHaveCreated reports whether a failed create may still have made the account:
// the request may have reached the API, and its answer is lost or not the API's.
func mayHaveCreated(err error) bool {
	return errors.Is(err, partnerapi.ErrTransient) || errors.Is(err, partnerapi.ErrMisconfigured)
}

// stableMessage is err's text when it comes from the API client, whose errors carry
// no timestamps or request ids, and a fixed text otherwise, so that retries of the
// same failure write the same condition.
func stableMessage(err error) string {
	if apiErr, ok := errors.AsType[*partnerapi.Error](err); ok {
		if apiErr.StatusCode != 0 {
			return apiErr.Error()
		}
		return fmt.Sprintf("partnerapi: %s account %q: %v", apiErr.Op, apiErr.UID, apiErr.Kind)
	}
	return "unexpected error (see the operator's log)"
}

// timePtr converts a declared time to the API client's form; nil means none.
func timePtr(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// describeEndsAt renders a declared end date for an event message.
func describeEndsAt(t *metav1.Time) string {
	if t == nil {
		return "none"
	}
	return t.UTC().Format(time.RFC3339)
}
