//go:build e2e

package e2e

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/partnerbilling/partner-account-operator/test/localenv"
)

// Uninstalling deletes the CRD, and with it every PartnerAccount: in an environment
// of its own, so that the other specs keep theirs.
var _ = Describe("Uninstalling", func() {
	It("deactivates no account when the CRD is deleted while the operator runs", func(ctx SpecContext) {
		own, err := localenv.Start(ctx, localenv.Options{
			WorkDir: GinkgoT().TempDir(), BinDir: env.Dir, Progress: func(step string) { By(step) },
			Chart: "dist/chart", Helm: tool("HELM", "helm"),
		})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(own.Stop)
		run := func(args ...string) string {
			GinkgoHelper()
			GinkgoWriter.Printf("$ kubectl %s\n", strings.Join(args, " "))
			stdout, stderr, err := own.Kubectl(ctx, "", args...)
			GinkgoWriter.Print(stdout + stderr)
			Expect(err).NotTo(HaveOccurred())
			return stdout
		}
		run("create", "namespace", "uninstall")
		for _, uid := range []string{"uninstall-1", "uninstall-2"} {
			_, _, err := own.Kubectl(ctx, account("uninstall", uid, uid, "Individual"), "apply", "-f", "-")
			Expect(err).NotTo(HaveOccurred())
		}
		run("wait", "-n", "uninstall", "--for=condition=Ready", "--timeout=30s", "partneraccount", "--all")

		run("delete", "crd", localenv.CRDName, "--timeout=60s")

		accounts, err := own.RemoteAccounts(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(accounts).To(HaveLen(2))
		for _, a := range accounts {
			Expect(a.Deleted).To(BeFalse(), "uninstalling deactivated %s", a.UID)
		}
		reqs, err := own.SimulatorRequests(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(reqs).NotTo(HaveKey(ContainSubstring("delete")))
		Expect(run("events", "-n", "uninstall")).To(ContainSubstring("OrphanedByUninstall"))
	})
})
