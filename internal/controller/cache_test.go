package controller

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

func TestStripUnread(t *testing.T) {
	pa := &billingv1alpha1.PartnerAccount{ObjectMeta: metav1.ObjectMeta{
		Name:          "acct",
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		Annotations: map[string]string{
			lastAppliedAnnotation:                          `{"spec":{}}`,
			billingv1alpha1.ReconcileRequestedAtAnnotation: "1",
		},
	}}
	out, err := stripUnread(pa)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*billingv1alpha1.PartnerAccount)
	if got.ManagedFields != nil {
		t.Error("managedFields kept")
	}
	if _, ok := got.Annotations[lastAppliedAnnotation]; ok {
		t.Error("last-applied-configuration kept")
	}
	if got.Annotations[billingv1alpha1.ReconcileRequestedAtAnnotation] != "1" {
		t.Error("an annotation the controller reads was removed")
	}
}
