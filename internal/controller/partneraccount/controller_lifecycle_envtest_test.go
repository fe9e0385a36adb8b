package partneraccount

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

var _ = Describe("PartnerAccount controller", func() {
	for _, dialect := range []simulator.Dialect{simulator.DialectContract, simulator.DialectPublished} {
		Context("against a server speaking the "+string(dialect)+" dialect", func() {
			It("takes one account through its whole life", func() {
				h := startHarness(harnessOptions{dialect: dialect, resync: 2 * time.Second})
				pa := newAccount(h.ns(), "alice", "life-1")
				pa.Spec.AccountType = billingv1alpha1.AccountTypeFamily
				Expect(k8sClient.Create(ctx, pa)).To(Succeed())

				By("creating it: Ready, with the remote token and its redemption link")
				Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
					Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
				remote := h.remote("life-1")
				Expect(remote.Type).To(Equal("F"))
				got := get(pa)(Default)
				Expect(got.Status.AccountStatus).To(Equal("entitled"))
				Expect(got.Status.ActivationToken).To(Equal(remote.ActivationToken))
				Expect(got.Status.RedemptionURL).To(Equal(
					"https://start.b5test.com/partnership/redeem?c=" + remote.ActivationToken + "&t=F"))
				Expect(got.Status.AccountUID).To(Equal("life-1"))
				Expect(got.Status.CreatedAt).NotTo(BeNil())
				Expect(got.Finalizers).To(ContainElement(billingv1alpha1.Finalizer))
				Expect(h.requests("create 201")).To(Equal(1))
				Eventually(eventReasons(pa)).Should(ContainElement(billingv1alpha1.EventCreated))

				By("changing endsAt: exactly one PATCH")
				endsAt := metav1.NewTime(time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second))
				patchSpec(pa, func(p *billingv1alpha1.PartnerAccount) { p.Spec.EndsAt = &endsAt })
				Eventually(func(g Gomega) {
					p := get(pa)(g)
					g.Expect(p).To(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
					g.Expect(p.Status.EndsAt).NotTo(BeNil())
					g.Expect(p.Status.EndsAt.Time).To(BeTemporally("==", endsAt.Time))
				}).WithTimeout(waitReady).WithPolling(poll).Should(Succeed())
				Expect(h.remote("life-1").EndsAt).To(HaveValue(BeTemporally("==", endsAt.Time)))
				// Resyncs come and go (every 2s here) without a second PATCH.
				Consistently(func() int { return h.requests("update 200") }).
					WithTimeout(5 * time.Second).Should(Equal(1))
				Expect(h.requests("get 200")).To(BeNumerically(">=", 1), "no resync happened")
				Eventually(eventReasons(pa)).Should(ContainElement(billingv1alpha1.EventUpdated))

				By("removing endsAt: cleared remotely")
				patchSpec(pa, func(p *billingv1alpha1.PartnerAccount) { p.Spec.EndsAt = nil })
				Eventually(func() *time.Time { return h.remote("life-1").EndsAt }).
					WithTimeout(waitReady).WithPolling(poll).Should(BeNil())
				Eventually(func(g Gomega) *metav1.Time { return get(pa)(g).Status.EndsAt }).
					WithTimeout(waitReady).WithPolling(poll).Should(BeNil())
				Expect(h.requests("update 200")).To(Equal(2))

				By("redeeming it: provisioned after a resync")
				Expect(h.sim.Redeem("life-1")).To(Succeed())
				Eventually(func(g Gomega) string { return get(pa)(g).Status.AccountStatus }).
					WithTimeout(waitReady).WithPolling(poll).Should(Equal("provisioned"))

				By("deleting it: the remote account is deactivated and the finalizer goes")
				Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
				Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
				Expect(h.remote("life-1").Deleted).To(BeTrue())
				Expect(h.requests("delete 204")).To(Equal(1))
			})

			It("keeps the remote account when the policy is Orphan", func() {
				h := startHarness(harnessOptions{dialect: dialect})
				pa := newAccount(h.ns(), "bob", "orphan-1")
				pa.Spec.DeletionPolicy = billingv1alpha1.DeletionPolicyOrphan
				Expect(k8sClient.Create(ctx, pa)).To(Succeed())
				Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
					Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))

				Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
				Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
				Expect(h.remote("orphan-1").Deleted).To(BeFalse())
				Expect(h.requests("delete 204")).To(BeZero())
			})

			It("recovers a create whose response was lost, without creating twice", func() {
				h := startHarness(harnessOptions{dialect: dialect})
				Expect(h.sim.SetFaults(simulator.Faults{DropRate: 1})).To(Succeed())
				pa := newAccount(h.ns(), "carol", "lost-1")
				Expect(k8sClient.Create(ctx, pa)).To(Succeed())

				By("the first create is committed, its answer dropped")
				Eventually(func() bool { _, ok := h.sim.Account("lost-1"); return ok }).
					WithTimeout(waitReady).WithPolling(10 * time.Millisecond).Should(BeTrue())
				Expect(h.sim.SetFaults(simulator.Faults{})).To(Succeed())

				Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
					Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
				Expect(h.sim.Accounts()).To(HaveLen(1))
				got := get(pa)(Default)
				Expect(got.Status.ActivationToken).To(Equal(h.remote("lost-1").ActivationToken))
				Expect(got.Status.AccountUID).To(Equal("lost-1"), "the recovered account is owned")
				Expect(got.Status.CreateAttemptedAt).To(BeNil())
				Expect(eventReasons(pa)(Default)).To(ContainElement(billingv1alpha1.EventRecovered))
				// The account was read back, not created again.
				Expect(h.requests("create 201") + h.requests("create 201 dropped")).To(Equal(1))
				Expect(h.requests("get 200")).To(Equal(1))

				By("deleting it deletes the recovered account")
				Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
				Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
				Expect(h.remote("lost-1").Deleted).To(BeTrue())
			})
		})
	}

	It("refuses to adopt an account of another type, and never touches it", func() {
		h := startHarness(harnessOptions{resync: time.Second})
		h.createRemote("conflict-1", "F")
		pa := newAccount(h.ns(), "erin", "conflict-1")
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())

		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(isStalledWith(billingv1alpha1.ReasonAccountConflict))
		Expect(readyMessage(get(pa)(Default))).To(ContainSubstring("conflict-1"))
		Eventually(eventReasons(pa)).Should(ContainElement(billingv1alpha1.ReasonAccountConflict))
		calls := h.totalRequests()
		Expect(calls).To(Equal(2)) // the refused create and the read that found the other account
		Consistently(h.totalRequests).WithTimeout(3 * time.Second).Should(Equal(calls))

		Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
		Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
		Expect(h.remote("conflict-1").Deleted).To(BeFalse())
		Expect(h.totalRequests()).To(Equal(calls))
	})

	It("lets the older of two PartnerAccounts with one accountUID own it", func() {
		h := startHarness(harnessOptions{namespaces: 2, resync: time.Second})
		older := newAccount(h.namespaces[0], "frank", "dup-1")
		Expect(k8sClient.Create(ctx, older)).To(Succeed())
		Eventually(get(older)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		time.Sleep(1100 * time.Millisecond) // creation timestamps have one-second precision

		newer := newAccount(h.namespaces[1], "frank", "dup-1")
		Expect(k8sClient.Create(ctx, newer)).To(Succeed())
		Eventually(get(newer)).WithTimeout(waitReady).WithPolling(poll).
			Should(isStalledWith(billingv1alpha1.ReasonDuplicateAccountUID))
		Expect(readyMessage(get(newer)(Default))).To(ContainSubstring(h.namespaces[0] + "/frank"))
		Expect(h.requests("create 201")).To(Equal(1))
		Expect(h.requests("create 409")).To(BeZero(), "the duplicate called the API")

		By("deleting the newer one leaves the remote account alone")
		Expect(k8sClient.Delete(ctx, newer)).To(Succeed())
		Eventually(gone(newer)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
		Expect(h.remote("dup-1").Deleted).To(BeFalse())
		Expect(h.requests("delete 204")).To(BeZero())
		Consistently(get(older)).WithTimeout(2 * time.Second).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
	})

	It("stalls on an unknown domain and does not retry", func() {
		h := startHarness(harnessOptions{resync: time.Second})
		pa := newAccount(h.ns(), "grace", "domain-1")
		pa.Spec.Domain = "example.com"
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())

		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(isStalledWith(billingv1alpha1.ReasonInvalidRequest))
		// The server's own words reach the user.
		Expect(readyMessage(get(pa)(Default))).To(ContainSubstring("Invalid domain"))
		calls := h.totalRequests()
		Expect(calls).To(Equal(2)) // the refused create, and the read that shows nothing exists
		Consistently(h.totalRequests).WithTimeout(3 * time.Second).Should(Equal(calls))

		By("deleting it calls nothing: it never owned an account")
		Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
		Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
		Expect(h.totalRequests()).To(Equal(calls))
	})

	It("waits as long as a 429's Retry-After asks", func() {
		h := startHarness(harnessOptions{})
		Expect(h.sim.SetFaults(simulator.Faults{RateLimitRate: 1, RetryAfter: 2})).To(Succeed())
		pa := newAccount(h.ns(), "heidi", "limited-1")
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())

		Eventually(func() int { return h.requests("create 429") }).
			WithTimeout(waitReady).WithPolling(10 * time.Millisecond).Should(Equal(1))
		first := time.Now()
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonRateLimited))
		Eventually(func() int { return h.requests("create 429") }).
			WithTimeout(waitReady).WithPolling(10 * time.Millisecond).Should(Equal(2))
		Expect(time.Since(first)).To(BeNumerically(">=", 1900*time.Millisecond))

		Expect(h.sim.SetFaults(simulator.Faults{})).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Expect(eventReasons(pa)(Default)).To(HaveExactElements(
			billingv1alpha1.ReasonRateLimited, billingv1alpha1.EventCreated))
	})

	It("backs off on 500s and recovers", func() {
		h := startHarness(harnessOptions{})
		Expect(h.sim.SetFaults(simulator.Faults{ErrorRate: 1})).To(Succeed())
		pa := newAccount(h.ns(), "ivan", "flaky-1")
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())

		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonAPIUnavailable))
		Expect(meta.IsStatusConditionTrue(get(pa)(Default).Status.Conditions, billingv1alpha1.ConditionReconciling)).To(BeTrue())
		time.Sleep(4 * time.Second)
		// With a 100ms base doubling up to 2s, four seconds hold at most about
		// seven attempts; without backoff there would be hundreds. After the first
		// create, whose outcome is unknown, each attempt reads the account first.
		Expect(h.requests("create 500")).To(Equal(1))
		attempts := h.requests("create 500") + h.requests("get 500")
		Expect(attempts).To(BeNumerically("<=", 8))
		Expect(attempts).To(BeNumerically(">=", 3))

		Expect(h.sim.SetFaults(simulator.Faults{})).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Expect(h.requests("create 201")).To(Equal(1))
		// One Warning for the outage, not one per retry.
		Expect(eventReasons(pa)(Default)).To(HaveExactElements(
			billingv1alpha1.ReasonAPIUnavailable, billingv1alpha1.EventCreated))
	})

	It("recovers from a rejected token once the token file is fixed, without a restart", func() {
		h := startHarness(harnessOptions{})
		h.setToken("revoked-token")
		pa := newAccount(h.ns(), "judy", "token-1")
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())

		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonUnauthorized))
		Expect(readyMessage(get(pa)(Default))).NotTo(ContainSubstring("revoked-token"))

		h.setToken(testToken)
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Expect(h.requests("create 201")).To(Equal(1))
	})
})

// patchSpec changes pa's spec with a merge patch, as kubectl edit would.
func patchSpec(pa *billingv1alpha1.PartnerAccount, mutate func(*billingv1alpha1.PartnerAccount)) {
	GinkgoHelper()
	current := get(pa)(Default)
	base := current.DeepCopy()
	mutate(current)
	Expect(k8sClient.Patch(ctx, current, client.MergeFrom(base))).To(Succeed())
}
