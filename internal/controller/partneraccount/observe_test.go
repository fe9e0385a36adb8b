package partneraccount

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

func TestDriftOf(t *testing.T) {
	ends := time.Date(2050, 1, 1, 12, 0, 0, 0, time.UTC)
	declared := metav1.NewTime(ends)
	spec := billingv1alpha1.PartnerAccountSpec{AccountUID: "c", AccountType: billingv1alpha1.AccountTypeFamily,
		Domain: "b5test.com", EndsAt: &declared}
	later := ends.Add(time.Hour)
	within := ends.Add(600 * time.Millisecond)
	tests := []struct {
		name string
		acct partnerapi.Account
		want []billingv1alpha1.Drift
	}{
		{"in sync", partnerapi.Account{Type: "F", Domain: "B5test.com", EndsAt: &within}, nil},
		{"another end date", partnerapi.Account{Type: "F", Domain: "b5test.com", EndsAt: &later},
			[]billingv1alpha1.Drift{{Field: "endsAt", Declared: "2050-01-01T12:00:00Z", Remote: "2050-01-01T13:00:00Z"}}},
		{"no end date", partnerapi.Account{Type: "F", Domain: "b5test.com"},
			[]billingv1alpha1.Drift{{Field: "endsAt", Declared: "2050-01-01T12:00:00Z"}}},
		{"everything", partnerapi.Account{Type: "I", Domain: "b5test.ca"}, []billingv1alpha1.Drift{
			{Field: "accountType", Declared: "Family", Remote: "Individual"},
			{Field: "domain", Declared: "b5test.com", Remote: "b5test.ca"},
			{Field: "endsAt", Declared: "2050-01-01T12:00:00Z"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := driftOf(&spec, &tt.acct)
			if len(got) != len(tt.want) {
				t.Fatalf("drift = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("drift[%d] = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
	noEnd := spec
	noEnd.EndsAt = nil
	if got := driftOf(&noEnd, &partnerapi.Account{Type: "F", Domain: "b5test.com", EndsAt: &later}); len(got) != 1 ||
		got[0].Declared != "" || got[0].Remote != "2050-01-01T13:00:00Z" {
		t.Errorf("an end date the spec does not declare: drift = %+v", got)
	}
}

func TestDeletionPolicyOf(t *testing.T) {
	for _, tt := range []struct {
		own, operator, want billingv1alpha1.DeletionPolicy
	}{
		{"", "", billingv1alpha1.DeletionPolicyDelete},
		{"", billingv1alpha1.DeletionPolicyOrphan, billingv1alpha1.DeletionPolicyOrphan},
		{billingv1alpha1.DeletionPolicyDelete, billingv1alpha1.DeletionPolicyOrphan, billingv1alpha1.DeletionPolicyDelete},
		{billingv1alpha1.DeletionPolicyOrphan, billingv1alpha1.DeletionPolicyDelete, billingv1alpha1.DeletionPolicyOrphan},
	} {
		pa := &billingv1alpha1.PartnerAccount{Spec: billingv1alpha1.PartnerAccountSpec{DeletionPolicy: tt.own}}
		if got := deletionPolicyOf(pa, tt.operator); got != tt.want {
			t.Errorf("deletionPolicyOf(own %q, operator %q) = %q, want %q", tt.own, tt.operator, got, tt.want)
		}
	}
}

func TestObservedOutcome(t *testing.T) {
	o := observedOutcome(&partnerapi.Account{Status: "provisioned"}, []billingv1alpha1.Drift{{Field: "endsAt"}})
	if o.reason != billingv1alpha1.ReasonAccountObserved || o.message !=
		"Observed, not managed: the account is provisioned, and nothing is written to it. It differs from the spec in endsAt (see status.drift)" {
		t.Errorf("outcome = %+v", o)
	}
	if o := observedMissingOutcome("c"); billingv1alpha1.Reasons[o.reason].Ready != metav1.ConditionFalse {
		t.Errorf("a missing observed account is not Ready=False: %+v", o)
	}
}
