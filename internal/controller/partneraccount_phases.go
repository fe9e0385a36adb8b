package controller

import (
	"context"
	"errors"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// reconcileNormal handles a PartnerAccount that is not being deleted: it decides
// what the remote account needs, then writes the status once, at the end. The only
// other status writes come before a remote call: the claim before a first create
// (see claim), or a Progressing status on first sight of any other call (decide).
func (r *PartnerAccountReconciler) reconcileNormal(ctx context.Context, pa *billingv1alpha1.PartnerAccount) (ctrl.Result, error) {
	status := newStatusPatcher(r.Client, pa)
	previous := pa.Status.DeepCopy()
	previousReason := readyReason(previous)
	request := reconcileRequest(pa)

	o, err := r.decide(ctx, pa, status, previousReason, request)
	if err != nil || o.reason == "" {
		return ctrl.Result{}, err
	}
	if o, err = r.placeToken(ctx, pa, o); err != nil {
		return ctrl.Result{}, err
	}
	setConditions(&pa.Status, pa.Generation, conditionOutcome(previous, o))
	if request != "" && o.reason != billingv1alpha1.ReasonReconcileSuspended {
		pa.Status.LastHandledReconcileAt = request
	}
	r.recordFailure(pa, previousReason, o)
	if err := status.patch(ctx, pa); err != nil {
		return ctrl.Result{}, err
	}
	r.observeFirstReady(pa, previous, o)
	return r.resultFor(o)
}

// observeFirstReady records the time from creation to Ready when this reconcile
// made the account the resource's own and Ready.
func (r *PartnerAccountReconciler) observeFirstReady(pa *billingv1alpha1.PartnerAccount, previous *billingv1alpha1.PartnerAccountStatus, o outcome) {
	if previous.AccountUID == "" && owns(pa) && reasonShapes[o.reason].ready == metav1.ConditionTrue {
		timeToFirstReady.Observe(r.Options.Now().Sub(pa.CreationTimestamp.Time).Seconds())
	}
}

// decide runs the steps of a reconcile in order and returns its outcome; an empty
// outcome means there is nothing to do or write.
func (r *PartnerAccountReconciler) decide(ctx context.Context, pa *billingv1alpha1.PartnerAccount, status *statusPatcher,
	previousReason, request string) (outcome, error) {
	if pa.Spec.Suspend {
		return suspendedOutcome(), nil
	}
	owner, err := r.owner(ctx, pa)
	if err != nil {
		return outcome{}, err
	}
	if owner != pa {
		disown(&pa.Status)
		return duplicateOutcome(owner, pa.Spec.AccountUID), nil
	}
	if err := r.ensureFinalizer(ctx, pa); err != nil {
		return outcome{}, err
	}
	if waitsForSpecChange(pa, previousReason) && request == "" {
		return outcome{}, nil
	}

	call := nextCallFor(pa, previousReason)
	if previousReason == "" && call != callCreate {
		// First sight: say so before any remote call (a create says so in its claim).
		setConditions(&pa.Status, pa.Generation, progressingOutcome())
		if err := status.patch(ctx, pa); err != nil {
			return outcome{}, err
		}
	}
	switch call {
	case callCreate:
		return r.create(ctx, pa, status)
	case callReadFirst:
		return r.readFirst(ctx, pa, status)
	default:
		return r.sync(ctx, pa), nil
	}
}

// waitsForSpecChange reports whether a stalled resource's spec is unchanged since
// the API refused it: calling again would get the same answer. A duplicate is
// looked at again each time, since the PartnerAccount that owns the account may be
// gone.
func waitsForSpecChange(pa *billingv1alpha1.PartnerAccount, previousReason string) bool {
	return isStalled(previousReason) && previousReason != billingv1alpha1.ReasonDuplicateAccountUID &&
		pa.Status.ObservedGeneration == pa.Generation
}

// claim records, before a create request, when the first one was sent, so that a
// create whose answer is lost is recognised as this resource's own when the
// account is read back. It is written before the request, or the request is not
// sent.
func (r *PartnerAccountReconciler) claim(ctx context.Context, pa *billingv1alpha1.PartnerAccount, status *statusPatcher) error {
	if pa.Status.CreateAttemptedAt == nil {
		now := metav1.NewTime(r.Options.Now())
		pa.Status.CreateAttemptedAt = &now
	}
	setConditions(&pa.Status, pa.Generation, progressingOutcome())
	return status.patch(ctx, pa)
}

// create creates the remote account. When the API refuses, because the account
// exists or on the request's merits, the account is read back to tell which:
// never is a create repeated in a loop.
func (r *PartnerAccountReconciler) create(ctx context.Context, pa *billingv1alpha1.PartnerAccount, status *statusPatcher) (outcome, error) {
	if err := r.claim(ctx, pa, status); err != nil {
		return outcome{}, err
	}
	acct, createErr := r.API.Create(ctx, partnerapi.CreateRequest{
		UID:    pa.Spec.AccountUID,
		Type:   apiAccountType(pa.Spec.AccountType),
		Domain: pa.Spec.Domain,
		EndsAt: timePtr(pa.Spec.EndsAt),
	})
	if createErr == nil {
		return r.found(ctx, pa, acct, classifyCreated(&pa.Spec, pa.Status.CreateAttemptedAt, acct, r.Options.CreateClockSkew), true), nil
	}
	if !errors.Is(createErr, partnerapi.ErrAlreadyExists) && !errors.Is(createErr, partnerapi.ErrInvalidRequest) {
		if !mayHaveCreated(createErr) {
			pa.Status.CreateAttemptedAt = nil
		}
		return errorOutcome("create the account", createErr), nil
	}

	acct, err := r.API.Get(ctx, pa.Spec.AccountUID)
	switch {
	case err == nil:
		return r.found(ctx, pa, acct, classifyRead(&pa.Spec, pa.Status.CreateAttemptedAt, acct, r.Options.CreateClockSkew), false), nil
	case errors.Is(err, partnerapi.ErrNotFound), errors.Is(err, partnerapi.ErrInvalidRequest):
		// Refused on its merits: no account has this UID, so nothing is owned.
		pa.Status.CreateAttemptedAt = nil
		return errorOutcome("create the account", createErr), nil
	}
	return readErrorOutcome("read back the account after a refused create", err), nil
}

// readFirst reads the account before deciding to create it: an earlier create may
// have made it without the answer arriving, or an account was found before.
func (r *PartnerAccountReconciler) readFirst(ctx context.Context, pa *billingv1alpha1.PartnerAccount, status *statusPatcher) (outcome, error) {
	acct, err := r.API.Get(ctx, pa.Spec.AccountUID)
	switch {
	case err == nil:
		return r.found(ctx, pa, acct, classifyRead(&pa.Spec, pa.Status.CreateAttemptedAt, acct, r.Options.CreateClockSkew), false), nil
	case errors.Is(err, partnerapi.ErrNotFound):
		return r.create(ctx, pa, status)
	}
	return readErrorOutcome("read the account", err), nil
}

// found acts on an account found under the resource's accountUID, by its create
// (created is true) or by a read: it becomes the resource's own when the resource
// made it, or adopts it when it existed before and spec.adoptExisting says so.
// Anything else is left alone and nothing of it is kept in the status.
func (r *PartnerAccountReconciler) found(ctx context.Context, pa *billingv1alpha1.PartnerAccount, acct *partnerapi.Account,
	f finding, created bool) outcome {
	uid := pa.Spec.AccountUID
	switch {
	case f == foundConflict:
		disown(&pa.Status)
		return conflictOutcome(uid, acct)
	case f == foundPreexisting && !pa.Spec.AdoptExisting:
		disown(&pa.Status)
		return existsOutcome(uid, acct)
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
	pa.Status.AccountUID = uid
	pa.Status.CreateAttemptedAt = nil
	setAccountFields(&pa.Status, pa.Spec.Domain, acct)
	return r.alignEndsAt(ctx, pa, acct)
}

// sync reads an account the resource owns and aligns its end date with the spec.
func (r *PartnerAccountReconciler) sync(ctx context.Context, pa *billingv1alpha1.PartnerAccount) outcome {
	acct, err := r.API.Get(ctx, pa.Spec.AccountUID)
	if errors.Is(err, partnerapi.ErrNotFound) {
		clearAccountFields(&pa.Status)
		return remoteDeletedOutcome(pa.Spec.AccountUID)
	}
	if err != nil {
		return readErrorOutcome("read the account", err)
	}
	setAccountFields(&pa.Status, pa.Spec.Domain, acct)
	return r.alignEndsAt(ctx, pa, acct)
}

// alignEndsAt changes the remote end date when it differs from the spec's at
// one-second precision, and only then.
func (r *PartnerAccountReconciler) alignEndsAt(ctx context.Context, pa *billingv1alpha1.PartnerAccount, acct *partnerapi.Account) outcome {
	if !endsAtDiffers(pa.Spec.EndsAt, acct.EndsAt) {
		return accountOutcome(acct, r.Options.Now())
	}
	updated, err := r.API.UpdateEndsAt(ctx, pa.Spec.AccountUID, timePtr(pa.Spec.EndsAt))
	if errors.Is(err, partnerapi.ErrNotFound) {
		clearAccountFields(&pa.Status)
		return remoteDeletedOutcome(pa.Spec.AccountUID)
	}
	if err != nil {
		return errorOutcome("change the end date", err)
	}
	remoteChanges.WithLabelValues(changeUpdateEndsAt).Inc()
	logf.FromContext(ctx).Info("Changed remote end date", "accountUID", pa.Spec.AccountUID, "endsAt", pa.Spec.EndsAt)
	r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventUpdated, "Update",
		"Changed the end date of remote account %q to %s", pa.Spec.AccountUID, describeEndsAt(pa.Spec.EndsAt))
	setAccountFields(&pa.Status, pa.Spec.Domain, updated)
	return accountOutcome(updated, r.Options.Now())
}

// reconcileDelete deals with the remote account of a PartnerAccount being deleted,
// then lets the resource go. A failure keeps the finalizer and says why in the
// conditions.
func (r *PartnerAccountReconciler) reconcileDelete(ctx context.Context, pa *billingv1alpha1.PartnerAccount) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(pa, billingv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	o, err := r.releaseRemote(ctx, pa)
	if err != nil {
		return ctrl.Result{}, err
	}
	if o.reason != "" {
		return r.deleteFailed(ctx, pa, o)
	}
	base := pa.DeepCopy()
	controllerutil.RemoveFinalizer(pa, billingv1alpha1.Finalizer)
	return ctrl.Result{}, client.IgnoreNotFound(
		r.Patch(ctx, pa, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})))
}

// releaseRemote deletes the remote account when the policy says so and the
// resource owns it. A non-empty outcome is why it could not, yet.
func (r *PartnerAccountReconciler) releaseRemote(ctx context.Context, pa *billingv1alpha1.PartnerAccount) (outcome, error) {
	uid := pa.Spec.AccountUID
	switch {
	case pa.Spec.Suspend:
		r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventOrphaned, "Delete",
			"spec.suspend is true: remote account %q was left as it is", uid)
		return outcome{}, nil
	case pa.Spec.DeletionPolicy == billingv1alpha1.DeletionPolicyOrphan:
		r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventOrphaned, "Delete",
			"spec.deletionPolicy is Orphan: remote account %q was left as it is", uid)
		return outcome{}, nil
	}
	mine, o, err := r.ownsForDeletion(ctx, pa)
	if err != nil || o.reason != "" {
		return o, err
	}
	if !mine {
		r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventOrphaned, "Delete",
			"This resource did not own remote account %q, so nothing was deleted remotely", uid)
		return outcome{}, nil
	}
	err = r.API.Delete(ctx, uid)
	switch {
	case err == nil:
		remoteChanges.WithLabelValues(changeDelete).Inc()
		logf.FromContext(ctx).Info("Deleted remote account", "accountUID", uid)
		r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventDeleted, "Delete",
			"Deactivated remote account %q", uid)
	case errors.Is(err, partnerapi.ErrNotFound):
		logf.FromContext(ctx).Info("Remote account already gone", "accountUID", uid)
		r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventDeleted, "Delete",
			"Remote account %q was already gone", uid)
	default:
		o := errorOutcome("delete the account", err)
		o.message = "Deleting the remote account failed, so the finalizer stays: " + strings.TrimSuffix(o.message, ".") +
			". To delete the resource and leave the remote account, set spec.deletionPolicy to Orphan"
		return o, nil
	}
	return outcome{}, nil
}

// ownsForDeletion reports whether deleting pa may delete its remote account: pa
// owns it and no older PartnerAccount declares it, or pa's create was never
// confirmed and reading the account shows that pa made it. A non-empty outcome
// means the read failed, so nothing can be decided yet.
func (r *PartnerAccountReconciler) ownsForDeletion(ctx context.Context, pa *billingv1alpha1.PartnerAccount) (bool, outcome, error) {
	if owns(pa) {
		owner, err := r.owner(ctx, pa)
		return owner == pa, outcome{}, err
	}
	if pa.Status.CreateAttemptedAt == nil {
		return false, outcome{}, nil
	}
	acct, err := r.API.Get(ctx, pa.Spec.AccountUID)
	switch {
	case err == nil:
		return classifyRead(&pa.Spec, pa.Status.CreateAttemptedAt, acct, r.Options.CreateClockSkew) == foundOwn, outcome{}, nil
	case errors.Is(err, partnerapi.ErrNotFound), errors.Is(err, partnerapi.ErrInvalidRequest):
		return false, outcome{}, nil
	}
	o := readErrorOutcome("read the account", err)
	o.message = "This resource's create was never confirmed and reading the account to find out whether it made it " +
		"failed, so the finalizer stays: " + strings.TrimSuffix(o.message, ".") +
		". To delete the resource and leave the remote account, set spec.deletionPolicy to Orphan"
	return false, o, nil
}

// deleteFailed reports why the remote account could not be dealt with in the
// conditions and retries as the failure deserves.
func (r *PartnerAccountReconciler) deleteFailed(ctx context.Context, pa *billingv1alpha1.PartnerAccount, o outcome) (ctrl.Result, error) {
	status := newStatusPatcher(r.Client, pa)
	previousReason := readyReason(&pa.Status)
	setConditions(&pa.Status, pa.Generation, o)
	r.recordFailure(pa, previousReason, o)
	if err := status.patch(ctx, pa); err != nil {
		return ctrl.Result{}, err
	}
	return r.resultFor(o)
}

// ensureFinalizer adds the finalizer, so it is in place before the first remote call.
func (r *PartnerAccountReconciler) ensureFinalizer(ctx context.Context, pa *billingv1alpha1.PartnerAccount) error {
	if controllerutil.ContainsFinalizer(pa, billingv1alpha1.Finalizer) {
		return nil
	}
	base := pa.DeepCopy()
	controllerutil.AddFinalizer(pa, billingv1alpha1.Finalizer)
	return r.Patch(ctx, pa, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
}
