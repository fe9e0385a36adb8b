package controller

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
	It("queues the resources that waited as Unauthorized behind user work", func() {
		ns := "reauthorized"
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		for name, reason := range map[string]string{"waited": billingv1alpha1.ReasonUnauthorized, "ready": billingv1alpha1.ReasonAccountReady} {
			pa := newAccount(ns, name, name)
			Expect(k8sClient.Create(ctx, pa)).To(Succeed())
			setConditions(&pa.Status, pa.Generation, outcome{reason: reason, message: "m"})
			Expect(k8sClient.Status().Update(ctx, pa)).To(Succeed())
		}
		r := &PartnerAccountReconciler{Client: k8sClient}
		q := priorityqueue.New[reconcile.Request]("reauthorized-test")
		DeferCleanup(q.ShutDown)
		q.AddWithOpts(priorityqueue.AddOpts{}, reconcile.Request{NamespacedName: keyOf(ns, "edited")})

		r.reauthorizedEvents().Generic(ctx, event.GenericEvent{Object: &billingv1alpha1.PartnerAccount{}}, q)

		first, priority, _ := q.GetWithPriority()
		Expect(first.Name).To(Equal("edited"), "a recovery went ahead of a user's edit")
		Expect(priority).To(BeZero())
		// Other specs' namespaces may hold resources waiting as Unauthorized too.
		var recovered []reconcile.Request
		for q.Len() > 0 {
			req, priority, _ := q.GetWithPriority()
			Expect(priority).To(Equal(readBackPriority), "%s was queued ahead of background work", req)
			recovered = append(recovered, req)
		}
		Expect(recovered).To(ContainElement(reconcile.Request{NamespacedName: keyOf(ns, "waited")}))
		Expect(recovered).NotTo(ContainElement(reconcile.Request{NamespacedName: keyOf(ns, "ready")}))
	})
})
