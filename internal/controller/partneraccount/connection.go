package partneraccount

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// setupGrace is how long after the controller starts a PartnerConnection that
// was Ready before may still be waiting for its client: the PartnerConnection
// controller sets it up within seconds, so its accounts wait for it without
// writing ConnectionNotReady.
const setupGrace = 2 * time.Minute

// settingUpRetry is how soon a resource whose connection is being set up again
// after a start is looked at again.
const settingUpRetry = time.Second

// useConnection finds the connection s's resource's account lives on and puts it
// in s. It reports false, with s's outcome saying why, when the resource may not
// use it: no PartnerConnection of that name, one whose namespaceSelector does not
// admit the resource's namespace, or one that cannot be used yet. Then no call is
// made. Just after a start, a connection that was Ready before and is being set
// up again ends the reconcile with no outcome, and so does one whose spec changed
// since it was set up: s says to look again shortly.
func (r *Reconciler) useConnection(ctx context.Context, s *scope) (bool, error) {
	pa := s.pa
	if pa.Spec.ConnectionRef == nil {
		s.conn = r.Connections.Default()
		return true, nil
	}
	name := pa.Spec.ConnectionRef.Name
	pc := &billingv1alpha1.PartnerConnection{}
	if err := r.Get(ctx, client.ObjectKey{Name: name}, pc); err != nil {
		if apierrors.IsNotFound(err) {
			s.conclude(connectionNotFoundOutcome(name))
			return false, nil
		}
		return false, fmt.Errorf("read PartnerConnection %s: %w", name, err)
	}
	if admitted, err := r.admits(ctx, pc, pa.Namespace); err != nil || !admitted {
		if err == nil {
			s.conclude(connectionNotAllowedOutcome(name, pa.Namespace))
		}
		return false, err
	}
	c := r.Connections.Get(name)
	switch {
	case c == nil && wasReady(pc) && time.Since(r.started) < setupGrace:
		s.lookAgain(settingUpRetry)
		return false, nil
	case c == nil:
		s.conclude(connectionNotReadyOutcome(name, "the operator has not set it up yet"))
		return false, nil
	case c.Generation() < pc.Generation:
		// Its spec changed (another URL, say) and the PartnerConnection controller
		// is setting it up anew: no call goes to the server it leaves.
		s.lookAgain(settingUpRetry)
		return false, nil
	case c.Unusable() != "":
		s.conclude(connectionNotReadyOutcome(name, c.Unusable()))
		return false, nil
	}
	s.conn = c
	return true, nil
}

// wasReady reports whether pc's status says it was Ready for its generation.
func wasReady(pc *billingv1alpha1.PartnerConnection) bool {
	ready := meta.FindStatusCondition(pc.Status.Conditions, billingv1alpha1.ConditionReady)
	return ready != nil && ready.Status == metav1.ConditionTrue && ready.ObservedGeneration == pc.Generation
}

// admits reports whether pc's namespaceSelector admits namespace.
func (r *Reconciler) admits(ctx context.Context, pc *billingv1alpha1.PartnerConnection, namespace string) (bool, error) {
	sel := pc.Spec.NamespaceSelector
	if sel == nil || len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0 {
		return true, nil
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, nil // admission refuses such a selector; none is admitted by it
	}
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		return false, fmt.Errorf("read Namespace %s: %w", namespace, err)
	}
	return selector.Matches(labels.Set(ns.Labels)), nil
}

// connectionNotFoundOutcome is the outcome of a resource naming a PartnerConnection
// that does not exist.
func connectionNotFoundOutcome(name string) outcome {
	return outcome{reason: billingv1alpha1.ReasonConnectionNotFound,
		message: fmt.Sprintf("PartnerConnection %q does not exist, so no call is made; create it, or fix "+
			"spec.connectionRef (it cannot change: delete and recreate this resource)", name)}
}

// connectionNotAllowedOutcome is the outcome of a resource in a namespace its
// PartnerConnection does not admit.
func connectionNotAllowedOutcome(name, namespace string) outcome {
	return outcome{reason: billingv1alpha1.ReasonConnectionNotAllowed,
		message: fmt.Sprintf("PartnerConnection %q does not admit namespace %q (its spec.namespaceSelector), so no call "+
			"is made; ask its owner to admit this namespace", name, namespace)}
}

// connectionNotReadyOutcome is the outcome of a resource whose PartnerConnection
// cannot be used yet, and why.
func connectionNotReadyOutcome(name, why string) outcome {
	return outcome{reason: billingv1alpha1.ReasonConnectionNotReady,
		message: fmt.Sprintf("PartnerConnection %q cannot be used, so no call is made: %s", name, why)}
}
