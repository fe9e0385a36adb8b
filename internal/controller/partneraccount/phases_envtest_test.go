package partneraccount

import (
	"bytes"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
	"github.com/partnerbilling/partner-account-operator/internal/plugin"
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

var _ = Describe("Accounts that must not be made again", func() {
	It("never creates again an account the API answers 410 Gone for, even with adoptExisting", func() {
		h := startHarness(harnessOptions{dialect: simulator.DialectPublished})
		h.createRemote("gone-1", "I")
		Expect(h.sim.DeleteOutOfBand("gone-1")).To(Succeed())
		h.sim.ResetCounts()
		pa := newAccount(h.ns(), "gone", "gone-1")
		pa.Spec.AdoptExisting = true
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(isStalledWith(billingv1alpha1.ReasonAccountDeactivated))
		Expect(readyMessage(get(pa)(Default))).To(ContainSubstring("Choose another accountUID"))
		Consistently(h.sim.Requests).WithTimeout(2 * time.Second).Should(Equal(map[string]int{"get 410": 1}))

		By("deleting it deletes nothing and lets it go")
		Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
		Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
		Expect(h.sim.Requests()).NotTo(HaveKey("delete 204"))
	})

	for _, dialect := range []simulator.Dialect{simulator.DialectContract, simulator.DialectPublished} {
		It("never creates the account of a resource with createPolicy Never, against the "+string(dialect)+" dialect", func() {
			h := startHarness(harnessOptions{dialect: dialect})
			// An account made first shows the server serves accounts: its 404s then
			// prove an account missing.
			witness := newAccount(h.ns(), "witness", "witness-1")
			Expect(k8sClient.Create(ctx, witness)).To(Succeed())
			Eventually(get(witness)).WithTimeout(waitReady).WithPolling(poll).
				Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
			pa := newAccount(h.ns(), "imported", "imported-1")
			pa.Spec.AdoptExisting = true
			pa.Spec.CreatePolicy = billingv1alpha1.CreatePolicyNever
			Expect(k8sClient.Create(ctx, pa)).To(Succeed())
			Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
				Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonAccountMissing))
			Consistently(func() int { return h.requests("create 201") }).WithTimeout(2 * time.Second).Should(Equal(1))

			By("the account made elsewhere: adopted at the next reconcile")
			h.createRemote("imported-1", "I")
			requestReconcile(pa, "made")
			Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
				Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
			Expect(eventReasons(pa)(Default)).To(ContainElement(billingv1alpha1.EventAdopted))
			Expect(h.requests("create 201")).To(Equal(1), "only the witness was created")
		})
	}

	It("judges Ended on the API's clock, not the operator's", func() {
		h := startHarness(harnessOptions{})
		h.skewAPIClock(5 * time.Minute)
		pa := newAccount(h.ns(), "ended", "api-clock-1")
		// In the operator's future, in the API's past: the API ends it at once.
		endsAt := metav1.NewTime(time.Now().Add(2 * time.Minute).Truncate(time.Second))
		pa.Spec.EndsAt = &endsAt
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonEnded))
		Expect(get(pa)(Default).Status.AccountStatus).To(Equal("deprovisioned"))
		Expect(eventReasons(pa)(Default)).NotTo(ContainElement(billingv1alpha1.ReasonDeprovisioned))
	})
})

var _ = Describe("A cluster rebuilt from Git", func() {
	It("meets its accounts with no create, and takes them back with kubectl partneraccount adopt", func() {
		h := startHarness(harnessOptions{probe: true})
		uids := []string{"rebuilt-1", "rebuilt-2", "rebuilt-3", "rebuilt-4", "rebuilt-5"}
		for _, uid := range uids {
			h.createRemote(uid, "I")
		}
		h.sim.ResetCounts()

		By("applying the same manifests to a new cluster: each reads its account, none sends a create")
		for _, uid := range uids {
			Expect(k8sClient.Create(ctx, newAccount(h.ns(), uid, uid))).To(Succeed())
		}
		for _, uid := range uids {
			Eventually(get(newAccount(h.ns(), uid, uid))).WithTimeout(waitReady).WithPolling(poll).
				Should(isStalledWith(billingv1alpha1.ReasonAccountExists))
		}
		Expect(h.sim.Requests()).To(Equal(map[string]int{"get 200": len(uids)}))

		By("kubectl partneraccount adopt --all --yes")
		var out, errOut bytes.Buffer
		o := &plugin.Options{IOStreams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
			NewClient: func() (client.Client, string, error) { return k8sClient, h.ns(), nil }}
		Expect(plugin.Execute(ctx, plugin.NewCommand(o), []string{"adopt", "--all", "--yes"}, &errOut)).
			To(BeZero(), errOut.String())
		Expect(out.String()).To(ContainSubstring("adopted 5, skipped 0, failed 0 of 5"))
		for _, uid := range uids {
			pa := newAccount(h.ns(), uid, uid)
			Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
				Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
			got := get(pa)(Default)
			Expect(got.Status.AccountUID).To(Equal(uid))
			Expect(got.Status.ActivationToken).To(Equal(h.remote(uid).ActivationToken))
		}
		for key := range h.sim.Requests() {
			Expect(key).To(HavePrefix("get "), "the recovery wrote to the API")
		}
	})

	It("costs one read on a new connection whose server has none of the accounts, then one call per account", func() {
		h := startHarness(harnessOptions{probe: true})
		for _, uid := range []string{"probe-1", "probe-2", "probe-3"} {
			pa := newAccount(h.ns(), uid, uid)
			Expect(k8sClient.Create(ctx, pa)).To(Succeed())
			Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
				Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		}
		Expect(h.sim.Requests()).To(Equal(map[string]int{"get 404": 1, "create 201": 3}))
	})
})
