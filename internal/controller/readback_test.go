package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

func TestSettled(t *testing.T) {
	readyAccount := func() *billingv1alpha1.PartnerAccount {
		pa := newAccount("ns", "acct", "cust-1")
		pa.Generation = 2
		pa.Finalizers = []string{billingv1alpha1.Finalizer}
		pa.Status = billingv1alpha1.PartnerAccountStatus{
			ObservedGeneration: 2,
			AccountUID:         "cust-1",
			ActivationToken:    "PNS-1",
			Conditions: []metav1.Condition{{Type: billingv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
				Reason: billingv1alpha1.ReasonAccountReady}},
		}
		return pa
	}
	tests := []struct {
		name            string
		change          func(*billingv1alpha1.PartnerAccount)
		noTokenInStatus bool
		want            bool
	}{
		{"ready", func(*billingv1alpha1.PartnerAccount) {}, false, true},
		{"new generation", func(pa *billingv1alpha1.PartnerAccount) { pa.Generation = 3 }, false, false},
		{"not ready", func(pa *billingv1alpha1.PartnerAccount) {
			pa.Status.Conditions[0].Status = metav1.ConditionFalse
		}, false, false},
		{"no finalizer", func(pa *billingv1alpha1.PartnerAccount) { pa.Finalizers = nil }, false, false},
		{"not owned", func(pa *billingv1alpha1.PartnerAccount) { pa.Status.AccountUID = "" }, false, false},
		{"being deleted", func(pa *billingv1alpha1.PartnerAccount) { pa.DeletionTimestamp = &metav1.Time{Time: time.Now()} }, false, false},
		{"reconcile requested", func(pa *billingv1alpha1.PartnerAccount) {
			pa.Annotations = map[string]string{billingv1alpha1.ReconcileRequestedAtAnnotation: "now"}
		}, false, false},
		{"token in status but wanted in a Secret", func(*billingv1alpha1.PartnerAccount) {}, true, false},
		{"token in its Secret", func(pa *billingv1alpha1.PartnerAccount) {
			pa.Status.ActivationToken = ""
			pa.Status.ActivationTokenSecretName = "acct-activation"
		}, true, true},
		{"token in a Secret but wanted in status", func(pa *billingv1alpha1.PartnerAccount) {
			pa.Status.ActivationToken = ""
			pa.Status.ActivationTokenSecretName = "acct-activation"
		}, false, false},
		{"ref changed", func(pa *billingv1alpha1.PartnerAccount) {
			pa.Status.ActivationToken = ""
			pa.Status.ActivationTokenSecretName = "old"
			pa.Spec.ActivationTokenSecretRef = &billingv1alpha1.SecretReference{Name: "new"}
		}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pa := readyAccount()
			tt.change(pa)
			if got := settled(pa, tt.noTokenInStatus); got != tt.want {
				t.Errorf("settled = %v, want %v", got, tt.want)
			}
		})
	}
}
