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

// owner returns the PartnerAccount that may act on pa's remote account among all
// those declaring its accountUID anywhere in the cluster (see ownerAmong). It
// returns pa itself when pa is the one.
func (r *PartnerAccountReconciler) owner(ctx context.Context, pa *billingv1alpha1.PartnerAccount) (*billingv1alpha1.PartnerAccount, error) {
	peers, err := r.withAccountUID(ctx, pa.Spec.AccountUID)
	if err != nil {
		return nil, err
	}
	return ownerAmong(pa, peers.Items), nil
}

// ownerAmong returns the PartnerAccount, pa or one of its peers, that may act on
// their shared accountUID: the one that owns the account, else the one holding a
// claim whose attempts may have made it, else the oldest; names and namespaces
// break only a tie of creation times, which have one-second resolution.
func ownerAmong(pa *billingv1alpha1.PartnerAccount, peers []billingv1alpha1.PartnerAccount) *billingv1alpha1.PartnerAccount {
	owner := pa
	for i := range peers {
		peer := &peers[i]
		// An observed resource writes nothing, so it holds no account.
		if peer.UID != pa.UID && !observing(peer) && before(peer, owner) {
			owner = peer
		}
	}
	return owner
}

// before orders PartnerAccounts sharing an accountUID by their claim to it: owning
// the account first, then a create claim whose attempts may have made it, then
// creation time, namespace and name.
func before(a, b *billingv1alpha1.PartnerAccount) bool {
	if oa, ob := owns(a), owns(b); oa != ob {
		return oa
	}
	if ca, cb := holdsClaim(a), holdsClaim(b); ca != cb {
		return ca
	}
	return olderThan(a, b)
}

// holdsClaim reports whether pa's create attempts may have made its account.
func holdsClaim(pa *billingv1alpha1.PartnerAccount) bool {
	return mayHaveMadeAny(pa.Status.CreateClaim) || pa.Status.CreateAttemptedAt != nil
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
