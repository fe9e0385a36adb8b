package partneraccount

import (
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/connection"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// accountTracker follows the PartnerAccounts in the cache through the informer's
// events, and keeps in line with them: the gauges, each connection's count of
// accounts, which PartnerAccounts declare each accountUID on each connection, and,
// in the connection registry, which remote accounts are known to exist and where
// they were last answered (the evidence of where accounts live). The index by accountUID is a map of short
// slices rather than a cache field index, which would keep a set per account twice
// over (across namespaces and per namespace).
type accountTracker struct {
	// conns is told how many accounts use each connection, and which are known to
	// exist.
	conns *connection.Registry
	// onGone is called with the UID of each PartnerAccount that leaves the cache.
	onGone func(types.UID)

	mu sync.Mutex
	// byUID holds, for each connection and accountUID (uidKey), the PartnerAccounts
	// that declare it.
	byUID  map[string][]types.NamespacedName
	byConn map[string][]types.NamespacedName
	// written holds the resourceVersion of each PartnerAccount's last status write
	// that the cache has not shown yet.
	written map[types.NamespacedName]pendingWrite
	// warned holds, for each PartnerAccount, the annotation value last warned of.
	warned map[types.NamespacedName]string
	// seen holds the resourceVersions the cache showed of each PartnerAccount
	// whose status the controller is writing: the watch may show a write before
	// the writer hears back from it. Entries live only during a write.
	seen map[types.NamespacedName][recentVersions]string
	// registration tells whether the tracker has seen every account the cache
	// listed at start.
	registration toolscache.ResourceEventHandlerRegistration
}

var _ toolscache.ResourceEventHandler = (*accountTracker)(nil)

func newAccountTracker(conns *connection.Registry) *accountTracker {
	return &accountTracker{conns: conns, onGone: func(types.UID) {}, byUID: map[string][]types.NamespacedName{},
		byConn:  map[string][]types.NamespacedName{},
		written: map[types.NamespacedName]pendingWrite{}, seen: map[types.NamespacedName][recentVersions]string{},
		warned: map[types.NamespacedName]string{}}
}

// uidKey is the key of accountUID uid on the connection conn in byUID.
func uidKey(conn, uid string) string { return conn + "\x00" + uid }

// synced reports whether the tracker has seen every account the cache listed at start.
func (t *accountTracker) synced() bool {
	return t.registration != nil && t.registration.HasSynced()
}

// withAccountUID returns the PartnerAccounts that declare uid on the connection
// conn ("" the default).
func (t *accountTracker) withAccountUID(conn, uid string) []types.NamespacedName {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.byUID[uidKey(conn, uid)])
}

// count returns how many PartnerAccounts the tracker holds.
func (t *accountTracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, keys := range t.byConn {
		n += len(keys)
	}
	return n
}

// withConnection returns the PartnerAccounts that use the connection conn ("" the default).
func (t *accountTracker) withConnection(conn string) []types.NamespacedName {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.byConn[conn])
}

// cacheLag bounds how long a reconcile waits for the cache to show its own last
// write: a watch that skipped that version never shows it, so after cacheLag the
// object is read from the API server instead.
const cacheLag = 5 * time.Second

// cacheState is how a cached copy of a PartnerAccount compares with the
// controller's own last write of it.
type cacheState int

const (
	// cacheCurrent: the copy shows the write, or there is none pending.
	cacheCurrent cacheState = iota
	// cacheLagging: it does not show it yet; look again shortly.
	cacheLagging
	// cacheStale: it has not shown it for cacheLag: read the object itself.
	cacheStale
)

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

// writing records that the controller is about to write key's status: the
// versions the cache shows of it are kept until wrote.
func (t *accountTracker) writing(key types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.seen[key]; !ok {
		t.seen[key] = [recentVersions]string{}
	}
}

// wrote records that the controller wrote key's status, giving resourceVersion
// ("" when the write failed), unless the cache has shown that version already.
func (t *accountTracker) wrote(key types.NamespacedName, resourceVersion string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	recent := t.seen[key]
	delete(t.seen, key)
	if resourceVersion == "" {
		return
	}
	for _, rv := range recent {
		if rv == resourceVersion {
			return
		}
	}
	t.written[key] = pendingWrite{resourceVersion: resourceVersion, at: time.Now()}
}

// behind says whether cached, key's copy in the cache, is older than the
// controller's own last write of it: acting on it would undo what that write
// recorded (a create's success, say). A write the cache has not shown for cacheLag
// is forgotten: the caller reads the object itself.
func (t *accountTracker) behind(key types.NamespacedName, cached string) cacheState {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.written[key]
	switch {
	case !ok:
		return cacheCurrent
	case w.resourceVersion == cached:
		delete(t.written, key)
		return cacheCurrent
	case time.Since(w.at) > cacheLag:
		delete(t.written, key)
		return cacheStale
	}
	return cacheLagging
}

// seenLocked records that the cache shows pa, and drops the pending write it
// shows.
func (t *accountTracker) seenLocked(pa *billingv1alpha1.PartnerAccount) {
	key := types.NamespacedName{Namespace: pa.Namespace, Name: pa.Name}
	if recent, writing := t.seen[key]; writing {
		copy(recent[1:], recent[:recentVersions-1])
		recent[0] = pa.ResourceVersion
		t.seen[key] = recent
	}
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
	conn, uk := pa.ConnectionName(), uidKey(pa.ConnectionName(), pa.Spec.AccountUID)
	t.byUID[uk] = append(t.byUID[uk], key)
	t.byConn[conn] = append(t.byConn[conn], key)
	t.conns.AccountsChanged(conn, int64(len(t.byConn[conn])))
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
	conn, uk := pa.ConnectionName(), uidKey(pa.ConnectionName(), pa.Spec.AccountUID)
	if t.byUID[uk] = slices.DeleteFunc(t.byUID[uk], func(k types.NamespacedName) bool { return k == key }); len(t.byUID[uk]) == 0 {
		delete(t.byUID, uk)
	}
	if t.byConn[conn] = slices.DeleteFunc(t.byConn[conn], func(k types.NamespacedName) bool { return k == key }); len(t.byConn[conn]) == 0 {
		delete(t.byConn, conn)
		if conn != "" {
			forgetConnectionSeries(conn)
		}
	}
	t.conns.AccountsChanged(conn, int64(len(t.byConn[conn])))
	t.noteLocked(pa, nil)
	t.mu.Unlock()
	t.onGone(pa.UID)
}

// noteLocked updates whether the PartnerAccount that was old and is now pa (either
// may be nil) lives and owns an account known to exist, and where.
func (t *accountTracker) noteLocked(old, pa *billingv1alpha1.PartnerAccount) {
	if old != nil && existing(old) && (pa == nil || !existing(pa)) {
		t.conns.ForgetAccount(old.ConnectionName(), old.Spec.AccountUID)
	}
	if pa == nil {
		entitled.set(types.NamespacedName{Namespace: old.Namespace, Name: old.Name}, false, time.Time{})
		key := types.NamespacedName{Namespace: old.Namespace, Name: old.Name}
		delete(t.written, key)
		delete(t.seen, key)
		delete(t.warned, key)
		return
	}
	var created time.Time
	if pa.Status.CreatedAt != nil {
		created = pa.Status.CreatedAt.Time
	}
	if existing(pa) && (old == nil || !existing(old) || old.Status.EndpointID != pa.Status.EndpointID ||
		old.Status.Endpoint != pa.Status.Endpoint || !old.Status.CreatedAt.Equal(pa.Status.CreatedAt)) {
		t.conns.NoteAccount(pa.ConnectionName(), pa.Spec.AccountUID, recordedOrigin(pa), created)
	}
	entitled.set(types.NamespacedName{Namespace: pa.Namespace, Name: pa.Name},
		existing(pa) && pa.Status.AccountStatus == partnerapi.StatusEntitled && !created.IsZero(), created)
	t.seenLocked(pa)
}

// existing reports whether pa owns or observes a remote account that existed at its
// last read.
func existing(pa *billingv1alpha1.PartnerAccount) bool {
	return (owns(pa) || observing(pa)) && pa.Status.AccountStatus != ""
}
