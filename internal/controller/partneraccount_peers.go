package controller

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

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
	for _, key := range r.tracker.withAccountUID(uid) {
		var pa billingv1alpha1.PartnerAccount
		if err := r.Get(ctx, key, &pa); err != nil {
			if apierrors.IsNotFound(err) {
				continue // deleted since
			}
			return nil, fmt.Errorf("read PartnerAccount %s with accountUID %q: %w", key, uid, err)
		}
		list.Items = append(list.Items, pa)
	}
	return &list, nil
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
