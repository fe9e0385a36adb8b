package partneraccount

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

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

// TestDueReadBacks checks that only the read-back the schedule queued, once due,
// counts as one, and only once.
func TestDueReadBacks(t *testing.T) {
	key := types.NamespacedName{Namespace: "billing", Name: "customer-1"}
	due := time.Date(2050, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		expect bool
		at     time.Time
		want   bool
	}{
		{"nothing queued: an event", false, due, false},
		{"at its time", true, due, true},
		{"late, behind user work", true, due.Add(time.Minute), true},
		{"a hair early, as the queue may be", true, due.Add(-dueEarly / 2), true},
		{"well before its time: an event", true, due.Add(-time.Second), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d dueReadBacks
			if tt.expect {
				d.expect(key, due)
			}
			if got := d.take(key, tt.at); got != tt.want {
				t.Errorf("take = %v, want %v", got, tt.want)
			}
			if d.take(key, due.Add(time.Hour)) {
				t.Error("the read-back counted twice")
			}
		})
	}
	var d dueReadBacks
	d.expect(key, due)
	d.forget(key)
	if d.take(key, due) {
		t.Error("a forgotten account's read-back still counted")
	}
}
