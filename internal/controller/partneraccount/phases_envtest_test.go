package partneraccount

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

var _ = Describe("PartnerAccount remote states", func() {
	var h *harness
	var pa *billingv1alpha1.PartnerAccount
	readyAccount := func(uid string) {
		GinkgoHelper()
		pa = newAccount(h.ns(), "acct", uid)
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
	}
	BeforeEach(func() {
		h = startHarness(harnessOptions{resync: time.Second})
	})

	It("does not re-create an account deleted out of band, and says so", func() {
		readyAccount("oob-1")
		Expect(h.sim.DeleteOutOfBand("oob-1")).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonRemoteDeleted))
		got := get(pa)(Default)
		Expect(readyMessage(got)).To(ContainSubstring("delete this PartnerAccount"))
		Expect(got.Status.ActivationToken).To(BeEmpty())
		Consistently(func() int { return h.requests("create 201") }).WithTimeout(3 * time.Second).Should(Equal(1))
		Eventually(eventReasons(pa)).Should(ContainElement(billingv1alpha1.ReasonRemoteDeleted))

		By("deleting it lets it go: the account is already gone")
		Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
		Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
	})

	It("reports a suspended account, and picks up the lift on a resync", func() {
		readyAccount("susp-1")
		Expect(h.sim.Suspend("susp-1")).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonAccountSuspended))
		Expect(get(pa)(Default).Status.AccountStatus).To(Equal("suspended"))
		Expect(h.sim.Unsuspend("susp-1")).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
	})

	It("is Ready with reason Ended once the end date passes", func() {
		pa = newAccount(h.ns(), "acct", "ends-1")
		endsAt := metav1.NewTime(time.Now().Add(3 * time.Second).Truncate(time.Second))
		pa.Spec.EndsAt = &endsAt
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonEnded))
		Expect(get(pa)(Default).Status.AccountStatus).To(Equal("deprovisioned"))
		Expect(h.requests("update 200")).To(BeZero())
	})

	It("makes no calls while suspended, and leaves the account when deleted", func() {
		readyAccount("hands-off-1")
		patchSpec(pa, func(p *billingv1alpha1.PartnerAccount) { p.Spec.Suspend = true })
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionUnknown, billingv1alpha1.ReasonReconcileSuspended))
		calls := h.totalRequests()
		endsAt := metav1.NewTime(time.Now().Add(time.Hour).Truncate(time.Second))
		patchSpec(pa, func(p *billingv1alpha1.PartnerAccount) { p.Spec.EndsAt = &endsAt })
		Consistently(h.totalRequests).WithTimeout(3 * time.Second).Should(Equal(calls))

		Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
		Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
		Expect(h.totalRequests()).To(Equal(calls))
		Expect(h.remote("hands-off-1").Deleted).To(BeFalse())
		Expect(eventReasons(pa)(Default)).To(ContainElement(billingv1alpha1.EventOrphaned))
	})

	It("keeps the finalizer and says why when the remote delete fails", func() {
		readyAccount("stuck-1")
		Expect(h.sim.SetFaults(simulator.Faults{ErrorRate: 1})).To(Succeed())
		Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonAPIUnavailable))
		got := get(pa)(Default)
		Expect(got.DeletionTimestamp).NotTo(BeNil())
		Expect(got.Finalizers).To(ContainElement(billingv1alpha1.Finalizer))
		Expect(readyMessage(got)).To(ContainSubstring("Deleting the remote account failed"))

		Expect(h.sim.SetFaults(simulator.Faults{})).To(Succeed())
		Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
		Expect(h.remote("stuck-1").Deleted).To(BeTrue())
	})
})
