package partneraccount

import (
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

var _ = Describe("PartnerAccounts at rest", func() {
	It("cost one API call and at most three writes each to create, then nothing while idle", func() {
		const n = 50
		h := startHarness(harnessOptions{}) // resync every 10 minutes, as in production

		By("watching every write to the namespace's PartnerAccounts")
		w, err := k8sClientWatch(h.ns())
		Expect(err).NotTo(HaveOccurred())
		defer w.Stop()
		var mu sync.Mutex
		writes := map[string]int{} // MODIFIED events per object
		go func() {
			defer GinkgoRecover()
			for ev := range w.ResultChan() {
				if pa, ok := ev.Object.(*billingv1alpha1.PartnerAccount); ok && ev.Type == watch.Modified {
					mu.Lock()
					writes[pa.Name]++
					mu.Unlock()
				}
			}
		}()
		countWrites := func() int {
			mu.Lock()
			defer mu.Unlock()
			total := 0
			for _, c := range writes {
				total += c
			}
			return total
		}

		By(fmt.Sprintf("creating %d accounts", n))
		for i := range n {
			pa := newAccount(h.ns(), fmt.Sprintf("idle-%02d", i), fmt.Sprintf("idle-%02d", i))
			Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		}
		Eventually(func(g Gomega) {
			var list billingv1alpha1.PartnerAccountList
			g.Expect(k8sClient.List(ctx, &list, client.InNamespace(h.ns()))).To(Succeed())
			g.Expect(list.Items).To(HaveLen(n))
			for i := range list.Items {
				g.Expect(&list.Items[i]).To(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
			}
		}).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())

		Expect(h.sim.Requests()).To(Equal(map[string]int{"create 201": n}), "one API call per new account")
		Eventually(countWrites).Should(BeNumerically(">=", 2*n))
		mu.Lock()
		for name, c := range writes {
			Expect(c).To(BeNumerically("<=", 3), "%s was written %d times (finalizer, first sight, result)", name, c)
		}
		mu.Unlock()

		By("leaving them alone for 30 seconds")
		settled := countWrites()
		h.sim.ResetCounts()
		Consistently(func() int { return h.totalRequests() + countWrites() - settled }).
			WithTimeout(30 * time.Second).WithPolling(time.Second).Should(BeZero())
	})
})

// k8sClientWatch watches the PartnerAccounts of a namespace.
func k8sClientWatch(namespace string) (watch.Interface, error) {
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	return wc.Watch(ctx, &billingv1alpha1.PartnerAccountList{}, client.InNamespace(namespace))
}
