package partneraccount

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

// Claims that survive any restart: each create attempt is recorded before it is
// sent, and absence never ends an attempt whose outcome may still land.
var _ = Describe("Create claims", func() {
	for _, dialect := range []simulator.Dialect{simulator.DialectContract, simulator.DialectPublished} {
		Context("against a server speaking the "+string(dialect)+" dialect", func() {
			It("recovers its own account after a restart between a retried create's POST and the status write", func() {
				h := startHarness(harnessOptions{dialect: dialect})
				By("a first attempt answered 500, whose outcome is unknown")
				Expect(h.sim.SetFaults(simulator.Faults{ErrorRate: 1})).To(Succeed())
				pa := newAccount(h.ns(), "retried", "retried-1")
				Expect(k8sClient.Create(ctx, pa)).To(Succeed())
				Eventually(func() int { return h.requests("create 500") }).WithTimeout(waitReady).Should(Equal(1))

				By("an hour later on the API's clock, the retry's POST makes the account, and the operator stops before " +
					"it hears back")
				hung := make(chan struct{}, 1)
				h.front.interceptWith(func(w http.ResponseWriter, r *http.Request) bool {
					if r.Method != http.MethodPost {
						return false
					}
					h.front.sim.ServeHTTP(httptest.NewRecorder(), r)
					hung <- struct{}{}
					<-r.Context().Done()
					return true
				})
				h.skewAPIClock(time.Hour)
				Expect(h.sim.SetFaults(simulator.Faults{})).To(Succeed())
				Eventually(hung).WithTimeout(waitReady).Should(Receive())
				h.restartController()
				h.front.interceptWith(nil)
				Expect(h.remote("retried-1").Deleted).To(BeFalse())

				By("after the restart: the attempt was recorded before it was sent, so the account is its own")
				Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
					Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
				Expect(eventReasons(pa)(Default)).To(ContainElement(billingv1alpha1.EventRecovered))
				Expect(eventReasons(pa)(Default)).NotTo(ContainElement(billingv1alpha1.ReasonAccountExists))
				Expect(h.requests("create 201")).To(Equal(1), "the account was created twice")
				got := get(pa)(Default)
				Expect(got.Status.AccountUID).To(Equal("retried-1"))
				Expect(got.Status.CreateClaim).To(BeNil())
			})
		})
	}

	It("keeps an attempt through a 404 while its account may still land, and owns the account when it does", func() {
		h := startHarness(harnessOptions{})
		By("a first POST the server holds past the client's timeout, and answers 429 to the next")
		var posts atomic.Int32
		landed := make(chan struct{})
		h.front.interceptWith(func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method != http.MethodPost {
				return false
			}
			if posts.Add(1) == 1 {
				body := httptest.NewRecorder()
				time.Sleep(7 * time.Second) // the client gave up at 5 s
				h.front.sim.ServeHTTP(body, r)
				close(landed)
				return true
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"status":429,"message":"Slow down.","code":"rate_limited"}`))
			return true
		})
		DeferCleanup(func() { h.front.interceptWith(nil) })
		pa := newAccount(h.ns(), "late", "late-1")
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())

		By("reads before it lands answer 404: the attempt stays in the claim")
		Eventually(func() int { return h.requests("get 404") }).WithTimeout(waitReady).Should(BeNumerically(">=", 1))
		Eventually(func() int32 { return posts.Load() }).WithTimeout(waitReady).Should(BeNumerically(">=", 2))
		claim := get(pa)(Default).Status.CreateClaim
		Expect(claim).NotTo(BeNil(), "a 404 ended the claim while its attempt's account could still land")
		first := claim.Attempts[0]
		// Each 429'd attempt is written before it goes and removed once refused:
		// between two, the first attempt is the claim's only one.
		Eventually(func(g Gomega) []billingv1alpha1.CreateAttempt {
			claim := get(pa)(g).Status.CreateClaim
			g.Expect(claim).NotTo(BeNil(), "the claim ended before its attempt's account landed")
			return claim.Attempts
		}).WithTimeout(5*time.Second).WithPolling(20*time.Millisecond).Should(Equal([]billingv1alpha1.CreateAttempt{first}),
			"the 429's attempt is not dropped, or the first one is")

		By("the first POST lands: the account is its own, recovered")
		Eventually(landed).WithTimeout(waitReady).Should(BeClosed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Expect(eventReasons(pa)(Default)).To(ContainElement(billingv1alpha1.EventRecovered))
		Expect(eventReasons(pa)(Default)).NotTo(ContainElement(billingv1alpha1.ReasonAccountExists))
	})
})
