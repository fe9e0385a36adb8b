package plugin

import (
	"bytes"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

func TestDocument(t *testing.T) {
	ends := time.Date(2031, 1, 1, 12, 30, 5, 987_000_000, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		name    string
		acct    partnerapi.Account
		uid     string
		docName string
		conn    string
		observe bool
		want    string
	}{
		{
			name:    "observe, Individual, no end date",
			acct:    partnerapi.Account{UID: "cust-1", Type: "I", Domain: "b5test.com", Status: "entitled", ActivationToken: "PNS-SECRET1"},
			uid:     "cust-1",
			docName: "cust-1",
			observe: true,
			want: `---
apiVersion: billing.partnerbilling.io/v1alpha1
kind: PartnerAccount
metadata:
  name: cust-1
  namespace: team-a
spec:
  accountType: Individual
  accountUID: cust-1
  createPolicy: Never
  domain: b5test.com
  managementPolicy: Observe
`,
		},
		{
			name:    "adopt, Family, end date in UTC whole seconds, on a connection",
			acct:    partnerapi.Account{UID: "CUST-2", Type: "F", Domain: "1password.eu", EndsAt: &ends, ActivationToken: "PNS-SECRET2"},
			uid:     "CUST-2",
			docName: "cust-2-xxx",
			conn:    "brand-b",
			want: `---
apiVersion: billing.partnerbilling.io/v1alpha1
kind: PartnerAccount
metadata:
  name: cust-2-xxx
  namespace: team-a
spec:
  accountType: Family
  accountUID: CUST-2
  adoptExisting: true
  connectionRef:
    name: brand-b
  createPolicy: Never
  domain: 1password.eu
  endsAt: "2031-01-01T11:30:05Z"
`,
		},
		{
			name:    "UIDs YAML would read as something else stay strings",
			acct:    partnerapi.Account{UID: "0001", Type: "I", Domain: "b5test.com"},
			uid:     "0001",
			docName: "0001",
			want: `---
apiVersion: billing.partnerbilling.io/v1alpha1
kind: PartnerAccount
metadata:
  name: "0001"
  namespace: team-a
spec:
  accountType: Individual
  accountUID: "0001"
  adoptExisting: true
  createPolicy: Never
  domain: b5test.com
`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Document(&tc.acct, tc.uid, tc.docName, "team-a", tc.conn, tc.observe)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			if bytes.Contains(got, []byte("PNS-")) {
				t.Errorf("the activation token is in the document:\n%s", got)
			}
			var pa billingv1alpha1.PartnerAccount
			if err := yaml.UnmarshalStrict(got[len("---\n"):], &pa); err != nil {
				t.Fatalf("not a PartnerAccount: %v", err)
			}
			if pa.Spec.AccountUID != tc.uid {
				t.Errorf("accountUID %q, want %q", pa.Spec.AccountUID, tc.uid)
			}
		})
	}
}

func TestDocumentRoundTripsTrickyUIDs(t *testing.T) {
	for _, uid := range []string{"0001", "1e3", "true", "null", "no", "0x1F", "1.5", "-1", "0.0.1", "~"} {
		if CheckUID(uid) != nil {
			continue // "~" is no UID
		}
		doc, err := Document(&partnerapi.Account{UID: uid, Type: "I", Domain: "b5test.com"}, uid, "n", "ns", "", false)
		if err != nil {
			t.Fatal(err)
		}
		var pa billingv1alpha1.PartnerAccount
		if err := yaml.UnmarshalStrict(doc, &pa); err != nil {
			t.Fatalf("%q: %v\n%s", uid, err, doc)
		}
		if pa.Spec.AccountUID != uid {
			t.Errorf("accountUID %q read back as %q:\n%s", uid, pa.Spec.AccountUID, doc)
		}
	}
}

func TestDocumentRefusesWhatNoSpecHolds(t *testing.T) {
	for _, acct := range []partnerapi.Account{
		{UID: "a", Type: "X", Domain: "b5test.com"},
		{UID: "a", Type: "", Domain: "b5test.com"},
		{UID: "a", Type: "I"},
	} {
		if doc, err := Document(&acct, "a", "a", "ns", "", true); err == nil {
			t.Errorf("%+v: got\n%s\nwant an error", acct, doc)
		}
	}
}
