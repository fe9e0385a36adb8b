package partneraccount

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

// writes counts the simulator's requests that would change an account.
func writes(h *harness) int {
	n := 0
	for key, c := range h.sim.Requests() {
		for _, op := range []string{"create ", "update ", "delete "} {
			if len(key) > len(op) && key[:len(op)] == op {
				n += c
			}
		}
	}
	return n
}

// Observe mode: read the account, never write it.
var _ = Describe("Observed PartnerAccounts", func() {
	observed := func(h *harness, name, uid string) *billingv1alpha1.PartnerAccount {
		pa := newAccount(h.ns(), name, uid)
		pa.Spec.ManagementPolicy = billingv1alpha1.ManagementPolicyObserve
		return pa
	}

	It("reads the account and nothing else, whatever the spec says, and shows the drift", func() {
		h := startHarness(harnessOptions{})
		h.createRemote("obs-1", "I")
		pa := observed(h, "watched", "obs-1")
		endsAt := metav1.NewTime(time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second))
		pa.Spec.EndsAt = &endsAt
		pa.Spec.Domain = "b5test.ca"
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountObserved))
		got := get(pa)(Default)
		remote := h.remote("obs-1")
		Expect(got.Status.AccountStatus).To(Equal("entitled"))
		Expect(got.Status.CreatedAt.Time).To(BeTemporally("~", remote.CreatedAt, time.Second))
		Expect(got.Status.ActivationToken).To(BeEmpty(), "an observed account's token is shown")
		Expect(got.Status.RedemptionURL).To(BeEmpty())
		Expect(got.Status.AccountUID).To(BeEmpty(), "observing is not owning")
		Expect(got.Finalizers).To(BeEmpty(), "an observed resource needs no finalizer")
		Expect(got.Status.DeletionPolicy).To(Equal(billingv1alpha1.DeletionPolicyDelete))
		Expect(got.Status.Drift).To(ConsistOf(
			billingv1alpha1.Drift{Field: billingv1alpha1.DriftDomain, Declared: "b5test.ca", Remote: "b5test.com"},
			billingv1alpha1.Drift{Field: billingv1alpha1.DriftEndsAt, Declared: endsAt.UTC().Format(time.RFC3339)},
		))
		Expect(readyMessage(got)).To(ContainSubstring("domain, endsAt"))

		By("changing its spec, suspending and resuming it, and asking for reconciles: never a write")
		later := metav1.NewTime(endsAt.Add(24 * time.Hour))
		patchSpec(pa, func(p *billingv1alpha1.PartnerAccount) { p.Spec.EndsAt = &later })
		Eventually(func(g Gomega) []billingv1alpha1.Drift { return get(pa)(g).Status.Drift }).WithTimeout(waitReady).
			Should(ContainElement(billingv1alpha1.Drift{Field: billingv1alpha1.DriftEndsAt, Declared: later.UTC().Format(time.RFC3339)}))
		patchSpec(pa, func(p *billingv1alpha1.PartnerAccount) { p.Spec.Suspend = true })
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionUnknown, billingv1alpha1.ReasonReconcileSuspended))
		patchSpec(pa, func(p *billingv1alpha1.PartnerAccount) { p.Spec.Suspend = false })
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountObserved))
		requestReconcile(pa, "look-again")
		Eventually(func(g Gomega) string { return get(pa)(g).Status.LastHandledReconcileAt }).WithTimeout(waitReady).
			Should(Equal("look-again"))
		Expect(writes(h)).To(BeZero())
		Expect(h.remote("obs-1").EndsAt).To(BeNil())

		By("deleting it: no call, no finalizer to wait for")
		calls := h.totalRequests()
		Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
		Eventually(gone(pa)).WithTimeout(5 * time.Second).WithPolling(poll).Should(BeTrue())
		Expect(h.totalRequests()).To(Equal(calls))
		Expect(h.remote("obs-1").Deleted).To(BeFalse())
	})

	It("says so when the account does not exist, and never creates it", func() {
		h := startHarness(harnessOptions{resync: time.Second})
		readyWitness := newAccount(h.ns(), "witness", "obs-witness") // proves the endpoint for the 404
		Expect(k8sClient.Create(ctx, readyWitness)).To(Succeed())
		Eventually(get(readyWitness)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		pa := observed(h, "missing", "obs-missing-1")
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonObservedAccountMissing))
		Consistently(func() int { return h.requests("create 201") }).WithTimeout(3 * time.Second).Should(Equal(1))
		_, exists := h.sim.Account("obs-missing-1")
		Expect(exists).To(BeFalse())
	})

	It("stops every write at once when switched to Observe, and takes over only with adoptExisting when switched back", func() {
		h := startHarness(harnessOptions{})
		pa := newAccount(h.ns(), "switched", "obs-switch-1")
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))

		By("Manage to Observe: the account is handed back, the resource stays")
		patchSpec(pa, func(p *billingv1alpha1.PartnerAccount) {
			p.Spec.ManagementPolicy = billingv1alpha1.ManagementPolicyObserve
		})
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountObserved))
		got := get(pa)(Default)
		Expect(got.Finalizers).To(BeEmpty())
		Expect(got.Status.ActivationToken).To(BeEmpty())
		h.sim.ResetCounts()
		endsAt := metav1.NewTime(time.Now().Add(40 * 24 * time.Hour).UTC().Truncate(time.Second))
		patchSpec(pa, func(p *billingv1alpha1.PartnerAccount) { p.Spec.EndsAt = &endsAt })
		Eventually(func(g Gomega) int { return len(get(pa)(g).Status.Drift) }).WithTimeout(waitReady).Should(Equal(1))
		Expect(writes(h)).To(BeZero())

		By("Observe to Manage: the account it created is its own again, and its end date is written once")
		patchSpec(pa, func(p *billingv1alpha1.PartnerAccount) {
			p.Spec.ManagementPolicy = billingv1alpha1.ManagementPolicyManage
		})
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Expect(h.remote("obs-switch-1").EndsAt).To(HaveValue(BeTemporally("==", endsAt.Time)))
		Expect(h.requests("update 200")).To(Equal(1))
		got = get(pa)(Default)
		Expect(got.Status.Drift).To(BeEmpty())
		Expect(got.Finalizers).To(ContainElement(billingv1alpha1.Finalizer))

		By("an account that existed before: observed, then managed only with adoptExisting")
		h.createRemote("obs-switch-2", "I")
		other := observed(h, "preexisting", "obs-switch-2")
		Expect(k8sClient.Create(ctx, other)).To(Succeed())
		Eventually(get(other)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountObserved))
		patchSpec(other, func(p *billingv1alpha1.PartnerAccount) { p.Spec.ManagementPolicy = "" })
		Eventually(get(other)).WithTimeout(waitReady).WithPolling(poll).Should(isStalledWith(billingv1alpha1.ReasonAccountExists))
		patchSpec(other, func(p *billingv1alpha1.PartnerAccount) { p.Spec.AdoptExisting = true })
		Eventually(get(other)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Expect(eventReasons(other)(Default)).To(ContainElement(billingv1alpha1.EventAdopted))
	})

	It("leaves a managed resource that sets no deletion policy to the operator's default", func() {
		h := startHarness(harnessOptions{defaultDeletionPolicy: billingv1alpha1.DeletionPolicyOrphan,
			dialect: simulator.DialectPublished})
		unset := newAccount(h.ns(), "unset", "default-1")
		explicit := newAccount(h.ns(), "explicit", "default-2")
		explicit.Spec.DeletionPolicy = billingv1alpha1.DeletionPolicyDelete
		for _, pa := range []*billingv1alpha1.PartnerAccount{unset, explicit} {
			Expect(k8sClient.Create(ctx, pa)).To(Succeed())
			Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
				Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		}
		Expect(get(unset)(Default).Status.DeletionPolicy).To(Equal(billingv1alpha1.DeletionPolicyOrphan))
		Expect(get(explicit)(Default).Status.DeletionPolicy).To(Equal(billingv1alpha1.DeletionPolicyDelete))
		for _, pa := range []*billingv1alpha1.PartnerAccount{unset, explicit} {
			Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
			Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
		}
		Expect(h.remote("default-1").Deleted).To(BeFalse(), "the operator's default Orphan was not applied")
		Expect(h.remote("default-2").Deleted).To(BeTrue(), "the resource's own Delete did not win")
	})
})
