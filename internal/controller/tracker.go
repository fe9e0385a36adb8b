package controller

import (
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// accountTracker follows the PartnerAccounts in the cache through the informer's
// events, and keeps in line with them: the gauges, the read-back planner's count of
// accounts, which PartnerAccounts declare each accountUID, which live (for the
// deleted-Secret tokens kept), and which remote accounts are known to exist (for
// proving the API endpoint). The index by accountUID is a map of short slices
// rather than a cache field index, which would keep a set per account twice over
// (across namespaces and per namespace).
type accountTracker struct {
	// onCount is told how many accounts use a connection ("" the default) each time
	// the number changes.
	onCount func(connection string, n int64)
	// onGone is called with the UID of each PartnerAccount that leaves the cache.
	onGone func(types.UID)

	mu     sync.Mutex
	byUID  map[string][]types.NamespacedName
	byConn map[string][]types.NamespacedName
	live   map[types.UID]struct{}
	// existing holds, for each connection, the accountUID of each remote account
	// known to exist: owned or observed, and found at its last read.
	existing map[string]map[string]struct{}
	// written holds the resourceVersion of each PartnerAccount's last status write
	// that the cache has not shown yet.
	written map[types.NamespacedName]pendingWrite
	// warned holds, for each PartnerAccount, the annotation value last warned of.
	warned map[types.NamespacedName]string
	// seen holds the resourceVersions the cache last showed of each PartnerAccount:
	// the watch may show a write before the writer hears back from it.
	seen map[types.NamespacedName][recentVersions]string
	// registration tells whether the tracker has seen every account the cache
	// listed at start.
	registration toolscache.ResourceEventHandlerRegistration
}

var _ toolscache.ResourceEventHandler = (*accountTracker)(nil)

func newAccountTracker(onCount func(connection string, n int64)) *accountTracker {
	return &accountTracker{onCount: onCount, onGone: func(types.UID) {}, byUID: map[string][]types.NamespacedName{},
		byConn: map[string][]types.NamespacedName{}, live: map[types.UID]struct{}{}, existing: map[string]map[string]struct{}{},
		written: map[types.NamespacedName]pendingWrite{}, seen: map[types.NamespacedName][recentVersions]string{},
		warned: map[types.NamespacedName]string{}}
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

// isLive reports whether the PartnerAccount with uid is in the cache and not being
// deleted.
func (t *accountTracker) isLive(uid types.UID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.live[uid]
	return ok
}

// withConnection returns the PartnerAccounts that use connection ("" the default).
func (t *accountTracker) withConnection(connection string) []types.NamespacedName {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.byConn[connection])
}

// knownToExist returns up to n accountUIDs, other than except, of remote accounts
// on connection known to exist: owned or observed, and found at their last read.
func (t *accountTracker) knownToExist(connection, except string, n int) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for uid := range t.existing[connection] {
		if len(out) == n {
			break
		}
		if uid != except {
			out = append(out, uid)
		}
	}
	return out
}

// cacheLag bounds how long a reconcile waits for the cache to show its own last
// write: a watch that skipped that version never shows it.
const cacheLag = 5 * time.Second

// pendingWrite is a status write the cache has not shown yet.
type pendingWrite struct {
	resourceVersion string
	at              time.Time
}

// firstWarning reports whether the controller has not warned of value for key yet,
// and remembers that it now has.
func (t *accountTracker) firstWarning(key types.NamespacedName, value string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if last, ok := t.warned[key]; ok && last == value {
		return false
	}
	t.warned[key] = value
	return true
}

// recentVersions is how many of an object's latest resourceVersions the tracker
// remembers.
const recentVersions = 4

// wrote records that the controller wrote key's status, giving resourceVersion,
// unless the cache has shown that version already.
func (t *accountTracker) wrote(key types.NamespacedName, resourceVersion string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, rv := range t.seen[key] {
		if rv == resourceVersion {
			return
		}
	}
	t.written[key] = pendingWrite{resourceVersion: resourceVersion, at: time.Now()}
}

// behind reports whether cached, key's copy in the cache, is older than the
// controller's own last write of it: acting on it would undo what that write
// recorded (a create's success, say).
func (t *accountTracker) behind(key types.NamespacedName, cached string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.written[key]
	switch {
	case !ok:
		return false
	case w.resourceVersion == cached, time.Since(w.at) > cacheLag:
		delete(t.written, key)
		return false
	}
	return true
}

// seenLocked records that the cache shows pa, and drops the pending write it
// shows.
func (t *accountTracker) seenLocked(pa *billingv1alpha1.PartnerAccount) {
	key := types.NamespacedName{Namespace: pa.Namespace, Name: pa.Name}
	recent := t.seen[key]
	copy(recent[1:], recent[:recentVersions-1])
	recent[0] = pa.ResourceVersion
	t.seen[key] = recent
	if w, ok := t.written[key]; ok && w.resourceVersion == pa.ResourceVersion {
		delete(t.written, key)
	}
}

// OnAdd counts a PartnerAccount and indexes it.
func (t *accountTracker) OnAdd(obj any, _ bool) {
	pa, ok := obj.(*billingv1alpha1.PartnerAccount)
	if !ok {
		return
	}
	stateOf(pa).count(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	// spec.accountUID and spec.connectionRef cannot change, so an account is
	// indexed once.
	key := types.NamespacedName{Namespace: pa.Namespace, Name: pa.Name}
	conn := connectionOf(pa)
	t.byUID[pa.Spec.AccountUID] = append(t.byUID[pa.Spec.AccountUID], key)
	t.byConn[conn] = append(t.byConn[conn], key)
	t.onCount(conn, int64(len(t.byConn[conn])))
	t.noteLocked(nil, pa)
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
	t.mu.Lock()
	defer t.mu.Unlock()
	t.noteLocked(old, pa)
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
	key := types.NamespacedName{Namespace: pa.Namespace, Name: pa.Name}
	uid := pa.Spec.AccountUID
	if t.byUID[uid] = slices.DeleteFunc(t.byUID[uid], func(k types.NamespacedName) bool { return k == key }); len(t.byUID[uid]) == 0 {
		delete(t.byUID, uid)
	}
	conn := connectionOf(pa)
	if t.byConn[conn] = slices.DeleteFunc(t.byConn[conn], func(k types.NamespacedName) bool { return k == key }); len(t.byConn[conn]) == 0 {
		delete(t.byConn, conn)
		if conn != "" {
			forgetConnectionSeries(conn)
		}
	}
	t.onCount(conn, int64(len(t.byConn[conn])))
	t.noteLocked(pa, nil)
	t.mu.Unlock()
	t.onGone(pa.UID)
}

// noteLocked updates whether the PartnerAccount that was old and is now pa (either
// may be nil) lives and owns an account known to exist.
func (t *accountTracker) noteLocked(old, pa *billingv1alpha1.PartnerAccount) {
	if old != nil && existing(old) {
		delete(t.existing[connectionOf(old)], old.Spec.AccountUID)
	}
	if pa == nil {
		entitled.set(types.NamespacedName{Namespace: old.Namespace, Name: old.Name}, false, time.Time{})
		delete(t.live, old.UID)
		key := types.NamespacedName{Namespace: old.Namespace, Name: old.Name}
		delete(t.written, key)
		delete(t.seen, key)
		delete(t.warned, key)
		return
	}
	if existing(pa) {
		conn := connectionOf(pa)
		if t.existing[conn] == nil {
			t.existing[conn] = map[string]struct{}{}
		}
		t.existing[conn][pa.Spec.AccountUID] = struct{}{}
	}
	var created time.Time
	if pa.Status.CreatedAt != nil {
		created = pa.Status.CreatedAt.Time
	}
	entitled.set(types.NamespacedName{Namespace: pa.Namespace, Name: pa.Name},
		existing(pa) && pa.Status.AccountStatus == partnerapi.StatusEntitled && !created.IsZero(), created)
	t.seenLocked(pa)
	if pa.DeletionTimestamp.IsZero() {
		t.live[pa.UID] = struct{}{}
	} else {
		delete(t.live, pa.UID)
	}
}

// existing reports whether pa owns or observes a remote account that existed at its
// last read.
func existing(pa *billingv1alpha1.PartnerAccount) bool {
	return (owns(pa) || observing(pa)) && pa.Status.AccountStatus != ""
}

// connectionOf is the name of the PartnerConnection pa uses, "" for the default.
func connectionOf(pa *billingv1alpha1.PartnerAccount) string {
	if pa.Spec.ConnectionRef == nil {
		return ""
	}
	return pa.Spec.ConnectionRef.Name
}
