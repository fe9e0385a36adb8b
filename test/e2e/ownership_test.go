//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
	"github.com/partnerbilling/partner-account-operator/test/localenv"
)

// ownershipNS is where the ownership specs put their PartnerAccounts.
const ownershipNS = "e2e-ownership"

// JSONPath expressions of the Ready condition's reason and message.
const (
	readyReasonPath  = `{.status.conditions[?(@.type=="Ready")].reason}`
	readyMessagePath = `{.status.conditions[?(@.type=="Ready")].message}`
)

// account is a PartnerAccount manifest in namespace.
func account(namespace, name, uid, accountType string, extra ...string) string {
	return fmt.Sprintf(`apiVersion: billing.partnerbilling.io/v1alpha1
kind: PartnerAccount
metadata:
  name: %s
  namespace: %s
spec:
  accountUID: %s
  accountType: %s
  domain: b5test.com
%s`, name, namespace, uid, accountType, strings.Join(extra, "\n"))
}

var _ = Describe("Only the accounts it owns", Ordered, func() {
	BeforeAll(func(ctx SpecContext) {
		kubectl(ctx, "create", "namespace", ownershipNS)
		DeferCleanup(waitQuiet)
	})

	It("refuses a pre-existing account, then adopts it after kubectl patch", func(ctx SpecContext) {
		Expect(env.SeedRemoteAccount(ctx, "own-pre-1", "I", "b5test.com", time.Now().Add(-time.Hour))).To(Succeed())
		applyManifest(ctx, account(ownershipNS, "pre", "own-pre-1", "Individual", `  endsAt: "2033-01-01T00:00:00Z"`))
		kubectl(ctx, "wait", "-n", ownershipNS, "--for=condition=Stalled", "--timeout=30s", "partneraccount/pre")
		Expect(jsonpath(ctx, ownershipNS, "pre", readyReasonPath)).To(Equal("AccountExists"))
		Expect(jsonpath(ctx, ownershipNS, "pre", readyMessagePath)).
			To(ContainSubstring("spec.adoptExisting"))
		Expect(jsonpath(ctx, ownershipNS, "pre", "{.status.activationToken}")).To(BeEmpty())
		Expect(remote(ctx, "own-pre-1").EndsAt).To(BeNil(), "it wrote the end date of an account it does not own")

		kubectl(ctx, "patch", "-n", ownershipNS, "partneraccount", "pre", "--type", "merge",
			"-p", `{"spec":{"adoptExisting":true}}`)
		kubectl(ctx, "wait", "-n", ownershipNS, "--for=condition=Ready", "--timeout=30s", "partneraccount/pre")
		Expect(jsonpath(ctx, ownershipNS, "pre", "{.status.activationToken}")).
			To(Equal(remote(ctx, "own-pre-1").ActivationToken))
		Expect(remote(ctx, "own-pre-1").EndsAt).To(HaveValue(sameTime("2033-01-01T00:00:00Z")))
	})

	It("recovers a create whose answer was lost, with no opt-in", func(ctx SpecContext) {
		Expect(env.SetSimulatorFaults(ctx, simulator.Faults{DropRate: 1})).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(env.SetSimulatorFaults(ctx, simulator.Faults{})).To(Succeed()) })
		applyManifest(ctx, account(ownershipNS, "lost", "own-lost-1", "Family"))
		Eventually(ctx, func() bool { _, ok, _ := env.RemoteAccount(ctx, "own-lost-1"); return ok }).Should(BeTrue())
		Expect(env.SetSimulatorFaults(ctx, simulator.Faults{})).To(Succeed())

		kubectl(ctx, "wait", "-n", ownershipNS, "--for=condition=Ready", "--timeout=30s", "partneraccount/lost")
		Expect(jsonpath(ctx, ownershipNS, "lost", "{.status.accountUID}")).To(Equal("own-lost-1"))
		Expect(jsonpath(ctx, ownershipNS, "lost", "{.status.activationToken}")).
			To(Equal(remote(ctx, "own-lost-1").ActivationToken))
		Expect(kubectl(ctx, "events", "-n", ownershipNS, "--for", "partneraccount/lost")).To(ContainSubstring("Recovered"))
	})

	It("leaves a pre-existing account of another type alone after a failed create and a delete", func(ctx SpecContext) {
		Expect(env.SeedRemoteAccount(ctx, "own-other-1", "F", "b5test.com", time.Now().Add(-time.Hour))).To(Succeed())
		Expect(env.SetSimulatorFaults(ctx, simulator.Faults{ErrorRate: 1})).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(env.SetSimulatorFaults(ctx, simulator.Faults{})).To(Succeed()) })
		applyManifest(ctx, account(ownershipNS, "other", "own-other-1", "Individual"))
		Eventually(ctx, func() string {
			return jsonpath(ctx, ownershipNS, "other", readyReasonPath)
		}).Should(Equal("APIUnavailable"))

		kubectl(ctx, "delete", "-n", ownershipNS, "partneraccount", "other", "--wait=false")
		Expect(env.SetSimulatorFaults(ctx, simulator.Faults{})).To(Succeed())
		kubectl(ctx, "wait", "-n", ownershipNS, "--for=delete", "--timeout=30s", "partneraccount/other")
		Expect(remote(ctx, "own-other-1").Deleted).To(BeFalse())
	})

	It("puts back a finalizer removed by hand within seconds", func(ctx SpecContext) {
		applyManifest(ctx, account(ownershipNS, "keep", "own-keep-1", "Individual"))
		kubectl(ctx, "wait", "-n", ownershipNS, "--for=condition=Ready", "--timeout=30s", "partneraccount/keep")
		kubectl(ctx, "patch", "-n", ownershipNS, "partneraccount", "keep", "--type", "json",
			"-p", `[{"op":"remove","path":"/metadata/finalizers"}]`)
		Eventually(ctx, func() string { return jsonpath(ctx, ownershipNS, "keep", "{.metadata.finalizers}") }).
			WithTimeout(5 * time.Second).Should(ContainSubstring("billing.partnerbilling.io/finalizer"))
	})

	It("reads the account exactly once when the reconcile-requested-at annotation changes", func(ctx SpecContext) {
		kubectl(ctx, "wait", "-n", ownershipNS, "--for=condition=Ready", "--timeout=30s", "partneraccount/keep")
		Expect(env.ResetSimulatorRequests(ctx)).To(Succeed())
		kubectl(ctx, "annotate", "-n", ownershipNS, "partneraccount", "keep", "--overwrite",
			"billing.partnerbilling.io/reconcile-requested-at=e2e-1")
		Eventually(ctx, func() string { return jsonpath(ctx, ownershipNS, "keep", "{.status.lastHandledReconcileAt}") }).
			Should(Equal("e2e-1"))
		Consistently(ctx, func() map[string]int {
			reqs, err := env.SimulatorRequests(ctx)
			Expect(err).NotTo(HaveOccurred())
			return reqs
		}).WithTimeout(2 * time.Second).Should(Equal(map[string]int{"get 200": 1}))
	})

	It("concludes nothing from a wrong URL's HTML 404s, and deletes once the URL is fixed", func(ctx SpecContext) {
		wrong := htmlNotFoundServer()
		applyManifest(ctx, account(ownershipNS, "wrong", "own-wrong-1", "Individual"))
		kubectl(ctx, "wait", "-n", ownershipNS, "--for=condition=Ready", "--timeout=30s", "partneraccount/wrong")
		token := jsonpath(ctx, ownershipNS, "wrong", "{.status.activationToken}")
		Expect(token).NotTo(BeEmpty())

		By("restarting the operator with a URL whose path answers HTML 404s")
		Expect(env.RestartOperator(ctx, "--partner-api-url="+wrong+"/api/v1")).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(env.RestartOperator(ctx)).To(Succeed()) })
		kubectl(ctx, "annotate", "-n", ownershipNS, "partneraccount", "wrong", "--overwrite",
			"billing.partnerbilling.io/reconcile-requested-at=wrong-url")
		Eventually(ctx, func() string {
			return jsonpath(ctx, ownershipNS, "wrong", readyReasonPath)
		}).Should(Equal("APIEndpointMisconfigured"))
		Expect(jsonpath(ctx, ownershipNS, "wrong", readyMessagePath)).
			To(ContainSubstring(wrong + "/api/v1/partners/accounts/own-wrong-1"))
		Expect(jsonpath(ctx, ownershipNS, "wrong", "{.status.activationToken}")).To(Equal(token))

		By("deleting it: the finalizer stays while the URL is wrong")
		kubectl(ctx, "delete", "-n", ownershipNS, "partneraccount", "wrong", "--wait=false")
		Consistently(ctx, func() string { return jsonpath(ctx, ownershipNS, "wrong", "{.metadata.finalizers}") }).
			WithTimeout(3 * time.Second).Should(ContainSubstring("billing.partnerbilling.io/finalizer"))
		Expect(remote(ctx, "own-wrong-1").Deleted).To(BeFalse())

		By("fixing the URL: the deletion completes")
		Expect(env.RestartOperator(ctx)).To(Succeed())
		kubectl(ctx, "wait", "-n", ownershipNS, "--for=delete", "--timeout=60s", "partneraccount/wrong")
		Expect(remote(ctx, "own-wrong-1").Deleted).To(BeTrue())
	})
})

// applyManifest applies a manifest with kubectl apply, from stdin.
func applyManifest(ctx SpecContext, manifest string) {
	GinkgoHelper()
	_, _, err := kubectlWithInput(ctx, manifest, "apply", "-f", "-")
	Expect(err).NotTo(HaveOccurred())
}

// jsonpath returns a PartnerAccount's field, read with kubectl get -o jsonpath.
func jsonpath(ctx SpecContext, namespace, name, path string) string {
	GinkgoHelper()
	return kubectl(ctx, "get", "-n", namespace, "partneraccount", name, "-o", "jsonpath="+path)
}

// remote returns the simulator's account uid, which must exist.
func remote(ctx SpecContext, uid string) remoteAccount {
	GinkgoHelper()
	acct, ok, err := env.RemoteAccount(ctx, uid)
	Expect(err).NotTo(HaveOccurred())
	Expect(ok).To(BeTrue(), "no remote account %q", uid)
	return acct
}

// htmlNotFoundServer starts a server on loopback that answers every request with an
// HTML 404 page, as an ingress in front of a wrong path does, and returns its URL.
func htmlNotFoundServer() string {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<html><body><h1>404 Not Found</h1><hr>nginx</body></html>"))
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	DeferCleanup(srv.Close)
	return "http://" + l.Addr().String()
}

// remoteAccount is an account as the simulator shows it.
type remoteAccount = localenv.RemoteAccount

// waitQuiet waits until the simulator has seen no request for a second, so that
// what a spec set off is over before the next one counts requests.
func waitQuiet(ctx SpecContext) {
	GinkgoHelper()
	last := -1
	Eventually(ctx, func() bool {
		reqs, err := env.SimulatorRequests(ctx)
		Expect(err).NotTo(HaveOccurred())
		n := 0
		for _, c := range reqs {
			n += c
		}
		quiet := n == last
		last = n
		return quiet
	}).WithPolling(time.Second).WithTimeout(time.Minute).Should(BeTrue())
}
