//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/test/localenv"
)

// originsNS holds the PartnerAccounts of a connection moved to another server;
// rebuiltNS those of a cluster rebuilt from its manifests, and their import.
const (
	originsNS = "e2e-origins"
	rebuiltNS = "e2e-rebuilt"
)

// An account belongs to the server that answered for it (its origin: URL, partner
// token, CA): another server's 404 proves nothing about it, so a connection moved
// elsewhere neither forgets nor deletes its accounts. And a cluster rebuilt from
// its manifests, on a connection where no account is known yet, reads before it
// creates: it makes no account again, and gets the old ones back with
// kubectl partneraccount adopt, or with import --connection.
var _ = Describe("Accounts tied to their origin", Ordered, func() {
	// simA and simB are two servers of one partner (B takes A's partner token);
	// simR is the server of the rebuilt cluster.
	var simA, simB, simR *localenv.Simulator

	connReason := func(ctx SpecContext, name string) func() string {
		return func() string { return kubectl(ctx, "get", "pconn", name, "-o", "jsonpath="+readyReasonPath) }
	}
	// noSecrets fails if out shows a partner token of the spec's servers.
	noSecrets := func(out string) {
		GinkgoHelper()
		for _, sim := range []*localenv.Simulator{simA, simR} {
			Expect(strings.Contains(out, sim.Token)).To(BeFalse(), "a partner token was printed")
		}
	}

	BeforeAll(func(ctx SpecContext) {
		pluginBinary(ctx)
		var err error
		simA, err = env.StartSimulator(ctx, "partnerapi-sim-origin-a")
		Expect(err).NotTo(HaveOccurred())
		// Another server of the same partner: it takes A's token (the last
		// --token-file wins), so that moving the URL alone reaches it.
		simB, err = env.StartSimulator(ctx, "partnerapi-sim-origin-b", "--token-file", simA.TokenFile)
		Expect(err).NotTo(HaveOccurred())
		simR, err = env.StartSimulator(ctx, "partnerapi-sim-rebuilt")
		Expect(err).NotTo(HaveOccurred())
		kubectl(ctx, "create", "namespace", originsNS)
		kubectl(ctx, "create", "namespace", rebuiltNS)
		kubectl(ctx, "create", "secret", "generic", "origin-token", "-n", localenv.Namespace,
			"--from-file=token="+simA.TokenFile)
		kubectl(ctx, "create", "secret", "generic", "rebuilt-token", "-n", localenv.Namespace,
			"--from-file=token="+simR.TokenFile)
		DeferCleanup(func(ctx SpecContext) {
			// Whatever a failed spec left goes without a call: no deletion may wait for
			// a server the connection moved away from.
			for _, namespace := range []string{originsNS, rebuiltNS} {
				for pa := range strings.FieldsSeq(kubectl(ctx, "get", "partneraccounts", "-n", namespace, "-o", "name")) {
					kubectl(ctx, "patch", "-n", namespace, pa, "--type", "merge",
						"-p", `{"spec":{"deletionPolicy":"Orphan"}}`)
				}
				kubectl(ctx, "delete", "partneraccounts", "--all", "-n", namespace, "--timeout=60s")
			}
			kubectl(ctx, "delete", "partnerconnections", "origin", "rebuilt", "--ignore-not-found", "--timeout=60s")
			kubectl(ctx, "delete", "secret", "-n", localenv.Namespace, "origin-token", "rebuilt-token")
		})
	}, NodeTimeout(5*time.Minute))

	It("keeps the accounts of a connection moved to another server, and deletes one only where it lives",
		func(ctx SpecContext) {
			applyManifest(ctx, connection("origin", simA.PartnerAPIURL, "origin-token"))
			applyManifest(ctx, account(originsNS, "old-1", "origin-old-1", "Individual", onConnectionRef("origin")))
			applyManifest(ctx, account(originsNS, "old-2", "origin-old-2", "Family", onConnectionRef("origin")))
			kubectl(ctx, "wait", "-n", originsNS, "--for=condition=Ready", "--timeout=30s",
				"partneraccount/old-1", "partneraccount/old-2")
			kubectl(ctx, "wait", "--for=condition=Ready", "--timeout=30s", "partnerconnection/origin")
			token1 := jsonpath(ctx, originsNS, "old-1", "{.status.activationToken}")
			token2 := jsonpath(ctx, originsNS, "old-2", "{.status.activationToken}")
			Expect(token1).To(Equal(remoteOn(ctx, simA, "origin-old-1").ActivationToken))
			Expect(jsonpath(ctx, originsNS, "old-1", "{.status.endpoint}")).To(Equal(simA.PartnerAPIURL))
			Expect(jsonpath(ctx, originsNS, "old-1", "{.status.endpointID}")).NotTo(BeEmpty())

			By("moving the connection's URL to server B")
			kubectl(ctx, "patch", "partnerconnection", "origin", "--type", "merge",
				"-p", `{"spec":{"url":"`+simB.PartnerAPIURL+`"}}`)
			Eventually(connReason(ctx, "origin")).Should(Equal(billingv1alpha1.ReasonConnectionEndpointChanged))

			By("a new account on the connection is made on B")
			applyManifest(ctx, account(originsNS, "new-b", "origin-new-1", "Individual", onConnectionRef("origin")))
			kubectl(ctx, "wait", "-n", originsNS, "--for=condition=Ready", "--timeout=30s", "partneraccount/new-b")
			Expect(jsonpath(ctx, originsNS, "new-b", "{.status.endpoint}")).To(Equal(simB.PartnerAPIURL))
			Expect(remoteOn(ctx, simB, "origin-new-1").Deleted).To(BeFalse())
			_, onA, err := simA.RemoteAccount(ctx, "origin-new-1")
			Expect(err).NotTo(HaveOccurred())
			Expect(onA).To(BeFalse(), "the new account was made on the old server")

			By("the old accounts, read again on B, are not taken for gone")
			for _, name := range []string{"old-1", "old-2"} {
				kubectl(ctx, "annotate", "-n", originsNS, "partneraccount", name, "--overwrite",
					"billing.partnerbilling.io/reconcile-requested-at=moved")
				waitForReason(ctx, originsNS, name, billingv1alpha1.ReasonEndpointChanged)
			}
			Expect(jsonpath(ctx, originsNS, "old-1", readyMessagePath)).To(SatisfyAll(
				ContainSubstring("now calls "+simB.PartnerAPIURL+","),
				ContainSubstring("last answered by "+simA.PartnerAPIURL+" ")))
			Expect(jsonpath(ctx, originsNS, "old-1", "{.status.activationToken}")).To(Equal(token1))
			Expect(jsonpath(ctx, originsNS, "old-2", "{.status.activationToken}")).To(Equal(token2))

			By("deleting one: its finalizer stays, and neither server is asked to delete it")
			kubectl(ctx, "delete", "-n", originsNS, "partneraccount", "old-1", "--wait=false")
			Eventually(func() string { return jsonpath(ctx, originsNS, "old-1", readyMessagePath) }).
				Should(ContainSubstring("finalizer stays"))
			Consistently(func() string { return jsonpath(ctx, originsNS, "old-1", "{.metadata.finalizers}") }).
				WithTimeout(2 * time.Second).Should(ContainSubstring(billingv1alpha1.Finalizer))
			for _, sim := range []*localenv.Simulator{simA, simB} {
				Expect(calls(ctx, sim, "delete")).To(BeZero())
			}
			Expect(remoteOn(ctx, simA, "origin-old-1").Deleted).To(BeFalse())

			// B's account would wait for B once the URL is back on A.
			kubectl(ctx, "patch", "-n", originsNS, "partneraccount", "new-b", "--type", "merge",
				"-p", `{"spec":{"deletionPolicy":"Orphan"}}`)

			By("moving the URL back: the deletion completes, deactivating the account on A")
			kubectl(ctx, "patch", "partnerconnection", "origin", "--type", "merge",
				"-p", `{"spec":{"url":"`+simA.PartnerAPIURL+`"}}`)
			kubectl(ctx, "wait", "-n", originsNS, "--for=delete", "--timeout=30s", "partneraccount/old-1")
			Expect(remoteOn(ctx, simA, "origin-old-1").Deleted).To(BeTrue())
			Expect(calls(ctx, simA, "delete")).To(Equal(1))
			Expect(calls(ctx, simB, "delete")).To(BeZero())

			By("the other old account Ready again on its own, with its token: the connection set up anew wakes it")
			waitForReason(ctx, originsNS, "old-2", billingv1alpha1.ReasonAccountReady)
			Expect(jsonpath(ctx, originsNS, "old-2", "{.status.activationToken}")).To(Equal(token2))
			Expect(jsonpath(ctx, originsNS, "old-2", "{.status.endpoint}")).To(Equal(simA.PartnerAPIURL))

			kubectl(ctx, "delete", "-n", originsNS, "partneraccount", "new-b", "old-2", "--timeout=30s")
			Expect(remoteOn(ctx, simB, "origin-new-1").Deleted).To(BeFalse(), "the Orphan deletion deleted it")
			Expect(remoteOn(ctx, simA, "origin-old-2").Deleted).To(BeTrue())
			kubectl(ctx, "delete", "partnerconnection", "origin", "--timeout=30s")
		})

	// The accounts the old cluster made on simR, under the names of its manifests.
	const rebuilt = 5
	rebuiltUID := func(i int) string { return fmt.Sprintf("rebuilt-%d", i) }
	rebuiltName := func(i int) string { return fmt.Sprintf("customer-%d", i) }

	It("creates none of the accounts of a cluster rebuilt from its manifests, and adopts them with adopt --all",
		func(ctx SpecContext) {
			for i := 1; i <= rebuilt; i++ {
				Expect(simR.SeedRemoteAccount(ctx, rebuiltUID(i), "I", "b5test.com", time.Now().Add(-24*time.Hour))).
					To(Succeed())
			}
			applyManifest(ctx, connection("rebuilt", simR.PartnerAPIURL, "rebuilt-token"))
			kubectl(ctx, "wait", "--for=condition=Ready", "--timeout=30s", "partnerconnection/rebuilt")
			Expect(connReason(ctx, "rebuilt")()).To(Equal(billingv1alpha1.ReasonConnectionTokenAccepted),
				"no account is known on the new connection")

			By("applying the same manifests to the new cluster")
			manifests := make([]string, 0, rebuilt)
			for i := 1; i <= rebuilt; i++ {
				manifests = append(manifests, account(rebuiltNS, rebuiltName(i), rebuiltUID(i), "Individual",
					onConnectionRef("rebuilt")))
			}
			applyManifest(ctx, strings.Join(manifests, "\n---\n"))
			kubectl(ctx, "wait", "-n", rebuiltNS, "--for=condition=Stalled", "--timeout=30s", "partneraccounts", "--all")
			for i := 1; i <= rebuilt; i++ {
				Expect(jsonpath(ctx, rebuiltNS, rebuiltName(i), readyReasonPath)).
					To(Equal(billingv1alpha1.ReasonAccountExists))
				Expect(jsonpath(ctx, rebuiltNS, rebuiltName(i), "{.status.activationToken}")).To(BeEmpty())
			}
			Expect(calls(ctx, simR, "create")).To(BeZero(), "the rebuilt cluster made accounts again")

			By("kubectl partneraccount adopt --all")
			stdout, stderr, code := runPlugin(ctx, "", "adopt", "--all", "--yes", "-n", rebuiltNS)
			noSecrets(stdout + stderr)
			Expect(code).To(Equal(0))
			Expect(stdout).To(ContainSubstring(fmt.Sprintf("adopted %d, skipped 0, failed 0 of %d PartnerAccounts",
				rebuilt, rebuilt)))
			kubectl(ctx, "wait", "-n", rebuiltNS, "--for=condition=Ready", "--timeout=30s", "partneraccounts", "--all")
			for i := 1; i <= rebuilt; i++ {
				Expect(jsonpath(ctx, rebuiltNS, rebuiltName(i), readyReasonPath)).
					To(Equal(billingv1alpha1.ReasonAccountReady))
				Expect(jsonpath(ctx, rebuiltNS, rebuiltName(i), "{.spec.adoptExisting}")).To(Equal("true"))
				Expect(jsonpath(ctx, rebuiltNS, rebuiltName(i), "{.status.activationToken}")).
					To(Equal(remoteOn(ctx, simR, rebuiltUID(i)).ActivationToken))
			}
			Expect(calls(ctx, simR, "create")).To(BeZero())
			Expect(calls(ctx, simR, "delete")).To(BeZero())
		})

	It("imports a connection's accounts with import --connection, and applying them creates none", func(ctx SpecContext) {
		for uid, typ := range map[string]string{"billing-1": "I", "billing-2": "F"} {
			Expect(simR.SeedRemoteAccount(ctx, uid, typ, "b5test.com", time.Now().Add(-time.Hour))).To(Succeed())
		}
		uids := filepath.Join(GinkgoT().TempDir(), "uids.txt")
		// rebuilt-1 is managed on this connection by the previous spec's customer-1.
		Expect(os.WriteFile(uids, []byte("billing-1\nbilling-2\n"+rebuiltUID(1)+"\n"), 0o600)).To(Succeed())

		By("refusing the default connection's flags with --connection")
		_, stderr, code := runPlugin(ctx, "", "import", "--uids", uids, "--connection", "rebuilt", "-n", rebuiltNS,
			"--partner-api-url", env.PartnerAPIURL)
		Expect(code).NotTo(BeZero())
		Expect(stderr).To(ContainSubstring("--partner-api-url cannot be used with --connection"))

		stdout, stderr, code := runPlugin(ctx, "", "import", "--uids", uids, "--connection", "rebuilt", "-n", rebuiltNS)
		noSecrets(stdout + stderr)
		Expect(code).To(Equal(0))
		Expect(stderr).To(ContainSubstring("skipped " + rebuiltUID(1) + ": already managed by " + rebuiltNS + "/" +
			rebuiltName(1)))
		Expect(stderr).To(ContainSubstring("imported 2, skipped 1, failed 0 of 3 UIDs"))
		pas := parsePartnerAccounts(stdout)
		Expect(pas).To(HaveLen(2))
		for i, want := range []struct{ uid, typ string }{{"billing-1", "Individual"}, {"billing-2", "Family"}} {
			pa := pas[i]
			Expect(pa.Name).To(Equal(want.uid))
			Expect(pa.Namespace).To(Equal(rebuiltNS))
			Expect(pa.Spec.AccountUID).To(Equal(want.uid))
			Expect(string(pa.Spec.AccountType)).To(Equal(want.typ))
			Expect(pa.Spec.ConnectionRef).To(HaveValue(HaveField("Name", "rebuilt")))
			Expect(pa.Spec.CreatePolicy).To(Equal(billingv1alpha1.CreatePolicyNever))
			Expect(pa.Spec.AdoptExisting).To(BeTrue())
		}

		By("applying what it wrote")
		_, _, err := kubectlWithInput(ctx, stdout, "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		for _, uid := range []string{"billing-1", "billing-2"} {
			kubectl(ctx, "wait", "-n", rebuiltNS, "--for=condition=Ready", "--timeout=30s", "partneraccount/"+uid)
			Expect(jsonpath(ctx, rebuiltNS, uid, readyReasonPath)).To(Equal(billingv1alpha1.ReasonAccountReady))
			Expect(jsonpath(ctx, rebuiltNS, uid, "{.status.activationToken}")).
				To(Equal(remoteOn(ctx, simR, uid).ActivationToken))
		}
		Expect(calls(ctx, simR, "create")).To(BeZero())
		Expect(calls(ctx, simR, "delete")).To(BeZero())
	})

	It("never logs nor prints these connections' tokens", func() {
		log, err := os.ReadFile(env.OperatorLog)
		Expect(err).NotTo(HaveOccurred())
		noSecrets(string(log))
		noSecrets(transcript.String())
	})
})

// remoteOn returns sim's account uid, which must exist.
func remoteOn(ctx SpecContext, sim *localenv.Simulator, uid string) remoteAccount {
	GinkgoHelper()
	acct, ok, err := sim.RemoteAccount(ctx, uid)
	Expect(err).NotTo(HaveOccurred())
	Expect(ok).To(BeTrue(), "no remote account %q at %s", uid, sim.PartnerAPIURL)
	return acct
}

// calls is how many requests of operation op (create, get, update, delete) sim
// has counted, whatever their answer.
func calls(ctx SpecContext, sim *localenv.Simulator, op string) int {
	GinkgoHelper()
	reqs, err := sim.SimulatorRequests(ctx)
	Expect(err).NotTo(HaveOccurred())
	n := 0
	for k, c := range reqs {
		if strings.HasPrefix(k, op+" ") {
			n += c
		}
	}
	return n
}
