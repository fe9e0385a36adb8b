//go:build cluster

package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
)

// accountsNamespace is where the specs put their PartnerAccounts.
const accountsNamespace = "cluster-test"

// leaseName is the operator's leader election Lease (cmd/main.go).
const leaseName = "5121855b.partnerbilling.io"

// account is a PartnerAccount manifest with the given name, accountUID, policy and
// end date.
func account(name, uid, policy, endsAt string) string {
	return fmt.Sprintf(`apiVersion: billing.partnerbilling.io/v1alpha1
kind: PartnerAccount
metadata:
  name: %s
spec:
  accountUID: %s
  accountType: Individual
  domain: b5test.com
  endsAt: "%s"
  deletionPolicy: %s
`, name, uid, endsAt, policy)
}

var _ = Describe("The operator, installed as a user would", func() {
	for i, method := range installMethods {
		Describe("from "+method.name, Ordered, func() {
			var (
				in      install
				overlay string
				// The PartnerAccounts, by name: their accountUIDs and deletion policies.
				uids = map[string]string{
					"policy-delete": fmt.Sprintf("cluster-%d-delete", i), "policy-orphan": fmt.Sprintf("cluster-%d-orphan", i),
				}
				policies = map[string]string{"policy-delete": "Delete", "policy-orphan": "Orphan"}
				// The simulator's create requests before this install, and once its accounts were Ready.
				createsBefore, creates int
			)
			apply := func(ctx SpecContext, endsAt string) {
				manifests := make([]string, 0, len(uids))
				for _, name := range []string{"policy-delete", "policy-orphan"} {
					manifests = append(manifests, account(name, uids[name], policies[name], endsAt))
				}
				_, err := kubectlIn(ctx, strings.Join(manifests, "---\n"), "apply", "-n", accountsNamespace, "-f", "-")
				Expect(err).NotTo(HaveOccurred())
			}
			waitReady := func(ctx SpecContext) {
				_, err := kubectlIn(ctx, "", "wait", "-n", accountsNamespace, "--for=condition=Ready", "--timeout=90s",
					"partneraccounts", "--all")
				Expect(err).NotTo(HaveOccurred(), explain(in, "The PartnerAccounts did not become Ready"))
			}
			simCreates := func(ctx context.Context) int {
				requests, err := sim.SimulatorRequests(ctx)
				Expect(err).NotTo(HaveOccurred())
				return countCreates(requests)
			}
			// rollOut waits for the Deployment to roll out and returns its pods, each Ready
			// with no restart.
			rollOut := func(ctx SpecContext) []corev1.Pod {
				_, err := kubectlIn(ctx, "", "rollout", "status", "-n", in.namespace, "deployment/"+in.deployment.Name,
					"--timeout=150s")
				Expect(err).NotTo(HaveOccurred(), explain(in, "The operator's Deployment did not roll out"))
				var pods corev1.PodList
				Eventually(func(g Gomega) {
					g.Expect(getJSON(ctx, &pods, "get", "pods", "-n", in.namespace, "-l", in.selector())).To(BeTrue())
					g.Expect(pods.Items).To(HaveLen(in.replicas()), "old pods are still there")
				}).Should(Succeed())
				for _, pod := range pods.Items {
					Expect(pod.Status.Conditions).To(ContainElement(SatisfyAll(
						HaveField("Type", corev1.PodReady), HaveField("Status", corev1.ConditionTrue))),
						explain(in, "Pod %s is not Ready", pod.Name))
					Expect(pod.Status.ContainerStatuses).To(HaveEach(HaveField("RestartCount", BeZero())),
						explain(in, "Pod %s restarted", pod.Name))
				}
				return pods.Items
			}
			// leaderAmong waits until one of the pods holds the Lease.
			leaderAmong := func(ctx SpecContext, pods []corev1.Pod) {
				prefixes := make([]types.GomegaMatcher, 0, len(pods))
				for _, p := range pods {
					prefixes = append(prefixes, HavePrefix(p.Name+"_"))
				}
				Eventually(func(g Gomega) {
					var lease coordinationv1.Lease
					g.Expect(getJSON(ctx, &lease, "get", "lease", leaseName, "-n", in.namespace)).To(BeTrue())
					g.Expect(lease.Spec.HolderIdentity).To(HaveValue(SatisfyAny(prefixes...)))
				}).Should(Succeed(), explain(in, "None of the pods took the Lease"))
			}

			BeforeAll(func(ctx SpecContext) {
				in = parseInstall(method.render(ctx))
				overlay = GinkgoT().TempDir()
				in.overlay(overlay, sim.SimulatorURL, method.configured)
				createsBefore = simCreates(ctx)
			})

			It("becomes Available, its pods Ready as UID 65532 on a read-only root filesystem, in a restricted namespace",
				func(ctx SpecContext) {
					if !in.createsNamespace {
						By("Create the namespace, which these manifests leave to the user, enforcing restricted")
						kubectl(ctx, "create", "namespace", in.namespace)
						kubectl(ctx, "label", "namespace", in.namespace, "pod-security.kubernetes.io/enforce=restricted")
					}
					kubectl(ctx, "apply", "-k", overlay)
					kubectl(ctx, "create", "secret", "generic", "partner-api-token", "-n", in.namespace,
						"--from-file=token="+sim.TokenFile)
					if !method.configured {
						kubectl(ctx, "create", "configmap", "partner-api-ca", "-n", in.namespace, "--from-file=ca.crt="+sim.CAFile)
					}
					pods := rollOut(ctx)
					kubectl(ctx, "wait", "-n", in.namespace, "--for=condition=Available", "--timeout=10s",
						"deployment/"+in.deployment.Name)

					for _, pod := range pods {
						for _, cs := range pod.Status.ContainerStatuses {
							if cs.Name != "manager" {
								continue
							}
							pid, err := containerPID(cs.ContainerID)
							Expect(err).NotTo(HaveOccurred())
							Expect(processUIDs(pid)).To(Equal([]string{"65532", "65532", "65532", "65532"}),
								"the user IDs of the manager in %s", pod.Name)
							Expect(rootMountOptions(pid)).To(ContainElement("ro"), "the root filesystem of the manager in %s", pod.Name)
						}
					}

					Expect(kubectl(ctx, "get", "namespace", in.namespace,
						"-o", `jsonpath={.metadata.labels.pod-security\.kubernetes\.io/enforce}`)).To(Equal("restricted"))
					_, err := kubectlIn(ctx, "", "run", "root-check", "-n", in.namespace, "--image="+clientImage, "--dry-run=server")
					Expect(err).To(MatchError(ContainSubstring(`violates PodSecurity "restricted:latest"`)),
						"a pod that breaks the restricted standard is not refused")

					By("One of the pods takes the leader election Lease")
					leaderAmong(ctx, pods)
				})

			It("makes PartnerAccounts applied with kubectl Ready, with the simulator's activation tokens",
				func(ctx SpecContext) {
					kubectl(ctx, "create", "namespace", accountsNamespace)
					apply(ctx, "2031-01-01T00:00:00Z")
					waitReady(ctx)
					for name, uid := range uids {
						remote, ok, err := sim.RemoteAccount(ctx, uid)
						Expect(err).NotTo(HaveOccurred())
						Expect(ok).To(BeTrue(), "no remote account %s", uid)
						Expect(remote.ActivationToken).NotTo(BeEmpty())
						Expect(kubectl(ctx, "get", "pa", name, "-n", accountsNamespace, "-o", "jsonpath={.status.activationToken}")).
							To(Equal(remote.ActivationToken), "PartnerAccount %s", name)
					}
					creates = simCreates(ctx)
					Expect(creates-createsBefore).To(Equal(len(uids)), "create requests")
				})

			It("serves its metrics through its Service: 401 without a token, 403 without metrics-reader, 200 with it",
				func(ctx SpecContext) {
					url := fmt.Sprintf("https://%s:8443/metrics",
						kubectl(ctx, "get", "service", in.metricsService.Name, "-n", in.namespace, "-o", "jsonpath={.spec.clusterIP}"))
					// The chart binds the client's ServiceAccount itself (metrics.readers).
					client := startMetricsClient(ctx, in.metricsReader, !method.configured)

					out, err := client.fetch(ctx, "", "/fetch", url)
					Expect(err).NotTo(HaveOccurred())
					Expect(out).To(HavePrefix("401\n"), "without a token")

					denied := kubectl(ctx, "create", "token", "metrics-denied", "-n", client.namespace)
					out, err = client.fetch(ctx, denied, "/fetch", "-token-file", "-", url)
					Expect(err).NotTo(HaveOccurred())
					Expect(out).To(HavePrefix("403\n"), "with the token of a ServiceAccount that is not a metrics reader")

					ownToken := "/var/run/secrets/kubernetes.io/serviceaccount/token"
					out, err = client.fetch(ctx, "", "/fetch", "-token-file", ownToken, url)
					Expect(err).NotTo(HaveOccurred())
					Expect(out).To(HavePrefix("200\n"), "with the token of a metrics reader")
					// Every replica serves these; the Service picks one.
					Expect(out).To(ContainSubstring(`partnerapi_rate_limiter_wait_seconds_count{connection="default"} `))
					Expect(out).To(ContainSubstring(fmt.Sprintf(`leader_election_master_status{name=%q}`, leaseName)))

					By("The leader's series count its create requests")
					created := fmt.Sprintf(`partnerapi_requests_total{code="201",connection="default",operation="create"} %d`,
						len(uids))
					Eventually(func(g Gomega) {
						out, err := client.fetch(ctx, "", "/fetch", "-token-file", ownToken, url)
						g.Expect(err).NotTo(HaveOccurred())
						g.Expect(out).To(ContainSubstring(created))
					}).WithTimeout(30*time.Second).Should(Succeed(), "no answer through the Service came from the leader")
				})

			It("hands over to a new pod of a rollout restart, which takes the Lease", func(ctx SpecContext) {
				var before corev1.PodList
				Expect(getJSON(ctx, &before, "get", "pods", "-n", in.namespace, "-l", in.selector())).To(BeTrue())
				kubectl(ctx, "rollout", "restart", "-n", in.namespace, "deployment/"+in.deployment.Name)
				pods := rollOut(ctx)
				for _, old := range before.Items {
					Expect(pods).NotTo(ContainElement(HaveField("Name", old.Name)), "pod %s is still there", old.Name)
				}
				leaderAmong(ctx, pods)
			})

			It("changes the remote end dates when the PartnerAccounts' change, and creates nothing twice",
				func(ctx SpecContext) {
					apply(ctx, "2032-06-30T00:00:00Z")
					Eventually(func(g Gomega) {
						for _, uid := range uids {
							remote, _, err := sim.RemoteAccount(ctx, uid)
							g.Expect(err).NotTo(HaveOccurred())
							g.Expect(remote.EndsAt).To(HaveValue(HavePrefix("2032-06-30T00:00:00")), uid)
						}
					}).Should(Succeed(), explain(in, "The new leader did not update the end dates"))
					waitReady(ctx)
					Expect(simCreates(ctx)).To(Equal(creates), "create requests since the accounts were Ready")
				})

			It("deactivates the remote account of a deleted PartnerAccount, unless its policy is Orphan",
				func(ctx SpecContext) {
					_, err := kubectlIn(ctx, "", "delete", "pa", "policy-delete", "policy-orphan", "-n", accountsNamespace,
						"--timeout=60s")
					Expect(err).NotTo(HaveOccurred(), explain(in, "The PartnerAccounts were not deleted"))
					remote, ok, err := sim.RemoteAccount(ctx, uids["policy-delete"])
					Expect(err).NotTo(HaveOccurred())
					Expect(!ok || remote.Deleted).To(BeTrue(),
						"the remote account of a Delete PartnerAccount is still there: %+v", remote)
					remote, ok, err = sim.RemoteAccount(ctx, uids["policy-orphan"])
					Expect(err).NotTo(HaveOccurred())
					Expect(ok && !remote.Deleted).To(BeTrue(), "the remote account of an Orphan PartnerAccount is gone: %+v", remote)
				})

			It("never failed a probe nor restarted, in any of its pods", func(ctx SpecContext) {
				// A wrong liveness probe still lets a pod become Ready: the kubelet only
				// reports it, then restarts the container a minute or so later.
				var events corev1.EventList
				Expect(getJSON(ctx, &events, "get", "events", "-n", in.namespace, "--field-selector", "type=Warning")).
					To(BeTrue())
				for _, e := range events.Items {
					if e.InvolvedObject.Kind == "Pod" && slices.Contains(podTroubles, e.Reason) {
						Fail(fmt.Sprintf("Pod %s: %s: %s", e.InvolvedObject.Name, e.Reason, e.Message) + diagnose(in))
					}
				}
				rollOut(ctx)
			})

			AfterAll(func(ctx SpecContext) {
				if overlay == "" {
					return // nothing was installed
				}
				By("Uninstall")
				_, _ = kubectlIn(ctx, "", "delete", "namespace", accountsNamespace, "--ignore-not-found", "--timeout=90s")
				_, err := kubectlIn(ctx, "", "delete", "-k", overlay, "--ignore-not-found", "--timeout=120s")
				Expect(err).NotTo(HaveOccurred())
				if !in.createsNamespace {
					kubectl(ctx, "delete", "namespace", in.namespace, "--ignore-not-found", "--timeout=120s")
				}
			}, NodeTimeout(5*time.Minute))
		})
	}
})

// podTroubles are the reasons of the kubelet's Warning events that say a pod of
// the operator is unwell: a failed probe, a container crashing.
var podTroubles = []string{"Unhealthy", "BackOff", "ProbeWarning"}

// countCreates adds up the simulator's create requests, whatever their answer.
func countCreates(requests map[string]int) int {
	n := 0
	for k, v := range requests {
		if strings.HasPrefix(k, "create ") {
			n += v
		}
	}
	return n
}
