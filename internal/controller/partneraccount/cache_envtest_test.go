package partneraccount

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// The manager's cache holds PartnerAccounts trimmed to what the controller reads
// (internal/controller's ConfigureCache): these specs hold the trim to that.
var _ = Describe("PartnerAccounts trimmed in the cache", func() {
	It("cost a reconcile no write and no call beyond its own read, and keep on the server what the cache drops", func() {
		h := startHarness(harnessOptions{})
		pa := newAccount(h.ns(), "trimmed", "trimmed-1")
		pa.Labels = map[string]string{"team": "billing", "app.kubernetes.io/part-of": "customers"}
		pa.Annotations = map[string]string{
			"kubectl.kubernetes.io/last-applied-configuration": `{"apiVersion":"billing.partnerbilling.io/v1alpha1",` +
				`"kind":"PartnerAccount","spec":{"accountUID":"trimmed-1","domain":"` + strings.Repeat("x", 1000) + `"}}`,
			"argocd.argoproj.io/tracking-id":           "billing:billing.partnerbilling.io/PartnerAccount:" + h.ns() + "/trimmed",
			billingv1alpha1.ReadBackIntervalAnnotation: "1h",
		}
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))

		By("the cache holds the trimmed copy")
		cached := &billingv1alpha1.PartnerAccount{}
		Expect(h.reconciler.Get(ctx, client.ObjectKeyFromObject(pa), cached)).To(Succeed())
		Expect(cached.Labels).To(BeEmpty())
		Expect(cached.Annotations).To(Equal(map[string]string{billingv1alpha1.ReadBackIntervalAnnotation: "1h"}))

		By("a reconcile of it reads the account once and writes nothing")
		settled := get(pa)(Default)
		Consistently(func(g Gomega) string { return get(pa)(g).ResourceVersion }).WithTimeout(time.Second).
			Should(Equal(settled.ResourceVersion))
		h.sim.ResetCounts()
		_, err := h.reconciler.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pa)})
		Expect(err).NotTo(HaveOccurred())
		Expect(h.sim.Requests()).To(Equal(map[string]int{"get 200": 1}))
		Consistently(func(g Gomega) string { return get(pa)(g).ResourceVersion }).WithTimeout(2*time.Second).
			Should(Equal(settled.ResourceVersion), "a reconcile of the trimmed copy wrote")

		By("the server keeps every label and annotation through the controller's writes")
		now := get(pa)(Default)
		Expect(now.Labels).To(Equal(pa.Labels))
		Expect(now.Annotations).To(Equal(pa.Annotations))
		Expect(now.Finalizers).To(ContainElement(billingv1alpha1.Finalizer))
	})
})
