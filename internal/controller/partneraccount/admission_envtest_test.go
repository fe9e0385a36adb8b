package partneraccount

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Validation happens at admission, in the CRD's schema and CEL rules: a bad manifest
// is refused at once, with the field named.
var _ = Describe("PartnerAccount admission", func() {
	var ns string
	BeforeEach(func() {
		ns = fmt.Sprintf("admission-%d", namespaceSeq.Add(1))
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	})

	const valid = `
apiVersion: billing.partnerbilling.io/v1alpha1
kind: PartnerAccount
metadata:
  name: valid
spec:
  accountUID: cust-0001.eu
  accountType: Individual
  domain: b5test.com
  endsAt: "2050-02-05T13:00:00Z"
`
	create := func(manifest string) error {
		u := &unstructured.Unstructured{}
		Expect(yaml.Unmarshal([]byte(manifest), &u.Object)).To(Succeed())
		u.SetNamespace(ns)
		return k8sClient.Create(ctx, u)
	}

	It("accepts a valid manifest, and writes no default into its spec", func() {
		Expect(create(valid)).To(Succeed())
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("billing.partnerbilling.io/v1alpha1")
		u.SetKind("PartnerAccount")
		Expect(k8sClient.Get(ctx, keyOf(ns, "valid"), u)).To(Succeed())
		// The operator's default deletion policy applies at reconcile time, so that
		// "none set" stays visible; status.deletionPolicy shows the one in effect.
		Expect(u.Object["spec"]).NotTo(HaveKey("deletionPolicy"))
		Expect(u.Object["spec"]).NotTo(HaveKey("managementPolicy"))
	})

	DescribeTable("refuses a bad manifest, naming the field",
		func(field, manifest string) {
			err := create(manifest)
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring(field))
		},
		Entry("uid with bad characters", "spec.accountUID", spec(`accountUID: "cust_01"`)),
		Entry("uid with a space", "spec.accountUID", spec(`accountUID: "cust 01"`)),
		Entry("201-character uid", "spec.accountUID", spec(`accountUID: `+strings.Repeat("a", 201))),
		Entry("empty uid", "spec.accountUID", spec(`accountUID: ""`)),
		Entry("missing uid", "spec.accountUID", strings.Replace(spec(""), "  accountUID: cust-1\n", "", 1)),
		Entry("empty domain", "spec.domain", spec(`domain: ""`)),
		Entry("domain that is not a DNS name", "spec.domain", spec(`domain: "not a domain"`)),
		Entry("domain with a scheme", "spec.domain", spec(`domain: "https://b5test.com"`)),
		Entry("accountType Team", "spec.accountType", spec(`accountType: Team`)),
		Entry("accountType I (the API's spelling)", "spec.accountType", spec(`accountType: I`)),
		Entry("endsAt that is not a time", "spec.endsAt", spec(`endsAt: tomorrow`)),
		Entry("endsAt without a time zone", "spec.endsAt", spec(`endsAt: "2050-02-05T13:00:00"`)),
		Entry("endsAt as a date only", "spec.endsAt", spec(`endsAt: "2050-02-05"`)),
		Entry("endsAt on the 30th of February", "spec.endsAt", spec(`endsAt: "2050-02-30T13:00:00Z"`)),
		Entry("deletionPolicy Retain", "spec.deletionPolicy", spec(`deletionPolicy: Retain`)),
		Entry("suspend that is not a boolean", "spec.suspend", spec(`suspend: "sometimes"`)),
		Entry("managementPolicy Ignore", "spec.managementPolicy", spec(`managementPolicy: Ignore`)),
		Entry("a Secret name with capitals", "spec.activationTokenSecretRef.name",
			spec("activationTokenSecretRef:\n    name: Customer-Token")),
		Entry("a Secret name of 254 characters", "spec.activationTokenSecretRef.name",
			spec("activationTokenSecretRef:\n    name: "+strings.Repeat("a", 254))),
		Entry("a Secret name with an underscore", "spec.activationTokenSecretRef.name",
			spec("activationTokenSecretRef:\n    name: customer_token")),
	)

	DescribeTable("refuses to change an immutable field",
		func(field, change string) {
			Expect(create(valid)).To(Succeed())
			u := &unstructured.Unstructured{}
			u.SetAPIVersion("billing.partnerbilling.io/v1alpha1")
			u.SetKind("PartnerAccount")
			Expect(k8sClient.Get(ctx, keyOf(ns, "valid"), u)).To(Succeed())
			key, value, _ := strings.Cut(change, "=")
			Expect(unstructured.SetNestedField(u.Object, value, "spec", key)).To(Succeed())
			err := k8sClient.Update(ctx, u)
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring(field))
			Expect(err.Error()).To(ContainSubstring("immutable"))
		},
		Entry("accountUID", "spec.accountUID", "accountUID=cust-0002"),
		Entry("accountType", "spec.accountType", "accountType=Family"),
		Entry("domain", "spec.domain", "domain=b5test.ca"),
	)

	It("lets endsAt, deletionPolicy and suspend change", func() {
		Expect(create(valid)).To(Succeed())
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("billing.partnerbilling.io/v1alpha1")
		u.SetKind("PartnerAccount")
		Expect(k8sClient.Get(ctx, keyOf(ns, "valid"), u)).To(Succeed())
		unstructured.RemoveNestedField(u.Object, "spec", "endsAt")
		Expect(unstructured.SetNestedField(u.Object, "Orphan", "spec", "deletionPolicy")).To(Succeed())
		Expect(unstructured.SetNestedField(u.Object, true, "spec", "suspend")).To(Succeed())
		Expect(k8sClient.Update(ctx, u)).To(Succeed())
	})
})

// spec returns a valid manifest with one spec line replaced (or added).
func spec(line string) string {
	fields := map[string]string{
		"accountUID": "cust-1", "accountType": "Individual", "domain": "b5test.com",
	}
	order := []string{"accountUID", "accountType", "domain"}
	extra := ""
	if line != "" {
		key, value, _ := strings.Cut(line, ": ")
		if _, ok := fields[key]; ok {
			fields[key] = value
		} else {
			extra = "  " + line + "\n"
		}
	}
	var b strings.Builder
	b.WriteString("apiVersion: billing.partnerbilling.io/v1alpha1\nkind: PartnerAccount\nmetadata:\n  name: bad\nspec:\n")
	for _, k := range order {
		b.WriteString("  " + k + ": " + fields[k] + "\n")
	}
	b.WriteString(extra)
	return b.String()
}
