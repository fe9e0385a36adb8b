package partneraccount

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

var _ = Describe("Recovery from Unauthorized", func() {
	It("queues the resources of that connection that wait for it behind user work, and no other", func() {
		ns := "reauthorized"
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		r := &Reconciler{Client: k8sClient, tracker: newAccountTracker(testRegistry())}
		for name, reason := range map[string]string{"waited": billingv1alpha1.ReasonUnauthorized,
			"ready": billingv1alpha1.ReasonAccountReady, "elsewhere": billingv1alpha1.ReasonUnauthorized,
			"deleted": billingv1alpha1.ReasonRemoteDeleted, "not-set-up": billingv1alpha1.ReasonConnectionNotReady} {
			pa := newAccount(ns, name, name)
			if name == "elsewhere" {
				pa.Spec.ConnectionRef = &billingv1alpha1.ConnectionReference{Name: "brand-b"}
			}
			Expect(k8sClient.Create(ctx, pa)).To(Succeed())
			setConditions(&pa.Status, pa.Generation, outcome{reason: reason, message: "m"})
			Expect(k8sClient.Status().Update(ctx, pa)).To(Succeed())
			r.tracker.OnAdd(pa, true)
		}
		q := priorityqueue.New[reconcile.Request]("reauthorized-test")
		DeferCleanup(q.ShutDown)
		q.AddWithOpts(priorityqueue.AddOpts{}, reconcile.Request{NamespacedName: keyOf(ns, "edited")})

		// The default connection's client accepts its token again.
		r.reauthorizedEvents().Generic(ctx, event.GenericEvent{Object: &billingv1alpha1.PartnerConnection{}}, q)

		first, priority, _ := q.GetWithPriority()
		Expect(first.Name).To(Equal("edited"), "a recovery went ahead of a user's edit")
		Expect(priority).To(BeZero())
		var recovered []reconcile.Request
		for q.Len() > 0 {
			req, priority, _ := q.GetWithPriority()
			Expect(priority).To(Equal(readBackPriority), "%s was queued ahead of background work", req)
			recovered = append(recovered, req)
		}
		Expect(recovered).To(ConsistOf(reconcile.Request{NamespacedName: keyOf(ns, "waited")},
			reconcile.Request{NamespacedName: keyOf(ns, "not-set-up")}),
			"only the default connection's resources that wait for it come back: not the Ready one, not the one "+
				"whose account is gone, not another connection's")
	})
})
