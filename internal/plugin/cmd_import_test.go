package plugin

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// TestImportOntoAConnection checks that import --connection reads the accounts
// from that PartnerConnection's server with the token of its Secret, writes
// spec.connectionRef, and skips only the UIDs managed on that connection.
func TestImportOntoAConnection(t *testing.T) {
	env := startSim(t)
	env.seed(t, "I", "cust-1", "cust-2")
	conn := &billingv1alpha1.PartnerConnection{ObjectMeta: metav1.ObjectMeta{Name: "brand-b"},
		Spec: billingv1alpha1.PartnerConnectionSpec{URL: env.url,
			TokenSecretRef: billingv1alpha1.SecretKeySelector{Name: "brand-b-token", Key: "token"}}}
	token := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "operator", Name: "brand-b-token"},
		Data: map[string][]byte{"token": []byte(simToken + "\n")}}
	onDefault := pa("team-b", "d", "cust-1")
	onBrand := pa("team-b", "b", "cust-2", func(p *billingv1alpha1.PartnerAccount) {
		p.Spec.ConnectionRef = &billingv1alpha1.ConnectionReference{Name: "brand-b"}
	})
	c := newFake(conn, token, onDefault, onBrand)
	uids := writeUIDs(t, "cust-1\ncust-2\n")

	code, stdout, stderr := run(t, c, "", false, "import", "--uids", uids, "--connection", "brand-b",
		"--connection-secret-namespace", "operator")
	if code != 0 {
		t.Fatalf("exit status %d: %s", code, stderr)
	}
	pas := parseStream(t, []byte(stdout))
	if len(pas) != 1 || pas[0].Spec.AccountUID != "cust-1" || pas[0].ConnectionName() != "brand-b" ||
		pas[0].Spec.CreatePolicy != billingv1alpha1.CreatePolicyNever {
		t.Errorf("documents:\n%s", stdout)
	}
	if !strings.Contains(stderr, "skipped cust-2: already managed by team-b/b") {
		t.Errorf("stderr:\n%s", stderr)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--connection", "missing"}, "partnerconnection missing not found"},
		{[]string{"--connection", "brand-b"}, "secret partner-account-operator-system/brand-b-token not found"},
		{[]string{"--connection", "brand-b", "--partner-api-url", env.url}, "--partner-api-url cannot be used with --connection"},
	} {
		code, _, stderr := run(t, c, "", false, append([]string{"import", "--uids", uids}, tc.args...)...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit status %d, stderr %q; want 1 and %q", tc.args, code, stderr, tc.want)
		}
	}
}
