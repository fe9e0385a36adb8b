//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

// failoverNS is where the failover spec puts its PartnerAccounts.
const failoverNS = "e2e-failover"

// acquired is what controller-runtime's leader election logs when it takes the lease.
const acquired = "Successfully acquired lease"

var _ = Describe("Two replicas", Ordered, func() {
	It("lose no account and create none twice when the leader is killed in a burst of 200 creates", func(ctx SpecContext) {
		const n = 200
		kubectl(ctx, "create", "namespace", failoverNS)
		leader := env.Operator()
		Eventually(ctx, func() int { return leases(leader.Log) }).Should(BeNumerically(">=", 1))

		By("starting a second replica, which waits for the lease")
		standby, err := env.StartOperator(ctx, "operator-b")
		Expect(err).NotTo(HaveOccurred())
		Consistently(ctx, func() int { return leases(standby.Log) }).WithTimeout(2 * time.Second).Should(BeZero())

		By(fmt.Sprintf("applying %d PartnerAccounts at once, the API answering in about 50ms", n))
		Expect(env.SetSimulatorFaults(ctx, simulator.Faults{Latency: 50 * time.Millisecond})).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(env.SetSimulatorFaults(ctx, simulator.Faults{})).To(Succeed()) })
		Expect(env.ResetSimulatorRequests(ctx)).To(Succeed())
		docs := make([]string, 0, n)
		for i := range n {
			docs = append(docs, account(failoverNS, fmt.Sprintf("fo-%03d", i), fmt.Sprintf("fo-%03d", i), "Individual"))
		}
		_, _, err = kubectlWithInput(ctx, strings.Join(docs, "\n---\n"), "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())

		By("killing the leader with SIGKILL once a fifth of the accounts exist")
		Eventually(ctx, func() int { return remoteCount(ctx, "fo-") }).WithTimeout(time.Minute).
			Should(BeNumerically(">=", n/5))
		Expect(leader.Kill()).To(Succeed())
		killed := time.Now()
		Eventually(ctx, func() int { return leases(standby.Log) }).
			WithTimeout(25 * time.Second).WithPolling(200 * time.Millisecond).Should(Equal(1))
		takeover := time.Since(killed)
		GinkgoWriter.Printf("The second replica took the lease %v after the leader was killed\n",
			takeover.Round(100*time.Millisecond))
		AddReportEntry("failover takeover", takeover.String())
		Expect(takeover).To(BeNumerically("<", 20*time.Second))

		By("every account becomes Ready, each created exactly once")
		kubectl(ctx, "wait", "-n", failoverNS, "--for=condition=Ready", "--timeout=120s", "partneraccounts", "--all")
		Expect(remoteCount(ctx, "fo-")).To(Equal(n))
		requests, err := env.SimulatorRequests(ctx)
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Printf("Simulator requests: %v\n", requests)
		Expect(requests).To(HaveKeyWithValue("create 201", n))
		for key := range requests {
			if strings.HasPrefix(key, "create ") {
				Expect(key).To(Equal("create 201"), "a create was sent again: %v", requests)
			}
		}

		By("putting the first replica back and stopping the second, as before the spec")
		Expect(env.RestartOperator(ctx)).To(Succeed())
		before := leases(env.Operator().Log)
		Expect(standby.Stop()).To(Succeed())
		Eventually(ctx, func() int { return leases(env.Operator().Log) }).WithTimeout(30 * time.Second).
			Should(Equal(before + 1))
	})
})

// leases returns how many times the operator whose log is at path took the lease.
func leases(path string) int {
	data, _ := os.ReadFile(path)
	return strings.Count(string(data), acquired)
}

// remoteCount returns how many accounts the simulator holds whose id starts with prefix.
func remoteCount(ctx SpecContext, prefix string) int {
	GinkgoHelper()
	accounts, err := env.RemoteAccounts(ctx)
	Expect(err).NotTo(HaveOccurred())
	n := 0
	for _, a := range accounts {
		if strings.HasPrefix(a.UID, prefix) {
			n++
		}
	}
	return n
}
