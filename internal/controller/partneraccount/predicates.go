package partneraccount

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// needsWork passes the changes to a PartnerAccount that call for a reconcile: a new
// generation (a spec change, or deletion), a finalizer removed from a live resource
// (by hand, or by a client that replaced the whole object), a new value of the
// reconcile-requested-at annotation, and a changed read-back-interval. The controller's own status and finalizer
// writes pass none of them, so they never wake it up.
func needsWork() predicate.Predicate {
	return predicate.Or(
		predicate.GenerationChangedPredicate{},
		predicate.Funcs{
			CreateFunc:  func(event.CreateEvent) bool { return false },
			DeleteFunc:  func(event.DeleteEvent) bool { return false },
			GenericFunc: func(event.GenericEvent) bool { return false },
			UpdateFunc: func(e event.UpdateEvent) bool {
				return finalizerRemoved(e.ObjectOld, e.ObjectNew) || reconcileRequested(e.ObjectOld, e.ObjectNew) ||
					readBackIntervalChanged(e.ObjectOld, e.ObjectNew)
			},
		},
	)
}

// finalizerRemoved reports whether an update took the finalizer off a resource
// that is not being deleted.
func finalizerRemoved(old, cur client.Object) bool {
	return cur.GetDeletionTimestamp().IsZero() &&
		controllerutil.ContainsFinalizer(old, billingv1alpha1.Finalizer) &&
		!controllerutil.ContainsFinalizer(cur, billingv1alpha1.Finalizer)
}

// readBackIntervalChanged reports whether an update changed the read-back-interval
// annotation, so that the new interval applies from now rather than after the
// read-back already planned.
func readBackIntervalChanged(old, cur client.Object) bool {
	return old.GetAnnotations()[billingv1alpha1.ReadBackIntervalAnnotation] !=
		cur.GetAnnotations()[billingv1alpha1.ReadBackIntervalAnnotation]
}

// reconcileRequested reports whether an update set the reconcile-requested-at
// annotation to a new, non-empty value.
func reconcileRequested(old, cur client.Object) bool {
	v := cur.GetAnnotations()[billingv1alpha1.ReconcileRequestedAtAnnotation]
	return v != "" && v != old.GetAnnotations()[billingv1alpha1.ReconcileRequestedAtAnnotation]
}

// tokenSecretTampered passes the changes to a token Secret that the controller did
// not make: its deletion, or a change to its data or labels. Its creation, always
// the controller's own, passes nothing, so writing a Secret costs no reconcile.
func tokenSecretTampered() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			old, okOld := e.ObjectOld.(*corev1.Secret)
			cur, okNew := e.ObjectNew.(*corev1.Secret)
			return !okOld || !okNew || !equality.Semantic.DeepEqual(old.Data, cur.Data) ||
				!hasLabels(cur.Labels, old.Labels)
		},
	}
}

// connectionChanged passes a PartnerConnection's creation and deletion, a new
// generation, and a change of its Ready status: what may let its accounts go on,
// or stop them.
func connectionChanged() predicate.Predicate {
	return predicate.Funcs{
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			old, okOld := e.ObjectOld.(*billingv1alpha1.PartnerConnection)
			cur, ok := e.ObjectNew.(*billingv1alpha1.PartnerConnection)
			return !ok || !okOld || old.Generation != cur.Generation ||
				meta.IsStatusConditionTrue(old.Status.Conditions, billingv1alpha1.ConditionReady) !=
					meta.IsStatusConditionTrue(cur.Status.Conditions, billingv1alpha1.ConditionReady)
		},
	}
}
