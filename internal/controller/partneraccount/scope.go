package partneraccount

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/connection"
	"github.com/partnerbilling/partner-account-operator/internal/controller"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// ownership is what a reconcile did to the resource's ownership of its account.
type ownership int

const (
	// ownUnchanged: it owns what it owned before, or nothing as before.
	ownUnchanged ownership = iota
	// ownTaken: the account became this resource's: created, recovered or adopted.
	ownTaken
	// ownDropped: the account is not, or no longer, this resource's.
	ownDropped
)

// activation is an account's activation token and the link that redeems it.
type activation struct {
	token, link string
}

// tokenPlacement is where the activation token goes once the reconcile is done:
// into status (inStatus, possibly empty), and the Secret that holds it instead
// (secretName, "" when none).
type tokenPlacement struct {
	decided    bool
	inStatus   activation
	secretName string
}

// scope is one reconcile of a PartnerAccount: what it started from, what its steps
// learnt, and the outcome they came to. The steps fill it in; finish turns it into
// the status, the events and the requeue, once.
type scope struct {
	pa      *billingv1alpha1.PartnerAccount
	patcher *statusPatcher
	// conn is the connection the resource's account lives on, once a step needs
	// it; nil before.
	conn *connection.Connection
	// previous is the status as the reconcile found it.
	previous *billingv1alpha1.PartnerAccountStatus
	// request is a reconcile asked for with the annotation and not handled yet.
	request string

	// account is the remote account as the API answered in this reconcile, with
	// the origin that answered; nil when none was read.
	account *partnerapi.Account
	// ownership is what became of the resource's ownership.
	ownership ownership
	// gone is set when the account is proven gone.
	gone bool
	// observed is set when the resource only observes the account it read.
	observed bool
	// read is the latest answer about the account under the resource's UID, whoever
	// owns it: what the drift is computed from. disown keeps it.
	read *partnerapi.Account
	// deletionPolicy is the deletion policy in effect.
	deletionPolicy billingv1alpha1.DeletionPolicy
	// readAt is when the account was last answered.
	readAt time.Time
	// claim is the create claim after this reconcile, when claimChanged.
	claim        *billingv1alpha1.CreateClaim
	claimChanged bool
	// token is the owned account's activation token, when known.
	token activation
	// placement is where the token step put the token.
	placement tokenPlacement

	// outcome is what the reconcile concluded; empty when it concluded nothing
	// (nothing to do, or it failed before learning anything).
	outcome outcome
	// later, with no outcome, is when to look again: something the reconcile
	// waits for will be there shortly.
	later time.Duration
}

// newScope starts the scope of a reconcile of pa; writes is told of each status
// write.
func newScope(c client.Client, pa *billingv1alpha1.PartnerAccount, writes writeWatcher) *scope {
	p := newStatusPatcher(c, pa)
	p.writes = writes
	return &scope{pa: pa, patcher: p, previous: pa.Status.DeepCopy(), request: reconcileRequest(pa)}
}

// conclude sets the reconcile's outcome.
func (s *scope) conclude(o outcome) { s.outcome = o }

// lookAgain ends the reconcile with no outcome, to look again after d.
func (s *scope) lookAgain(d time.Duration) { s.later = d }

// observe records acct as the API's answer.
func (s *scope) observe(acct *partnerapi.Account) {
	s.account, s.read, s.readAt = acct, acct, time.Now()
	s.token = activation{token: acct.ActivationToken,
		link: redemptionURL(s.pa.Spec.Domain, acct.Type, acct.ActivationToken)}
}

// take makes acct, just observed, this resource's own; the claim is done with.
func (s *scope) take() {
	s.ownership = ownTaken
	s.setClaim(nil)
}

// disown records that the account found is not this resource's: nothing of it is
// kept, its token least of all.
func (s *scope) disown() {
	s.ownership = ownDropped
	s.account, s.token = nil, activation{}
	s.setClaim(nil)
}

// writeClaim writes claim to the status before a create request is sent, so that
// a restart at any moment finds the attempt recorded: the one status write in the
// middle of a reconcile, beside finish's. A resource whose conditions do not
// describe its generation yet shows Progressing with it.
func (s *scope) writeClaim(ctx context.Context, claim *billingv1alpha1.CreateClaim) error {
	pa := s.pa
	s.setClaim(claim)
	pa.Status.CreateClaim, pa.Status.CreateAttemptedAt = claim.DeepCopy(), nil
	if ready := meta.FindStatusCondition(pa.Status.Conditions, billingv1alpha1.ConditionReady); ready == nil ||
		ready.ObservedGeneration != pa.Generation {
		setConditions(&pa.Status, pa.Generation, progressingOutcome())
	}
	return s.patcher.patch(ctx, pa)
}

// setClaim records the claim after this reconcile.
func (s *scope) setClaim(c *billingv1alpha1.CreateClaim) {
	s.claim, s.claimChanged = c, true
}

// owned reports whether the resource owns its account once this reconcile is done.
func (s *scope) owned() bool {
	switch s.ownership {
	case ownTaken:
		return true
	case ownDropped:
		return false
	case ownUnchanged:
	}
	return owns(s.pa)
}

// applyFacts writes what the steps learnt into status.
func applyFacts(status *billingv1alpha1.PartnerAccountStatus, s *scope) {
	switch s.ownership {
	case ownTaken:
		status.AccountUID = s.pa.Spec.AccountUID
	case ownDropped:
		status.AccountUID = ""
		status.CreatedAt = nil
		status.Endpoint, status.EndpointID = "", ""
		clearAccountFields(status)
	}
	if s.claimChanged {
		status.CreateClaim = s.claim
		status.CreateAttemptedAt = nil
	}
	if s.gone {
		clearAccountFields(status)
	}
	if s.account != nil && (s.owned() || s.observed) {
		setAccountFields(status, s.account)
		status.Endpoint, status.EndpointID = s.account.Origin.URL, s.account.Origin.ID
		status.ProvisionedAt = provisionedAt(status.ProvisionedAt, s.account, s.readAt)
		if m := s.account.DeployedMembers; m != nil {
			status.DeployedMembers = new(int32(min(*m, math.MaxInt32)))
		}
	}
	switch {
	case s.gone:
		status.Drift = nil
	case s.read != nil:
		status.Drift = driftOf(&s.pa.Spec, s.read)
	}
	if s.deletionPolicy != "" {
		status.DeletionPolicy = s.deletionPolicy
	}
	if p := s.placement; p.decided {
		status.ActivationToken, status.RedemptionURL = p.inStatus.token, p.inStatus.link
		status.ActivationTokenSecretName = p.secretName
	}
}

// finish ends a reconcile: it writes what the steps learnt and the conditions of
// their outcome into the status with one patch, records the events, and says when
// to look again, all as the reason table (billingv1alpha1.Reasons) says. err is
// what the steps failed with, if anything; a reconcile that concluded nothing
// writes nothing.
func (r *Reconciler) finish(ctx context.Context, s *scope, err error) (ctrl.Result, error) {
	if s.outcome.reason == "" {
		return ctrl.Result{RequeueAfter: s.later}, err
	}
	pa := s.pa
	s.deletionPolicy = deletionPolicyOf(pa, r.Options.DefaultDeletionPolicy)
	applyFacts(&pa.Status, s)
	shown := shownOutcome(s.previous, pa.Generation, s.outcome)
	setConditions(&pa.Status, pa.Generation, shown)
	if s.request != "" && s.outcome.reason != billingv1alpha1.ReasonReconcileSuspended {
		pa.Status.LastHandledReconcileAt = s.request
	}
	r.recordFailure(pa, s.previous, shown)
	if perr := s.patcher.patch(ctx, pa); perr != nil {
		return ctrl.Result{}, errors.Join(err, perr)
	}
	r.observeFirstReady(pa, s.previous)
	r.observeSignup(pa, s.previous, s.readAt)
	r.warnInvalidAnnotations(pa)
	conn := s.conn
	if conn == nil {
		conn = r.Connections.Default()
	}
	result, rerr := r.requeue(pa, conn, s.outcome)
	return result, errors.Join(err, rerr)
}

// requeue says when to look at pa, on conn, again after outcome o, as its reason's
// Retry says.
func (r *Reconciler) requeue(pa *billingv1alpha1.PartnerAccount, conn *connection.Connection, o outcome) (ctrl.Result, error) {
	switch billingv1alpha1.Reasons[o.reason].Retry {
	case billingv1alpha1.RetryBackoff:
		// Returned errors go through the work queue's per-object jittered backoff.
		if o.err == nil {
			return ctrl.Result{}, errors.New(o.message)
		}
		return ctrl.Result{}, o.err
	case billingv1alpha1.RetryAfterPause:
		d, ok := partnerapi.RetryAfter(o.err)
		if !ok {
			d = time.Second
		}
		return ctrl.Result{RequeueAfter: d + time.Duration(rand.Int64N(int64(d/4+100*time.Millisecond)))}, nil
	case billingv1alpha1.RetrySlowly:
		return ctrl.Result{RequeueAfter: controller.Jitter(r.Options.UnauthorizedRetryPeriod, 0.2)}, nil
	case billingv1alpha1.RetryReadBack:
		// A background read-back, as the schedule says: within the read-back budget,
		// after user work.
		now := r.Options.Now()
		plan, never := r.readBackPlan(pa, conn, now)
		if never {
			return ctrl.Result{}, nil
		}
		after := conn.ReadBacks.After(now, plan)
		r.readBacksDue.expect(client.ObjectKeyFromObject(pa), now.Add(after))
		return ctrl.Result{RequeueAfter: after, Priority: new(readBackPriorityOf(plan.Hot))}, nil
	}
	return ctrl.Result{}, nil
}

// shownOutcome is the outcome to write in the conditions of a resource at
// generation: o, except that, while the Ready condition there describes the same
// generation,
//   - within an API outage (o and the previous Ready reason both outage reasons
//     in the reason table) the condition stays as it is;
//   - a call the client refused without sending, during a Retry-After pause,
//     changes no condition that is there: it says nothing about the account;
//   - nor does one refused while the API rejects the token, when the condition
//     already says Unauthorized: only the probes that are sent can say more.
//
// A new generation (a spec change, or the deletion) is always shown. The retry
// still follows o.
func shownOutcome(previous *billingv1alpha1.PartnerAccountStatus, generation int64, o outcome) outcome {
	ready := meta.FindStatusCondition(previous.Conditions, billingv1alpha1.ConditionReady)
	switch {
	case ready == nil, ready.ObservedGeneration != generation:
		return o
	case billingv1alpha1.Reasons[ready.Reason].Outage && billingv1alpha1.Reasons[o.reason].Outage,
		o.reason == billingv1alpha1.ReasonRateLimited && partnerapi.NotSent(o.err) &&
			ready.Reason != billingv1alpha1.ReasonProgressing,
		o.reason == billingv1alpha1.ReasonUnauthorized && partnerapi.NotSent(o.err) && ready.Reason == o.reason:
		return outcome{reason: ready.Reason, message: ready.Message, err: o.err}
	}
	return o
}

// recordFailure records a Warning event when the Ready condition changes to a
// failure, or to another message of one: once per distinct failure rather than once
// per retry.
func (r *Reconciler) recordFailure(pa *billingv1alpha1.PartnerAccount,
	previous *billingv1alpha1.PartnerAccountStatus, o outcome) {
	if !billingv1alpha1.Reasons[o.reason].Warning {
		return
	}
	if ready := meta.FindStatusCondition(previous.Conditions, billingv1alpha1.ConditionReady); ready != nil &&
		ready.Reason == o.reason && ready.Message == o.message {
		return
	}
	r.Recorder.Eventf(pa, nil, corev1.EventTypeWarning, o.reason, "Reconcile", "%s", o.message)
}

// observeFirstReady records the time from creation to Ready when this reconcile
// made the account the resource's own and Ready.
func (r *Reconciler) observeFirstReady(pa *billingv1alpha1.PartnerAccount,
	previous *billingv1alpha1.PartnerAccountStatus) {
	if previous.AccountUID == "" && owns(pa) &&
		meta.IsStatusConditionTrue(pa.Status.Conditions, billingv1alpha1.ConditionReady) {
		timeToFirstReady.Observe(r.Options.Now().Sub(pa.CreationTimestamp.Time).Seconds())
	}
}

// warnInvalidAnnotations records a Warning event for a read-back-interval
// annotation the controller cannot use, once for each value.
func (r *Reconciler) warnInvalidAnnotations(pa *billingv1alpha1.PartnerAccount) {
	_, _, err := readBackOverride(pa)
	value := pa.Annotations[billingv1alpha1.ReadBackIntervalAnnotation]
	if err != nil && r.tracker.firstWarning(client.ObjectKeyFromObject(pa), value) {
		r.Recorder.Eventf(pa, nil, corev1.EventTypeWarning, billingv1alpha1.EventInvalidAnnotation, "Reconcile", "%s", err)
	}
}

// statusPatcher writes the status subresource only when it changed since the last
// write, as a merge patch of the status alone.
type statusPatcher struct {
	client.Client
	last billingv1alpha1.PartnerAccountStatus
	// writes, when set, is told of each write before it goes, and of the
	// resourceVersion it gave.
	writes writeWatcher
}

// writeWatcher is told of the status writes of PartnerAccounts (the tracker).
type writeWatcher interface {
	// writing is told that key's status is about to be written.
	writing(key types.NamespacedName)
	// wrote is told the resourceVersion the write gave, or "" when it failed.
	wrote(key types.NamespacedName, resourceVersion string)
}

func newStatusPatcher(c client.Client, pa *billingv1alpha1.PartnerAccount) *statusPatcher {
	return &statusPatcher{Client: c, last: *pa.Status.DeepCopy()}
}

func (p *statusPatcher) patch(ctx context.Context, pa *billingv1alpha1.PartnerAccount) error {
	if equality.Semantic.DeepEqual(p.last, pa.Status) {
		return nil
	}
	base := pa.DeepCopy()
	base.Status = p.last
	key := client.ObjectKeyFromObject(pa)
	if p.writes != nil {
		p.writes.writing(key)
	}
	if err := p.Status().Patch(ctx, pa, client.MergeFrom(base)); err != nil {
		if p.writes != nil {
			p.writes.wrote(key, "")
		}
		return err
	}
	p.last = *pa.Status.DeepCopy()
	if p.writes != nil {
		p.writes.wrote(key, pa.ResourceVersion)
	}
	return nil
}
