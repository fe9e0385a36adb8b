package partneraccount

import (
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// What keeps many accounts cheap: restarts that cost nothing, read-backs within
// their budget, and an outage that does not multiply calls.
var _ = Describe("Many PartnerAccounts", func() {
	createReady := func(h *harness, n int, prefix string) {
		GinkgoHelper()
		createAccounts(h, n, prefix)
		waitAll(h, n, prefix, haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
	}

	It("make no call and no write when the operator restarts", func() {
		h := startHarness(harnessOptions{})
		createReady(h, 20, "restart")
		writes := countWrites(h.ns())
		h.sim.ResetCounts()

		h.restartController()
		Consistently(func() int { return h.totalRequests() + writes() }).
			WithTimeout(5 * time.Second).WithPolling(250 * time.Millisecond).Should(BeZero())

		By("while user work still goes through at once")
		pa := newAccount(h.ns(), "restart-00", "")
		endsAt := metav1.NewTime(time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second))
		patchSpec(pa, func(p *billingv1alpha1.PartnerAccount) { p.Spec.EndsAt = &endsAt })
		Eventually(func() int { return h.requests("update 200") }).WithTimeout(5 * time.Second).Should(Equal(1))
	})

	It("keep background read-backs within their rate", func() {
		const rate = 4.0
		h := startHarness(harnessOptions{resync: time.Second, readBackRate: rate})
		createReady(h, 30, "budget")
		// Thirty accounts at four a second: a read-back period of 7.5s, not 1s.
		time.Sleep(4 * time.Second)
		h.sim.ResetCounts()
		start := time.Now()
		time.Sleep(8 * time.Second)
		reads := h.requests("get 200")
		elapsed := time.Since(start).Seconds()
		GinkgoWriter.Printf("%d read-backs in %.1fs at a budget of %.0f/s\n", reads, elapsed, rate)
		// Thirty accounts due every second would make 240 reads without the budget.
		Expect(float64(reads)).To(BeNumerically("<=", rate*elapsed+2))
		Expect(reads).To(BeNumerically(">=", 10), "read-backs stopped altogether")
	})

	It("probe a rejected token once per period, however often the accounts retry", func() {
		h := startHarness(harnessOptions{unauthorizedRetry: 200 * time.Millisecond, apiUnauthorizedRetry: time.Second})
		Expect(h.sim.SetTokens([]string{"another-token"})).To(Succeed())
		createAccounts(h, 5, "probe")
		waitAll(h, 5, "probe", haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonUnauthorized))
		start := time.Now()
		first := h.totalRequests()
		time.Sleep(3 * time.Second)
		sent := h.totalRequests() - first
		GinkgoWriter.Printf("%d requests in %v while 5 accounts retry every 200ms\n", sent, time.Since(start))
		Expect(sent).To(BeNumerically("<=", int(time.Since(start)/time.Second)+1))
		Expect(sent).To(BeNumerically(">=", 1), "no probe was sent")
	})

	It("wake every account waiting as Unauthorized as soon as the token works again", func() {
		h := startHarness(harnessOptions{unauthorizedRetry: time.Hour, apiUnauthorizedRetry: 200 * time.Millisecond})
		Expect(h.sim.SetTokens([]string{"another-token"})).To(Succeed())
		createAccounts(h, 5, "wake")
		waitAll(h, 5, "wake", haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonUnauthorized))

		By("accepting the token, then asking for one account: the probe wakes all, not after their hour")
		Expect(h.sim.SetTokens([]string{testToken})).To(Succeed())
		time.Sleep(300 * time.Millisecond) // past the probe period
		requestReconcile(newAccount(h.ns(), "wake-00", ""), "probe")
		waitAll(h, 5, "wake", haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Expect(h.requests("create 201")).To(Equal(5))
	})
})

// createAccounts creates n PartnerAccounts named and identified prefix-NN.
func createAccounts(h *harness, n int, prefix string) {
	GinkgoHelper()
	for i := range n {
		name := fmt.Sprintf("%s-%02d", prefix, i)
		Expect(k8sClient.Create(ctx, newAccount(h.ns(), name, name))).To(Succeed())
	}
}

// waitAll waits until the n PartnerAccounts prefix-NN all match m.
func waitAll(h *harness, n int, prefix string, m OmegaMatcher) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		for i := range n {
			g.Expect(get(newAccount(h.ns(), fmt.Sprintf("%s-%02d", prefix, i), ""))(g)).To(m)
		}
	}).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
}

// countWrites counts the writes to the PartnerAccounts of a namespace from now on.
func countWrites(namespace string) func() int {
	GinkgoHelper()
	w, err := k8sClientWatch(namespace)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(w.Stop)
	var mu sync.Mutex
	n := 0
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type == watch.Modified {
				mu.Lock()
				n++
				mu.Unlock()
			}
		}
	}()
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}
