package partneraccount

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

var _ = Describe("Two contracts, one UID", func() {
	for _, dialect := range []simulator.Dialect{simulator.DialectContract, simulator.DialectPublished} {
		It("keeps one account on each connection under the same accountUID, against the "+string(dialect)+" dialect", func() {
			h := startHarness(harnessOptions{connections: true, dialect: dialect, namespaces: 2})
			testServer := startPartnerServer("test-token", dialect)
			pc := h.createConnection(testServer.url, "test-token")
			test := createAccount(onConnection(newAccount(h.namespaces[0], "customer", "shared-1"), pc))
			prod := createAccount(newAccount(h.namespaces[1], "customer", "shared-1"))
			for _, pa := range []*billingv1alpha1.PartnerAccount{test, prod} {
				Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
					Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
			}
			Expect(testServer.accountUIDs()).To(ConsistOf("shared-1"))
			Expect(h.remote("shared-1").Deleted).To(BeFalse())
			prodToken := get(prod)(Default).Status.ActivationToken

			By("the older one observed, then managed again: neither takes the other's account")
			patchSpec(test, func(p *billingv1alpha1.PartnerAccount) {
				p.Spec.ManagementPolicy = billingv1alpha1.ManagementPolicyObserve
			})
			Eventually(get(test)).WithTimeout(waitReady).WithPolling(poll).
				Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountObserved))
			patchSpec(test, func(p *billingv1alpha1.PartnerAccount) {
				p.Spec.ManagementPolicy = billingv1alpha1.ManagementPolicyManage
			})
			requestReconcile(prod, "peer-changed")
			for _, pa := range []*billingv1alpha1.PartnerAccount{test, prod} {
				Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
					Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
			}
			got := get(prod)(Default)
			Expect(got.Status.ActivationToken).To(Equal(prodToken))
			Expect(got.Finalizers).To(ContainElement(billingv1alpha1.Finalizer))
			Expect(eventReasons(prod)(Default)).NotTo(ContainElement(billingv1alpha1.ReasonDuplicateAccountUID))
			Expect(eventReasons(test)(Default)).NotTo(ContainElement(billingv1alpha1.ReasonDuplicateAccountUID))
		})
	}

	It("still takes an observed peer that holds the account as its holder", func() {
		h := startHarness(harnessOptions{namespaces: 2})
		older := newAccount(h.namespaces[0], "older", "held-1")
		Expect(k8sClient.Create(ctx, older)).To(Succeed())
		Eventually(get(older)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		patchSpec(older, func(p *billingv1alpha1.PartnerAccount) {
			p.Spec.ManagementPolicy = billingv1alpha1.ManagementPolicyObserve
		})
		Eventually(get(older)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountObserved))

		newer := newAccount(h.namespaces[1], "newer", "held-1")
		newer.Spec.AdoptExisting = true
		Expect(k8sClient.Create(ctx, newer)).To(Succeed())
		Eventually(get(newer)).WithTimeout(waitReady).WithPolling(poll).
			Should(isStalledWith(billingv1alpha1.ReasonDuplicateAccountUID))
		Expect(get(newer)(Default).Status.ActivationToken).To(BeEmpty())
	})
})
