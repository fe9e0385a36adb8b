package partneraccount

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

// Decisions only from proof: the controller writes, claims, deactivates or lets go
// of an account only on evidence that proves what it assumes.
var _ = Describe("Decisions only from proof", func() {
	readyAccount := func(h *harness, name, uid string) *billingv1alpha1.PartnerAccount {
		GinkgoHelper()
		pa := newAccount(h.ns(), name, uid)
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		return pa
	}

	It("concludes nothing from another URL's JSON 404s (a wrong path prefix), and completes deletion once the URL is fixed", func() {
		h := startHarness(harnessOptions{})
		pa := readyAccount(h, "prefix", "prefix-1")
		readyAccount(h, "other", "prefix-2")
		before := get(pa)(Default).Status
		Expect(before.Endpoint).To(Equal(h.apiURL))

		By("restarting the operator with a wrong path prefix on the right host, whose unknown routes answer JSON 404s")
		right := h.apiURL
		h.restartWithURL(h.serverURL + "/v2/api/v1")
		h.sim.ResetCounts()
		requestReconcile(pa, "wrong-prefix")
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonEndpointChanged))
		got := get(pa)(Default)
		Expect(readyMessage(got)).To(SatisfyAll(ContainSubstring("now calls "+h.serverURL+"/v2/api/v1,"),
			ContainSubstring("last answered by "+right)))
		Expect(got.Status.AccountUID).To(Equal(before.AccountUID))
		Expect(got.Status.AccountStatus).To(Equal(before.AccountStatus))
		Expect(got.Status.ActivationToken).To(Equal(before.ActivationToken))
		Expect(got.Status.Endpoint).To(Equal(right))
		By("having tried to prove the endpoint with the other account it knows exists")
		Expect(h.sim.Requests()).To(Equal(map[string]int{"other 404": 2}))

		By("deleting it: the finalizer stays and says why")
		Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
		Eventually(func(g Gomega) string { return readyMessage(get(pa)(g)) }).WithTimeout(waitReady).WithPolling(poll).
			Should(SatisfyAll(ContainSubstring("finalizer stays"), ContainSubstring("/v2/api/v1")))
		Consistently(func(g Gomega) []string { return get(pa)(g).Finalizers }).WithTimeout(2 * time.Second).
			Should(ContainElement(billingv1alpha1.Finalizer))
		Expect(h.remote("prefix-1").Deleted).To(BeFalse())

		By("fixing the URL: the deletion completes, and deactivates the account")
		h.restartWithURL(right)
		Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
		Expect(h.remote("prefix-1").Deleted).To(BeTrue())
	})

	It("takes a 404 as proof from the endpoint that answered for the account, or once another account proves it", func() {
		h := startHarness(harnessOptions{})
		same := readyAccount(h, "same", "proof-1")
		moved := readyAccount(h, "moved", "proof-2")
		readyAccount(h, "witness", "proof-3")

		By("after a restart, a 404 from the URL that answered for this account before proves it gone")
		h.restartController()
		Expect(h.sim.DeleteOutOfBand("proof-1")).To(Succeed())
		requestReconcile(same, "gone")
		Eventually(get(same)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonRemoteDeleted))

		By("after a restart with another spelling of the URL, an account known to exist proves it first")
		h.restartWithURL(strings.Replace(h.apiURL, "127.0.0.1", "localhost", 1))
		Expect(h.sim.DeleteOutOfBand("proof-2")).To(Succeed())
		h.sim.ResetCounts()
		requestReconcile(moved, "gone")
		Eventually(get(moved)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonRemoteDeleted))
		Expect(h.sim.Requests()).To(HaveKeyWithValue("get 200", 1), "no account was read to prove the endpoint")
	})

	It("does not take an account made by someone else during an outage for its own lost reply", func() {
		h := startHarness(harnessOptions{})
		Expect(h.sim.SetFaults(simulator.Faults{ErrorRate: 1})).To(Succeed())
		pa := newAccount(h.ns(), "outage", "outage-1")
		endsAt := metav1.NewTime(time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second))
		pa.Spec.EndsAt = &endsAt
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(func() int { return h.requests("get 500") }).WithTimeout(waitReady).Should(BeNumerically(">=", 1))
		Expect(h.requests("create 500")).To(Equal(1), "the attempt whose outcome is unknown is followed by reads")
		got := get(pa)(Default)
		Expect(got).To(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonAPIUnavailable))
		claim := got.Status.CreateClaim
		Expect(claim).NotTo(BeNil())
		Expect(claim.Clock).To(Equal(billingv1alpha1.ClockAPI), "the 500s carried the API's Date")
		Expect(claim.Attempts).To(HaveLen(1))

		By("the operator down for a minute and a half, while another system creates the account")
		h.stopController()
		Expect(h.sim.SetFaults(simulator.Faults{})).To(Succeed())
		h.skewAPIClock(90 * time.Second)
		seeded, err := h.sim.Seed(simulator.Seed{UID: "outage-1", Type: "I", Domain: "b5test.com"})
		Expect(err).NotTo(HaveOccurred())
		h.stopController = h.startController()

		By("finding it created outside the window of its own attempts: it existed before, as far as this resource knows")
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).Should(isStalledWith(billingv1alpha1.ReasonAccountExists))
		got = get(pa)(Default)
		Expect(got.Status.AccountUID).To(BeEmpty())
		Expect(got.Status.ActivationToken).To(BeEmpty())
		Expect(h.remote("outage-1").EndsAt).To(BeNil(), "the end date of another system's account was written")
		Expect(eventText(pa)(Default)).NotTo(ContainSubstring(seeded.ActivationToken))

		By("deleting it deletes nothing remotely")
		Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
		Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
		Expect(h.remote("outage-1").Deleted).To(BeFalse())
	})

	It("recovers its own lost reply across a clock skew of two minutes", func() {
		h := startHarness(harnessOptions{})
		h.skewAPIClock(-2 * time.Minute)
		Expect(h.sim.SetFaults(simulator.Faults{DropRate: 1})).To(Succeed())
		pa := newAccount(h.ns(), "skewed", "skew-1")
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(func() int { return h.requests("create 201 dropped") }).WithTimeout(waitReady).Should(Equal(1))
		Expect(h.sim.SetFaults(simulator.Faults{})).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Expect(eventReasons(pa)(Default)).To(ContainElement(billingv1alpha1.EventRecovered))

		By("and owns a create answered 2xx, whatever the clocks say")
		fresh := readyAccount(h, "fresh", "skew-2")
		Expect(get(fresh)(Default).Status.AccountUID).To(Equal("skew-2"))
		Expect(h.requests("create 201")).To(Equal(1))
	})

	It("owns what a 2xx create answer says it made, and nothing an answer about another account says", func() {
		h := startHarness(harnessOptions{})
		By("an answer without type and domain: filled in from the request")
		h.front.set(frontCreateLacksTypeAndDomain)
		terse := readyAccount(h, "terse", "terse-1")
		Expect(get(terse)(Default).Status.AccountUID).To(Equal("terse-1"))

		By("an answer about another UID: not this resource's, nothing kept")
		h.front.set(frontOtherUID)
		other := newAccount(h.ns(), "other", "answered-1")
		Expect(k8sClient.Create(ctx, other)).To(Succeed())
		Eventually(get(other)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonAPIUnavailable))
		got := get(other)(Default)
		Expect(got.Status.AccountUID).To(BeEmpty())
		Expect(readyMessage(got)).To(ContainSubstring(`"someone-else"`))
		Expect(got.Status.CreateClaim.Attempts).NotTo(BeEmpty(), "the create's outcome for this UID is unknown")

		By("the API answering properly again: the account its create made is recovered")
		h.front.set(frontPass)
		Eventually(get(other)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Expect(h.requests("create 201")).To(Equal(2))
	})

	It("never reads a 400 as a missing account", func() {
		h := startHarness(harnessOptions{})
		readyAccount(h, "witness", "read400-0") // proves the endpoint, so that its 404 can end this test
		Expect(h.sim.SetFaults(simulator.Faults{ErrorRate: 1})).To(Succeed())
		pa := newAccount(h.ns(), "refused-read", "read400-1")
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(func() int { return h.requests("create 500") }).WithTimeout(waitReady).Should(Equal(1))
		h.front.set(frontGet400)
		Expect(h.sim.SetFaults(simulator.Faults{})).To(Succeed())
		calls := h.requests("create 201")

		By("the reads before a second create are answered 400: no create, the claim kept")
		Eventually(h.front.refusedReads.Load).WithTimeout(waitReady).Should(BeNumerically(">=", 2))
		Consistently(func() int { return h.requests("create 201") }).WithTimeout(2 * time.Second).Should(Equal(calls))
		got := get(pa)(Default)
		Expect(got).To(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonAPIUnavailable))
		Expect(got.Status.CreateClaim.Attempts).NotTo(BeEmpty())

		By("deleting it: the finalizer stays, since the read proves nothing")
		Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
		Eventually(func(g Gomega) string { return readyMessage(get(pa)(g)) }).WithTimeout(waitReady).WithPolling(poll).
			Should(ContainSubstring("finalizer stays"))
		Consistently(gone(pa)).WithTimeout(2 * time.Second).Should(BeFalse())
		h.front.set(frontPass)
		Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
	})

	It("never writes nor deletes an account replaced out of band, and says what changed", func() {
		h := startHarness(harnessOptions{})
		replaced := readyAccount(h, "replaced", "replaced-1")
		deleting := readyAccount(h, "deleting", "replaced-2")
		h.skewAPIClock(time.Hour)
		for _, uid := range []string{"replaced-1", "replaced-2"} {
			Expect(h.sim.DeleteOutOfBand(uid)).To(Succeed())
			_, err := h.sim.Seed(simulator.Seed{UID: uid, Type: "F", Domain: "b5test.com"})
			Expect(err).NotTo(HaveOccurred())
		}
		endsAt := metav1.NewTime(time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second))
		patchSpec(replaced, func(p *billingv1alpha1.PartnerAccount) { p.Spec.EndsAt = &endsAt })

		Eventually(get(replaced)).WithTimeout(waitReady).WithPolling(poll).
			Should(isStalledWith(billingv1alpha1.ReasonAccountReplaced))
		got := get(replaced)(Default)
		Expect(readyMessage(got)).To(SatisfyAll(ContainSubstring("type Family, not Individual"),
			ContainSubstring("created at"), ContainSubstring("spec.adoptExisting")))
		Expect(got.Status.AccountUID).To(BeEmpty())
		Expect(got.Status.ActivationToken).To(BeEmpty())
		Expect(h.remote("replaced-1").EndsAt).To(BeNil(), "the replacement's end date was written")
		Expect(h.requests("update 200")).To(BeZero())

		By("deleting either deletes nothing remotely: the one never read since checks before it deletes")
		for _, pa := range []*billingv1alpha1.PartnerAccount{replaced, deleting} {
			Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
			Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
		}
		Expect(h.remote("replaced-1").Deleted).To(BeFalse())
		Expect(h.remote("replaced-2").Deleted).To(BeFalse())
		Expect(h.requests("delete 204")).To(BeZero())
	})

	It("reports an end-date change the API answers without applying it, once per read-back", func() {
		h := startHarness(harnessOptions{resync: 2 * time.Second})
		pa := readyAccount(h, "ignored", "ignored-1")
		h.front.set(frontPatchIgnored)
		endsAt := metav1.NewTime(time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second))
		patchSpec(pa, func(p *billingv1alpha1.PartnerAccount) { p.Spec.EndsAt = &endsAt })
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonEndsAtNotApplied))
		Expect(readyMessage(get(pa)(Default))).To(ContainSubstring(endsAt.UTC().Format(time.RFC3339)))
		h.sim.ResetCounts()
		time.Sleep(4 * time.Second)
		// The front answers an ignored change with a read: at most one a read-back,
		// each after the read-back's own read.
		Expect(h.requests("get 200")).To(BeNumerically("<=", 2*4))
		Expect(countOf(eventReasons(pa)(Default), billingv1alpha1.ReasonEndsAtNotApplied)).To(Equal(1))
	})

	It("writes the token Secret of a resource with a 70-character name, and reports a Secret it cannot write", func() {
		h := startHarness(harnessOptions{})
		name := "customer-" + strings.Repeat("a", 61)
		By("a 70-character name and a Secret named after it")
		pa := newAccount(h.ns(), name, "long-1")
		pa.Spec.ActivationTokenSecretRef = &billingv1alpha1.SecretReference{Name: name + "-activation-token"}
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		secret := secretOf(h.ns(), name+"-activation-token")(Default)
		Expect(string(secret.Data["activationToken"])).To(Equal(h.remote("long-1").ActivationToken))
		Expect(len(secret.Labels[billingv1alpha1.PartnerAccountLabel])).To(BeNumerically("<=", 63))
		Expect(eventReasons(pa)(Default)).To(Equal([]string{billingv1alpha1.EventCreated}))

		By("a namespace whose quota allows no Secret: the account is in status, the failure in Ready")
		one := corev1.ResourceList{"count/secrets": resource.MustParse("1")}
		quota := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns(), Name: "no-secrets"},
			Spec: corev1.ResourceQuotaSpec{Hard: one}}
		Expect(k8sClient.Create(ctx, quota)).To(Succeed())
		// envtest runs no quota controller: write the usage it would.
		quota.Status = corev1.ResourceQuotaStatus{Hard: one, Used: one}
		Expect(k8sClient.Status().Update(ctx, quota)).To(Succeed())
		blocked := newAccount(h.ns(), "blocked", "long-2")
		blocked.Spec.ActivationTokenSecretRef = &billingv1alpha1.SecretReference{Name: "blocked-token"}
		Expect(k8sClient.Create(ctx, blocked)).To(Succeed())
		Eventually(get(blocked)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonTokenSecretFailed))
		got := get(blocked)(Default)
		Expect(got.Status.AccountUID).To(Equal("long-2"))
		Expect(readyMessage(got)).To(SatisfyAll(ContainSubstring("blocked-token"), ContainSubstring("exceeded quota")))
		Consistently(func() int { return countOf(eventReasons(blocked)(Default), billingv1alpha1.ReasonTokenSecretFailed) }).
			WithTimeout(3 * time.Second).Should(Equal(1))
		Expect(eventReasons(blocked)(Default)).NotTo(ContainElement(billingv1alpha1.EventRecovered))

		By("the quota lifted: the Secret is written at the next retry, and nothing was created twice")
		Expect(k8sClient.Delete(ctx, quota)).To(Succeed())
		Eventually(get(blocked)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Expect(string(secretOf(h.ns(), "blocked-token")(Default).Data["activationToken"])).
			To(Equal(h.remote("long-2").ActivationToken))
		Expect(h.requests("create 201")).To(Equal(2))
	})

	It("gives the token Secret of a resource with the longest name a name that fits", func() {
		h := startHarness(harnessOptions{noTokenInStatus: true})
		name := strings.Repeat("b", 250)
		pa := newAccount(h.ns(), name, "long-3")
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		secretName := get(pa)(Default).Status.ActivationTokenSecretName
		Expect(len(secretName)).To(BeNumerically("<=", 253))
		Expect(secretName).To(HaveSuffix("-activation"))
		Expect(string(secretOf(h.ns(), secretName)(Default).Data["activationToken"])).
			To(Equal(h.remote("long-3").ActivationToken))
	})

	It("holds no worker during a 600 s Retry-After: what needs no call goes ahead", func() {
		h := startHarness(harnessOptions{})
		limited := readyAccount(h, "limited", "pause-1")
		orphan := newAccount(h.ns(), "orphan", "pause-2")
		orphan.Spec.DeletionPolicy = billingv1alpha1.DeletionPolicyOrphan
		Expect(k8sClient.Create(ctx, orphan)).To(Succeed())
		suspended := readyAccount(h, "suspended", "pause-3")
		kept := newAccount(h.ns(), "kept", "pause-4")
		kept.Spec.ActivationTokenSecretRef = &billingv1alpha1.SecretReference{Name: "kept-token"}
		Expect(k8sClient.Create(ctx, kept)).To(Succeed())
		for _, pa := range []*billingv1alpha1.PartnerAccount{orphan, kept} {
			Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
				Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		}
		token := h.remote("pause-4").ActivationToken

		By("a 429 asking for 600 s")
		h.sim.ResetCounts()
		Expect(h.sim.SetFaults(simulator.Faults{RateLimitRate: 1, RetryAfter: 600})).To(Succeed())
		requestReconcile(limited, "now")
		Eventually(func() int { return h.requests("get 429") }).WithTimeout(waitReady).Should(Equal(1))
		start := time.Now()

		By("an Orphan deletion, a suspension and a Secret deleted by hand complete in seconds")
		Expect(k8sClient.Delete(ctx, orphan)).To(Succeed())
		patchSpec(suspended, func(p *billingv1alpha1.PartnerAccount) { p.Spec.Suspend = true })
		Expect(k8sClient.Delete(ctx, secretOf(h.ns(), "kept-token")(Default))).To(Succeed())
		Eventually(gone(orphan)).WithTimeout(5 * time.Second).WithPolling(poll).Should(BeTrue())
		Eventually(get(suspended)).WithTimeout(5 * time.Second).WithPolling(poll).
			Should(haveReady(metav1.ConditionUnknown, billingv1alpha1.ReasonReconcileSuspended))
		Eventually(func(g Gomega) string { return string(secretOf(h.ns(), "kept-token")(g).Data["activationToken"]) }).
			WithTimeout(5 * time.Second).WithPolling(poll).Should(Equal(token))
		Expect(time.Since(start)).To(BeNumerically("<", 10*time.Second))

		By("a new resource is told to wait, at once, without a claim")
		late := newAccount(h.ns(), "late", "pause-5")
		Expect(k8sClient.Create(ctx, late)).To(Succeed())
		Eventually(get(late)).WithTimeout(5 * time.Second).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonRateLimited))
		Expect(get(late)(Default).Status.CreateClaim).To(BeNil())
		Expect(h.sim.Requests()).To(Equal(map[string]int{"get 429": 1}), "a call went out during the pause")
		Expect(get(kept)(Default)).To(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
	})

	It("drops each refused attempt from its claim, and writes nothing while the gate holds calls back", func() {
		h := startHarness(harnessOptions{apiUnauthorizedRetry: 5 * time.Second})
		Expect(h.sim.SetFaults(simulator.Faults{RateLimitRate: 1, RetryAfter: 1})).To(Succeed())
		pa := newAccount(h.ns(), "patient", "patient-1")
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(func() int { return h.requests("create 429") }).WithTimeout(waitReady).Should(BeNumerically(">=", 2))
		// Each attempt is written before it goes: between two, none is left.
		Eventually(get(pa)).WithTimeout(5*time.Second).WithPolling(20*time.Millisecond).Should(SatisfyAll(
			HaveField("Status.CreateClaim", BeNil()),
			haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonRateLimited)),
			"a 429 made nothing: each attempt goes once refused")

		By("then 401s: the gate sends one probe a period, and nothing is written between them")
		Expect(h.sim.SetFaults(simulator.Faults{})).To(Succeed())
		Expect(h.sim.SetTokens([]string{"another-token"})).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonUnauthorized))
		unauthorized := get(pa)(Default)
		Expect(unauthorized.Status.CreateClaim).To(BeNil())
		sent := h.requests("create 401")
		Consistently(func(g Gomega) string { return get(pa)(g).ResourceVersion }).WithTimeout(2 * time.Second).
			Should(Equal(unauthorized.ResourceVersion))
		Expect(h.requests("create 401")).To(Equal(sent), "a call went out between the gate's probes")

		By("the token accepted again: created once")
		Expect(h.sim.SetTokens([]string{testToken})).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Expect(h.requests("create 201")).To(Equal(1))
	})
})

// countOf counts v in list.
func countOf(list []string, v string) int {
	n := 0
	for _, s := range list {
		if s == v {
			n++
		}
	}
	return n
}

var _ = Describe("Evidence tied to where it was earned", func() {
	for _, dialect := range []simulator.Dialect{simulator.DialectContract, simulator.DialectPublished} {
		Context("against servers speaking the "+string(dialect)+" dialect", func() {
			It("never takes an account for gone when its connection moves to another server, and finds it when it comes back", func() {
				h := startHarness(harnessOptions{connections: true, dialect: dialect})
				a := startPartnerServer("partner-token-a", dialect)
				b := startPartnerServer("partner-token-a", dialect)
				pc := h.createConnection(a.url, "partner-token-a")
				old := createAccount(onConnection(newAccount(h.ns(), "old", "moved-1"), pc))
				witness := createAccount(onConnection(newAccount(h.ns(), "witness", "moved-2"), pc))
				for _, pa := range []*billingv1alpha1.PartnerAccount{old, witness} {
					Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
						Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
				}
				before := get(old)(Default).Status

				By("moving the connection to another server, and making an account there")
				movePC(pc, func(p *billingv1alpha1.PartnerConnection) { p.Spec.URL = b.url })
				fresh := createAccount(onConnection(newAccount(h.ns(), "fresh", "moved-3"), pc))
				Eventually(get(fresh)).WithTimeout(waitReady).WithPolling(poll).
					Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
				Expect(b.accountUIDs()).To(ConsistOf("moved-3"))
				Eventually(func(g Gomega) string { return connectionReady(getConnection(pc)(g)) }).
					WithTimeout(waitReady).WithPolling(poll).Should(Equal("False/EndpointChanged"),
					"the connection does not say that its server holds none of its accounts")

				By("the old account's 404 from the new server: EndpointChanged, naming both, with its token kept")
				requestReconcile(old, "moved")
				Eventually(get(old)).WithTimeout(waitReady).WithPolling(poll).
					Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonEndpointChanged))
				got := get(old)(Default)
				Expect(readyMessage(got)).To(SatisfyAll(ContainSubstring(a.url), ContainSubstring(b.url)))
				Expect(got.Status.AccountUID).To(Equal(before.AccountUID))
				Expect(got.Status.ActivationToken).To(Equal(before.ActivationToken))
				Expect(got.Status.Endpoint).To(Equal(a.url))

				By("deleting it: the finalizer stays, and nothing is deleted anywhere")
				Expect(k8sClient.Delete(ctx, old)).To(Succeed())
				Eventually(func(g Gomega) string { return readyMessage(get(old)(g)) }).WithTimeout(waitReady).WithPolling(poll).
					Should(SatisfyAll(ContainSubstring("finalizer stays"), ContainSubstring(b.url)))
				Consistently(gone(old)).WithTimeout(2 * time.Second).Should(BeFalse())
				for _, ps := range []*partnerServer{a, b} {
					for _, r := range ps.seen() {
						Expect(r.Method).NotTo(Equal(http.MethodDelete), "a deletion went to %s", ps.url)
					}
				}
				Expect(a.account("moved-1").Deleted).To(BeFalse())

				By("moving it back: the deletion completes on the account's own server")
				patchSpec(fresh, func(p *billingv1alpha1.PartnerAccount) { p.Spec.DeletionPolicy = billingv1alpha1.DeletionPolicyOrphan })
				movePC(pc, func(p *billingv1alpha1.PartnerConnection) { p.Spec.URL = a.url })
				Eventually(gone(old)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
				Expect(a.account("moved-1").Deleted).To(BeTrue())
				requestReconcile(witness, "back")
				Eventually(get(witness)).WithTimeout(waitReady).WithPolling(poll).
					Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
			})

			It("takes neither a 404 nor another account for gone or replaced when the token is swapped to another partner's", func() {
				h := startHarness(harnessOptions{connections: true, dialect: dialect})
				ours := startPartnerServer("partner-token-a", dialect)
				theirs := startPartnerServer("partner-token-b", dialect)
				// The other partner has a customer under one of the same UIDs.
				_, err := theirs.sim.Seed(simulator.Seed{UID: "swap-1", Type: "I", Domain: "b5test.com",
					CreatedAt: time.Now().Add(-72 * time.Hour)})
				Expect(err).NotTo(HaveOccurred())
				router := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Header.Get("Authorization") == "Bearer partner-token-b" {
						theirs.sim.ServeHTTP(w, r)
						return
					}
					ours.sim.ServeHTTP(w, r)
				}))
				DeferCleanup(router.Close)
				pc := h.createConnection(router.URL+"/api/v1", "partner-token-a")
				same := createAccount(onConnection(newAccount(h.ns(), "same-uid", "swap-1"), pc))
				only := createAccount(onConnection(newAccount(h.ns(), "only-ours", "swap-2"), pc))
				for _, pa := range []*billingv1alpha1.PartnerAccount{same, only} {
					Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
						Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
				}

				By("swapping the token Secret to another partner's")
				swapToken(h, pc, "partner-token-b")
				Eventually(func(g Gomega) string { return connectionReady(getConnection(pc)(g)) }).
					WithTimeout(waitReady).WithPolling(poll).Should(Equal("False/EndpointChanged"))
				theirs.sim.ResetCounts()
				requestReconcile(same, "swapped")
				requestReconcile(only, "swapped")
				for _, pa := range []*billingv1alpha1.PartnerAccount{same, only} {
					Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
						Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonEndpointChanged))
					Expect(get(pa)(Default).Status.AccountUID).NotTo(BeEmpty(), "%s gave up its account", pa.Name)
					Expect(get(pa)(Default).Status.ActivationToken).NotTo(BeEmpty(), "%s dropped its token", pa.Name)
				}
				Expect(readyMessage(get(same)(Default))).To(ContainSubstring("another partner token"))
				for key := range theirs.sim.Requests() {
					Expect(key).To(HavePrefix("get "), "the other partner's server got a write")
				}

				By("the token put back: both Ready again at once, with no spec change")
				swapToken(h, pc, "partner-token-a")
				for _, pa := range []*billingv1alpha1.PartnerAccount{same, only} {
					Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
						Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
				}
				Expect(ours.account("swap-1").Deleted).To(BeFalse())
			})
		})
	}
})

// movePC edits the PartnerConnection pc's spec.
func movePC(pc *billingv1alpha1.PartnerConnection, edit func(*billingv1alpha1.PartnerConnection)) {
	GinkgoHelper()
	Eventually(func() error {
		cur := &billingv1alpha1.PartnerConnection{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(pc), cur); err != nil {
			return err
		}
		edit(cur)
		return k8sClient.Update(ctx, cur)
	}).WithTimeout(waitReady).Should(Succeed())
}

// swapToken puts token in the Secret pc's spec.tokenSecretRef names.
func swapToken(h *harness, pc *billingv1alpha1.PartnerConnection, token string) {
	GinkgoHelper()
	secret := &corev1.Secret{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: h.secretNamespace, Name: pc.Spec.TokenSecretRef.Name}, secret)).
		To(Succeed())
	secret.Data = map[string][]byte{pc.Spec.TokenSecretRef.Key: []byte(token)}
	Expect(k8sClient.Update(ctx, secret)).To(Succeed())
}
