package partneraccount

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// owner returns the PartnerAccount that may act on pa's remote account among all
// those declaring its accountUID on its connection, in any namespace (see
// ownerAmong). It returns pa itself when pa is the one. Each connection is a
// partner contract and server of its own, so the same accountUID on two
// connections names two accounts.
func (r *Reconciler) owner(ctx context.Context, pa *billingv1alpha1.PartnerAccount) (*billingv1alpha1.PartnerAccount, error) {
	peers, err := r.withAccountUID(ctx, pa.ConnectionName(), pa.Spec.AccountUID)
	if err != nil {
		return nil, err
	}
	return ownerAmong(pa, peers.Items), nil
}

// ownerAmong returns the PartnerAccount, pa or one of its peers, that may act on
// their shared accountUID: the one that owns the account, else the one holding a
// claim whose attempts may have made it, else the oldest; names and namespaces
// break only a tie of creation times, which have one-second resolution. An
// observed peer holds the account when it owns it (it was managed, and switched to
// Observe) or holds a claim: it may be switched back. One that never held it does
// not count: it writes nothing.
func ownerAmong(pa *billingv1alpha1.PartnerAccount, peers []billingv1alpha1.PartnerAccount) *billingv1alpha1.PartnerAccount {
	owner := pa
	for i := range peers {
		peer := &peers[i]
		if peer.UID != pa.UID && (!observing(peer) || holds(peer)) && before(peer, owner) {
			owner = peer
		}
	}
	return owner
}

// holds reports whether pa owns its account or holds a claim to it.
func holds(pa *billingv1alpha1.PartnerAccount) bool {
	return owns(pa) || holdsClaim(pa)
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
	return mayHaveMadeAny(currentClaim(&pa.Status, time.Now()))
}

// withAccountUID lists the PartnerAccounts, in every namespace, that declare uid on
// the connection conn ("" the default).
func (r *Reconciler) withAccountUID(ctx context.Context, conn, uid string) (*billingv1alpha1.PartnerAccountList, error) {
	var list billingv1alpha1.PartnerAccountList
	for _, key := range r.tracker.withAccountUID(conn, uid) {
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

// peersOf maps a PartnerAccount to the others declaring the same accountUID on
// the same connection.
func (r *Reconciler) peersOf(ctx context.Context, obj client.Object) []reconcile.Request {
	pa, ok := obj.(*billingv1alpha1.PartnerAccount)
	if !ok {
		return nil
	}
	peers, err := r.withAccountUID(ctx, pa.ConnectionName(), pa.Spec.AccountUID)
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
