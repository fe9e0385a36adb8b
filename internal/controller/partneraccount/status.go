package partneraccount

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/connection"
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

// setConditions writes Ready, Reconciling and Stalled for o into status. Ready is
// always present; Reconciling and Stalled are present only while True, as kstatus
// recommends. meta.SetStatusCondition keeps lastTransitionTime unless the status
// flips, so an unchanged outcome changes nothing.
func setConditions(status *billingv1alpha1.PartnerAccountStatus, generation int64, o outcome) {
	shape, ok := billingv1alpha1.Reasons[o.reason]
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
	set(billingv1alpha1.ConditionReady, shape.Ready)
	if shape.Reconciling {
		set(billingv1alpha1.ConditionReconciling, metav1.ConditionTrue)
	} else {
		meta.RemoveStatusCondition(&status.Conditions, billingv1alpha1.ConditionReconciling)
	}
	if shape.Stalled {
		set(billingv1alpha1.ConditionStalled, metav1.ConditionTrue)
	} else {
		meta.RemoveStatusCondition(&status.Conditions, billingv1alpha1.ConditionStalled)
	}
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

// setAccountFields copies what the API reported about acct into status; the
// activation token is placed apart (see placeToken).
func setAccountFields(status *billingv1alpha1.PartnerAccountStatus, acct *partnerapi.Account) {
	status.AccountStatus = acct.Status
	status.EndsAt = toMetaTime(acct.EndsAt)
	if !acct.CreatedAt.IsZero() {
		status.CreatedAt = toMetaTime(&acct.CreatedAt)
	}
}

// clearAccountFields forgets a remote account that is gone. accountUID and
// createdAt stay: the resource owned an account that existed, so it is never
// re-created silently.
func clearAccountFields(status *billingv1alpha1.PartnerAccountStatus) {
	status.AccountStatus = ""
	status.EndsAt = nil
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

// accountOutcome is the Ready outcome for a remote account as the API reports it.
func accountOutcome(acct *partnerapi.Account, now time.Time) outcome {
	switch acct.Status {
	case partnerapi.StatusSuspended:
		return outcome{reason: billingv1alpha1.ReasonAccountSuspended,
			message: "1Password reports the account as suspended; it is read again at every read-back, " +
				"and Ready again once 1Password lifts the suspension (ask 1Password partner support). Deleting this " +
				"PartnerAccount deactivates the account, unless spec.deletionPolicy is Orphan"}
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
		message: "spec.suspend is true: the controller makes no calls to the Partnership API for this resource. " +
			"Set it to false to resume; deleting the resource while suspended leaves the remote account as it is"}
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

// replacedOutcome is the outcome when the account under the accountUID of a
// resource that owned its account is another account now: change says how.
func replacedOutcome(uid, change string) outcome {
	return outcome{reason: billingv1alpha1.ReasonAccountReplaced,
		message: fmt.Sprintf("Account %q was replaced outside the operator: the account under this UID now has %s. "+
			"It is not this resource's, so its end date is not written and deleting this resource deletes nothing "+
			"remotely. To manage it from here, set spec.adoptExisting to true (if it is true already, request a "+
			"reconcile with the %s annotation); or delete this resource", uid, change,
			billingv1alpha1.ReconcileRequestedAtAnnotation)}
}

// unprovenOutcome is the outcome when the account was answered 404 or 410 by an
// endpoint that has not shown that it serves accounts. op says what the controller
// was doing.
func unprovenOutcome(op string, err error) outcome {
	called, status := "the Partnership API", "404 or 410"
	if e, ok := errors.AsType[*partnerapi.Error](err); ok {
		called, status = e.URL, fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	return outcome{reason: billingv1alpha1.ReasonEndpointUnproven, err: err,
		message: fmt.Sprintf("Trying to %s, %s answered %s, but that endpoint has not shown that it serves accounts: "+
			"it never answered for this account, and has answered for no account since the operator started. A wrong "+
			"path prefix in --partner-api-url answers this way, so nothing is concluded: the status and the finalizer "+
			"stay, and the operator reads an account it knows exists to prove the endpoint. Check --partner-api-url",
			op, called, status)}
}

// createRefusedUnprovenOutcome is the outcome when a create was answered 404 and
// the endpoint has not shown that it serves accounts: the domain may have no
// promotion, or the URL may be wrong.
func createRefusedUnprovenOutcome(domain string, err error) outcome {
	o := unprovenOutcome("create the account", err)
	o.message = fmt.Sprintf("%s. Or the URL is right and 1Password has no promotion for the partner in domain %s: "+
		"a test domain (b5test.*) against the production URL, or a production domain against the test server",
		o.message, domain)
	return o
}

// endsAtNotAppliedOutcome is the outcome when the API answered a change of the end
// date with an account whose end date is not the one asked for.
func endsAtNotAppliedOutcome(declared *metav1.Time, remote *time.Time) outcome {
	var got *metav1.Time
	if remote != nil {
		got = toMetaTime(remote)
	}
	return outcome{reason: billingv1alpha1.ReasonEndsAtNotApplied,
		message: fmt.Sprintf("The Partnership API answered the change of the end date to %s with the end date %s; "+
			"it is tried again at the next read-back. If this lasts, ask 1Password partner support",
			describeEndsAt(declared), describeEndsAt(got))}
}

// tokenSecretFailedOutcome is the outcome when the Secret for the activation token
// could not be written; err is the Kubernetes API server's answer.
func tokenSecretFailedOutcome(name string, err error) outcome {
	return outcome{reason: billingv1alpha1.ReasonTokenSecretFailed, err: err,
		message: fmt.Sprintf("Writing the activation token to Secret %q failed: %v. The account exists (see "+
			"status.accountUID); the write is retried with backoff", name, err)}
}

// endpointChangedOutcome is the outcome when, trying to op, the origin answered
// (the one the connection calls now) said nothing about account uid, which lived at
// recorded: it has no such account, or another account under its UID, and has not
// shown that it holds recorded's accounts.
func endpointChangedOutcome(op, uid string, recorded, answered partnerapi.Origin) outcome {
	now := answered.URL
	if recorded.URL == answered.URL {
		now = "the same URL with another partner token or CA bundle"
	}
	return outcome{reason: billingv1alpha1.ReasonEndpointChanged,
		message: fmt.Sprintf("Trying to %s, the connection now calls %s, which does not hold account %q: it was last "+
			"answered by %s (origin %s). The server or partner contract changed, so nothing is concluded: the "+
			"account is not taken for gone nor made again, and its token and finalizer stay until its own server "+
			"answers. Put the connection's URL, token or CA back; or, if the account is truly gone, delete this "+
			"resource with spec.deletionPolicy Orphan", op, now, uid, recorded.URL, describeOrigin(recorded))}
}

// describeOrigin names an origin's ID for a message, or says there is none.
func describeOrigin(o partnerapi.Origin) string {
	if o.ID == "" {
		return "recorded by an earlier version"
	}
	return o.ID
}

// deactivatedOutcome is the outcome when the API answers 410 Gone for account uid
// of a resource that does not own it.
func deactivatedOutcome(uid string) outcome {
	return outcome{reason: billingv1alpha1.ReasonAccountDeactivated,
		message: fmt.Sprintf("The Partnership API answers 410 Gone for account %q: an account under this UID was "+
			"deactivated, so none is created again, with or without spec.adoptExisting. Choose another accountUID "+
			"(delete this resource and apply it under a new one), or delete this resource", uid)}
}

// accountMissingOutcome is the outcome when a resource that never creates finds no
// account under its UID.
func accountMissingOutcome(uid string) outcome {
	return outcome{reason: billingv1alpha1.ReasonAccountMissing,
		message: fmt.Sprintf("No account %q exists on this server, or it is gone, and spec.createPolicy is Never "+
			"(as kubectl partneraccount import writes), so none is created; it is read again at the next read-back. "+
			"Check spec.accountUID and spec.connectionRef, or set spec.createPolicy to IfMissing to create it", uid)}
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
		o.message = connection.UnauthorizedMessage(op, err)
	case errors.Is(err, partnerapi.ErrRateLimited):
		o.reason = billingv1alpha1.ReasonRateLimited
		o.message = fmt.Sprintf("The Partnership API is rate limiting the partner while trying to %s; "+
			"retrying after the delay it asked for", op)
	case errors.Is(err, partnerapi.ErrMisconfigured):
		o.reason = billingv1alpha1.ReasonAPIEndpointMisconfigured
		o.message = connection.MisconfiguredMessage(op, err, "the operator's --partner-api-url")
	case errors.Is(err, partnerapi.ErrInvalidRequest), errors.Is(err, partnerapi.ErrAlreadyExists):
		o.reason = billingv1alpha1.ReasonInvalidRequest
		o.message = fmt.Sprintf("The Partnership API refused to %s: %s; fix the spec, nothing is retried until it changes",
			op, strings.TrimSuffix(partnerapi.ServerMessage(err), "."))
	default:
		o.reason = billingv1alpha1.ReasonAPIUnavailable
		o.message = connection.UnavailableMessage(op, err)
	}
	return o
}

// readErrorOutcome is the outcome of a failed read. A read has no spec to fix, so a
// refusal (a 4xx other than 404 and 410) is retried with backoff, never Stalled,
// and it never means that the account is missing.
func readErrorOutcome(op string, err error) outcome {
	if errors.Is(err, partnerapi.ErrInvalidRequest) || errors.Is(err, partnerapi.ErrAlreadyExists) {
		return outcome{reason: billingv1alpha1.ReasonAPIUnavailable, err: err,
			message: fmt.Sprintf("The Partnership API refused to %s; retrying with backoff: %s", op, connection.StableMessage(err))}
	}
	return errorOutcome(op, err)
}

// refusedCreateOutcome is the outcome of a create the API refused on its merits.
// A 404 is published servers' "Domain not found.", which usually means a test
// domain against the production URL or the reverse, so the message says so.
func refusedCreateOutcome(domain string, err error) outcome {
	o := errorOutcome("create the account", err)
	if connection.StatusOf(err) == http.StatusNotFound {
		o.message = fmt.Sprintf("The Partnership API refused to create the account: %s. 1Password has no promotion "+
			"for the partner in domain %s: usually a test domain (b5test.*) against the production URL, or a "+
			"production domain against the test server; fix spec.domain or the operator's --partner-api-url. Nothing "+
			"is retried until the spec changes", strings.TrimSuffix(partnerapi.ServerMessage(err), "."), domain)
	}
	return o
}

// createdAtOf is acct's creation time as status keeps it; nil when the API did not
// say.
func createdAtOf(acct *partnerapi.Account) *metav1.Time {
	if acct.CreatedAt.IsZero() {
		return nil
	}
	return toMetaTime(&acct.CreatedAt)
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
