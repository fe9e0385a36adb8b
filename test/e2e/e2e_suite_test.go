//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/partnerbilling/partner-account-operator/internal/testenv"
	"github.com/partnerbilling/partner-account-operator/test/localenv"
)

// The end-to-end suite uses the operator the way its users do: with kubectl (the one
// that matches the server), against a real kube-apiserver and etcd, with the
// operator and the Partnership API simulator each running as its own process, the
// operator as the ServiceAccount of the install manifests with exactly the RBAC of
// config/rbac. One environment serves the whole suite (test/localenv).
//
//	make test-e2e    (make test runs it too)

var env *localenv.Env

// transcript collects everything kubectl printed, to check that the partner token
// never shows.
var transcript strings.Builder

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	suiteConfig, reporterConfig := GinkgoConfiguration()
	// Below go test's -timeout (10m in the Makefile), so that on a hang the suite
	// still stops the processes it started.
	if suiteConfig.Timeout > 9*time.Minute {
		suiteConfig.Timeout = 9 * time.Minute
	}
	RunSpecs(t, "End-to-end Suite", suiteConfig, reporterConfig)
}

var _ = BeforeSuite(func(ctx SpecContext) {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	dir := GinkgoT().TempDir()
	var err error
	env, err = localenv.Start(ctx, localenv.Options{
		WorkDir:  dir,
		Progress: func(step string) { By(step) },
		// Installed from the Helm chart, as platform teams do; the operator runs
		// with the rendered Deployment's arguments and environment.
		Chart: "dist/chart",
		Helm:  tool("HELM", "helm"),
		// No resync during the suite: every request the simulator counts comes from
		// something a spec did. The most verbose logging, so that the check that no
		// secret is ever logged sees everything the operator can log.
		OperatorArgs: []string{"--resync-period=10m", "--min-read-back-interval=10m", "--zap-log-level=127"},
	})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) {
		// Registered after the work directory's removal, so it runs before it.
		if anyFailed || os.Getenv("E2E_SHOW_LOGS") != "" {
			showLog(env.OperatorLog)
			showLog(env.SimulatorLog)
		}
		accounts, err := env.RemoteAccounts(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(env.Stop()).To(Succeed())
		logs, _ := filepath.Glob(filepath.Join(env.Dir, "operator*.log"))
		for _, log := range logs {
			expectNoSecretsIn(log, env.PartnerToken(), accounts)
		}
	})
	AddReportEntry("kube-apiserver", env.ServerVersion)
}, NodeTimeout(6*time.Minute)) // building the operator on a cold build cache takes minutes

// tool returns the path of a tool make builds into bin/, or the one the variable
// env names (make passes it).
func tool(env, name string) string {
	if p := os.Getenv(env); p != "" {
		return p
	}
	return filepath.Join(testenv.Root(), "bin", name)
}

// anyFailed is set when a spec fails, to show the processes' logs at the end.
var anyFailed bool

var _ = AfterEach(func() {
	if CurrentSpecReport().Failed() {
		anyFailed = true
	}
})

// expectNoSecretsIn fails when the log at path holds the partner's bearer token or
// any account's activation token.
func expectNoSecretsIn(path, partnerToken string, accounts []localenv.RemoteAccount) {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	log := string(data)
	Expect(len(log)).To(BeNumerically(">", 1000), "the operator's log is nearly empty")
	Expect(partnerToken).NotTo(BeEmpty())
	Expect(strings.Contains(log, partnerToken)).To(BeFalse(), "the operator logged the partner token")
	Expect(accounts).NotTo(BeEmpty())
	for _, a := range accounts {
		Expect(a.ActivationToken).NotTo(BeEmpty())
		Expect(strings.Contains(log, a.ActivationToken)).To(BeFalse(),
			"the operator logged account %s's activation token", a.UID)
	}
	GinkgoWriter.Printf("Operator log: %d bytes, no partner token, none of %d activation tokens\n",
		len(log), len(accounts))
}

func showLog(path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	fmt.Fprintf(os.Stderr, "\n----- %s -----\n%s----- end of %s -----\n", filepath.Base(path), data, filepath.Base(path))
}

// kubectl runs kubectl as cluster admin and returns its stdout; it must succeed.
func kubectl(ctx SpecContext, args ...string) string {
	GinkgoHelper()
	stdout, _, err := kubectlWithInput(ctx, "", args...)
	Expect(err).NotTo(HaveOccurred())
	return stdout
}

// kubectlWithInput runs kubectl with stdin and returns what it printed; a non-zero
// exit is an error.
func kubectlWithInput(ctx SpecContext, stdin string, args ...string) (string, string, error) {
	GinkgoWriter.Printf("$ kubectl %s\n", strings.Join(args, " "))
	stdout, stderr, err := env.Kubectl(ctx, stdin, args...)
	transcript.WriteString(stdout + stderr)
	for _, out := range []string{stdout, stderr} {
		if out != "" && !strings.HasSuffix(out, "\n") {
			out += "\n"
		}
		GinkgoWriter.Print(out)
	}
	return stdout, stderr, err
}

// columns splits a kubectl table's header line into its headers.
var columnGap = regexp.MustCompile(`\s{2,}`)

// table parses kubectl's table output into its headers and one map per row, from
// header to cell, cutting each line at the offsets of the headers.
func table(out string) ([]string, []map[string]string) {
	GinkgoHelper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	Expect(lines).NotTo(BeEmpty())
	headers := columnGap.Split(strings.TrimSpace(lines[0]), -1)
	starts := make([]int, len(headers))
	from := 0
	for i, h := range headers {
		at := strings.Index(lines[0][from:], h)
		Expect(at).To(BeNumerically(">=", 0), "header %q", h)
		starts[i] = from + at
		from = starts[i] + len(h)
	}
	rows := make([]map[string]string, 0, len(lines)-1)
	for _, line := range lines[1:] {
		row := map[string]string{}
		for i, h := range headers {
			end := len(line)
			if i+1 < len(starts) {
				end = min(starts[i+1], len(line))
			}
			if starts[i] < end {
				row[h] = strings.TrimSpace(line[starts[i]:end])
			} else {
				row[h] = ""
			}
		}
		rows = append(rows, row)
	}
	return headers, rows
}

// byName indexes table rows by their NAME cell.
func byName(rows []map[string]string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, r := range rows {
		out[r["NAME"]] = r
	}
	return out
}
