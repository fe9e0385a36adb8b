package partneraccount

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/argocdhealth"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

// updateTestdataEnv names the variable that, set to 1, makes the GitOps health test
// write each object it captures to the Argo CD testdata. Without it the test
// compares the committed testdata with what it captures, so stale files fail.
const updateTestdataEnv = "UPDATE_ARGOCD_TESTDATA"

// Fixed values that replace, in the testdata, the captured values that change from
// one run to the next. Times become one time in the past or one in the future, as
// they were when captured, so that a date in the past stays in the past.
const (
	capturedNamespace = "billing"
	capturedToken     = "PNS-0000TEST"
	capturedPast      = "2020-01-01T00:00:00Z"
	capturedFuture    = "2099-01-01T00:00:00Z"
)

// loopbackURLRE matches the simulator's address, whose port changes from run to run.
var loopbackURLRE = regexp.MustCompile(`http://127\.0\.0\.1:\d+`)

// capturedAPIURL replaces the simulator's address in the testdata.
const capturedAPIURL = "http://127.0.0.1:8089"

// tokenFileRE matches the harness's token file, in a temporary directory, as a
// message names it; capturedTokenFile replaces it in the testdata.
var tokenFileRE = regexp.MustCompile(`from /\S+/token `)

const capturedTokenFile = "/var/run/secrets/partnerbilling.io/token"

var timestampRE = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)

var _ = Describe("GitOps health", func() {
	It("tells kstatus and the Argo CD health check the truth in every state, and captures the testdata", func() {
		script, err := argocdhealth.LoadScript()
		Expect(err).NotTo(HaveOccurred())
		tests, err := argocdhealth.ReadTests(argocdhealth.TestsPath())
		Expect(err).NotTo(HaveOccurred())
		rec := &gitopsRecorder{script: script, tests: tests, update: os.Getenv(updateTestdataEnv) == "1"}

		// The published dialect refuses an end date in the past with a 400, which
		// gives a Stalled state through an ordinary spec change.
		h := startHarness(harnessOptions{dialect: simulator.DialectPublished, resync: time.Second})
		const uid = "gitops-1"
		key := keyOf(h.ns(), "customer-1")
		inAnHour := time.Now().Add(time.Hour)

		By("Creating it while every API call takes two seconds, to see it before and during the first reconcile")
		Expect(h.sim.SetFaults(simulator.Faults{Latency: 2 * time.Second})).To(Succeed())
		content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(newAccount(key.Namespace, key.Name, uid))
		Expect(err).NotTo(HaveOccurred())
		u := &unstructured.Unstructured{Object: content}
		u.SetGroupVersionKind(billingv1alpha1.GroupVersion.WithKind("PartnerAccount"))
		Expect(k8sClient.Create(ctx, u)).To(Succeed())
		// The create's answer is the object before the controller has written anything.
		// kstatus would call an object with no status and no conditions Current; the
		// CRD defaults status.observedGeneration to -1, so it reads InProgress.
		rec.capture("new", u, status.InProgressStatus, argocdhealth.StatusProgressing)
		Expect(u.Object).To(HaveKeyWithValue("status", HaveKeyWithValue("observedGeneration", BeNumerically("==", -1))))
		rec.capture("progressing", waitReadyAs(key, "Unknown/Progressing"),
			status.InProgressStatus, argocdhealth.StatusProgressing)
		Expect(h.sim.SetFaults(simulator.Faults{})).To(Succeed())
		rec.capture("ready", waitReadyAs(key, "True/AccountReady"), status.CurrentStatus, argocdhealth.StatusHealthy)

		By("Changing spec.endsAt: the patch's answer has a generation the controller has not seen")
		rec.capture("generation-ahead", patchEndsAt(key, inAnHour),
			status.InProgressStatus, argocdhealth.StatusProgressing)
		waitReadyAs(key, "True/AccountReady")

		By("Declaring an end date in the past, which the published API refuses")
		patchEndsAt(key, time.Now().Add(-time.Hour))
		rec.capture("invalid", waitReadyAs(key, "False/InvalidRequest"), status.FailedStatus, argocdhealth.StatusDegraded)
		patchEndsAt(key, inAnHour)
		waitReadyAs(key, "True/AccountReady")

		By("Making the API fail every call")
		Expect(h.sim.SetFaults(simulator.Faults{ErrorRate: 1})).To(Succeed())
		rec.capture("api-unavailable", waitReadyAs(key, "False/APIUnavailable"),
			status.InProgressStatus, argocdhealth.StatusProgressing)
		Expect(h.sim.SetFaults(simulator.Faults{})).To(Succeed())
		waitReadyAs(key, "True/AccountReady")

		By("Giving the controller a token the API rejects")
		h.setToken("wrong")
		rec.capture("unauthorized", waitReadyAs(key, "False/Unauthorized"),
			status.InProgressStatus, argocdhealth.StatusDegraded)
		h.setToken(testToken)
		waitReadyAs(key, "True/AccountReady")

		By("Pointing the controller at a URL that answers HTML 404s, as a wrong path does")
		h.front.set(frontHTML404)
		rec.capture("api-endpoint-misconfigured", waitReadyAs(key, "False/APIEndpointMisconfigured"),
			status.InProgressStatus, argocdhealth.StatusDegraded)
		h.front.set(frontPass)
		waitReadyAs(key, "True/AccountReady")

		By("Suspending reconciliation with spec.suspend")
		patchSpecFields(key, map[string]any{"suspend": true})
		rec.capture("suspended", waitReadyAs(key, "Unknown/ReconcileSuspended"),
			status.InProgressStatus, argocdhealth.StatusSuspended)
		patchSpecFields(key, map[string]any{"suspend": nil})
		waitReadyAs(key, "True/AccountReady")

		By("Suspending the remote account, as 1Password might")
		Expect(h.sim.Suspend(uid)).To(Succeed())
		rec.capture("account-suspended", waitReadyAs(key, "False/AccountSuspended"),
			status.InProgressStatus, argocdhealth.StatusDegraded)
		Expect(h.sim.Unsuspend(uid)).To(Succeed())
		waitReadyAs(key, "True/AccountReady")

		By("Letting the end date pass")
		patchEndsAt(key, time.Now().Add(5*time.Second))
		rec.capture("ended", waitReadyAs(key, "True/Ended"), status.CurrentStatus, argocdhealth.StatusHealthy)
		patchEndsAt(key, inAnHour)
		waitReadyAs(key, "True/AccountReady")

		By("Deprovisioning the remote account before its end date, as 1Password might")
		Expect(h.sim.Deprovision(uid)).To(Succeed())
		rec.capture("deprovisioned", waitReadyAs(key, "False/Deprovisioned"),
			status.InProgressStatus, argocdhealth.StatusDegraded)

		By("Deleting the remote account out of band")
		Expect(h.sim.DeleteOutOfBand(uid)).To(Succeed())
		rec.capture("remote-deleted", waitReadyAs(key, "False/RemoteDeleted"),
			status.InProgressStatus, argocdhealth.StatusDegraded)

		By("Deleting the PartnerAccount while the API fails, so that it stays Terminating")
		Expect(h.sim.SetFaults(simulator.Faults{ErrorRate: 1})).To(Succeed())
		Expect(k8sClient.Delete(ctx, paObject(key))).To(Succeed())
		deleting := waitReadyAs(key, "False/APIUnavailable")
		Expect(deleting.GetDeletionTimestamp()).NotTo(BeNil())
		Expect(deleting.GetFinalizers()).To(ContainElement(billingv1alpha1.Finalizer))
		rec.capture("deleting", deleting, status.TerminatingStatus, argocdhealth.StatusProgressing)
		Expect(h.sim.SetFaults(simulator.Faults{})).To(Succeed())
		Eventually(gone(&billingv1alpha1.PartnerAccount{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}})).
			WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())

		rec.report()
		rec.checkHealthTests()
	})
})

// gitopsRecorder checks each captured state and keeps what it found.
type gitopsRecorder struct {
	script string
	tests  []argocdhealth.TestCase
	update bool
	states []capturedState
}

// capturedState is what kstatus and health.lua made of one captured object.
type capturedState struct {
	name    string
	kstatus status.Status
	// health is health.lua's answer for the normalised object, as in the testdata.
	health argocdhealth.Result
}

// capture checks kstatus and health.lua on the live object u, then writes its
// normalised form to testdata/<name>.yaml (with UPDATE_ARGOCD_TESTDATA=1) or compares
// it with the committed file.
func (r *gitopsRecorder) capture(name string, u *unstructured.Unstructured, wantKstatus status.Status, wantHealth string) {
	GinkgoHelper()
	By("Checking state " + name)
	live := u.DeepCopy()
	res, err := status.Compute(live)
	Expect(err).NotTo(HaveOccurred())
	Expect(res.Status).To(Equal(wantKstatus), "kstatus of state %s (%s)", name, res.Message)
	health, err := argocdhealth.Evaluate(r.script, live.Object)
	Expect(err).NotTo(HaveOccurred())
	Expect(health.Status).To(Equal(wantHealth), "health.lua on state %s (%s)", name, health.Message)

	norm := normaliseCapture(live.Object, time.Now())
	normRes, err := status.Compute(&unstructured.Unstructured{Object: norm})
	Expect(err).NotTo(HaveOccurred())
	Expect(normRes.Status).To(Equal(res.Status), "kstatus of state %s after normalising", name)
	normHealth, err := argocdhealth.Evaluate(r.script, norm)
	Expect(err).NotTo(HaveOccurred())
	Expect(normHealth.Status).To(Equal(health.Status), "health.lua on state %s after normalising", name)

	path := filepath.Join(argocdhealth.Dir(), "testdata", name+".yaml")
	if r.update {
		body, err := yaml.Marshal(norm)
		Expect(err).NotTo(HaveOccurred())
		header := "# Captured from the controller by internal/controller/gitops_test.go; do not edit.\n" +
			"# Regenerate with " + updateTestdataEnv + "=1 (see docs/gitops.md).\n"
		Expect(os.WriteFile(path, append([]byte(header), body...), 0o644)).To(Succeed())
	} else {
		committed, err := argocdhealth.ReadObject(path)
		Expect(err).NotTo(HaveOccurred(), "state %s has no testdata: capture it with %s=1", name, updateTestdataEnv)
		Expect(healthFields(committed)).To(Equal(healthFields(norm)),
			"testdata/%s.yaml is stale: capture it again with %s=1", name, updateTestdataEnv)
	}
	r.states = append(r.states, capturedState{name: name, kstatus: res.Status, health: normHealth})
}

// report writes what each tool said about each state to the test output.
func (r *gitopsRecorder) report() {
	var b strings.Builder
	fmt.Fprintf(&b, "%-18s %-12s %-12s %s\n", "STATE", "KSTATUS", "ARGO CD", "MESSAGE")
	for _, s := range r.states {
		fmt.Fprintf(&b, "%-18s %-12s %-12s %s\n", s.name, s.kstatus, s.health.Status, s.health.Message)
	}
	GinkgoWriter.Print(b.String())
	AddReportEntry("GitOps health by state", b.String())
}

// checkHealthTests checks that health_test.yaml has a case for each captured state
// and for nothing else, expecting exactly the health that health.lua gives the
// captured object.
func (r *gitopsRecorder) checkHealthTests() {
	GinkgoHelper()
	expected := map[string]argocdhealth.Result{}
	for _, tc := range r.tests {
		expected[filepath.ToSlash(tc.InputPath)] = tc.HealthStatus
	}
	var problems []string
	captured := map[string]bool{}
	for _, s := range r.states {
		captured["testdata/"+s.name+".yaml"] = true
	}
	for _, tc := range r.tests {
		if !captured[filepath.ToSlash(tc.InputPath)] {
			problems = append(problems, fmt.Sprintf("health_test.yaml has a case for %s, which this test does not capture", tc.InputPath))
		}
	}
	for _, s := range r.states {
		input := "testdata/" + s.name + ".yaml"
		want, ok := expected[input]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("health_test.yaml has no case for %s; it should expect %+v", input, s.health))
		case want != s.health:
			problems = append(problems, fmt.Sprintf("health_test.yaml expects %+v for %s, health.lua gives %+v", want, input, s.health))
		}
	}
	Expect(problems).To(BeEmpty())
}

// paObject returns an unstructured PartnerAccount with only its kind and key set.
func paObject(key client.ObjectKey) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(billingv1alpha1.GroupVersion.WithKind("PartnerAccount"))
	u.SetNamespace(key.Namespace)
	u.SetName(key.Name)
	return u
}

// patchSpecFields changes spec fields with a JSON merge patch (nil removes one), as
// kubectl apply or an Argo CD sync of a changed manifest would, and returns the API
// server's answer.
func patchSpecFields(key client.ObjectKey, fields map[string]any) *unstructured.Unstructured {
	GinkgoHelper()
	body, err := json.Marshal(map[string]any{"spec": fields})
	Expect(err).NotTo(HaveOccurred())
	u := paObject(key)
	Expect(k8sClient.Patch(ctx, u, client.RawPatch(types.MergePatchType, body))).To(Succeed())
	return u
}

// patchEndsAt sets spec.endsAt to t, at the one-second precision Kubernetes stores.
func patchEndsAt(key client.ObjectKey, t time.Time) *unstructured.Unstructured {
	GinkgoHelper()
	return patchSpecFields(key, map[string]any{"endsAt": t.UTC().Truncate(time.Second).Format(time.RFC3339)})
}

// waitReadyAs polls the PartnerAccount until its Ready condition, written for the
// current generation, reads want ("status/reason"), and returns that object.
func waitReadyAs(key client.ObjectKey, want string) *unstructured.Unstructured {
	GinkgoHelper()
	var got *unstructured.Unstructured
	Eventually(func(g Gomega) string {
		u := paObject(key)
		g.Expect(k8sClient.Get(ctx, key, u)).To(Succeed())
		got = u
		return readySummary(g, u)
	}).WithTimeout(waitReady).WithPolling(poll).Should(Equal(want))
	return got
}

// readySummary is readyOf for an unstructured PartnerAccount.
func readySummary(g Gomega, u *unstructured.Unstructured) string {
	var pa billingv1alpha1.PartnerAccount
	g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &pa)).To(Succeed())
	return readyOf(&pa)
}

// normaliseCapture returns the parts of a captured object that matter to a health
// check, with the values that change from run to run replaced by fixed ones: no
// uid, resourceVersion, creationTimestamp or managedFields; a fixed namespace and
// activation token; every time (lastTransitionTime included) set to capturedPast or
// capturedFuture depending on which side of now it was.
func normaliseCapture(obj map[string]any, now time.Time) map[string]any {
	in := runtime.DeepCopyJSON(obj)
	out := map[string]any{"apiVersion": in["apiVersion"], "kind": in["kind"]}
	md, _ := in["metadata"].(map[string]any)
	keep := map[string]any{"namespace": capturedNamespace}
	for _, k := range []string{"name", "generation", "deletionTimestamp", "deletionGracePeriodSeconds",
		"finalizers", "labels", "annotations"} {
		if v, ok := md[k]; ok {
			keep[k] = v
		}
	}
	out["metadata"] = keep
	for _, k := range []string{"spec", "status"} {
		if v, ok := in[k]; ok {
			out[k] = v
		}
	}
	token, _, _ := unstructured.NestedString(in, "status", "activationToken")
	return replaceStrings(out, func(s string) string {
		if token != "" {
			s = strings.ReplaceAll(s, token, capturedToken)
		}
		s = loopbackURLRE.ReplaceAllString(s, capturedAPIURL)
		s = tokenFileRE.ReplaceAllString(s, "from "+capturedTokenFile+" ")
		return timestampRE.ReplaceAllStringFunc(s, func(ts string) string {
			t, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil || t.After(now) {
				return capturedFuture
			}
			return capturedPast
		})
	}).(map[string]any)
}

// replaceStrings applies fn to every string in a decoded JSON value.
func replaceStrings(v any, fn func(string) string) any {
	switch x := v.(type) {
	case string:
		return fn(x)
	case map[string]any:
		for k, item := range x {
			x[k] = replaceStrings(item, fn)
		}
	case []any:
		for i, item := range x {
			x[i] = replaceStrings(item, fn)
		}
	}
	return v
}

// healthFieldSet is the part of an object that decides its health, for comparing a
// committed testdata file with a fresh capture.
type healthFieldSet struct {
	HasStatus          bool
	GenerationObserved bool
	Deleting           bool
	Suspend            bool
	// Conditions are "type=status/reason", with "(older generation)" when the
	// condition was written for an earlier generation, sorted.
	Conditions []string
}

// healthFields returns the healthFieldSet of obj.
func healthFields(obj map[string]any) healthFieldSet {
	generation, _ := number(obj, "metadata", "generation")
	observed, hasObserved := number(obj, "status", "observedGeneration")
	_, hasStatus := obj["status"]
	deletion, _, _ := unstructured.NestedFieldNoCopy(obj, "metadata", "deletionTimestamp")
	suspend, _, _ := unstructured.NestedFieldNoCopy(obj, "spec", "suspend")
	f := healthFieldSet{
		HasStatus:          hasStatus,
		GenerationObserved: hasObserved && observed == generation,
		Deleting:           deletion != nil,
		Suspend:            suspend == true,
	}
	conds, _, _ := unstructured.NestedFieldNoCopy(obj, "status", "conditions")
	list, _ := conds.([]any)
	for _, c := range list {
		m, _ := c.(map[string]any)
		s := fmt.Sprintf("%v=%v/%v", m["type"], m["status"], m["reason"])
		if g, ok := number(m, "observedGeneration"); ok && g != generation {
			s += " (older generation)"
		}
		f.Conditions = append(f.Conditions, s)
	}
	slices.Sort(f.Conditions)
	return f
}

// number reads a number at path whether it was decoded as an integer (from the API
// server) or as a float (from YAML).
func number(obj map[string]any, path ...string) (float64, bool) {
	v, ok, _ := unstructured.NestedFieldNoCopy(obj, path...)
	if !ok {
		return 0, false
	}
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}
