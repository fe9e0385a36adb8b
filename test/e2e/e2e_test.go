//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"

	"github.com/partnerbilling/partner-account-operator/test/localenv"
)

// ns is where the specs put their PartnerAccounts.
const ns = "e2e"

// sample is a manifest of config/samples and what it declares.
type sample struct {
	file, name, uid, accountType, apiType, endsAt string
}

var samples = []sample{
	{"billing_v1alpha1_partneraccount_individual.yaml", "customer-0001", "cust-0001", "Individual", "I",
		"2031-01-01T00:00:00Z"},
	{"billing_v1alpha1_partneraccount_family.yaml", "customer-0002", "cust-0002", "Family", "F", ""},
}

// serverSide is applied with kubectl apply --server-side only.
const serverSide = `apiVersion: billing.partnerbilling.io/v1alpha1
kind: PartnerAccount
metadata:
  name: customer-0003
spec:
  accountUID: cust-0003
  accountType: Individual
  domain: b5test.ca
  endsAt: "2032-01-01T00:00:00Z"
`

var _ = Describe("PartnerAccounts used with kubectl", Ordered, func() {
	var samplesDir string
	BeforeAll(func(ctx SpecContext) {
		samplesDir = filepath.Join(env.Root, "config", "samples")
		kubectl(ctx, "create", "namespace", ns)
		// The specs count the simulator's requests from here on.
		Expect(env.ResetSimulatorRequests(ctx)).To(Succeed())
	})

	It("runs the operator as the ServiceAccount of config/default, with the RBAC of config/rbac", func(ctx SpecContext) {
		sa := "system:serviceaccount:" + localenv.Namespace + ":" + localenv.ServiceAccount
		whoami, _, err := env.KubectlWith(ctx, env.OperatorKubeconfig, "",
			"auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
		Expect(err).NotTo(HaveOccurred())
		Expect(whoami).To(Equal(sa))
		canI := func(args ...string) string {
			out, _, _ := env.Kubectl(ctx, "", append([]string{"auth", "can-i", "--as", sa, "-n", ns}, args...)...)
			return strings.TrimSpace(out)
		}
		Expect(canI("patch", "partneraccounts.billing.partnerbilling.io", "--subresource=status")).To(Equal("yes"))
		Expect(canI("create", "partneraccounts.billing.partnerbilling.io")).To(Equal("no"))
		// Secrets: exactly what the activation token Secrets need.
		for _, verb := range []string{"get", "list", "watch", "create", "patch", "delete"} {
			Expect(canI(verb, "secrets")).To(Equal("yes"), verb)
		}
		Expect(canI("update", "secrets")).To(Equal("no"))
		Expect(canI("get", "configmaps")).To(Equal("no"))
	})

	It("applies config/samples, and the accounts become Ready", func(ctx SpecContext) {
		out := kubectl(ctx, "apply", "-n", ns, "-k", samplesDir)
		for _, s := range samples {
			Expect(out).To(ContainSubstring("partneraccount.billing.partnerbilling.io/" + s.name + " created"))
		}
		kubectl(ctx, "wait", "-n", ns, "--for=condition=Ready", "--timeout=60s", "partneraccounts", "--all")
	})

	It("lists them with kubectl get and the Ready reason; -o wide adds the message and more", func(ctx SpecContext) {
		headers, rows := table(kubectl(ctx, "get", "partneraccounts", "-n", ns))
		Expect(headers).To(Equal([]string{"NAME", "ACCOUNT-UID", "TYPE", "DOMAIN", "REMOTE-STATUS", "ENDS", "READY", "REASON",
			"AGE"}))
		got := byName(rows)
		Expect(got).To(HaveLen(len(samples)))
		for _, s := range samples {
			Expect(got).To(HaveKeyWithValue(s.name, SatisfyAll(
				HaveKeyWithValue("ACCOUNT-UID", s.uid),
				HaveKeyWithValue("TYPE", s.accountType),
				HaveKeyWithValue("DOMAIN", "b5test.com"),
				HaveKeyWithValue("REMOTE-STATUS", "entitled"),
				HaveKeyWithValue("ENDS", s.endsAt),
				HaveKeyWithValue("READY", "True"),
				HaveKeyWithValue("REASON", "AccountReady"),
			)))
		}

		headers, rows = table(kubectl(ctx, "get", "pa", "-n", ns, "-o", "wide"))
		Expect(headers).To(Equal([]string{"NAME", "ACCOUNT-UID", "TYPE", "DOMAIN", "REMOTE-STATUS", "ENDS", "READY", "REASON",
			"AGE", "MESSAGE", "SUSPEND", "DELETION-POLICY", "MEMBERS", "MANAGEMENT", "DRIFT", "CONNECTION", "SIGNED-UP"}))
		Expect(rows).To(HaveLen(len(samples)))
		for _, r := range rows {
			Expect(r).To(HaveKeyWithValue("MESSAGE", "The account is entitled"))
			Expect(r).To(HaveKeyWithValue("DELETION-POLICY", "Delete"))
			// The flags' connection, and no customer has signed up yet: kubectl
			// leaves a custom column without a value empty.
			Expect(r).To(HaveKeyWithValue("CONNECTION", ""))
			Expect(r).To(HaveKeyWithValue("SIGNED-UP", ""))
		}

		By("kubectl get partnerbilling lists both kinds")
		out := kubectl(ctx, "get", "partnerbilling", "-n", ns)
		Expect(out).To(SatisfyAll(ContainSubstring("partneraccount.billing.partnerbilling.io/"),
			Not(ContainSubstring("No resources found"))))
	})

	It("creates each remote account once, and shows its activation token and redemption link", func(ctx SpecContext) {
		for _, s := range samples {
			remote, ok, err := env.RemoteAccount(ctx, s.uid)
			Expect(err).NotTo(HaveOccurred())
			Expect(ok).To(BeTrue(), "no remote account %s", s.uid)
			Expect(remote.Type).To(Equal(s.apiType))
			Expect(remote.Domain).To(Equal("b5test.com"))
			Expect(remote.Status).To(Equal("entitled"))
			if s.endsAt == "" {
				Expect(remote.EndsAt).To(BeNil())
			} else {
				Expect(remote.EndsAt).To(HaveValue(sameTime(s.endsAt)))
			}

			token := kubectl(ctx, "get", "pa", s.name, "-n", ns, "-o", "jsonpath={.status.activationToken}")
			Expect(token).To(Equal(remote.ActivationToken))
			Expect(kubectl(ctx, "get", "pa", s.name, "-n", ns, "-o", "jsonpath={.status.redemptionURL}")).To(
				Equal("https://start.b5test.com/partnership/redeem?c=" + token + "&t=" + s.apiType))
			Expect(kubectl(ctx, "events", "-n", ns, "--for", "partneraccount/"+s.name)).To(
				MatchRegexp(`Normal\s+Created\s+PartnerAccount/%s\s+Created remote account "%s"`, s.name, s.uid))
		}
		requests, err := env.SimulatorRequests(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(requests).To(HaveKeyWithValue("create 201", len(samples)))
	})

	It("shows no difference in kubectl diff once they are Ready (what Argo CD shows as Synced)", func(ctx SpecContext) {
		for _, s := range samples {
			out, _, err := kubectlWithInput(ctx, "", "diff", "-n", ns, "-f", filepath.Join(samplesDir, s.file))
			Expect(err).NotTo(HaveOccurred(), "kubectl diff exits 1 when it finds a difference")
			Expect(out).To(BeEmpty())
		}
		out, _, err := kubectlWithInput(ctx, "", "diff", "-n", ns, "-k", samplesDir)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(BeEmpty())
	})

	It("applies server-side, and applying again changes nothing", func(ctx SpecContext) {
		out, _, err := kubectlWithInput(ctx, serverSide, "apply", "--server-side", "-n", ns, "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(ContainSubstring("customer-0003 serverside-applied"))
		kubectl(ctx, "wait", "-n", ns, "--for=condition=Ready", "--timeout=60s", "partneraccount/customer-0003")
		before := resourceVersion(ctx, "customer-0003")
		_, _, err = kubectlWithInput(ctx, serverSide, "apply", "--server-side", "-n", ns, "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		Expect(resourceVersion(ctx, "customer-0003")).To(Equal(before))
		out, _, err = kubectlWithInput(ctx, serverSide, "diff", "--server-side", "-n", ns, "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(BeEmpty())

		// The samples, applied client-side so far, move to server-side apply once;
		// after that, applying them again changes nothing either.
		kubectl(ctx, "apply", "--server-side", "-n", ns, "-k", samplesDir)
		versions := map[string]string{}
		for _, s := range samples {
			versions[s.name] = resourceVersion(ctx, s.name)
		}
		kubectl(ctx, "apply", "--server-side", "-n", ns, "-k", samplesDir)
		for _, s := range samples {
			Expect(resourceVersion(ctx, s.name)).To(Equal(versions[s.name]), s.name)
		}
	})

	Context("refusing bad manifests", func() {
		BeforeAll(func(ctx SpecContext) {
			Expect(env.ResetSimulatorRequests(ctx)).To(Succeed())
		})

		It("accepts the valid manifest the bad ones are made from (server-side dry run)", func(ctx SpecContext) {
			out, _, err := kubectlWithInput(ctx, bad(), "apply", "--dry-run=server", "-n", ns, "-f", "-")
			Expect(err).NotTo(HaveOccurred())
			Expect(out).To(ContainSubstring("partneraccount.billing.partnerbilling.io/bad created (server dry run)"))
		})

		DescribeTable("kubectl apply refuses a bad manifest, naming the field",
			func(ctx SpecContext, field, manifest string) {
				_, stderr, err := kubectlWithInput(ctx, manifest, "apply", "-n", ns, "-f", "-")
				Expect(err).To(HaveOccurred())
				Expect(stderr).To(ContainSubstring(field))
				_, stderr, err = kubectlWithInput(ctx, "", "get", "partneraccount", "bad", "-n", ns)
				Expect(err).To(HaveOccurred())
				Expect(stderr).To(ContainSubstring("NotFound"))
			},
			Entry("accountUID with an underscore", "spec.accountUID", bad("accountUID: cust_0100")),
			Entry("accountUID with a space", "spec.accountUID", bad(`accountUID: "cust 0100"`)),
			Entry("accountUID of 201 characters", "spec.accountUID", bad("accountUID: "+strings.Repeat("a", 201))),
			Entry("empty accountUID", "spec.accountUID", bad(`accountUID: ""`)),
			Entry("no accountUID", "spec.accountUID", bad("-accountUID")),
			Entry("accountUID misspelt accountUid", "spec.accountUid", bad("-accountUID", "accountUid: cust-0100")),
			Entry("empty domain", "spec.domain", bad(`domain: ""`)),
			Entry("domain that is not a DNS name", "spec.domain", bad(`domain: "not a domain"`)),
			Entry("domain with a scheme", "spec.domain", bad(`domain: "https://b5test.com"`)),
			Entry("domain in capitals", "spec.domain", bad("domain: B5TEST.COM")),
			Entry("no domain", "spec.domain", bad("-domain")),
			Entry("accountType Team", "spec.accountType", bad("accountType: Team")),
			Entry("accountType I, the API's spelling", "spec.accountType", bad("accountType: I")),
			Entry("no accountType", "spec.accountType", bad("-accountType")),
			Entry("endsAt that is not a time", "spec.endsAt", bad("endsAt: tomorrow")),
			Entry("endsAt without a time zone", "spec.endsAt", bad(`endsAt: "2031-01-01T00:00:00"`)),
			Entry("endsAt as a date only", "spec.endsAt", bad(`endsAt: "2031-01-01"`)),
			Entry("endsAt on the 30th of February", "spec.endsAt", bad(`endsAt: "2031-02-30T00:00:00Z"`)),
			Entry("endsAt as a Unix time", "spec.endsAt", bad("endsAt: 1924992000")),
			Entry("deletionPolicy Retain", "spec.deletionPolicy", bad("deletionPolicy: Retain")),
			Entry("deletionPolicy in lower case", "spec.deletionPolicy", bad("deletionPolicy: delete")),
			Entry("suspend that is not a boolean", "spec.suspend", bad(`suspend: "sometimes"`)),
			Entry("no spec at all", "spec: Required value", strings.Split(bad(), "spec:\n")[0]),
		)

		DescribeTable("kubectl apply refuses to change an immutable field of an existing account",
			func(ctx SpecContext, field, from, to string) {
				data, err := os.ReadFile(filepath.Join(samplesDir, samples[0].file))
				Expect(err).NotTo(HaveOccurred())
				Expect(string(data)).To(ContainSubstring(from))
				changed := strings.Replace(string(data), from, to, 1)
				_, stderr, err := kubectlWithInput(ctx, changed, "apply", "-n", ns, "-f", "-")
				Expect(err).To(HaveOccurred())
				Expect(stderr).To(ContainSubstring(field + ": Invalid value"))
				Expect(stderr).To(ContainSubstring("immutable"))
			},
			Entry("accountUID", "spec.accountUID", "accountUID: cust-0001", "accountUID: cust-0099"),
			Entry("accountType", "spec.accountType", "accountType: Individual", "accountType: Family"),
			Entry("domain", "spec.domain", "domain: b5test.com", "domain: b5test.ca"),
		)

		It("sent nothing to the Partnership API for them, and left the existing account as it was", func(ctx SpecContext) {
			requests, err := env.SimulatorRequests(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(requests).To(BeEmpty())
			accounts, err := env.RemoteAccounts(ctx)
			Expect(err).NotTo(HaveOccurred())
			uids := make([]string, 0, len(accounts))
			for _, a := range accounts {
				if strings.HasPrefix(a.UID, "cust-") { // other specs' accounts have other prefixes
					uids = append(uids, a.UID)
				}
			}
			Expect(uids).To(ConsistOf("cust-0001", "cust-0002", "cust-0003"))
			out, _, err := kubectlWithInput(ctx, "", "diff", "-n", ns, "-f", filepath.Join(samplesDir, samples[0].file))
			Expect(err).NotTo(HaveOccurred())
			Expect(out).To(BeEmpty())
		})
	})

	It("changes the remote end date on kubectl patch of endsAt, and clears it when endsAt is removed",
		func(ctx SpecContext) {
			const name, uid, endsAt = "customer-0002", "cust-0002", "2032-06-30T12:00:00Z"
			kubectl(ctx, "patch", "partneraccount", name, "-n", ns, "--type=merge",
				"-p", `{"spec":{"endsAt":"`+endsAt+`"}}`)
			Eventually(ctx, remoteEndsAt(ctx, uid)).Should(HaveValue(sameTime(endsAt)))
			kubectl(ctx, "wait", "-n", ns, "--for=jsonpath={.status.endsAt}="+endsAt, "--timeout=30s",
				"partneraccount/"+name)

			kubectl(ctx, "patch", "partneraccount", name, "-n", ns, "--type=json",
				"-p", `[{"op":"remove","path":"/spec/endsAt"}]`)
			Eventually(ctx, remoteEndsAt(ctx, uid)).Should(BeNil())
			Eventually(ctx, func() string {
				out, _, _ := env.Kubectl(ctx, "", "get", "pa", name, "-n", ns, "-o", "jsonpath={.status.endsAt}")
				return out
			}).Should(BeEmpty())
			Expect(kubectl(ctx, "get", "pa", name, "-n", ns, "-o",
				`jsonpath={.status.conditions[?(@.type=="Ready")].status}`)).To(Equal("True"))
		})

	It("deactivates the remote account on kubectl delete", func(ctx SpecContext) {
		Expect(kubectl(ctx, "delete", "partneraccount", "customer-0002", "-n", ns, "--timeout=60s")).To(
			ContainSubstring(`"customer-0002" deleted`))
		remote, ok, err := env.RemoteAccount(ctx, "cust-0002")
		Expect(err).NotTo(HaveOccurred())
		Expect(ok).To(BeTrue())
		Expect(remote.Deleted).To(BeTrue())
		Expect(remote.DeletedBy).To(Equal("api"))
		Expect(remote.Status).To(Equal("deprovisioned"))
	})

	It("leaves the remote account as it is on kubectl delete with deletionPolicy Orphan", func(ctx SpecContext) {
		Expect(env.ResetSimulatorRequests(ctx)).To(Succeed())
		kubectl(ctx, "patch", "partneraccount", "customer-0001", "-n", ns, "--type=merge",
			"-p", `{"spec":{"deletionPolicy":"Orphan"}}`)
		Expect(kubectl(ctx, "delete", "partneraccount", "customer-0001", "-n", ns, "--timeout=60s")).To(
			ContainSubstring(`"customer-0001" deleted`))
		remote, ok, err := env.RemoteAccount(ctx, "cust-0001")
		Expect(err).NotTo(HaveOccurred())
		Expect(ok).To(BeTrue())
		Expect(remote.Deleted).To(BeFalse())
		Expect(remote.Status).To(Equal("entitled"))
		requests, err := env.SimulatorRequests(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(requests).NotTo(HaveKey(HavePrefix("delete")))
	})

	It("accepts the kustomize install too: kubectl apply --server-side -k config/default --dry-run=server",
		func(ctx SpecContext) {
			// The namespace carries the restricted Pod Security Standard, as config/manager has it.
			Expect(kubectl(ctx, "get", "namespace", localenv.Namespace, "-o", "jsonpath={.metadata.labels}")).To(
				ContainSubstring(`"pod-security.kubernetes.io/enforce":"restricted"`))
			defaultDir := filepath.Join(env.Root, "config", "default")
			out, stderr, err := kubectlWithInput(ctx, "", "apply", "--server-side", "-k", defaultDir, "--dry-run=server")
			Expect(err).NotTo(HaveOccurred())
			Expect(stderr).NotTo(ContainSubstring("Warning"), "e.g. a Pod Security violation")
			Expect(out).To(ContainSubstring(
				"deployment.apps/partner-account-operator-controller-manager serverside-applied (server dry run)"))

			pod := kubectl(ctx, "apply", "--server-side", "-k", defaultDir, "--dry-run=server", "-o",
				`jsonpath={.items[?(@.kind=="Deployment")].spec.template.spec}`)
			Expect(pod).To(ContainSubstring(`"--partner-api-token-file=/var/run/secrets/partnerbilling.io/token"`))
			Expect(pod).To(ContainSubstring(`"--partner-api-url=https://billing.1password.com/api/v1"`))
			Expect(pod).To(ContainSubstring(`"mountPath":"/var/run/secrets/partnerbilling.io"`))
			Expect(pod).To(ContainSubstring(`"secretName":"partner-api-token"`))
		})

	It("never shows the partner token, and the operator met no RBAC refusal", func(ctx SpecContext) {
		kubectl(ctx, "get", "partneraccounts", "-A", "-o", "yaml")
		kubectl(ctx, "events", "-A")
		token := env.PartnerToken()
		Expect(token).NotTo(BeEmpty())
		operatorLog, err := os.ReadFile(env.OperatorLog)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(operatorLog)).To(ContainSubstring("Created remote account"))
		simulatorLog, err := os.ReadFile(env.SimulatorLog)
		Expect(err).NotTo(HaveOccurred())
		for what, text := range map[string]string{
			"operator log": string(operatorLog), "simulator log": string(simulatorLog), "kubectl": transcript.String(),
		} {
			Expect(text).NotTo(ContainSubstring(token), "the partner token is in the %s", what)
		}
		Expect(string(operatorLog)).NotTo(ContainSubstring("forbidden"))
		Expect(env.OperatorExited()).NotTo(BeClosed())
	})
})

// bad returns a manifest for PartnerAccount "bad": a valid one with changes, each
// "field: value" to set a spec field, or "-field" to remove it.
func bad(changes ...string) string {
	fields := []string{"accountUID: cust-0100", "accountType: Individual", "domain: b5test.com"}
	for _, c := range changes {
		if name, ok := strings.CutPrefix(c, "-"); ok {
			fields = slicesDelete(fields, name)
			continue
		}
		name, _, _ := strings.Cut(c, ":")
		fields = append(slicesDelete(fields, name), c)
	}
	return "apiVersion: billing.partnerbilling.io/v1alpha1\nkind: PartnerAccount\nmetadata:\n  name: bad\n" +
		"spec:\n  " + strings.Join(fields, "\n  ") + "\n"
}

// slicesDelete removes the field name from fields.
func slicesDelete(fields []string, name string) []string {
	var out []string
	for _, f := range fields {
		if !strings.HasPrefix(f, name+":") {
			out = append(out, f)
		}
	}
	return out
}

func resourceVersion(ctx SpecContext, name string) string {
	GinkgoHelper()
	return kubectl(ctx, "get", "partneraccount", name, "-n", ns, "-o", "jsonpath={.metadata.resourceVersion}")
}

// remoteEndsAt polls the end date of the remote account uid.
func remoteEndsAt(ctx SpecContext, uid string) func(Gomega) *string {
	return func(g Gomega) *string {
		remote, ok, err := env.RemoteAccount(ctx, uid)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(ok).To(BeTrue())
		return remote.EndsAt
	}
}

// sameTime matches an RFC 3339 string for the same instant as want.
func sameTime(want string) types.GomegaMatcher {
	w, err := time.Parse(time.RFC3339, want)
	Expect(err).NotTo(HaveOccurred())
	return WithTransform(func(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) },
		BeTemporally("==", w))
}
