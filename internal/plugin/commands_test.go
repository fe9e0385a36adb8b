package plugin

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// The commands against a fake API server: what they read and patch. The real
// check, against kube-apiserver and the operator, is test/e2e/plugin_test.go.

func pa(ns, name, uid string, mutate ...func(*billingv1alpha1.PartnerAccount)) *billingv1alpha1.PartnerAccount {
	p := &billingv1alpha1.PartnerAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: billingv1alpha1.PartnerAccountSpec{AccountUID: uid, AccountType: billingv1alpha1.AccountTypeIndividual,
			Domain: "b5test.com"},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func ready(status metav1.ConditionStatus, reason, message string) func(*billingv1alpha1.PartnerAccount) {
	return func(p *billingv1alpha1.PartnerAccount) {
		apimeta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: billingv1alpha1.ConditionReady,
			Status: status, Reason: reason, Message: message})
	}
}

// run runs the plugin with args against c, namespace ns by default, stdin in
// (a terminal when terminal is set), and returns its exit status and output.
func run(t *testing.T, c client.Client, in string, terminal bool, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	o := &Options{
		IOStreams:    genericiooptions.IOStreams{In: strings.NewReader(in), Out: &stdout, ErrOut: &stderr},
		NewClient:    func() (client.Client, string, error) { return c, "team-a", nil },
		IsTerminal:   func(any) bool { return terminal },
		Now:          func() time.Time { return time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC) },
		PollInterval: 10 * time.Millisecond,
	}
	code := Execute(testContext(t), NewCommand(o), args, &stderr)
	return code, stdout.String(), stderr.String()
}

func newFake(objs ...client.Object) client.WithWatch {
	return fake.NewClientBuilder().WithScheme(Scheme).WithObjects(objs...).
		WithStatusSubresource(&billingv1alpha1.PartnerAccount{}).Build()
}

// getA returns team-a/a.
func getA(t *testing.T, c client.Client) *billingv1alpha1.PartnerAccount {
	t.Helper()
	p, err := getPartnerAccount(context.Background(), c, "team-a", "a")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImportCommand(t *testing.T) {
	env := startSim(t)
	env.seed(t, "I", "cust-1", "managed-1", "taken")
	c := newFake(
		pa("team-b", "m1", "managed-1"),
		pa("team-a", "taken", "another-uid"),
	)
	uids := writeUIDs(t, "cust-1\nmanaged-1\nunknown-1\ntaken\n")
	api := []string{"--partner-api-url", env.url, "--partner-api-token-file", env.tokenFile}

	code, stdout, stderr := run(t, c, "", false, append([]string{"import", "--uids", uids, "--observe"}, api...)...)
	if code != 1 {
		t.Errorf("exit status %d, want 1\n%s", code, stderr)
	}
	pas := parseStream(t, []byte(stdout))
	if len(pas) != 2 || pas[0].Name != "cust-1" || pas[1].Name != "taken-"+hash("taken", 8) ||
		pas[0].Namespace != "team-a" || pas[0].Spec.ManagementPolicy != billingv1alpha1.ManagementPolicyObserve {
		t.Errorf("documents:\n%s", stdout)
	}
	for _, line := range []string{
		"skipped managed-1: already managed by team-b/m1\n",
		`failed unknown-1: partnerapi: get account "unknown-1": 404 Not Found`,
		"imported 2, skipped 1, failed 1 of 4 UIDs in ",
	} {
		if !strings.Contains(stderr, line) {
			t.Errorf("stderr does not say %q:\n%s", line, stderr)
		}
	}
	if strings.Contains(stderr, "error:") {
		t.Errorf("an error besides the summary:\n%s", stderr)
	}

	// From stdin, all found: exit status 0.
	code, stdout, stderr = run(t, c, "cust-1\n", false, append([]string{"import", "--uids", "-"}, api...)...)
	if code != 0 || len(parseStream(t, []byte(stdout))) != 1 || !strings.Contains(stderr, "imported 1, skipped 0, failed 0 of 1 UIDs") {
		t.Errorf("stdin: exit status %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestImportCommandErrors(t *testing.T) {
	env := startSim(t)
	c := newFake()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no --uids", []string{"import", "--partner-api-token-file", env.tokenFile}, "--uids is required"},
		{"no token file", []string{"import", "--uids", "-"}, "Config.TokenFile"},
		{"http elsewhere", []string{"import", "--uids", "-", "--partner-api-token-file", env.tokenFile,
			"--partner-api-url", "http://billing.example.com/api/v1"}, "--partner-api-allow-insecure-http"},
		{"missing file", []string{"import", "--uids", "/nonexistent/uids", "--partner-api-token-file", env.tokenFile}, "no such file"},
		{"an argument", []string{"import", "cust-1"}, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, c, "", false, tc.args...)
			if code != 1 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit status %d, stderr %q; want 1 and %q", code, stderr, tc.want)
			}
		})
	}
}

func TestLoadManaged(t *testing.T) {
	other := pa("team-b", "d", "uid-d")
	other.Spec.ConnectionRef = &billingv1alpha1.ConnectionReference{Name: "brand-b"}
	c := newFake(pa("team-a", "a", "uid-a"), pa("team-b", "b", "uid-b"), pa("team-b", "a", "uid-c"), other)
	if m, err := LoadManaged(context.Background(), c, "team-a", "brand-b"); err != nil || len(m.ByUID) != 1 ||
		m.ByUID["uid-d"] != "team-b/d" {
		t.Errorf("on brand-b: ByUID %v (%v), want uid-d alone", m.ByUID, err)
	}
	m, err := LoadManaged(context.Background(), c, "team-a", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.ByUID) != 3 || m.ByUID["uid-b"] != "team-b/b" || m.ByUID["uid-c"] != "team-b/a" {
		t.Errorf("ByUID %v", m.ByUID)
	}
	if len(m.Names) != 1 || m.Names["a"] != "uid-a" {
		t.Errorf("Names %v", m.Names)
	}
}

func TestPlanPolicy(t *testing.T) {
	observed := func(p *billingv1alpha1.PartnerAccount) {
		p.Spec.ManagementPolicy = billingv1alpha1.ManagementPolicyObserve
	}
	owned := func(p *billingv1alpha1.PartnerAccount) { p.Status.AccountUID = p.Spec.AccountUID }
	adopting := func(p *billingv1alpha1.PartnerAccount) { p.Spec.AdoptExisting = true }
	for _, tc := range []struct {
		name    string
		pa      *billingv1alpha1.PartnerAccount
		to      billingv1alpha1.ManagementPolicy
		changed bool
		text    string
		patch   string
	}{
		{"observe a managed one (default policy)", pa("ns", "a", "a"), policyObserve, true,
			"managementPolicy Manage -> Observe", `{"spec":{"managementPolicy":"Observe"}}`},
		{"observe an observed one", pa("ns", "a", "a", observed), policyObserve, false, "", ""},
		{"manage an observed one that existed before", pa("ns", "a", "a", observed), policyManage, true,
			"managementPolicy Observe -> Manage, adoptExisting false -> true",
			`{"spec":{"adoptExisting":true,"managementPolicy":"Manage"}}`},
		{"manage an observed one that owns its account", pa("ns", "a", "a", observed, owned), policyManage, true,
			"managementPolicy Observe -> Manage", `{"spec":{"managementPolicy":"Manage"}}`},
		{"manage an observed one already adopting", pa("ns", "a", "a", observed, adopting), policyManage, true,
			"managementPolicy Observe -> Manage", `{"spec":{"managementPolicy":"Manage"}}`},
		{"manage a managed one", pa("ns", "a", "a"), policyManage, false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, changed := PlanPolicy(tc.pa, tc.to)
			if changed != tc.changed {
				t.Fatalf("changed %t, want %t", changed, tc.changed)
			}
			if !changed {
				return
			}
			if ch.String() != tc.text {
				t.Errorf("%q, want %q", ch.String(), tc.text)
			}
			patch, err := ch.Patch()
			if err != nil || string(patch) != tc.patch {
				t.Errorf("patch %s, %v; want %s", patch, err, tc.patch)
			}
		})
	}
}

func TestManageAndObserve(t *testing.T) {
	observed := func(p *billingv1alpha1.PartnerAccount) {
		p.Spec.ManagementPolicy = billingv1alpha1.ManagementPolicyObserve
	}

	t.Run("--yes", func(t *testing.T) {
		c := newFake(pa("team-a", "a", "uid-a", observed))
		code, stdout, stderr := run(t, c, "", false, "manage", "a", "--yes")
		if code != 0 {
			t.Fatalf("exit status %d: %s", code, stderr)
		}
		if !strings.Contains(stdout, "partneraccount team-a/a: managementPolicy Observe -> Manage, adoptExisting false -> true\n") {
			t.Errorf("stdout:\n%s", stdout)
		}
		got := getA(t, c)
		if got.Spec.ManagementPolicy != policyManage || !got.Spec.AdoptExisting {
			t.Errorf("spec %+v", got.Spec)
		}
		code, stdout, _ = run(t, c, "", false, "observe", "a", "-y")
		if code != 0 || getA(t, c).Spec.ManagementPolicy != policyObserve || !getA(t, c).Spec.AdoptExisting {
			t.Errorf("observe: %d\n%s\n%+v", code, stdout, getA(t, c).Spec)
		}
		code, stdout, _ = run(t, c, "", false, "observe", "a")
		if code != 0 || !strings.Contains(stdout, "already Observe; nothing to change") {
			t.Errorf("observe again: %d\n%s", code, stdout)
		}
	})
	t.Run("no terminal, no --yes", func(t *testing.T) {
		c := newFake(pa("team-a", "a", "uid-a", observed))
		code, _, stderr := run(t, c, "y\n", false, "manage", "a")
		if code != 1 || !strings.Contains(stderr, "pass --yes") {
			t.Errorf("exit status %d, stderr %q", code, stderr)
		}
		if getA(t, c).Spec.ManagementPolicy != policyObserve {
			t.Error("changed without confirmation")
		}
	})
	t.Run("confirmed on a terminal", func(t *testing.T) {
		c := newFake(pa("team-a", "a", "uid-a", observed))
		code, stdout, stderr := run(t, c, "y\n", true, "manage", "a")
		if code != 0 || !strings.Contains(stdout, "Proceed? [y/N] ") {
			t.Errorf("exit status %d\n%s\n%s", code, stdout, stderr)
		}
		if getA(t, c).Spec.ManagementPolicy != policyManage {
			t.Error("not changed")
		}
	})
	t.Run("declined on a terminal", func(t *testing.T) {
		c := newFake(pa("team-a", "a", "uid-a", observed))
		code, _, stderr := run(t, c, "\n", true, "manage", "a")
		if code != 1 || !strings.Contains(stderr, "aborted") {
			t.Errorf("exit status %d, stderr %q", code, stderr)
		}
		if getA(t, c).Spec.ManagementPolicy != policyObserve {
			t.Error("changed though declined")
		}
	})
	t.Run("not found", func(t *testing.T) {
		code, _, stderr := run(t, newFake(), "", false, "observe", "nope", "--yes")
		if code != 1 || !strings.Contains(stderr, "partneraccount team-a/nope not found") {
			t.Errorf("exit status %d, stderr %q", code, stderr)
		}
	})
}

func TestLink(t *testing.T) {
	const link = "https://start.b5test.com/partnership/redeem?t=PNS-1"
	c := newFake(
		pa("team-a", "in-status", "u1", func(p *billingv1alpha1.PartnerAccount) { p.Status.RedemptionURL = link }),
		pa("team-a", "in-secret", "u2", func(p *billingv1alpha1.PartnerAccount) {
			p.Status.ActivationTokenSecretName = "u2-activation"
		}),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "u2-activation"},
			Data: map[string][]byte{billingv1alpha1.SecretKeyRedemptionURL: []byte(link + "2")}},
		pa("team-a", "secret-gone", "u3", func(p *billingv1alpha1.PartnerAccount) {
			p.Status.ActivationTokenSecretName = "u3-activation"
		}),
		pa("team-a", "observed", "u4", func(p *billingv1alpha1.PartnerAccount) {
			p.Spec.ManagementPolicy = billingv1alpha1.ManagementPolicyObserve
		}),
		pa("team-a", "exists", "u5", ready(metav1.ConditionFalse, "AccountExists", "adopt it")),
	)
	for _, tc := range []struct {
		name, stdout, stderr string
	}{
		{"in-status", link + "\n", ""},
		{"in-secret", link + "2\n", ""},
		{"secret-gone", "", "keeps its redemption link in Secret team-a/u3-activation, which does not exist"},
		{"observed", "", "partneraccount team-a/observed has no activation token: an observed resource never shows it"},
		{"exists", "", "has no redemption link (yet): Ready is False AccountExists: adopt it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, c, "", false, "link", tc.name)
			if stdout != tc.stdout || !strings.Contains(stderr, tc.stderr) || (code == 0) != (tc.stderr == "") {
				t.Errorf("exit status %d\nstdout %q\nstderr %q", code, stdout, stderr)
			}
		})
	}
}

// echoing returns a fake client that, as the operator does, answers a change of
// the reconcile annotation by echoing it in status.lastHandledReconcileAt with
// the Ready condition ready; unless echo is false.
func echoing(t *testing.T, echo bool, readyCond func(*billingv1alpha1.PartnerAccount),
	objs ...client.Object) client.WithWatch {
	t.Helper()
	return fake.NewClientBuilder().WithScheme(Scheme).WithObjects(objs...).
		WithStatusSubresource(&billingv1alpha1.PartnerAccount{}).
		WithInterceptorFuncs(interceptor.Funcs{
			Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch,
				opts ...client.PatchOption) error {
				if err := c.Patch(ctx, obj, patch, opts...); err != nil || !echo {
					return err
				}
				var p billingv1alpha1.PartnerAccount
				if err := c.Get(ctx, client.ObjectKeyFromObject(obj), &p); err != nil {
					return err
				}
				p.Status.LastHandledReconcileAt = p.Annotations[billingv1alpha1.ReconcileRequestedAtAnnotation]
				readyCond(&p)
				return c.Status().Update(ctx, &p)
			},
		}).Build()
}

func TestReconcile(t *testing.T) {
	const requested = "2026-12-01T10:00:00.123456789Z"
	t.Run("ready", func(t *testing.T) {
		c := echoing(t, true, ready(metav1.ConditionTrue, "AccountReady", "The account is entitled"), pa("team-a", "a", "u"))
		code, stdout, stderr := run(t, c, "", false, "reconcile", "a")
		if code != 0 || stdout != "✔ reconciled: True AccountReady: The account is entitled\n" {
			t.Errorf("exit status %d\n%s\n%s", code, stdout, stderr)
		}
		if got := getA(t, c).Annotations[billingv1alpha1.ReconcileRequestedAtAnnotation]; got != requested {
			t.Errorf("annotation %q, want %q", got, requested)
		}
	})
	t.Run("not ready", func(t *testing.T) {
		c := echoing(t, true, ready(metav1.ConditionFalse, "AccountExists", "adopt it"), pa("team-a", "a", "u"))
		code, stdout, stderr := run(t, c, "", false, "reconcile", "a")
		if code != 1 || stdout != "✗ reconciled: False AccountExists: adopt it\n" || strings.Contains(stderr, "error:") {
			t.Errorf("exit status %d\n%s\n%s", code, stdout, stderr)
		}
	})
	t.Run("no echo", func(t *testing.T) {
		c := echoing(t, false, nil, pa("team-a", "a", "u", func(p *billingv1alpha1.PartnerAccount) {
			p.Status.LastHandledReconcileAt = "old"
		}))
		start := time.Now()
		code, _, stderr := run(t, c, "", false, "reconcile", "a", "--timeout", "200ms")
		if code != 1 || !strings.Contains(stderr, `timed out after 200ms`) ||
			!strings.Contains(stderr, `status.lastHandledReconcileAt is "old", not "`+requested+`"`) {
			t.Errorf("exit status %d, stderr %q", code, stderr)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %s", d)
		}
	})
	t.Run("suspended", func(t *testing.T) {
		c := echoing(t, true, ready(metav1.ConditionTrue, "AccountReady", ""), pa("team-a", "a", "u",
			func(p *billingv1alpha1.PartnerAccount) { p.Spec.Suspend = true }))
		code, _, stderr := run(t, c, "", false, "reconcile", "a")
		if code != 1 || !strings.Contains(stderr, "is suspended") {
			t.Errorf("exit status %d, stderr %q", code, stderr)
		}
		if _, ok := getA(t, c).Annotations[billingv1alpha1.ReconcileRequestedAtAnnotation]; ok {
			t.Error("annotated a suspended resource")
		}
	})
}

func TestHelp(t *testing.T) {
	code, stdout, _ := run(t, newFake(), "", false, "--help")
	for _, want := range []string{"kubectl partneraccount [command]", "import", "reconcile", "observe", "manage", "link",
		"--kubeconfig", "--context", "-n, --namespace"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("help does not show %q:\n%s", want, stdout)
		}
	}
	if code != 0 {
		t.Errorf("exit status %d", code)
	}
	_, stdout, _ = run(t, newFake(), "", false, "import", "--help")
	for _, want := range []string{"kubectl partneraccount import", "--partner-api-url string", "--partner-api-token-file",
		"--partner-api-ca-file", "--partner-api-timeout", "--partner-api-rps float", "--partner-api-burst int",
		"--partner-api-allow-insecure-http", "https://billing.1password.com/api/v1"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("import --help does not show %q:\n%s", want, stdout)
		}
	}
}
