package partneraccount

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

// annotate sets an annotation of pa, as kubectl annotate --overwrite does.
func annotate(pa *billingv1alpha1.PartnerAccount, key, value string) {
	GinkgoHelper()
	current := get(pa)(Default)
	base := current.DeepCopy()
	if current.Annotations == nil {
		current.Annotations = map[string]string{}
	}
	current.Annotations[key] = value
	Expect(k8sClient.Patch(ctx, current, client.MergeFrom(base))).To(Succeed())
}

// Signups: the read-back schedule sees a customer's signup soon, and records it once.
var _ = Describe("Signups", func() {
	It("records when the customer signed up, once, and the members only when they change", func() {
		h := startHarness(harnessOptions{dialect: simulator.DialectPublished, schedule: true})
		pa := newAccount(h.ns(), "signup", "signup-1")
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Expect(get(pa)(Default).Status.ProvisionedAt).To(BeNil())

		By("the customer redeems the link: a young account is read back within seconds")
		Expect(h.sim.Redeem("signup-1")).To(Succeed())
		redeemed := h.remote("signup-1").UpdatedAt
		Eventually(func(g Gomega) *metav1.Time { return get(pa)(g).Status.ProvisionedAt }).
			WithTimeout(40 * time.Second).WithPolling(poll).ShouldNot(BeNil())
		got := get(pa)(Default)
		Expect(got.Status.ProvisionedAt.Time).To(BeTemporally("==", redeemed.Truncate(time.Second)), "not the API's updated_at")
		Expect(got.Status.AccountStatus).To(Equal("provisioned"))
		Expect(got.Status.DeployedMembers).To(HaveValue(BeEquivalentTo(1)))
		Eventually(eventReasons(pa)).Should(ContainElement(billingv1alpha1.EventProvisioned))

		By("reads that see nothing new write nothing")
		annotate(pa, billingv1alpha1.ReadBackIntervalAnnotation, "1s")
		time.Sleep(time.Second) // the reconcile the annotation asks for
		settledVersion := get(pa)(Default).ResourceVersion
		gets := h.requests("get 200")
		Eventually(func() int { return h.requests("get 200") }).WithTimeout(10 * time.Second).Should(BeNumerically(">=", gets+3))
		Expect(get(pa)(Default).ResourceVersion).To(Equal(settledVersion))

		By("a new member: written once; the signup is not recorded again")
		Expect(h.sim.SetDeployedMembers("signup-1", 3)).To(Succeed())
		Eventually(func(g Gomega) *int32 { return get(pa)(g).Status.DeployedMembers }).
			WithTimeout(10 * time.Second).Should(HaveValue(BeEquivalentTo(3)))
		Expect(get(pa)(Default).Status.ProvisionedAt.Time).To(BeTemporally("==", redeemed.Truncate(time.Second)))
		Consistently(func() int { return countOf(eventReasons(pa)(Default), billingv1alpha1.EventProvisioned) }).
			WithTimeout(3 * time.Second).Should(Equal(1))
	})

	It("follows the read-back-interval annotation, 0 for never, and warns once of a value it cannot use", func() {
		h := startHarness(harnessOptions{schedule: true})
		never := newAccount(h.ns(), "never", "interval-never")
		never.Annotations = map[string]string{billingv1alpha1.ReadBackIntervalAnnotation: "0"}
		often := newAccount(h.ns(), "often", "interval-often")
		often.Annotations = map[string]string{billingv1alpha1.ReadBackIntervalAnnotation: "1s"}
		for _, pa := range []*billingv1alpha1.PartnerAccount{never, often} {
			Expect(k8sClient.Create(ctx, pa)).To(Succeed())
			Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
				Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		}

		By("1s: read back every second; 0: never, though the schedule would read it every 20 s")
		Eventually(func() int { return h.front.readsOf("interval-often") }).WithTimeout(10 * time.Second).
			Should(BeNumerically(">=", 4))
		Expect(h.front.readsOf("interval-never")).To(BeZero())

		By("a value that is not a duration: a Warning event naming the annotation, once")
		annotate(never, billingv1alpha1.ReadBackIntervalAnnotation, "often")
		Eventually(func() int { return h.front.readsOf("interval-never") }).WithTimeout(waitReady).Should(Equal(1))
		requestReconcile(never, "again")
		Eventually(func() int { return h.front.readsOf("interval-never") }).WithTimeout(waitReady).Should(Equal(2))
		Expect(countOf(eventReasons(never)(Default), billingv1alpha1.EventInvalidAnnotation)).To(Equal(1))
		Expect(eventText(never)(Default)).To(ContainSubstring(billingv1alpha1.ReadBackIntervalAnnotation))
	})

	It("reads nothing at once after a restart, and spreads the reads that follow", func() {
		h := startHarness(harnessOptions{schedule: true, readBackRate: 5})
		accounts := make([]*billingv1alpha1.PartnerAccount, 0, 20)
		for i := range 20 {
			pa := newAccount(h.ns(), "restart-"+string(rune('a'+i)), "restart-"+string(rune('a'+i)))
			Expect(k8sClient.Create(ctx, pa)).To(Succeed())
			accounts = append(accounts, pa)
		}
		for _, pa := range accounts {
			Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
				Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		}
		h.stopController()
		h.sim.ResetCounts()
		h.stopController = h.startController()

		// The schedule reads accounts this young every 20 s (±20%): each once in
		// the 24 s after the restart, spread, never all at once.
		start := time.Now()
		perSecond := make([]int, 0, 24)
		last := 0
		for range 24 {
			time.Sleep(time.Until(start.Add(time.Duration(len(perSecond)+1) * time.Second)))
			n := h.totalRequests()
			perSecond = append(perSecond, n-last)
			last = n
		}
		GinkgoWriter.Printf("reads in each second after the restart: %v\n", perSecond)
		Expect(perSecond[0]).To(BeNumerically("<=", 2), "reads at once after the restart")
		for i, n := range perSecond {
			Expect(n).To(BeNumerically("<=", 5), "a burst of reads in second %d", i)
		}
		Expect(last).To(BeNumerically(">=", 15), "the accounts were not read back within their interval")
		Expect(h.requests("get 200")).To(Equal(last), "something else than reads after a restart")
	})
})
