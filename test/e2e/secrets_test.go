//go:build e2e

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// secretsNS is where the token Secret specs put their PartnerAccounts.
const secretsNS = "e2e-secrets"

// withRef is a PartnerAccount manifest in secretsNS whose token goes to secret.
func withRef(name, uid, secret string) string {
	return account(secretsNS, name, uid, "Individual", "  activationTokenSecretRef:\n    name: "+secret)
}

var _ = Describe("Activation tokens kept in Secrets", Ordered, func() {
	BeforeAll(func(ctx SpecContext) {
		kubectl(ctx, "create", "namespace", secretsNS)
		DeferCleanup(waitQuiet)
	})

	It("writes the Secret the ref names, owned by the PartnerAccount, with no token in status", func(ctx SpecContext) {
		applyManifest(ctx, withRef("alice", "sec-alice", "alice-token"))
		kubectl(ctx, "wait", "-n", secretsNS, "--for=condition=Ready", "--timeout=30s", "partneraccount/alice")
		acct := remote(ctx, "sec-alice")
		data := secretData(ctx, "alice-token")
		Expect(data).To(Equal(map[string]string{
			"activationToken": acct.ActivationToken,
			"redemptionURL":   "https://start.b5test.com/partnership/redeem?c=" + acct.ActivationToken + "&t=I",
			"accountUID":      "sec-alice",
		}))
		Expect(kubectl(ctx, "get", "-n", secretsNS, "secret", "alice-token", "-o", "jsonpath={.type}")).To(Equal("Opaque"))
		owner := kubectl(ctx, "get", "-n", secretsNS, "secret", "alice-token", "-o",
			`jsonpath={range .metadata.ownerReferences[*]}{.kind}/{.name}/{.controller}/{.uid}{end}`)
		Expect(owner).To(Equal("PartnerAccount/alice/true/" + jsonpath(ctx, secretsNS, "alice", "{.metadata.uid}")))
		Expect(jsonpath(ctx, secretsNS, "alice", "{.status.activationTokenSecretName}")).To(Equal("alice-token"))
		Expect(kubectl(ctx, "get", "-n", secretsNS, "partneraccount", "alice", "-o", "json")).
			NotTo(ContainSubstring(acct.ActivationToken))
	})

	It("writes the Secret again when it is deleted by hand", func(ctx SpecContext) {
		kubectl(ctx, "delete", "-n", secretsNS, "secret", "alice-token")
		Eventually(ctx, func() map[string]string { return secretDataOrNil(ctx, "alice-token") }).
			Should(HaveKeyWithValue("activationToken", remote(ctx, "sec-alice").ActivationToken))
	})

	It("moves the Secret when the ref changes", func(ctx SpecContext) {
		kubectl(ctx, "patch", "-n", secretsNS, "partneraccount", "alice", "--type", "merge",
			"-p", `{"spec":{"activationTokenSecretRef":{"name":"alice-moved"}}}`)
		Eventually(ctx, func() map[string]string { return secretDataOrNil(ctx, "alice-moved") }).
			Should(HaveKeyWithValue("activationToken", remote(ctx, "sec-alice").ActivationToken))
		Eventually(ctx, func() map[string]string { return secretDataOrNil(ctx, "alice-token") }).Should(BeNil())
		Expect(jsonpath(ctx, secretsNS, "alice", "{.status.activationTokenSecretName}")).To(Equal("alice-moved"))
	})

	It("leaves a Secret it did not write alone, and says so", func(ctx SpecContext) {
		kubectl(ctx, "create", "secret", "generic", "-n", secretsNS, "bob-token", "--from-literal=password=hunter2")
		applyManifest(ctx, withRef("bob", "sec-bob", "bob-token"))
		Eventually(ctx, func() string {
			return jsonpath(ctx, secretsNS, "bob", readyReasonPath)
		}).Should(Equal("SecretConflict"))
		Expect(jsonpath(ctx, secretsNS, "bob", readyMessagePath)).
			To(ContainSubstring(`"bob-token"`))
		Expect(secretData(ctx, "bob-token")).To(Equal(map[string]string{"password": "hunter2"}))
		Expect(jsonpath(ctx, secretsNS, "bob", "{.status.activationToken}")).To(BeEmpty())
	})

	It("grants the viewer role no Secrets", func(ctx SpecContext) {
		kubectl(ctx, "create", "rolebinding", "-n", secretsNS, "viewer", "--user=viewer",
			"--clusterrole=partner-account-operator-partneraccount-viewer-role")
		kubectl(ctx, "create", "rolebinding", "-n", secretsNS, "editor", "--user=editor",
			"--clusterrole=partner-account-operator-partneraccount-editor-role")
		for _, user := range []string{"viewer", "editor"} {
			canI := func(args ...string) string {
				out, _, _ := env.Kubectl(ctx, "", append([]string{"auth", "can-i", "--as", user, "-n", secretsNS}, args...)...)
				return strings.TrimSpace(out)
			}
			Expect(canI("get", "partneraccounts.billing.partnerbilling.io")).To(Equal("yes"), user)
			Expect(canI("get", "secrets")).To(Equal("no"), user)
			Expect(canI("list", "secrets")).To(Equal("no"), user)
		}
	})

	It("writes no token to any status with --activation-token-in-status=false", func(ctx SpecContext) {
		Expect(env.RestartOperator(ctx, "--activation-token-in-status=false")).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			Expect(env.RestartOperator(ctx)).To(Succeed())
			// Read every account again, so that the tokens go back to status for the
			// specs that follow.
			kubectl(ctx, "annotate", "-A", "partneraccounts", "--all", "--overwrite",
				"billing.partnerbilling.io/reconcile-requested-at=tokens-back")
			Eventually(ctx, func() string {
				return kubectl(ctx, "get", "partneraccounts", "-A", "-o",
					`jsonpath={range .items[?(@.spec.suspend!=true)]}{.status.lastHandledReconcileAt}{" "}{end}`)
			}).Should(MatchRegexp(`^(tokens-back )*$`))
		})
		applyManifest(ctx, account(secretsNS, "carol", "sec-carol", "Family"))
		kubectl(ctx, "wait", "-n", secretsNS, "--for=condition=Ready", "--timeout=30s", "partneraccount/carol")
		Expect(secretData(ctx, "carol-activation")).
			To(HaveKeyWithValue("activationToken", remote(ctx, "sec-carol").ActivationToken))

		By("reading every account again: the tokens left in status move to Secrets")
		kubectl(ctx, "annotate", "-A", "partneraccounts", "--all", "--overwrite",
			"billing.partnerbilling.io/reconcile-requested-at=tokens-out")
		Eventually(ctx, func() string {
			return kubectl(ctx, "get", "partneraccounts", "-A", "-o",
				"jsonpath={..status.activationToken}{..status.redemptionURL}")
		}).Should(BeEmpty())
		all := kubectl(ctx, "get", "partneraccounts", "-A", "-o", "json")
		accounts, err := env.RemoteAccounts(ctx)
		Expect(err).NotTo(HaveOccurred())
		for _, a := range accounts {
			Expect(all).NotTo(ContainSubstring(a.ActivationToken), "account %s", a.UID)
		}
	})
})

// secretData returns a Secret's decoded data in secretsNS; it must exist.
func secretData(ctx SpecContext, name string) map[string]string {
	GinkgoHelper()
	return secretDataIn(ctx, secretsNS, name)
}

// secretDataIn returns a Secret's decoded data; it must exist.
func secretDataIn(ctx SpecContext, namespace, name string) map[string]string {
	GinkgoHelper()
	data := secretDataOrNilIn(ctx, namespace, name)
	Expect(data).NotTo(BeNil(), "no Secret %s/%s", namespace, name)
	return data
}

// secretDataOrNil returns a Secret's decoded data in secretsNS, or nil when there
// is no such Secret.
func secretDataOrNil(ctx SpecContext, name string) map[string]string {
	return secretDataOrNilIn(ctx, secretsNS, name)
}

func secretDataOrNilIn(ctx SpecContext, namespace, name string) map[string]string {
	GinkgoHelper()
	out, stderr, err := env.Kubectl(ctx, "", "get", "-n", namespace, "secret", name,
		"-o", "jsonpath={.data}", "--ignore-not-found")
	Expect(err).NotTo(HaveOccurred(), stderr)
	if out == "" {
		return nil
	}
	var raw map[string]string
	Expect(json.Unmarshal([]byte(out), &raw)).To(Succeed())
	data := map[string]string{}
	for k, v := range raw {
		b, err := base64.StdEncoding.DecodeString(v)
		Expect(err).NotTo(HaveOccurred())
		data[k] = string(b)
	}
	return data
}
