package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// accountUIDIndex indexes PartnerAccounts by spec.accountUID, across namespaces.
const accountUIDIndex = "spec.accountUID"

// reconcileNormal handles a PartnerAccount that is not being deleted.
func (r *PartnerAccountReconciler) reconcileNormal(ctx context.Context, pa *billingv1alpha1.PartnerAccount) (ctrl.Result, error) {
	status := newStatusPatcher(r.Client, pa)
	previousReason := readyReason(&pa.Status)

	if pa.Spec.Suspend {
		o := outcome{reason: billingv1alpha1.ReasonReconcileSuspended,
			message: "spec.suspend is true: the controller makes no calls to the Partnership API for this resource"}
		setConditions(&pa.Status, pa.Generation, o)
		return ctrl.Result{}, status.patch(ctx, pa)
	}

	owner, err := r.owner(ctx, pa)
	if err != nil {
		return ctrl.Result{}, err
	}
	if owner != pa {
		disown(&pa.Status)
		o := outcome{reason: billingv1alpha1.ReasonDuplicateAccountUID,
			message: fmt.Sprintf("PartnerAccount %s/%s is older and manages account %q; this one makes no calls "+
				"and its deletion deletes nothing remotely. Delete one of the two, or change this one's accountUID",
				owner.Namespace, owner.Name, pa.Spec.AccountUID)}
		setConditions(&pa.Status, pa.Generation, o)
		r.recordFailure(pa, previousReason, o)
		return ctrl.Result{}, status.patch(ctx, pa)
	}

	if isStalled(previousReason) && previousReason != billingv1alpha1.ReasonDuplicateAccountUID &&
		pa.Status.ObservedGeneration == pa.Generation {
		// A refused request or a conflict: calling again would get the same answer.
		return ctrl.Result{}, nil
	}

	if err := r.ensureFinalizer(ctx, pa); err != nil {
		return ctrl.Result{}, err
	}

	creating := pa.Status.CreatedAt == nil
	if previousReason == "" || (creating && pa.Status.AccountUID != pa.Spec.AccountUID) {
		// First sight: say so before any remote call. Before a create, also claim the
		// account, so that a create whose answer is lost is never forgotten.
		if creating {
			pa.Status.AccountUID = pa.Spec.AccountUID
		}
		setConditions(&pa.Status, pa.Generation, outcome{reason: billingv1alpha1.ReasonProgressing,
			message: "Reconciling the remote account"})
		if err := status.patch(ctx, pa); err != nil {
			return ctrl.Result{}, err
		}
	}

	var o outcome
	if creating {
		o = r.createOrAdopt(ctx, pa)
	} else {
		o = r.sync(ctx, pa)
	}
	setConditions(&pa.Status, pa.Generation, o)
	r.recordFailure(pa, previousReason, o)
	if err := status.patch(ctx, pa); err != nil {
		return ctrl.Result{}, err
	}
	return r.resultFor(o)
}

// createOrAdopt creates the remote account. When the API says it exists, or refuses
// the create in a way that may mean so, the account is read back and adopted if its
// type and domain match: this is how a create whose answer was lost recovers,
// without ever creating twice or calling create again.
func (r *PartnerAccountReconciler) createOrAdopt(ctx context.Context, pa *billingv1alpha1.PartnerAccount) outcome {
	log := logf.FromContext(ctx).WithValues("accountUID", pa.Spec.AccountUID)
	acct, createErr := r.API.Create(ctx, partnerapi.CreateRequest{
		UID:    pa.Spec.AccountUID,
		Type:   apiAccountType(pa.Spec.AccountType),
		Domain: pa.Spec.Domain,
		EndsAt: timePtr(pa.Spec.EndsAt),
	})
	if createErr == nil {
		log.Info("Created remote account")
		r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventCreated, "Create",
			"Created remote account %q", pa.Spec.AccountUID)
		setAccountFields(&pa.Status, pa.Spec.Domain, acct)
		return accountOutcome(acct, r.Options.Now())
	}
	if !errors.Is(createErr, partnerapi.ErrAlreadyExists) && !errors.Is(createErr, partnerapi.ErrInvalidRequest) {
		// The create may or may not have happened; the claim stays, and the next
		// attempt finds out.
		return errorOutcome("create the account", createErr)
	}

	acct, err := r.API.Get(ctx, pa.Spec.AccountUID)
	switch {
	case errors.Is(err, partnerapi.ErrNotFound):
		// Refused on its merits: nothing was created, so there is nothing to own.
		pa.Status.AccountUID = ""
		return errorOutcome("create the account", createErr)
	case err != nil:
		return errorOutcome("read back the existing account", err)
	case !matchesSpec(&pa.Spec, acct):
		disown(&pa.Status)
		return outcome{reason: billingv1alpha1.ReasonAccountConflict,
			message: fmt.Sprintf("Account %q already exists with type %s in domain %s, which this spec does not match, "+
				"so it is not adopted; choose another accountUID", pa.Spec.AccountUID, acct.Type, acct.Domain)}
	}
	log.Info("Adopted existing remote account")
	r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventAdopted, "Adopt",
		"Remote account %q already existed with the same type and domain (possibly created by an earlier "+
			"attempt whose answer was lost); this resource now manages it", pa.Spec.AccountUID)
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
		return errorOutcome("read the account", err)
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
	switch {
	case pa.Spec.Suspend:
		r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventOrphaned, "Delete",
			"spec.suspend is true: remote account %q was left as it is", pa.Spec.AccountUID)
	case pa.Spec.DeletionPolicy == billingv1alpha1.DeletionPolicyOrphan:
		r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventOrphaned, "Delete",
			"spec.deletionPolicy is Orphan: remote account %q was left as it is", pa.Spec.AccountUID)
	default:
		owns, err := r.ownsRemoteAccount(ctx, pa)
		if err != nil {
			return ctrl.Result{}, err
		}
		if !owns {
			r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventOrphaned, "Delete",
				"This resource did not own remote account %q, so nothing was deleted remotely", pa.Spec.AccountUID)
			break
		}
		if err := r.API.Delete(ctx, pa.Spec.AccountUID); err != nil && !errors.Is(err, partnerapi.ErrNotFound) {
			return r.deleteFailed(ctx, pa, err)
		}
		logf.FromContext(ctx).Info("Deleted remote account", "accountUID", pa.Spec.AccountUID)
		r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventDeleted, "Delete",
			"Deactivated remote account %q", pa.Spec.AccountUID)
	}
	base := pa.DeepCopy()
	controllerutil.RemoveFinalizer(pa, billingv1alpha1.Finalizer)
	return ctrl.Result{}, client.IgnoreNotFound(
		r.Patch(ctx, pa, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})))
}

// deleteFailed reports a failed remote delete in the conditions and retries it as
// the failure deserves.
func (r *PartnerAccountReconciler) deleteFailed(ctx context.Context, pa *billingv1alpha1.PartnerAccount, err error) (ctrl.Result, error) {
	status := newStatusPatcher(r.Client, pa)
	previousReason := readyReason(&pa.Status)
	o := errorOutcome("delete the account", err)
	o.message = "Deleting the remote account failed, so the finalizer stays: " + strings.TrimSuffix(o.message, ".") +
		". To delete the resource and leave the remote account, set spec.deletionPolicy to Orphan"
	setConditions(&pa.Status, pa.Generation, o)
	r.recordFailure(pa, previousReason, o)
	if err := status.patch(ctx, pa); err != nil {
		return ctrl.Result{}, err
	}
	return r.resultFor(o)
}

// owner returns the PartnerAccount that owns pa's remote account: the oldest of
// those declaring its accountUID anywhere in the cluster (ties broken by namespace and
// name). It returns pa itself when pa is the owner.
func (r *PartnerAccountReconciler) owner(ctx context.Context, pa *billingv1alpha1.PartnerAccount) (*billingv1alpha1.PartnerAccount, error) {
	peers, err := r.withAccountUID(ctx, pa.Spec.AccountUID)
	if err != nil {
		return nil, err
	}
	owner := pa
	for i := range peers.Items {
		peer := &peers.Items[i]
		if peer.UID != pa.UID && olderThan(peer, owner) {
			owner = peer
		}
	}
	return owner, nil
}

// withAccountUID lists the PartnerAccounts, in every namespace, that declare uid.
func (r *PartnerAccountReconciler) withAccountUID(ctx context.Context, uid string) (*billingv1alpha1.PartnerAccountList, error) {
	var list billingv1alpha1.PartnerAccountList
	if err := r.List(ctx, &list, client.MatchingFields{accountUIDIndex: uid}); err != nil {
		return nil, fmt.Errorf("list PartnerAccounts with accountUID %q: %w", uid, err)
	}
	return &list, nil
}

// ownsRemoteAccount reports whether deleting pa may delete its remote account: pa
// claimed it (see status.accountUID) and no older PartnerAccount declares it.
func (r *PartnerAccountReconciler) ownsRemoteAccount(ctx context.Context, pa *billingv1alpha1.PartnerAccount) (bool, error) {
	if pa.Status.AccountUID != pa.Spec.AccountUID {
		return false, nil
	}
	owner, err := r.owner(ctx, pa)
	return owner == pa, err
}

// olderThan orders PartnerAccounts by creation time, then namespace and name.
func olderThan(a, b *billingv1alpha1.PartnerAccount) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

// peersOf maps a PartnerAccount to the others declaring the same accountUID.
func (r *PartnerAccountReconciler) peersOf(ctx context.Context, obj client.Object) []reconcile.Request {
	pa, ok := obj.(*billingv1alpha1.PartnerAccount)
	if !ok {
		return nil
	}
	peers, err := r.withAccountUID(ctx, pa.Spec.AccountUID)
	if err != nil {
		logf.FromContext(ctx).Error(err, "Failed to find the PartnerAccounts to wake", "accountUID", pa.Spec.AccountUID)
		return nil
	}
	var reqs []reconcile.Request
	for i := range peers.Items {
		if peers.Items[i].UID != pa.UID {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&peers.Items[i])})
		}
	}
	return reqs
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
