//go:build e2e

package e2e

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

// evidenceNS is where the specs of decisions from proof put their PartnerAccounts.
const evidenceNS = "e2e-evidence"

var _ = Describe("Decisions only from proof", Ordered, func() {
	BeforeAll(func(ctx SpecContext) {
		kubectl(ctx, "create", "namespace", evidenceNS)
		DeferCleanup(waitQuiet)
	})

	ready := func(ctx SpecContext, name string) {
		GinkgoHelper()
		kubectl(ctx, "wait", "-n", evidenceNS, "--for=condition=Ready", "--timeout=30s", "partneraccount/"+name)
	}
	reason := func(ctx SpecContext, name string) func() string {
		return func() string { return jsonpath(ctx, evidenceNS, name, readyReasonPath) }
	}

	It("concludes nothing from a wrong prefix's JSON 404s, and deactivates once the URL is fixed", func(ctx SpecContext) {
		applyManifest(ctx, account(evidenceNS, "prefix", "ev-prefix-1", "Individual"))
		applyManifest(ctx, account(evidenceNS, "witness", "ev-prefix-2", "Individual"))
		ready(ctx, "prefix")
		ready(ctx, "witness")
		token := jsonpath(ctx, evidenceNS, "prefix", "{.status.activationToken}")

		By("restarting the operator with a wrong path prefix on the simulator's host")
		wrong := strings.TrimSuffix(env.PartnerAPIURL, "/api/v1") + "/v2/api/v1"
		Expect(env.RestartOperator(ctx, "--partner-api-url="+wrong)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(env.RestartOperator(ctx)).To(Succeed()) })
		kubectl(ctx, "annotate", "-n", evidenceNS, "partneraccount", "prefix", "--overwrite",
			"billing.partnerbilling.io/reconcile-requested-at=wrong-prefix")
		// The account was last answered at the right URL: the wrong one is another
		// origin, whose 404 proves nothing about it.
		Eventually(ctx, reason(ctx, "prefix")).WithTimeout(30 * time.Second).Should(Equal("EndpointChanged"))
		Expect(jsonpath(ctx, evidenceNS, "prefix", readyMessagePath)).To(SatisfyAll(
			ContainSubstring("now calls "+wrong+","),
			ContainSubstring("last answered by "+env.PartnerAPIURL+" "),
			Not(ContainSubstring("/partners/accounts/"))))
		Expect(jsonpath(ctx, evidenceNS, "prefix", "{.status.activationToken}")).To(Equal(token))
		Expect(jsonpath(ctx, evidenceNS, "prefix", "{.status.accountStatus}")).To(Equal("entitled"))

		By("deleting it: the finalizer stays while the prefix is wrong")
		kubectl(ctx, "delete", "-n", evidenceNS, "partneraccount", "prefix", "--wait=false")
		Consistently(ctx, func() string { return jsonpath(ctx, evidenceNS, "prefix", "{.metadata.finalizers}") }).
			WithTimeout(3 * time.Second).Should(ContainSubstring("billing.partnerbilling.io/finalizer"))
		Eventually(ctx, func() string { return jsonpath(ctx, evidenceNS, "prefix", readyMessagePath) }).
			WithTimeout(10 * time.Second).Should(ContainSubstring("finalizer stays"))
		Expect(remote(ctx, "ev-prefix-1").Deleted).To(BeFalse())

		By("fixing the URL: the deletion completes and deactivates the account")
		Expect(env.RestartOperator(ctx)).To(Succeed())
		kubectl(ctx, "wait", "-n", evidenceNS, "--for=delete", "--timeout=60s", "partneraccount/prefix")
		Expect(remote(ctx, "ev-prefix-1").Deleted).To(BeTrue())
	})

	It("does not take an account made by someone else after an outage for its own lost reply", func(ctx SpecContext) {
		Expect(env.SetSimulatorFaults(ctx, simulator.Faults{ErrorRate: 1})).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(env.SetSimulatorFaults(ctx, simulator.Faults{})).To(Succeed()) })
		applyManifest(ctx, account(evidenceNS, "outage", "ev-outage-1", "Individual", `  endsAt: "2034-01-01T00:00:00Z"`))
		Eventually(ctx, reason(ctx, "outage")).Should(Equal("APIUnavailable"))

		By("the operator down while another system creates the account, 90 s after the last attempt")
		Expect(env.StopOperator()).To(Succeed())
		Expect(env.SetSimulatorFaults(ctx, simulator.Faults{})).To(Succeed())
		Expect(env.SeedRemoteAccount(ctx, "ev-outage-1", "I", "b5test.com", time.Now().Add(90*time.Second))).To(Succeed())
		Expect(env.RestartOperator(ctx)).To(Succeed())

		kubectl(ctx, "wait", "-n", evidenceNS, "--for=condition=Stalled", "--timeout=30s", "partneraccount/outage")
		Expect(jsonpath(ctx, evidenceNS, "outage", readyReasonPath)).To(Equal("AccountExists"))
		Expect(jsonpath(ctx, evidenceNS, "outage", "{.status.activationToken}")).To(BeEmpty())
		Expect(remote(ctx, "ev-outage-1").EndsAt).To(BeNil(), "it wrote the end date of another system's account")

		kubectl(ctx, "delete", "-n", evidenceNS, "partneraccount", "outage", "--timeout=30s")
		Expect(remote(ctx, "ev-outage-1").Deleted).To(BeFalse())
	})

	It("never writes nor deletes an account deleted and created again as another type", func(ctx SpecContext) {
		applyManifest(ctx, account(evidenceNS, "replaced", "ev-replaced-1", "Individual"))
		ready(ctx, "replaced")
		Expect(env.DeleteRemoteAccount(ctx, "ev-replaced-1")).To(Succeed())
		Expect(env.SeedRemoteAccount(ctx, "ev-replaced-1", "F", "b5test.com", time.Now().Add(time.Minute))).To(Succeed())

		applyManifest(ctx, account(evidenceNS, "replaced", "ev-replaced-1", "Individual", `  endsAt: "2034-01-01T00:00:00Z"`))
		kubectl(ctx, "wait", "-n", evidenceNS, "--for=condition=Stalled", "--timeout=30s", "partneraccount/replaced")
		Expect(jsonpath(ctx, evidenceNS, "replaced", readyReasonPath)).To(Equal("AccountReplaced"))
		Expect(jsonpath(ctx, evidenceNS, "replaced", readyMessagePath)).To(ContainSubstring("type Family, not Individual"))
		Expect(remote(ctx, "ev-replaced-1").EndsAt).To(BeNil(), "it wrote the replacement's end date")

		kubectl(ctx, "delete", "-n", evidenceNS, "partneraccount", "replaced", "--timeout=30s")
		Expect(remote(ctx, "ev-replaced-1").Deleted).To(BeFalse())
	})

	It("writes the token Secret of a resource with a 70-character name", func(ctx SpecContext) {
		name := "customer-" + strings.Repeat("x", 61)
		applyManifest(ctx, account(evidenceNS, name, "ev-long-1", "Individual",
			"  activationTokenSecretRef:\n    name: "+name+"-token"))
		ready(ctx, name)
		Expect(kubectl(ctx, "get", "secret", "-n", evidenceNS, name+"-token", "-o", "jsonpath={.data.activationToken}")).
			NotTo(BeEmpty())
		Expect(jsonpath(ctx, evidenceNS, name, "{.status.accountUID}")).To(Equal("ev-long-1"))
	})

	It("completes an Orphan deletion and a suspension in seconds during a 600 s Retry-After", func(ctx SpecContext) {
		orphan := account(evidenceNS, "orphan", "ev-pause-1", "Individual", "  deletionPolicy: Orphan")
		applyManifest(ctx, orphan)
		applyManifest(ctx, account(evidenceNS, "suspended", "ev-pause-2", "Individual"))
		applyManifest(ctx, account(evidenceNS, "limited", "ev-pause-3", "Individual"))
		for _, name := range []string{"orphan", "suspended", "limited"} {
			ready(ctx, name)
		}

		By("a 429 asking for 600 s")
		Expect(env.SetSimulatorFaults(ctx, simulator.Faults{RateLimitRate: 1, RetryAfter: 600})).To(Succeed())
		// The operator's client stays paused: the next specs need a fresh one.
		DeferCleanup(func(ctx SpecContext) { Expect(env.RestartOperator(ctx)).To(Succeed()) })
		DeferCleanup(func(ctx SpecContext) { Expect(env.SetSimulatorFaults(ctx, simulator.Faults{})).To(Succeed()) })
		Expect(env.ResetSimulatorRequests(ctx)).To(Succeed())
		kubectl(ctx, "annotate", "-n", evidenceNS, "partneraccount", "limited", "--overwrite",
			"billing.partnerbilling.io/reconcile-requested-at=pause")
		Eventually(ctx, func() map[string]int {
			reqs, err := env.SimulatorRequests(ctx)
			Expect(err).NotTo(HaveOccurred())
			return reqs
		}).Should(Equal(map[string]int{"get 429": 1}))

		start := time.Now()
		kubectl(ctx, "delete", "-n", evidenceNS, "partneraccount", "orphan", "--timeout=10s")
		kubectl(ctx, "patch", "-n", evidenceNS, "partneraccount", "suspended", "--type", "merge",
			"-p", `{"spec":{"suspend":true}}`)
		Eventually(ctx, reason(ctx, "suspended")).WithTimeout(10 * time.Second).Should(Equal("ReconcileSuspended"))
		Expect(time.Since(start)).To(BeNumerically("<", 15*time.Second))
		reqs, err := env.SimulatorRequests(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(reqs).To(Equal(map[string]int{"get 429": 1}), "a call went out during the pause")
		Expect(remote(ctx, "ev-pause-1").Deleted).To(BeFalse())
	})
})
