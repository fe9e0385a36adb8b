package partneraccount

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
		r.wakeupEvents().Generic(ctx, event.GenericEvent{Object: &billingv1alpha1.PartnerConnection{}}, q)

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

var _ = Describe("A connection's changes", func() {
	It("cost no read of its settled accounts: a token swapped and restored, a rate limit edited, a restart", func() {
		const n = 300
		h := startHarness(harnessOptions{connections: true, verifyPeriod: time.Hour})
		server := startPartnerServer("flap-token")
		pc := h.createConnection(server.url, "flap-token", func(p *billingv1alpha1.PartnerConnection) {
			p.Spec.RateLimit = &billingv1alpha1.RateLimit{RPS: 1000, Burst: 1000}
		})
		for i := range n {
			name := fmt.Sprintf("flap-%03d", i)
			Expect(k8sClient.Create(ctx, onConnection(newAccount(h.ns(), name, name), pc))).To(Succeed())
		}
		Eventually(func(g Gomega) int {
			var list billingv1alpha1.PartnerAccountList
			g.Expect(k8sClient.List(ctx, &list, client.InNamespace(h.ns()))).To(Succeed())
			ready := 0
			for i := range list.Items {
				if readyOf(&list.Items[i]) == "True/"+billingv1alpha1.ReasonAccountReady {
					ready++
				}
			}
			return ready
		}).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Equal(n))
		DeferCleanup(func() { releaseAll(h.ns()) })

		// reads counts the GETs of accounts the server saw after seen requests.
		reads := func(since int) int {
			all := server.seen()
			n := 0
			for _, r := range all[since:] {
				if r.Method == http.MethodGet && strings.Contains(r.Path, "/partners/accounts/flap-") {
					n++
				}
			}
			return n
		}
		within := func(what string, change func()) {
			By(what)
			since := len(server.seen())
			change()
			time.Sleep(10 * time.Second)
			got := reads(since)
			GinkgoWriter.Printf("%s: %d reads of %d settled accounts in the 10 s after\n", what, got, n)
			Expect(got).To(BeNumerically("<=", n/10), "%s read the accounts", what)
		}

		within("swapping the token to a wrong one and back", func() {
			swapToken(h, pc, "a-wrong-token")
			Eventually(func(g Gomega) string { return connectionReady(getConnection(pc)(g)) }).
				WithTimeout(waitReady).WithPolling(poll).Should(Equal("False/" + billingv1alpha1.ReasonConnectionUnauthorized))
			swapToken(h, pc, "flap-token")
			Eventually(func(g Gomega) string { return connectionReady(getConnection(pc)(g)) }).
				WithTimeout(waitReady).WithPolling(poll).Should(HavePrefix("True/"))
		})
		within("editing its rate limit", func() {
			movePC(pc, func(p *billingv1alpha1.PartnerConnection) { p.Spec.RateLimit.RPS = 500 })
			Eventually(func(g Gomega) string { return connectionReady(getConnection(pc)(g)) }).
				WithTimeout(waitReady).WithPolling(poll).Should(HavePrefix("True/"))
		})
		within("restarting the operator", h.restartController)
	})
})

// releaseAll takes the finalizer off every PartnerAccount of namespace and deletes
// them, leaving their remote accounts.
func releaseAll(namespace string) {
	GinkgoHelper()
	var list billingv1alpha1.PartnerAccountList
	Expect(k8sClient.List(ctx, &list, client.InNamespace(namespace))).To(Succeed())
	for i := range list.Items {
		pa := &list.Items[i]
		base := pa.DeepCopy()
		pa.Finalizers = nil
		Expect(client.IgnoreNotFound(k8sClient.Patch(ctx, pa, client.MergeFrom(base)))).To(Succeed())
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, pa))).To(Succeed())
	}
}
