package controller

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
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

// readBacks plans the background read-backs of settled accounts. They may use at
// most rate calls per second, half of the API rate limit, so that user work always
// has the other half: each read-back gets a slot of its own on a calendar with one
// slot per 1/rate seconds, and the read-back period grows with the number of
// accounts to max(resync, accounts ÷ rate).
type readBacks struct {
	resync time.Duration
	// slot is the calendar's granularity, 1/rate; zero when read-backs are not limited.
	slot time.Duration
	log  logr.Logger

	accounts atomic.Int64

	mu sync.Mutex
	// next holds the taken slots: next[k] is a slot after k that may be free (a
	// union-find with path compression, so that finding a free slot is cheap even
	// when thousands are taken in a row).
	next       map[int64]int64
	sweptBelow int64
	lastPeriod time.Duration
}

// newReadBacks plans read-backs every resync, at most rate per second (0 or +Inf:
// no limit).
func newReadBacks(resync time.Duration, rate float64, log logr.Logger) *readBacks {
	rb := &readBacks{resync: resync, log: log, next: map[int64]int64{}}
	if rate > 0 && !math.IsInf(rate, 1) {
		rb.slot = time.Duration(float64(time.Second) / rate)
	}
	return rb
}

// accountsChanged records that there are n accounts.
func (rb *readBacks) accountsChanged(n int64) {
	rb.accounts.Store(n)
	p := rb.period()
	readBackPeriod.Set(p.Seconds())
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if rb.lastPeriod == 0 || p > rb.lastPeriod*11/10 || p < rb.lastPeriod*9/10 {
		rb.log.Info("Read-back period", "period", p.String(), "accounts", n, "resyncPeriod", rb.resync.String())
		rb.lastPeriod = p
	}
}

// period is the effective read-back period: --resync-period, or longer when
// reading every account back within it would take more than the read-back rate.
func (rb *readBacks) period() time.Duration {
	return effectivePeriod(rb.resync, rb.slot, rb.accounts.Load())
}

// effectivePeriod is max(resync, accounts × slot): every account read once per
// period at one read per slot.
func effectivePeriod(resync, slot time.Duration, accounts int64) time.Duration {
	if slot <= 0 || accounts <= 0 || int64(resync/slot) >= accounts {
		return resync
	}
	return time.Duration(accounts) * slot
}

// after returns how long until the read-back of an account read now: one period,
// ±20%, moved on to the first free slot.
func (rb *readBacks) after(now time.Time) time.Duration {
	return rb.reserve(now, now.Add(jitter(rb.period(), 0.2)))
}

// afterRestart returns how long until the first read-back of a settled account
// found at start, whose Ready condition last changed at lastChange: a period after
// that change when that is yet to come, else a random time within one period, so
// that a restart reads nothing at once and then nothing all together.
func (rb *readBacks) afterRestart(now, lastChange time.Time) time.Duration {
	return rb.reserve(now, firstReadBack(now, lastChange, rb.period(), rand.Float64()))
}

// firstReadBack is when to read back, first after a restart, an account whose
// Ready condition changed at lastChange; u is uniform in [0, 1).
func firstReadBack(now, lastChange time.Time, period time.Duration, u float64) time.Time {
	due := lastChange.Add(time.Duration(float64(period) * (0.8 + 0.4*u)))
	if due.After(now) {
		return due
	}
	return now.Add(time.Duration(float64(period) * u))
}

// reserve takes the first free slot at or after want and returns how long from now
// until it.
func (rb *readBacks) reserve(now, want time.Time) time.Duration {
	if rb.slot <= 0 {
		return max(want.Sub(now), 0)
	}
	k := max(want.UnixNano(), now.UnixNano()) / int64(rb.slot)
	rb.mu.Lock()
	k = rb.take(k)
	rb.sweep(now.UnixNano() / int64(rb.slot))
	rb.mu.Unlock()
	return max(time.Unix(0, k*int64(rb.slot)).Sub(now), 0)
}

// take marks the first free slot at or after k as taken and returns it.
func (rb *readBacks) take(k int64) int64 {
	free := k
	for {
		n, taken := rb.next[free]
		if !taken {
			break
		}
		free = n
	}
	for k != free { // path compression
		n := rb.next[k]
		rb.next[k] = free + 1
		k = n
	}
	rb.next[free] = free + 1
	return free
}

// sweep forgets slots in the past, now and then.
func (rb *readBacks) sweep(current int64) {
	if len(rb.next) < 1024 || current-rb.sweptBelow < int64(time.Minute/rb.slot) {
		return
	}
	for k := range rb.next {
		if k < current {
			delete(rb.next, k)
		}
	}
	rb.sweptBelow = current
}

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

// lastReadyChange is when pa's Ready condition last changed.
func lastReadyChange(pa *billingv1alpha1.PartnerAccount) time.Time {
	if c := meta.FindStatusCondition(pa.Status.Conditions, billingv1alpha1.ConditionReady); c != nil {
		return c.LastTransitionTime.Time
	}
	return time.Time{}
}

// scheduleSettledAtStart is the event handler that puts each settled account found
// at start on the read-back calendar, at low priority, instead of reconciling it.
func (r *PartnerAccountReconciler) scheduleSettledAtStart() handler.EventHandler {
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			pa, ok := e.Object.(*billingv1alpha1.PartnerAccount)
			if !ok || !e.IsInInitialList || !settled(pa, r.Options.NoTokenInStatus) {
				return
			}
			after := r.readBacks.afterRestart(r.Options.Now(), lastReadyChange(pa))
			addAtReadBackPriority(q, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(pa)}, after)
		},
	}
}

// addAtReadBackPriority queues req after the delay, behind everything a user did.
func addAtReadBackPriority(q workqueue.TypedRateLimitingInterface[reconcile.Request], req reconcile.Request,
	after time.Duration) {
	if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok {
		pq.AddWithOpts(priorityqueue.AddOpts{After: after, Priority: new(readBackPriority)}, req)
		return
	}
	q.AddAfter(req, after)
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
