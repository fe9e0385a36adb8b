package partneraccount

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

// Ownership: a PartnerAccount changes or deletes only the remote account it created
// or adopted.
var _ = Describe("Remote account ownership", func() {
	It("leaves a pre-existing account alone until adoptExisting is set, then adopts it", func() {
		h := startHarness(harnessOptions{resync: time.Second})
		h.createRemote("pre-1", "I")
		remote := h.remote("pre-1")
		pa := newAccount(h.ns(), "pre", "pre-1")
		endsAt := metav1.NewTime(time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Second))
		pa.Spec.EndsAt = &endsAt
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())

		By("refusing it: Stalled with AccountExists, nothing of the account in status")
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(isStalledWith(billingv1alpha1.ReasonAccountExists))
		got := get(pa)(Default)
		Expect(got).To(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonAccountExists))
		Expect(readyMessage(got)).To(SatisfyAll(ContainSubstring("type Individual"), ContainSubstring("domain b5test.com"),
			ContainSubstring(remote.CreatedAt.UTC().Format(time.RFC3339)), ContainSubstring("spec.adoptExisting")))
		Expect(got.Status.AccountUID).To(BeEmpty())
		Expect(got.Status.ActivationToken).To(BeEmpty())
		Expect(got.Status.RedemptionURL).To(BeEmpty())
		Expect(got.Status.AccountStatus).To(BeEmpty())
		Expect(eventText(pa)(Default)).NotTo(ContainSubstring(remote.ActivationToken))
		calls := h.totalRequests()
		Expect(h.sim.Requests()).To(Equal(map[string]int{"create 409": 1, "get 200": 1}))
		Consistently(h.totalRequests).WithTimeout(3*time.Second).Should(Equal(calls), "a stalled resource called the API")
		Expect(h.remote("pre-1").EndsAt).To(BeNil(), "the end date of an account it does not own was written")

		By("adopting it once spec.adoptExisting is true")
		patchSpec(pa, func(p *billingv1alpha1.PartnerAccount) { p.Spec.AdoptExisting = true })
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		got = get(pa)(Default)
		Expect(got.Status.AccountUID).To(Equal("pre-1"))
		Expect(got.Status.ActivationToken).To(Equal(remote.ActivationToken))
		Expect(h.remote("pre-1").EndsAt).To(HaveValue(BeTemporally("==", endsAt.Time)))
		Eventually(eventReasons(pa)).Should(ContainElement(billingv1alpha1.EventAdopted))
		Expect(h.requests("create 201")).To(BeZero())

		By("deleting it deletes the adopted account")
		Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
		Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
		Expect(h.remote("pre-1").Deleted).To(BeTrue())
	})

	It("deletes nothing remotely when a pre-existing account was never adopted", func() {
		h := startHarness(harnessOptions{dialect: simulator.DialectPublished})
		h.createRemote("pre-2", "I")
		pa := newAccount(h.ns(), "pre", "pre-2")
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(isStalledWith(billingv1alpha1.ReasonAccountExists))
		// The published dialect refuses a duplicate create with a 400.
		Expect(h.sim.Requests()).To(Equal(map[string]int{"create 400": 1, "get 200": 1}))

		Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
		Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
		Expect(h.remote("pre-2").Deleted).To(BeFalse())
		Expect(h.totalRequests()).To(Equal(2))
	})

	for _, remoteType := range []string{"I", "F"} {
		It("never deletes a pre-existing account of type "+remoteType+" after a failed first create", func() {
			h := startHarness(harnessOptions{})
			h.createRemote("pre-3", remoteType)
			Expect(h.sim.SetFaults(simulator.Faults{ErrorRate: 1})).To(Succeed())
			pa := newAccount(h.ns(), "pre", "pre-3")
			Expect(k8sClient.Create(ctx, pa)).To(Succeed())
			Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
				Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonAPIUnavailable))
			claim := get(pa)(Default).Status.CreateClaim
			Expect(claim).NotTo(BeNil())
			Expect(claim.Attempts).To(HaveLen(1), "a 500 leaves the attempt's outcome unknown")

			By("deleting it while the API fails: the finalizer stays, with a condition that says why")
			Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
			Eventually(func(g Gomega) string { return readyMessage(get(pa)(g)) }).WithTimeout(waitReady).WithPolling(poll).
				Should(ContainSubstring("finalizer stays"))

			By("once the API answers, reading the account shows it is not this resource's: nothing is deleted")
			Expect(h.sim.SetFaults(simulator.Faults{})).To(Succeed())
			Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
			Expect(h.remote("pre-3").Deleted).To(BeFalse())
			Expect(h.requests("delete 204")).To(BeZero())
			Expect(h.requests("get 200")).To(Equal(1))
		})
	}

	It("owns an account from its create's 2xx, even without created_at, and never creates it again", func() {
		h := startHarness(harnessOptions{resync: 500 * time.Millisecond})
		h.front.set(frontNoCreatedAt)
		pa := newAccount(h.ns(), "quiet", "no-created-at-1")
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Expect(get(pa)(Default).Status.AccountUID).To(Equal("no-created-at-1"))
		Eventually(func() int { return h.requests("get 200") }).WithTimeout(waitReady).Should(BeNumerically(">=", 3))
		Expect(h.requests("create 201")).To(Equal(1))
		Expect(h.totalRequests()).To(Equal(1+h.requests("get 200")), "only reads after the create")

		Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
		Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
		Expect(h.remote("no-created-at-1").Deleted).To(BeTrue())
	})

	It("does not own a pre-existing account that a create answers with 2xx", func() {
		h := startHarness(harnessOptions{})
		h.createRemote("dup-2xx-1", "I")
		h.createRemote("dup-2xx-2", "F")
		h.front.set(frontDuplicateIs200)
		same := newAccount(h.ns(), "same", "dup-2xx-1")
		other := newAccount(h.ns(), "other", "dup-2xx-2")
		Expect(k8sClient.Create(ctx, same)).To(Succeed())
		Expect(k8sClient.Create(ctx, other)).To(Succeed())
		Eventually(get(same)).WithTimeout(waitReady).WithPolling(poll).
			Should(isStalledWith(billingv1alpha1.ReasonAccountExists))
		Eventually(get(other)).WithTimeout(waitReady).WithPolling(poll).
			Should(isStalledWith(billingv1alpha1.ReasonAccountConflict))
		for _, pa := range []*billingv1alpha1.PartnerAccount{same, other} {
			Expect(get(pa)(Default).Status.ActivationToken).To(BeEmpty())
			Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
			Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
		}
		Expect(h.remote("dup-2xx-1").Deleted).To(BeFalse())
		Expect(h.remote("dup-2xx-2").Deleted).To(BeFalse())
		Expect(h.requests("delete 204")).To(BeZero())
	})

	It("leaves nothing owned and no finalizer stuck after an id the published server refuses", func() {
		h := startHarness(harnessOptions{dialect: simulator.DialectPublished})
		pa := newAccount(h.ns(), "dotted", "cust.0001") // periods: fine by the contract, not by 1Password's servers
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(isStalledWith(billingv1alpha1.ReasonInvalidRequest))
		got := get(pa)(Default)
		Expect(readyMessage(got)).To(ContainSubstring("customer_account_uid"))
		Expect(got.Status.AccountUID).To(BeEmpty())
		Expect(got.Status.CreateAttemptedAt).To(BeNil())
		calls := h.totalRequests()

		Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
		Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
		Expect(h.totalRequests()).To(Equal(calls), "deleting a resource that owns nothing called the API")
	})

	It("concludes nothing from a wrong URL's HTML 404s, and completes deletion once it is fixed", func() {
		h := startHarness(harnessOptions{})
		pa := newAccount(h.ns(), "wrong-url", "wrong-url-1")
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		before := get(pa)(Default).Status

		By("reading through a URL that answers HTML 404s")
		h.front.set(frontHTML404)
		requestReconcile(pa, "wrong-url")
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonAPIEndpointMisconfigured))
		got := get(pa)(Default)
		Expect(readyMessage(got)).To(ContainSubstring(h.apiURL + "/partners/accounts/wrong-url-1"))
		Expect(got.Status.ActivationToken).To(Equal(before.ActivationToken))
		Expect(got.Status.RedemptionURL).To(Equal(before.RedemptionURL))
		Expect(got.Status.AccountStatus).To(Equal(before.AccountStatus))
		Expect(got.Status.AccountUID).To(Equal(before.AccountUID))

		By("deleting it: the finalizer stays and says why")
		Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
		Consistently(func(g Gomega) []string { return get(pa)(g).Finalizers }).WithTimeout(3 * time.Second).
			Should(ContainElement(billingv1alpha1.Finalizer))
		Expect(readyMessage(get(pa)(Default))).To(ContainSubstring("finalizer stays"))
		Expect(h.remote("wrong-url-1").Deleted).To(BeFalse())

		By("fixing the URL: the deletion completes")
		h.front.set(frontPass)
		Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
		Expect(h.remote("wrong-url-1").Deleted).To(BeTrue())
	})

	It("puts back a finalizer removed by hand within seconds", func() {
		h := startHarness(harnessOptions{})
		pa := newAccount(h.ns(), "keep", "keep-1")
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		calls := h.totalRequests()

		current := get(pa)(Default)
		base := current.DeepCopy()
		current.Finalizers = nil
		Expect(k8sClient.Patch(ctx, current, client.MergeFrom(base))).To(Succeed())
		Eventually(func(g Gomega) []string { return get(pa)(g).Finalizers }).WithTimeout(3 * time.Second).WithPolling(50 * time.Millisecond).
			Should(ContainElement(billingv1alpha1.Finalizer))
		Expect(h.totalRequests()).To(BeNumerically("<=", calls+1))
	})

	It("reads the account exactly once for each reconcile request, even when stalled", func() {
		h := startHarness(harnessOptions{})
		ready := newAccount(h.ns(), "ready", "request-1")
		Expect(k8sClient.Create(ctx, ready)).To(Succeed())
		h.createRemote("request-2", "I")
		stalled := newAccount(h.ns(), "stalled", "request-2")
		Expect(k8sClient.Create(ctx, stalled)).To(Succeed())
		Eventually(get(ready)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Eventually(get(stalled)).WithTimeout(waitReady).WithPolling(poll).
			Should(isStalledWith(billingv1alpha1.ReasonAccountExists))

		for _, tc := range []struct {
			pa     *billingv1alpha1.PartnerAccount
			reason string
		}{{ready, billingv1alpha1.ReasonAccountReady}, {stalled, billingv1alpha1.ReasonAccountExists}} {
			h.sim.ResetCounts()
			requestReconcile(tc.pa, "2050-01-01T00:00:00Z")
			Eventually(func(g Gomega) string { return get(tc.pa)(g).Status.LastHandledReconcileAt }).
				WithTimeout(waitReady).WithPolling(poll).Should(Equal("2050-01-01T00:00:00Z"))
			Consistently(h.sim.Requests).WithTimeout(2 * time.Second).Should(Equal(map[string]int{"get 200": 1}))
			Expect(readyOf(get(tc.pa)(Default))).To(HaveSuffix(tc.reason))
		}
	})
})

// requestReconcile sets the reconcile-requested-at annotation, as a user would with
// kubectl annotate --overwrite.
func requestReconcile(pa *billingv1alpha1.PartnerAccount, value string) {
	GinkgoHelper()
	current := get(pa)(Default)
	base := current.DeepCopy()
	if current.Annotations == nil {
		current.Annotations = map[string]string{}
	}
	current.Annotations[billingv1alpha1.ReconcileRequestedAtAnnotation] = value
	Expect(k8sClient.Patch(ctx, current, client.MergeFrom(base))).To(Succeed())
}

// eventText returns the notes of the events recorded about pa, joined.
func eventText(pa *billingv1alpha1.PartnerAccount) func(Gomega) string {
	return func(g Gomega) string {
		var list eventsv1.EventList
		g.Expect(k8sClient.List(ctx, &list, client.InNamespace(pa.Namespace))).To(Succeed())
		var notes []string
		for _, e := range list.Items {
			if e.Regarding.Name == pa.Name {
				notes = append(notes, e.Note)
			}
		}
		return strings.Join(notes, "\n")
	}
}
