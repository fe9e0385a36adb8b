//go:build e2e

package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// installNS is where the install specs put their PartnerAccount.
const installNS = "e2e-install"

var _ = Describe("The operator as the Helm chart installs it", Ordered, func() {
	BeforeAll(func(ctx SpecContext) {
		kubectl(ctx, "create", "namespace", installNS)
		// Something for every metric to have seen: a create, reads, a first Ready.
		manifest := account(installNS, "metered", "inst-metered", "Individual")
		applyManifest(ctx, strings.Replace(manifest, "b5test.com", "b5test.ca", 1))
		kubectl(ctx, "wait", "-n", installNS, "--for=condition=Ready", "--timeout=30s", "partneraccount/metered")
	})

	It("runs the manager with the rendered Deployment's arguments and environment", func(ctx SpecContext) {
		cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(env.OperatorPID()), "cmdline"))
		Expect(err).NotTo(HaveOccurred())
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		for _, want := range []string{"--leader-elect", "--partner-api-rps=10", "--partner-api-burst=20",
			"--resync-period=10m", "--max-concurrent-reconciles=4", "--activation-token-in-status=true"} {
			Expect(args).To(ContainElement(want))
		}
		environ, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(env.OperatorPID()), "environ"))
		Expect(err).NotTo(HaveOccurred())
		// The chart's memory limit, in bytes, through the downward API; and GOGC.
		vars := strings.Split(string(environ), "\x00")
		Expect(vars).To(ContainElements(MatchRegexp(`^MEMORY_LIMIT=[0-9]+$`), "GOGC=50"))
		// The operator gives 90% of it to the Go runtime's memory limit.
		var limit int64
		for _, v := range vars {
			if n, ok := strings.CutPrefix(v, "MEMORY_LIMIT="); ok {
				limit, err = strconv.ParseInt(n, 10, 64)
				Expect(err).NotTo(HaveOccurred())
			}
		}
		Eventually(func() (string, error) {
			log, err := os.ReadFile(env.OperatorLog)
			return string(log), err
		}).Should(ContainSubstring(fmt.Sprintf(`"goMemLimit":%d`, int64(float64(limit)*0.9))))
	})

	It("serves /metrics only to those allowed, with every metric the alerts and the dashboard use", func(ctx SpecContext) {
		url := env.Operator().MetricsURL
		Expect(url).NotTo(BeEmpty())
		kubectl(ctx, "create", "serviceaccount", "-n", installNS, "prometheus")
		kubectl(ctx, "create", "serviceaccount", "-n", installNS, "nobody")
		kubectl(ctx, "create", "clusterrolebinding", "e2e-prometheus-metrics",
			"--clusterrole=partner-account-operator-metrics-reader", "--serviceaccount="+installNS+":prometheus")
		allowed := strings.TrimSpace(kubectl(ctx, "create", "token", "-n", installNS, "prometheus"))
		denied := strings.TrimSpace(kubectl(ctx, "create", "token", "-n", installNS, "nobody"))

		Expect(scrape(url, "")).To(HaveField("Status", http.StatusUnauthorized))
		Expect(scrape(url, denied)).To(HaveField("Status", http.StatusForbidden))
		var body string
		Eventually(func() int { r := scrape(url, allowed); body = r.Body; return r.Status }).Should(Equal(http.StatusOK))

		served := map[string]bool{}
		sc := bufio.NewScanner(strings.NewReader(body))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			name, _, _ := strings.Cut(line, "{")
			name, _, _ = strings.Cut(name, " ")
			served[name] = true
		}
		names := exec.CommandContext(ctx, tool("METRICNAMES", "metricnames"),
			"config/prometheus/prometheus_rule.yaml", "config/grafana/partner-account-operator.json")
		names.Dir = env.Root
		out, err := names.Output()
		Expect(err).NotTo(HaveOccurred(), "run make metricnames")
		used := strings.Fields(string(out))
		Expect(len(used)).To(BeNumerically(">", 5))
		var missing []string
		for _, m := range used {
			if !served[m] {
				missing = append(missing, m)
			}
		}
		slices.Sort(missing)
		Expect(missing).To(BeEmpty(), "queried by the alerts or the dashboard, not on /metrics")
	})
})

// scraped is an answer of the metrics endpoint.
type scraped struct {
	Status int
	Body   string
}

// scrape GETs url with a bearer token (none when empty). The operator's serving
// certificate is self-signed, as with no cert-manager.
func scrape(url, token string) scraped {
	GinkgoHelper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // a self-signed certificate on loopback
	}}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	Expect(err).NotTo(HaveOccurred())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return scraped{Status: resp.StatusCode, Body: string(b)}
}
