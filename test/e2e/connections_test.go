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
	"github.com/partnerbilling/partner-account-operator/test/localenv"
)

// connectionsNS holds the PartnerAccounts of the connection specs; teamNS is a
// namespace a connection admits by its label.
const (
	connectionsNS = "connections"
	teamNS        = "connections-team-b"
)

// connection is a PartnerConnection manifest whose token is the key token of the
// Secret secret, in the operator's namespace.
func connection(name, url, secret string, extra ...string) string {
	return fmt.Sprintf(`apiVersion: billing.partnerbilling.io/v1alpha1
kind: PartnerConnection
metadata:
  name: %s
spec:
  url: %s
  tokenSecretRef:
    name: %s
    key: token
%s`, name, url, secret, strings.Join(extra, "\n"))
}

// waitForReason waits until the PartnerAccount's Ready reason is reason.
func waitForReason(ctx SpecContext, namespace, name, reason string) {
	GinkgoHelper()
	kubectl(ctx, "wait", "-n", namespace, `--for=jsonpath={.status.conditions[?(@.type=="Ready")].reason}=`+reason,
		"--timeout=30s", "partneraccount/"+name)
}

// onConnectionRef is the spec lines of a PartnerAccount on the connection name.
func onConnectionRef(name string) string {
	return "  connectionRef:\n    name: " + name
}

var _ = Describe("PartnerConnections", Ordered, func() {
	// brandB is a second Partnership API server, with a partner token of its own.
	var brandB *localenv.Simulator

	BeforeAll(func(ctx SpecContext) {
		var err error
		brandB, err = env.StartSimulator(ctx, "partnerapi-sim-brand-b")
		Expect(err).NotTo(HaveOccurred())
		kubectl(ctx, "create", "namespace", connectionsNS)
		kubectl(ctx, "create", "namespace", teamNS)
		kubectl(ctx, "label", "namespace", teamNS, "team=b")
		kubectl(ctx, "create", "secret", "generic", "brand-b-token", "-n", localenv.Namespace,
			"--from-file=token="+brandB.TokenFile)
		applyManifest(ctx, connection("brand-b", brandB.PartnerAPIURL, "brand-b-token"))
		applyManifest(ctx, connection("team-b-only", brandB.PartnerAPIURL, "brand-b-token",
			"  namespaceSelector:\n    matchLabels:\n      team: b"))
		DeferCleanup(func(ctx SpecContext) {
			kubectl(ctx, "delete", "partneraccounts", "--all", "-n", connectionsNS, "--timeout=60s")
			kubectl(ctx, "delete", "partneraccounts", "--all", "-n", teamNS, "--timeout=60s")
			kubectl(ctx, "delete", "partnerconnections", "--all", "--timeout=60s")
		})
	})

	It("shows each connection's URL, readiness and accounts, once the server accepted its token", func(ctx SpecContext) {
		kubectl(ctx, "wait", "--for=condition=Ready", "--timeout=30s", "partnerconnection/brand-b",
			"partnerconnection/team-b-only")
		headers, rows := table(kubectl(ctx, "get", "pconn"))
		Expect(headers).To(Equal([]string{"NAME", "URL", "READY", "REASON", "ACCOUNTS", "AGE"}))
		row := byName(rows)["brand-b"]
		Expect(row["URL"]).To(Equal(brandB.PartnerAPIURL))
		Expect(row["READY"]).To(Equal("True"))
		Expect(row["REASON"]).To(Equal("TokenAccepted"), "a 404 for an account no one has proved the URL")
	})

	It("sends each resource's calls to its connection's server only", func(ctx SpecContext) {
		applyManifest(ctx, account(connectionsNS, "on-brand-b", "conn-b-1", "Individual", onConnectionRef("brand-b")))
		applyManifest(ctx, account(connectionsNS, "on-default", "conn-default-1", "Family"))
		kubectl(ctx, "wait", "-n", connectionsNS, "--for=condition=Ready", "--timeout=30s",
			"partneraccount/on-brand-b", "partneraccount/on-default")

		_, onB, err := brandB.RemoteAccount(ctx, "conn-b-1")
		Expect(err).NotTo(HaveOccurred())
		Expect(onB).To(BeTrue(), "the account is not on its connection's server")
		_, onDefault, err := env.RemoteAccount(ctx, "conn-b-1")
		Expect(err).NotTo(HaveOccurred())
		Expect(onDefault).To(BeFalse(), "the account was made on the flags' server too")
		_, onB, err = brandB.RemoteAccount(ctx, "conn-default-1")
		Expect(err).NotTo(HaveOccurred())
		Expect(onB).To(BeFalse(), "a resource without connectionRef used another connection")
		Expect(remote(ctx, "conn-default-1").Type).To(Equal("F"))

		By("the connection counts its account, and is proven by it")
		Eventually(func(g Gomega) map[string]string {
			_, rows := table(kubectl(ctx, "get", "pconn", "brand-b"))
			return rows[0]
		}).Should(SatisfyAll(HaveKeyWithValue("ACCOUNTS", "1"), HaveKeyWithValue("REASON", "Verified")))
	})

	It("makes no call for a namespace the connection does not admit", func(ctx SpecContext) {
		before, err := brandB.SimulatorRequests(ctx)
		Expect(err).NotTo(HaveOccurred())
		applyManifest(ctx, account(connectionsNS, "not-admitted", "conn-na-1", "Individual",
			onConnectionRef("team-b-only")))
		applyManifest(ctx, account(teamNS, "admitted", "conn-team-1", "Individual", onConnectionRef("team-b-only")))
		kubectl(ctx, "wait", "-n", teamNS, "--for=condition=Ready", "--timeout=30s", "partneraccount/admitted")
		waitForReason(ctx, connectionsNS, "not-admitted", "ConnectionNotAllowed")
		Expect(jsonpath(ctx, connectionsNS, "not-admitted", readyMessagePath)).
			To(SatisfyAll(ContainSubstring(`"team-b-only"`), ContainSubstring(`"`+connectionsNS+`"`)))
		after, err := brandB.SimulatorRequests(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(after["create 201"]-before["create 201"]).To(Equal(1), "only the admitted namespace's account is made")
		_, made, err := brandB.RemoteAccount(ctx, "conn-na-1")
		Expect(err).NotTo(HaveOccurred())
		Expect(made).To(BeFalse())
	})

	It("names a connection that does not exist, and makes no call", func(ctx SpecContext) {
		applyManifest(ctx, account(connectionsNS, "nowhere", "conn-nowhere-1", "Individual",
			onConnectionRef("no-such-connection")))
		waitForReason(ctx, connectionsNS, "nowhere", "ConnectionNotFound")
		_, rows := table(kubectl(ctx, "get", "pa", "-n", connectionsNS, "nowhere"))
		Expect(rows[0]).To(HaveKeyWithValue("REASON", "ConnectionNotFound"))
		for _, admin := range []localenv.SimulatorAdmin{env.SimulatorAdmin, brandB.SimulatorAdmin} {
			_, made, err := admin.RemoteAccount(ctx, "conn-nowhere-1")
			Expect(err).NotTo(HaveOccurred())
			Expect(made).To(BeFalse())
		}
		By("spec.connectionRef cannot change")
		_, stderr, err := kubectlWithInput(ctx, account(connectionsNS, "nowhere", "conn-nowhere-1", "Individual",
			onConnectionRef("brand-b")), "apply", "-f", "-")
		Expect(err).To(HaveOccurred())
		Expect(stderr).To(ContainSubstring("connectionRef is immutable"))
	})

	It("lets a 600 s Retry-After on one connection delay nothing on another", func(ctx SpecContext) {
		slow, err := env.StartSimulator(ctx, "partnerapi-sim-slow")
		Expect(err).NotTo(HaveOccurred())
		kubectl(ctx, "create", "secret", "generic", "slow-token", "-n", localenv.Namespace,
			"--from-file=token="+slow.TokenFile)
		applyManifest(ctx, connection("slow", slow.PartnerAPIURL, "slow-token"))
		kubectl(ctx, "wait", "--for=condition=Ready", "--timeout=30s", "partnerconnection/slow")
		Expect(slow.SetSimulatorFaults(ctx, simulator.Faults{RateLimitRate: 1, RetryAfter: 600})).To(Succeed())
		// Orphan: its deletion, at the end, needs no call to the paused server.
		applyManifest(ctx, account(connectionsNS, "throttled", "conn-429-1", "Individual", onConnectionRef("slow"),
			"  deletionPolicy: Orphan"))
		waitForReason(ctx, connectionsNS, "throttled", "RateLimited")

		start := time.Now()
		applyManifest(ctx, account(connectionsNS, "unhindered", "conn-429-2", "Individual", onConnectionRef("brand-b")))
		applyManifest(ctx, account(connectionsNS, "unhindered-default", "conn-429-3", "Individual"))
		kubectl(ctx, "wait", "-n", connectionsNS, "--for=condition=Ready", "--timeout=10s",
			"partneraccount/unhindered", "partneraccount/unhindered-default")
		GinkgoWriter.Printf("The other connections' new accounts were Ready after %s\n", time.Since(start))
		Expect(time.Since(start)).To(BeNumerically("<", 10*time.Second))
		reqs, err := slow.SimulatorRequests(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(reqs["create 429"]+reqs["get 429"]).To(Equal(1), "the pause let more calls go to the slow server")

		kubectl(ctx, "delete", "partneraccount", "-n", connectionsNS, "throttled", "--timeout=30s")
		kubectl(ctx, "delete", "partnerconnection", "slow", "--timeout=30s")
	})

	It("keeps a connection in use, and lets it go after its accounts, deleting nothing remotely", func(ctx SpecContext) {
		kubectl(ctx, "delete", "partnerconnection", "brand-b", "--wait=false")
		Eventually(func() string {
			return kubectl(ctx, "get", "pconn", "brand-b", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].reason}`)
		}).Should(Equal("InUse"))
		Expect(kubectl(ctx, "get", "pconn", "brand-b", "-o", "jsonpath={.status.usedBy}")).
			To(ContainSubstring(connectionsNS + "/on-brand-b"))
		acct, _, err := brandB.RemoteAccount(ctx, "conn-b-1")
		Expect(err).NotTo(HaveOccurred())
		Expect(acct.Deleted).To(BeFalse(), "deleting the connection deactivated an account")

		kubectl(ctx, "delete", "partneraccount", "-n", connectionsNS, "on-brand-b", "unhindered", "--timeout=60s")
		kubectl(ctx, "wait", "--for=delete", "--timeout=30s", "partnerconnection/brand-b")
		acct, _, err = brandB.RemoteAccount(ctx, "conn-b-1")
		Expect(err).NotTo(HaveOccurred())
		Expect(acct.Deleted).To(BeTrue(), "the resource's own deletion went through its connection")
	})

	It("never logs the second connection's token", func() {
		log, err := os.ReadFile(env.OperatorLog)
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Contains(string(log), brandB.Token)).To(BeFalse(), "the operator logged brand-b's token")
		Expect(strings.Contains(transcript.String(), brandB.Token)).To(BeFalse(), "kubectl printed brand-b's token")
	})
})
