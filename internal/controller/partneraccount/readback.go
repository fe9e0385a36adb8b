package partneraccount

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// readBackPriority is the work queue priority of background read-backs: below
// everything a user did (new resources, spec changes, deletions, requested
// reconciles), which the queue serves first.
const readBackPriority = -100

// hotReadBackPriority is the priority of the read-back of an account likely to
// change soon (a young entitled one): still below user work.
const hotReadBackPriority = -50

// settled reports whether a PartnerAccount needs nothing but its periodic
// read-back: its status describes its generation, it is Ready, its finalizer is
// on, no reconcile is requested, and its token is where the settings put it.
func settled(pa *billingv1alpha1.PartnerAccount, noTokenInStatus bool) bool {
	ready := meta.FindStatusCondition(pa.Status.Conditions, billingv1alpha1.ConditionReady)
	return pa.DeletionTimestamp.IsZero() && !pa.Spec.Suspend &&
		pa.Status.ObservedGeneration == pa.Generation &&
		ready != nil && ready.Status == metav1.ConditionTrue &&
		reconcileRequest(pa) == "" &&
		(observing(pa) && !controllerutil.ContainsFinalizer(pa, billingv1alpha1.Finalizer) ||
			owns(pa) && controllerutil.ContainsFinalizer(pa, billingv1alpha1.Finalizer) && tokenPlaced(pa, noTokenInStatus))
}

// tokenPlaced reports whether pa's activation token is where it belongs: in the
// Secret the settings name, or in status.
func tokenPlaced(pa *billingv1alpha1.PartnerAccount, noTokenInStatus bool) bool {
	want := tokenSecretName(pa, noTokenInStatus)
	if want != "" {
		return pa.Status.ActivationTokenSecretName == want && pa.Status.ActivationToken == ""
	}
	return pa.Status.ActivationTokenSecretName == ""
}

// scheduleSettledAtStart is the event handler that puts each settled account found
// at start on the read-back calendar, at low priority, instead of reconciling it.
func (r *Reconciler) scheduleSettledAtStart() handler.EventHandler {
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			pa, ok := e.Object.(*billingv1alpha1.PartnerAccount)
			if !ok || !e.IsInInitialList || !settled(pa, r.Options.NoTokenInStatus) {
				return
			}
			now := r.Options.Now()
			conn := r.Connections.Get(pa.ConnectionName())
			if conn == nil {
				// A connection not set up yet: the account is read once it is.
				conn = r.Connections.Default()
			}
			plan, never := r.readBackPlan(pa, conn, now)
			if never {
				return
			}
			key := client.ObjectKeyFromObject(pa)
			after := conn.ReadBacks.AfterRestart(now, plan)
			r.readBacksDue.expect(key, now.Add(after))
			addAtReadBackPriority(q, reconcile.Request{NamespacedName: key}, after, plan.Hot)
		},
	}
}

// addAtReadBackPriority queues req after the delay, behind everything a user did;
// a hot read-back goes before the others.
func addAtReadBackPriority(q workqueue.TypedRateLimitingInterface[reconcile.Request], req reconcile.Request,
	after time.Duration, hot bool) {
	if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok {
		pq.AddWithOpts(priorityqueue.AddOpts{After: after, Priority: new(readBackPriorityOf(hot))}, req)
		return
	}
	q.AddAfter(req, after)
}

// readBackPriorityOf is the queue priority of a read-back: below user work, a hot
// one above the others.
func readBackPriorityOf(hot bool) int {
	if hot {
		return hotReadBackPriority
	}
	return readBackPriority
}

// notSettledAtStart passes every event but the creation, at start, of a settled
// account: scheduleSettledAtStart takes those.
func notSettledAtStart(noTokenInStatus bool) predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool {
			pa, ok := e.Object.(*billingv1alpha1.PartnerAccount)
			return !ok || !e.IsInInitialList || !settled(pa, noTokenInStatus)
		},
	}
}

// paceReadBack holds back a background read-back that would go over its
// connection's read-back budget. When pa waits for nothing but the read-back the
// schedule queued, and that is due, the connection's calendar admits it now or
// gives it a later slot: then the reconcile ends there, with no call and no write.
// A reconcile an event asked for is not paced.
func (r *Reconciler) paceReadBack(pa *billingv1alpha1.PartnerAccount) (later ctrl.Result, paced bool) {
	key := client.ObjectKeyFromObject(pa)
	now := r.Options.Now()
	if !r.readBacksDue.take(key, now) || !settled(pa, r.Options.NoTokenInStatus) {
		return ctrl.Result{}, false
	}
	conn := r.Connections.Get(pa.ConnectionName())
	if conn == nil {
		return ctrl.Result{}, false
	}
	plan, _ := r.readBackPlan(pa, conn, now)
	wait, ok := conn.ReadBacks.Admit(now, plan.Hot)
	if ok {
		return ctrl.Result{}, false
	}
	r.readBacksDue.expect(key, now.Add(wait))
	return ctrl.Result{RequeueAfter: wait, Priority: new(readBackPriorityOf(plan.Hot))}, true
}

// dueEarly is how long before its due time a reconcile still counts as the
// scheduled read-back: the work queue may hand an item over a little early.
const dueEarly = 100 * time.Millisecond

// dueReadBacks remembers when each PartnerAccount's scheduled read-back is due, so
// that a reconcile can tell the read-back the schedule queued from one an event
// asked for. An entry goes at the account's next reconcile, or when it is gone.
// It holds one for nearly every account, so an entry is two words: a 64-bit hash
// of the key (two keys sharing one would only share their pacing) and the due time
// in Unix nanoseconds. The zero value is ready to use.
type dueReadBacks struct {
	mu  sync.Mutex
	due map[uint64]int64
}

// keyHash is the FNV-1a hash of key.
func keyHash(key types.NamespacedName) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key.Namespace))
	_, _ = h.Write([]byte{'/'})
	_, _ = h.Write([]byte(key.Name))
	return h.Sum64()
}

// expect records that key's read-back is queued for at.
func (d *dueReadBacks) expect(key types.NamespacedName, at time.Time) {
	d.mu.Lock()
	if d.due == nil {
		d.due = map[uint64]int64{}
	}
	d.due[keyHash(key)] = at.UnixNano()
	d.mu.Unlock()
}

// take reports whether key's scheduled read-back is due at now, and forgets it.
func (d *dueReadBacks) take(key types.NamespacedName, now time.Time) bool {
	h := keyHash(key)
	d.mu.Lock()
	defer d.mu.Unlock()
	at, ok := d.due[h]
	delete(d.due, h)
	return ok && now.Add(dueEarly).UnixNano() >= at
}

// forget drops key, a PartnerAccount that is gone.
func (d *dueReadBacks) forget(key types.NamespacedName) {
	h := keyHash(key)
	d.mu.Lock()
	delete(d.due, h)
	d.mu.Unlock()
}
