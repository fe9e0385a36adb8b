//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/plugin"
	"github.com/partnerbilling/partner-account-operator/internal/testenv"
)

// pluginNS is where the plugin's specs put their PartnerAccounts.
const pluginNS = "e2e-plugin"

// The kubectl plugin (cmd/kubectl-partneraccount), built as users build it and
// run as its own process with the suite's kubeconfig, against the operator and
// the simulator: accounts made outside the operator imported as observed
// PartnerAccounts, one of them then managed, a reconcile request, a link.
var _ = Describe("kubectl partneraccount", Ordered, func() {
	var (
		// The accounts the billing system made, and the names import gives them.
		uidImp1, uidImp2, uidUpper = "plug-imp-1", "plug-imp-2", "CUST-IMPORT-UPPER"
		uidManaged, uidUnknown     = "plug-managed-1", "plug-unknown-1"
		// plug-imp-1's own name is taken, by the PartnerAccount of plug-managed-1.
		nameImp1  = plugin.HashedName(uidImp1, 8)
		nameImp2  = uidImp2
		nameUpper = plugin.NameFor(uidUpper)
	)

	// run runs the plugin with args, the suite's kubeconfig and stdin.
	run := runPlugin

	// writes polls the simulator's counts of creates, updates and deletes.
	writes := func(ctx SpecContext) func(Gomega) map[string]int {
		return func(g Gomega) map[string]int {
			reqs, err := env.SimulatorRequests(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			out := map[string]int{}
			for k, n := range reqs {
				if strings.HasPrefix(k, "create") || strings.HasPrefix(k, "update") || strings.HasPrefix(k, "delete") {
					out[k] = n
				}
			}
			return out
		}
	}

	BeforeAll(func(ctx SpecContext) {
		pluginBinary(ctx)
		kubectl(ctx, "create", "namespace", pluginNS)
		DeferCleanup(waitQuiet)
	}, NodeTimeout(5*time.Minute))

	It("imports accounts made outside the operator as observed PartnerAccounts, and writes nothing to them",
		func(ctx SpecContext) {
			for uid, typ := range map[string]string{uidImp1: "I", uidImp2: "F", uidUpper: "I", uidManaged: "I"} {
				Expect(env.SeedRemoteAccount(ctx, uid, typ, "b5test.com", time.Now().Add(-time.Hour))).To(Succeed())
			}
			By("declaring plug-managed-1 first, under the name plug-imp-1 would get")
			applyManifest(ctx, account(pluginNS, uidImp1, uidManaged, "Individual"))
			kubectl(ctx, "wait", "-n", pluginNS, "--for=condition=Stalled", "--timeout=30s", "partneraccount/"+uidImp1)
			waitQuiet(ctx)
			Expect(env.ResetSimulatorRequests(ctx)).To(Succeed())

			uids := filepath.Join(GinkgoT().TempDir(), "uids.txt")
			Expect(os.WriteFile(uids, []byte("# from the billing system\n"+uidImp1+"\n"+uidUpper+"\n"+uidUnknown+"\n\n"+
				uidManaged+"\n"+uidImp2+"\n"), 0o600)).To(Succeed())
			stdout, stderr, code := run(ctx, "", "import", "--uids", uids, "--observe", "-n", pluginNS,
				"--partner-api-url", env.PartnerAPIURL, "--partner-api-token-file", env.TokenFile)
			Expect(code).To(Equal(1), "an unknown UID fails the import")
			Expect(stderr).To(ContainSubstring("failed " + uidUnknown + ": "))
			Expect(stderr).To(ContainSubstring("skipped " + uidManaged + ": already managed by " + pluginNS + "/" + uidImp1))
			Expect(stderr).To(ContainSubstring("imported 3, skipped 1, failed 1 of 5 UIDs in "))

			pas := parsePartnerAccounts(stdout)
			Expect(pas).To(HaveLen(3))
			for i, want := range []struct{ name, uid, typ string }{
				{nameImp1, uidImp1, "Individual"}, {nameUpper, uidUpper, "Individual"}, {nameImp2, uidImp2, "Family"},
			} {
				pa := pas[i]
				Expect(pa.Name).To(Equal(want.name))
				Expect(pa.Namespace).To(Equal(pluginNS))
				Expect(pa.Spec.AccountUID).To(Equal(want.uid))
				Expect(string(pa.Spec.AccountType)).To(Equal(want.typ))
				Expect(pa.Spec.Domain).To(Equal("b5test.com"))
				Expect(pa.Spec.EndsAt).To(BeNil())
				Expect(pa.Spec.ManagementPolicy).To(Equal(billingv1alpha1.ManagementPolicyObserve))
				Expect(pa.Spec.AdoptExisting).To(BeFalse())
				Expect(pa.Spec.CreatePolicy).To(Equal(billingv1alpha1.CreatePolicyNever))
				Expect(pa.Spec.ConnectionRef).To(BeNil())
			}
			reqs, err := env.SimulatorRequests(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(reqs).To(Equal(map[string]int{"get 200": 3, "get 404": 1}), "one read per UID asked about")

			By("applying what it wrote")
			_, _, err = kubectlWithInput(ctx, stdout, "apply", "-f", "-")
			Expect(err).NotTo(HaveOccurred())
			for _, name := range []string{nameImp1, nameUpper, nameImp2} {
				kubectl(ctx, "wait", "-n", pluginNS, "--for=condition=Ready", "--timeout=60s", "partneraccount/"+name)
				Expect(jsonpath(ctx, pluginNS, name, readyReasonPath)).To(Equal(billingv1alpha1.ReasonAccountObserved))
				Expect(jsonpath(ctx, pluginNS, name, "{.status.activationToken}")).To(BeEmpty())
			}
			Consistently(ctx, writes(ctx)).WithTimeout(2 * time.Second).Should(BeEmpty())
		})

	It("manages an observed account with --yes, writing the declared end date once", func(ctx SpecContext) {
		By("declaring an end date while it is observed: nothing is written")
		kubectl(ctx, "patch", "-n", pluginNS, "partneraccount", nameImp2, "--type", "merge",
			"-p", `{"spec":{"endsAt":"2034-01-01T00:00:00Z"}}`)
		Eventually(ctx, func() string {
			return jsonpath(ctx, pluginNS, nameImp2, "{.status.observedGeneration}")
		}).Should(Equal(jsonpath(ctx, pluginNS, nameImp2, "{.metadata.generation}")))
		Expect(jsonpath(ctx, pluginNS, nameImp2, readyReasonPath)).To(Equal(billingv1alpha1.ReasonAccountObserved))
		Expect(jsonpath(ctx, pluginNS, nameImp2, "{.status.drift[*].field}")).To(ContainSubstring("endsAt"))
		Consistently(ctx, writes(ctx)).WithTimeout(2 * time.Second).Should(BeEmpty())
		Expect(remote(ctx, uidImp2).EndsAt).To(BeNil())

		By("refusing to change it without a terminal to confirm on, or --yes")
		_, stderr, code := run(ctx, "y\n", "manage", nameImp2, "-n", pluginNS)
		Expect(code).To(Equal(1))
		Expect(stderr).To(ContainSubstring("pass --yes"))
		Expect(jsonpath(ctx, pluginNS, nameImp2, "{.spec.managementPolicy}")).To(Equal("Observe"))

		By("managing it with --yes")
		stdout, _, code := run(ctx, "", "manage", nameImp2, "-n", pluginNS, "--yes")
		Expect(code).To(Equal(0))
		Expect(stdout).To(ContainSubstring("partneraccount " + pluginNS + "/" + nameImp2 +
			": managementPolicy Observe -> Manage, adoptExisting false -> true"))
		Expect(jsonpath(ctx, pluginNS, nameImp2, "{.spec.adoptExisting}")).To(Equal("true"))
		Eventually(ctx, func() string { return jsonpath(ctx, pluginNS, nameImp2, readyReasonPath) }).
			Should(Equal(billingv1alpha1.ReasonAccountReady))
		Expect(jsonpath(ctx, pluginNS, nameImp2, "{.status.accountUID}")).To(Equal(uidImp2))
		Expect(remote(ctx, uidImp2).EndsAt).To(HaveValue(sameTime("2034-01-01T00:00:00Z")))
		Consistently(ctx, writes(ctx)).WithTimeout(2 * time.Second).Should(Equal(map[string]int{"update 200": 1}))
	})

	It("requests a reconcile and returns once the operator echoes it", func(ctx SpecContext) {
		stdout, _, code := run(ctx, "", "reconcile", nameImp2, "-n", pluginNS, "--timeout", "30s")
		Expect(code).To(Equal(0))
		Expect(stdout).To(HavePrefix("✔ reconciled: True AccountReady"))
		requested := jsonpath(ctx, pluginNS, nameImp2,
			`{.metadata.annotations.billing\.partnerbilling\.io/reconcile-requested-at}`)
		Expect(requested).NotTo(BeEmpty())
		Expect(jsonpath(ctx, pluginNS, nameImp2, "{.status.lastHandledReconcileAt}")).To(Equal(requested))

		stdout, _, code = run(ctx, "", "reconcile", nameUpper, "-n", pluginNS)
		Expect(code).To(Equal(0))
		Expect(stdout).To(HavePrefix("✔ reconciled: True AccountObserved"))
	})

	It("prints the redemption link of the managed one, and none for an observed one", func(ctx SpecContext) {
		stdout, _, code := run(ctx, "", "link", nameImp2, "-n", pluginNS)
		Expect(code).To(Equal(0))
		Expect(stdout).To(HavePrefix("https://start.b5test.com/partnership/redeem?"))
		Expect(stdout).To(Equal(jsonpath(ctx, pluginNS, nameImp2, "{.status.redemptionURL}") + "\n"))
		Expect(stdout).To(ContainSubstring(remote(ctx, uidImp2).ActivationToken))

		stdout, stderr, code := run(ctx, "", "link", nameUpper, "-n", pluginNS)
		Expect(code).To(Equal(1))
		Expect(stdout).To(BeEmpty())
		Expect(stderr).To(ContainSubstring("an observed resource never shows it"))
	})
})

// pluginBin is the kubectl plugin, built once for the suite.
var pluginBin string

// pluginBinary builds the kubectl plugin (cmd/kubectl-partneraccount) as users
// build it, once for the suite, for runPlugin.
func pluginBinary(ctx SpecContext) {
	GinkgoHelper()
	if pluginBin != "" {
		return
	}
	bin := filepath.Join(env.Dir, "kubectl-partneraccount")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/kubectl-partneraccount")
	build.Dir = testenv.Root()
	out, err := build.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "go build ./cmd/kubectl-partneraccount:\n%s", out)
	pluginBin = bin
}

// runPlugin runs the plugin (built by pluginBinary) as its own process with args,
// the suite's kubeconfig and stdin, and returns what it printed and its exit
// status. What it prints must not hold the partner token.
func runPlugin(ctx SpecContext, stdin string, args ...string) (string, string, int) {
	GinkgoHelper()
	Expect(pluginBin).NotTo(BeEmpty(), "call pluginBinary first, in a BeforeAll")
	args = append(args, "--kubeconfig", env.Kubeconfig)
	GinkgoWriter.Printf("$ kubectl partneraccount %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, pluginBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exit, ok := errors.AsType[*exec.ExitError](err); ok {
		code = exit.ExitCode()
	} else {
		Expect(err).NotTo(HaveOccurred())
	}
	GinkgoWriter.Printf("%s%s(exit status %d)\n", stdout.String(), stderr.String(), code)
	transcript.WriteString(stdout.String() + stderr.String())
	Expect(stdout.String() + stderr.String()).NotTo(ContainSubstring(env.PartnerToken()))
	return stdout.String(), stderr.String(), code
}

// parsePartnerAccounts parses a YAML stream of PartnerAccounts, strictly.
func parsePartnerAccounts(stream string) []billingv1alpha1.PartnerAccount {
	GinkgoHelper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(stream)))
	var pas []billingv1alpha1.PartnerAccount
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return pas
		}
		Expect(err).NotTo(HaveOccurred())
		if strings.TrimSpace(string(doc)) == "" {
			continue
		}
		var pa billingv1alpha1.PartnerAccount
		Expect(yaml.UnmarshalStrict(doc, &pa)).To(Succeed(), "%s", doc)
		pas = append(pas, pa)
	}
}
