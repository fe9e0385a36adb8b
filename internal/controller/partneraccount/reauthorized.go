package partneraccount

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// What wakes the PartnerAccounts that wait for their connection: the connection's
// PartnerConnection changing, the registry setting the connection up anew, and its
// client accepting the partner token again.
// Only the resources whose reason waits for the connection (the reason table's
// RetryOnConnectionChange) are woken; the others keep to their schedule, so that a
// connection's change, its flapping or the operator's start costs no read.

// wakeWaiting is told, by the connection registry, that the accounts waiting for
// the connection conn ("" the default) may go on.
func (r *Reconciler) wakeWaiting(conn string) {
	ev := event.GenericEvent{Object: &billingv1alpha1.PartnerConnection{ObjectMeta: metav1.ObjectMeta{Name: conn}}}
	select {
	case r.wakeups <- ev:
	default: // wake-ups are pending; the PartnerConnection's own event, or the retry, follows
	}
}

// wakeupEvents queues the PartnerAccounts that wait for a connection the registry
// woke, behind user work: a recovery never delays an edit.
func (r *Reconciler) wakeupEvents() handler.EventHandler {
	return handler.Funcs{
		GenericFunc: func(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			for _, req := range r.waitingOnConnection(ctx, e.Object) {
				addAtReadBackPriority(q, req, 0, false)
			}
		},
	}
}

// waitingOnConnection maps a PartnerConnection ("" for the default connection) to
// the PartnerAccounts on it whose reason waits for the connection.
func (r *Reconciler) waitingOnConnection(ctx context.Context, o client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	for _, key := range r.tracker.withConnection(o.GetName()) {
		pa := &billingv1alpha1.PartnerAccount{}
		if err := r.Get(ctx, key, pa); err != nil {
			continue // gone since
		}
		if waitsForConnection(pa) {
			reqs = append(reqs, reconcile.Request{NamespacedName: key})
		}
	}
	return reqs
}

// waitsForConnection reports whether pa's Ready reason waits for its connection
// to change.
func waitsForConnection(pa *billingv1alpha1.PartnerAccount) bool {
	return billingv1alpha1.Reasons[readyReason(&pa.Status)].RetryOnConnectionChange
}
