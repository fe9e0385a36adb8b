package controller

import (
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// accountTracker follows the PartnerAccounts in the cache through the informer's
// events, and keeps in line with them: the gauges, the read-back planner's count of
// accounts, and which PartnerAccounts declare each accountUID. The last is a map of
// short slices rather than a cache field index, which would keep a set per account
// twice over (across namespaces and per namespace).
type accountTracker struct {
	readBacks *readBacks

	mu       sync.Mutex
	accounts int64
	byUID    map[string][]types.NamespacedName
	// registration tells whether the tracker has seen every account the cache
	// listed at start.
	registration toolscache.ResourceEventHandlerRegistration
}

var _ toolscache.ResourceEventHandler = (*accountTracker)(nil)

func newAccountTracker(rb *readBacks) *accountTracker {
	return &accountTracker{readBacks: rb, byUID: map[string][]types.NamespacedName{}}
}

// synced reports whether the tracker has seen every account the cache listed at start.
func (t *accountTracker) synced() bool {
	return t.registration != nil && t.registration.HasSynced()
}

// withAccountUID returns the PartnerAccounts that declare uid.
func (t *accountTracker) withAccountUID(uid string) []types.NamespacedName {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.byUID[uid])
}

// OnAdd counts a PartnerAccount and indexes it by accountUID.
func (t *accountTracker) OnAdd(obj any, _ bool) {
	pa, ok := obj.(*billingv1alpha1.PartnerAccount)
	if !ok {
		return
	}
	stateOf(pa).count(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	// spec.accountUID cannot change, so an account is indexed once.
	t.byUID[pa.Spec.AccountUID] = append(t.byUID[pa.Spec.AccountUID], types.NamespacedName{Namespace: pa.Namespace, Name: pa.Name})
	t.accounts++
	t.readBacks.accountsChanged(t.accounts)
}

// OnUpdate moves a PartnerAccount between counts. The informer hands over the
// version it counted before, so nothing per account needs keeping here.
func (t *accountTracker) OnUpdate(oldObj, obj any) {
	old, okOld := oldObj.(*billingv1alpha1.PartnerAccount)
	pa, ok := obj.(*billingv1alpha1.PartnerAccount)
	if !ok || !okOld {
		return
	}
	if before, after := stateOf(old), stateOf(pa); before != after {
		before.count(-1)
		after.count(1)
	}
}

// OnDelete stops counting a PartnerAccount.
func (t *accountTracker) OnDelete(obj any) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pa, ok := obj.(*billingv1alpha1.PartnerAccount)
	if !ok {
		return
	}
	stateOf(pa).count(-1)
	t.mu.Lock()
	defer t.mu.Unlock()
	key := types.NamespacedName{Namespace: pa.Namespace, Name: pa.Name}
	uid := pa.Spec.AccountUID
	if t.byUID[uid] = slices.DeleteFunc(t.byUID[uid], func(k types.NamespacedName) bool { return k == key }); len(t.byUID[uid]) == 0 {
		delete(t.byUID, uid)
	}
	t.accounts--
	t.readBacks.accountsChanged(t.accounts)
}
