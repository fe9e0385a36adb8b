package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// reconcileNormal runs the steps of a reconcile of a PartnerAccount that is not
// being deleted: the account step, then the token step. Each fills in s; finish
// writes the status.
func (r *PartnerAccountReconciler) reconcileNormal(ctx context.Context, s *scope) error {
	if err := r.reconcileAccount(ctx, s); err != nil || s.outcome.reason == "" {
		return err
	}
	return r.placeToken(ctx, s)
}

// reconcileAccount brings the remote account in line with the spec, as far as this
// resource may: not while suspended, not when another PartnerAccount owns the
// accountUID, and not again while a stalled spec is unchanged.
func (r *PartnerAccountReconciler) reconcileAccount(ctx context.Context, s *scope) error {
	pa := s.pa
	if pa.Spec.Suspend {
		s.conclude(suspendedOutcome())
		return nil
	}
	if ok, err := r.useConnection(ctx, s); err != nil || !ok {
		return err
	}
	if observing(pa) {
		return r.observeAccount(ctx, s)
	}
	owner, err := r.owner(ctx, pa)
	if err != nil {
		return err
	}
	if owner != pa {
		s.disown()
		s.conclude(duplicateOutcome(owner, pa.Spec.AccountUID))
		return nil
	}
	// The finalizer is in place before the first remote call.
	if err := setFinalizer(ctx, r.Client, pa, billingv1alpha1.Finalizer, true); err != nil {
		return err
	}
	switch planFor(pa, readyReason(s.previous), s.request != "") {
	case planCreate:
		return r.create(ctx, s)
	case planReadFirst:
		return r.readFirst(ctx, s)
	case planRead:
		r.sync(ctx, s)
	}
	return nil
}

// claim returns the resource's create claim, on the API's clock when it is known.
// When there is none, it writes one before the first create request, or the
// request is not sent: fresh is then true. This is the only status write in the
// middle of a reconcile.
func (r *PartnerAccountReconciler) claim(ctx context.Context, s *scope) (claim *billingv1alpha1.CreateClaim, fresh bool, err error) {
	pa := s.pa
	if c := currentClaim(&pa.Status, r.Options.Now()); c != nil {
		return s.conn.onAPIClock(c), false, nil
	}
	now, onAPI := s.conn.api.Now()
	clock := billingv1alpha1.ClockLocal
	if onAPI {
		clock = billingv1alpha1.ClockAPI
	}
	c := newClaim(now, clock, s.conn.api.Timeout())
	pa.Status.CreateClaim, pa.Status.CreateAttemptedAt = c, nil
	setConditions(&pa.Status, pa.Generation, progressingOutcome())
	return c.DeepCopy(), true, s.patcher.patch(ctx, pa)
}

// margins are the claim margins the options set.
func (r *PartnerAccountReconciler) margins() claimMargins {
	return claimMargins{api: r.Options.APIClockMargin, local: r.Options.CreateClockSkew}
}

// create creates the remote account, under a claim written first. When the API
// refuses, because the account exists or on the request's merits, the account is
// read back to tell which: never is a create repeated in a loop.
func (r *PartnerAccountReconciler) create(ctx context.Context, s *scope) error {
	pa := s.pa
	if err := s.conn.api.Blocked(partnerapi.OpCreate, pa.Spec.AccountUID); err != nil {
		// Nothing would be sent: no attempt, so no claim.
		s.conclude(errorOutcome("create the account", err))
		return nil
	}
	claim, fresh, err := r.claim(ctx, s)
	if err != nil {
		return err
	}
	sent := time.Now()
	acct, createErr := s.conn.api.Create(ctx, partnerapi.CreateRequest{
		UID:    pa.Spec.AccountUID,
		Type:   apiAccountType(pa.Spec.AccountType),
		Domain: pa.Spec.Domain,
		EndsAt: timePtr(pa.Spec.EndsAt),
	})
	claim = s.conn.onAPIClock(claim)
	s.setClaim(claim)
	switch {
	case createErr == nil:
		var sentOnAPI time.Time
		if _, known := s.conn.api.Now(); known {
			sentOnAPI = s.conn.sentAt(sent, billingv1alpha1.ClockAPI)
		}
		s.observe(acct, s.conn.api.Endpoint())
		r.found(ctx, s, classifyCreated(&pa.Spec, claim, acct, sentOnAPI, r.margins()), true)
		return nil
	case unknownOutcome(createErr):
		// It may have made the account: the claim's window reaches its end.
		s.setClaim(extendClaim(claim, s.conn.sentAt(sent, claim.Clock), s.conn.api.Timeout()))
		s.conclude(errorOutcome("create the account", createErr))
		return nil
	}
	// Refused: this attempt made nothing. A fresh claim has no other attempt.
	if fresh {
		claim.UnknownUntil = nil
		s.setClaim(claim)
	}
	if !errors.Is(createErr, partnerapi.ErrAlreadyExists) && !errors.Is(createErr, partnerapi.ErrInvalidRequest) {
		// Refused before it was looked at (401, 403, 429).
		s.conclude(errorOutcome("create the account", createErr))
		return nil
	}
	r.afterRefusedCreate(ctx, s, claim, createErr)
	return nil
}

// afterRefusedCreate reads the account after the API refused a create with one of
// its own 4xx answers: an account found is classified by the claim, a proven
// absence means the refusal was on the request's merits and ends the claim.
func (r *PartnerAccountReconciler) afterRefusedCreate(ctx context.Context, s *scope, claim *billingv1alpha1.CreateClaim,
	createErr error) {
	pa := s.pa
	acct, err := s.conn.api.Get(ctx, pa.Spec.AccountUID)
	if err == nil {
		s.observe(acct, s.conn.api.Endpoint())
		r.found(ctx, s, classifyRead(&pa.Spec, claim, acct, r.margins()), false)
		return
	}
	refused := refusedCreateOutcome(pa.Spec.Domain, createErr)
	switch r.absence(ctx, s, err) {
	case absentProven:
		s.setClaim(nil)
		s.conclude(refused)
	case absentUnproven:
		if statusOf(createErr) == http.StatusNotFound {
			// The domain may have no promotion, or the URL is not the API.
			s.conclude(createRefusedUnprovenOutcome(pa.Spec.Domain, createErr))
			return
		}
		s.conclude(refused)
	default:
		if errors.Is(err, partnerapi.ErrInvalidRequest) {
			// The API refuses the UID itself, on read as on create.
			s.conclude(refused)
			return
		}
		s.conclude(readErrorOutcome("read back the account after a refused create", err))
	}
}

// readFirst reads the account before deciding to create it: an earlier create may
// have made it without the answer arriving, or an account was found before.
func (r *PartnerAccountReconciler) readFirst(ctx context.Context, s *scope) error {
	pa := s.pa
	acct, err := s.conn.api.Get(ctx, pa.Spec.AccountUID)
	if err == nil {
		claim := currentClaim(&pa.Status, r.Options.Now())
		if claim != nil {
			claim = s.conn.onAPIClock(claim)
			s.setClaim(claim)
		}
		s.observe(acct, s.conn.api.Endpoint())
		r.found(ctx, s, classifyRead(&pa.Spec, claim, acct, r.margins()), false)
		return nil
	}
	switch r.absence(ctx, s, err) {
	case absentProven:
		// No account has this UID: no earlier attempt made one, and the next
		// create starts a claim of its own.
		pa.Status.CreateClaim, pa.Status.CreateAttemptedAt = nil, nil
		return r.create(ctx, s)
	case absentUnproven:
		// Creating is safe whatever the truth: if the account exists, the API
		// refuses, and the claim is kept.
		return r.create(ctx, s)
	}
	s.conclude(readErrorOutcome("read the account", err))
	return nil
}

// found acts on the account just observed under the resource's accountUID, by its
// create (created is true) or by a read: it becomes the resource's own when the
// resource made it, or adopts it when it existed before and spec.adoptExisting
// says so. Anything else is left alone and nothing of it is kept.
func (r *PartnerAccountReconciler) found(ctx context.Context, s *scope, f finding, created bool) {
	pa, acct := s.pa, s.account
	uid := pa.Spec.AccountUID
	switch {
	case f == foundConflict:
		s.disown()
		s.conclude(conflictOutcome(uid, acct))
		return
	case f == foundPreexisting && !pa.Spec.AdoptExisting:
		s.disown()
		s.conclude(existsOutcome(uid, acct))
		return
	}

	log := logf.FromContext(ctx).WithValues("accountUID", uid)
	switch {
	case f == foundPreexisting:
		remoteChanges.WithLabelValues(changeAdopt).Inc()
		log.Info("Adopted existing remote account")
		r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventAdopted, "Adopt",
			"Adopted remote account %q, which existed before this resource (spec.adoptExisting is true)", uid)
	case created:
		remoteChanges.WithLabelValues(changeCreate).Inc()
		log.Info("Created remote account")
		r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventCreated, "Create",
			"Created remote account %q", uid)
	default:
		remoteChanges.WithLabelValues(changeCreate).Inc()
		log.Info("Recovered remote account created by an earlier attempt")
		r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventRecovered, "Create",
			"Remote account %q was created by this resource's earlier attempt, whose answer was lost", uid)
	}
	s.take()
	r.alignEndsAt(ctx, s, createdAtOf(acct))
}

// sync reads an account the resource owns, checks that it is still the one it
// owns, and aligns its end date with the spec.
func (r *PartnerAccountReconciler) sync(ctx context.Context, s *scope) {
	pa := s.pa
	uid := pa.Spec.AccountUID
	acct, err := s.conn.api.Get(ctx, uid)
	if err != nil {
		r.readFailed(ctx, s, "read the account", err)
		return
	}
	if change := identityChange(&pa.Spec, pa.Status.CreatedAt, acct); change != "" {
		s.disown()
		s.conclude(replacedOutcome(uid, change))
		return
	}
	s.observe(acct, s.conn.api.Endpoint())
	r.alignEndsAt(ctx, s, pa.Status.CreatedAt)
}

// readFailed concludes a failed call about an account the resource owns: gone only
// when the endpoint proves it.
func (r *PartnerAccountReconciler) readFailed(ctx context.Context, s *scope, op string, err error) {
	switch r.absence(ctx, s, err) {
	case absentProven:
		s.gone = true
		s.conclude(remoteDeletedOutcome(s.pa.Spec.AccountUID))
	case absentUnproven:
		s.conclude(unprovenOutcome(op, err))
	default:
		s.conclude(readErrorOutcome(op, err))
	}
}

// alignEndsAt changes the remote end date of the account just observed when it
// differs from the spec's at one-second precision, and only then. The answer must
// be the same account (created at createdAt, when known) with the end date asked
// for.
func (r *PartnerAccountReconciler) alignEndsAt(ctx context.Context, s *scope, createdAt *metav1.Time) {
	pa, acct := s.pa, s.account
	uid := pa.Spec.AccountUID
	if !endsAtDiffers(pa.Spec.EndsAt, acct.EndsAt) {
		s.conclude(accountOutcome(acct, r.Options.Now()))
		return
	}
	updated, err := s.conn.api.UpdateEndsAt(ctx, uid, timePtr(pa.Spec.EndsAt))
	if err != nil {
		if errors.Is(err, partnerapi.ErrNotFound) {
			r.readFailed(ctx, s, "change the end date", err)
			return
		}
		s.conclude(errorOutcome("change the end date", err))
		return
	}
	if change := identityChange(&pa.Spec, createdAt, updated); change != "" {
		s.disown()
		s.conclude(replacedOutcome(uid, change))
		return
	}
	s.observe(updated, s.conn.api.Endpoint())
	if endsAtDiffers(pa.Spec.EndsAt, updated.EndsAt) {
		s.conclude(endsAtNotAppliedOutcome(pa.Spec.EndsAt, updated.EndsAt))
		return
	}
	remoteChanges.WithLabelValues(changeUpdateEndsAt).Inc()
	logf.FromContext(ctx).Info("Changed remote end date", "accountUID", uid, "endsAt", pa.Spec.EndsAt)
	r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventUpdated, "Update",
		"Changed the end date of remote account %q to %s", uid, describeEndsAt(pa.Spec.EndsAt))
	s.conclude(accountOutcome(updated, r.Options.Now()))
}

// absence says what err, from a call about s's account, proves about whether the
// account exists. A 404 or 410 from an endpoint not yet proven sends the prover to
// read an account known to exist first.
func (r *PartnerAccountReconciler) absence(ctx context.Context, s *scope, err error) absence {
	a := absenceOf(err, s.conn.api.Endpoint(), s.pa.Status.Endpoint, s.conn.api.Proven())
	if a == absentUnproven && s.conn.prover.prove(ctx, s.pa.Spec.AccountUID) {
		return absentProven
	}
	return a
}

// reconcileDelete deals with the remote account of a PartnerAccount being deleted,
// then lets the resource go. While it cannot, the finalizer stays and the
// conditions say why.
func (r *PartnerAccountReconciler) reconcileDelete(ctx context.Context, s *scope) error {
	pa := s.pa
	if !controllerutil.ContainsFinalizer(pa, billingv1alpha1.Finalizer) {
		return nil
	}
	released, err := r.releaseRemote(ctx, s)
	if err != nil || !released {
		return err
	}
	return setFinalizer(ctx, r.Client, pa, billingv1alpha1.Finalizer, false)
}

// releaseRemote deletes the remote account when the policy says so and the
// resource owns it. It reports whether the resource may go; when not, s's outcome
// says why.
func (r *PartnerAccountReconciler) releaseRemote(ctx context.Context, s *scope) (bool, error) {
	pa := s.pa
	uid := pa.Spec.AccountUID
	switch {
	case pa.Spec.Suspend:
		r.orphaned(pa, fmt.Sprintf("spec.suspend is true: remote account %q was left as it is", uid))
		return true, nil
	case observing(pa):
		r.orphaned(pa, fmt.Sprintf("spec.managementPolicy is Observe: remote account %q was left as it is", uid))
		return true, nil
	case deletionPolicyOf(pa, r.Options.DefaultDeletionPolicy) == billingv1alpha1.DeletionPolicyOrphan:
		why := "spec.deletionPolicy is Orphan"
		if pa.Spec.DeletionPolicy == "" {
			why = "the operator's default deletion policy is Orphan"
		}
		r.orphaned(pa, fmt.Sprintf("%s: remote account %q was left as it is", why, uid))
		return true, nil
	}
	uninstalling, err := r.uninstalling(ctx)
	if err != nil {
		return false, err
	}
	if uninstalling {
		r.Recorder.Eventf(pa, nil, corev1.EventTypeWarning, billingv1alpha1.EventOrphanedByUninstall, "Delete",
			"The PartnerAccount CustomResourceDefinition is being deleted, so remote account %q was left as it is "+
				"whatever spec.deletionPolicy says: uninstalling never deactivates accounts. To deactivate accounts, "+
				"delete their PartnerAccounts before the CRD", uid)
		return true, nil
	}
	if !owns(pa) && !mayHaveMadeAny(currentClaim(&pa.Status, r.Options.Now())) {
		// Nothing to ask any connection about, even one that is gone.
		r.orphaned(pa, fmt.Sprintf("This resource did not own remote account %q, so nothing was deleted remotely", uid))
		return true, nil
	}
	if ok, err := r.useConnection(ctx, s); err != nil || !ok {
		if s.outcome.reason != "" {
			s.conclude(deleteBlocked(s.outcome))
		}
		return false, err
	}
	mine, err := r.mayDelete(ctx, s)
	if err != nil || !mine {
		return s.outcome.reason == "", err
	}
	err = s.conn.api.Delete(ctx, uid)
	if err == nil {
		remoteChanges.WithLabelValues(changeDelete).Inc()
		logf.FromContext(ctx).Info("Deleted remote account", "accountUID", uid)
		r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventDeleted, "Delete",
			"Deactivated remote account %q", uid)
		return true, nil
	}
	switch r.absence(ctx, s, err) {
	case absentProven:
		r.alreadyGone(ctx, pa)
		return true, nil
	case absentUnproven:
		s.conclude(deleteBlocked(unprovenOutcome("delete the account", err)))
	default:
		s.conclude(deleteBlocked(errorOutcome("delete the account", err)))
	}
	return false, nil
}

// mayDelete reports whether deleting s's resource may delete its remote account: it
// owns it, no older PartnerAccount holds it, and a read shows it is still the
// account it owns; or its create was never confirmed and the read shows that one
// of its attempts made the account. Whatever else it finds, it records why nothing
// is deleted. When the read fails, s's outcome says why nothing can be decided yet.
func (r *PartnerAccountReconciler) mayDelete(ctx context.Context, s *scope) (bool, error) {
	pa := s.pa
	uid := pa.Spec.AccountUID
	claim := currentClaim(&pa.Status, r.Options.Now())
	if owns(pa) {
		owner, err := r.owner(ctx, pa)
		if err != nil || owner != pa {
			r.orphaned(pa, fmt.Sprintf("Another PartnerAccount holds remote account %q, so nothing was deleted remotely", uid))
			return false, err
		}
	}

	acct, err := s.conn.api.Get(ctx, uid)
	if err != nil {
		switch r.absence(ctx, s, err) {
		case absentProven:
			r.alreadyGone(ctx, pa)
		case absentUnproven:
			s.conclude(deleteBlocked(unprovenOutcome("read the account before deleting it", err)))
		default:
			s.conclude(deleteBlocked(readErrorOutcome("read the account before deleting it", err)))
		}
		return false, nil
	}
	if owns(pa) {
		if change := identityChange(&pa.Spec, pa.Status.CreatedAt, acct); change != "" {
			r.orphaned(pa, fmt.Sprintf("Remote account %q was replaced outside the operator (it now has %s), "+
				"so nothing was deleted remotely", uid, change))
			return false, nil
		}
		return true, nil
	}
	if classifyRead(&pa.Spec, s.conn.onAPIClock(claim), acct, r.margins()) != foundOwn {
		r.orphaned(pa, fmt.Sprintf("This resource's create attempts did not make remote account %q, "+
			"so nothing was deleted remotely", uid))
		return false, nil
	}
	return true, nil
}

// orphaned records that the resource went without deleting its remote account,
// and why.
func (r *PartnerAccountReconciler) orphaned(pa *billingv1alpha1.PartnerAccount, why string) {
	r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventOrphaned, "Delete", "%s", why)
}

// alreadyGone records that the resource's remote account was found gone.
func (r *PartnerAccountReconciler) alreadyGone(ctx context.Context, pa *billingv1alpha1.PartnerAccount) {
	uid := pa.Spec.AccountUID
	logf.FromContext(ctx).Info("Remote account already gone", "accountUID", uid)
	r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventDeleted, "Delete",
		"Remote account %q was already gone", uid)
}

// deleteBlocked turns the outcome of a failed call during deletion into one that
// says the finalizer stays, and how to let the resource go anyway.
func deleteBlocked(o outcome) outcome {
	o.message = "Deleting the remote account failed, so the finalizer stays: " + strings.TrimSuffix(o.message, ".") +
		". To delete the resource and leave the remote account, set spec.deletionPolicy to Orphan"
	return o
}
