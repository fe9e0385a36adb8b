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
// they were last answered (the evidence of where accounts live). The index by
// accountUID is a map from each to the one PartnerAccount that nearly always alone
// declares it, beside a map of the rare others, rather than a cache field index,
// which would keep a set per account twice over (across namespaces and per
// namespace). Its keys share their strings with the cached objects.
type accountTracker struct {
	// conns is told how many accounts use each connection, and which are known to
	// exist.
	conns *connection.Registry
	// onGone is called with the UID of each PartnerAccount that leaves the cache.
	onGone func(types.UID)

	mu sync.Mutex
	// byUID holds, for each accountUID on each connection, the first
	// PartnerAccount that declares it, and moreByUID the others, in the order
	// the cache showed them.
	byUID     map[accountKey]types.NamespacedName
	moreByUID map[accountKey][]types.NamespacedName
	byConn    map[string][]types.NamespacedName
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
	return &accountTracker{conns: conns, onGone: func(types.UID) {}, byUID: map[accountKey]types.NamespacedName{},
		moreByUID: map[accountKey][]types.NamespacedName{}, byConn: map[string][]types.NamespacedName{},
		written: map[types.NamespacedName]pendingWrite{}, seen: map[types.NamespacedName][recentVersions]string{},
		warned: map[types.NamespacedName]string{}}
}

// accountKey is an accountUID on a connection ("" the default).
type accountKey struct{ conn, uid string }

// keyOfAccount is the accountKey pa declares.
func keyOfAccount(pa *billingv1alpha1.PartnerAccount) accountKey {
	return accountKey{conn: pa.ConnectionName(), uid: pa.Spec.AccountUID}
}

// indexLocked adds key as a PartnerAccount that declares k.
func (t *accountTracker) indexLocked(k accountKey, key types.NamespacedName) {
	if _, taken := t.byUID[k]; taken {
		t.moreByUID[k] = append(t.moreByUID[k], key)
		return
	}
	t.byUID[k] = key
}

// unindexLocked removes key from the PartnerAccounts that declare k.
func (t *accountTracker) unindexLocked(k accountKey, key types.NamespacedName) {
	more := slices.DeleteFunc(t.moreByUID[k], func(m types.NamespacedName) bool { return m == key })
	if first, ok := t.byUID[k]; ok && first == key {
		delete(t.byUID, k)
		if len(more) > 0 {
			t.byUID[k], more = more[0], more[1:]
		}
	}
	if len(more) == 0 {
		delete(t.moreByUID, k)
	} else {
		t.moreByUID[k] = more
	}
}

// synced reports whether the tracker has seen every account the cache listed at start.
func (t *accountTracker) synced() bool {
	return t.registration != nil && t.registration.HasSynced()
}

// withAccountUID returns the PartnerAccounts that declare uid on the connection
// conn ("" the default).
func (t *accountTracker) withAccountUID(conn, uid string) []types.NamespacedName {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := accountKey{conn: conn, uid: uid}
	first, ok := t.byUID[k]
	if !ok {
		return nil
	}
	return append([]types.NamespacedName{first}, t.moreByUID[k]...)
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
	conn := pa.ConnectionName()
	t.indexLocked(keyOfAccount(pa), key)
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
	conn := pa.ConnectionName()
	t.unindexLocked(keyOfAccount(pa), key)
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
