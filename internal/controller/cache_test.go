package controller

import (
	"strings"
	"testing"
	"unsafe"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

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

// TestTrimPartnerAccount checks that a cached PartnerAccount keeps everything the
// controllers read (its identity, spec, status, finalizers and the operator's
// annotations) and loses its labels and other annotations, and that two accounts'
// repeated strings become one copy.
func TestTrimPartnerAccount(t *testing.T) {
	// Each account's strings are its own copies, as decoding makes them.
	own := strings.Clone
	account := func(name, uid string) *billingv1alpha1.PartnerAccount {
		return &billingv1alpha1.PartnerAccount{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: own("customers"), Name: name, UID: types.UID("uid-" + name), ResourceVersion: "7", Generation: 2,
				Finalizers: []string{billingv1alpha1.Finalizer},
				Labels:     map[string]string{"team": "billing"},
				Annotations: map[string]string{
					lastAppliedAnnotation:                          `{"spec":{}}`,
					"argocd.argoproj.io/tracking-id":               "app:billing.partnerbilling.io/PartnerAccount:customers/" + name,
					billingv1alpha1.ReconcileRequestedAtAnnotation: "1",
					billingv1alpha1.ReadBackIntervalAnnotation:     "1h",
				},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
			},
			Spec: billingv1alpha1.PartnerAccountSpec{AccountUID: uid, AccountType: billingv1alpha1.AccountTypeFamily,
				Domain: own("example.com")},
			Status: billingv1alpha1.PartnerAccountStatus{AccountUID: uid, AccountStatus: "entitled",
				ActivationToken: "token-" + uid, Endpoint: own("https://billing.example/api/v1"),
				Conditions: []metav1.Condition{
					{Type: billingv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
						Reason: billingv1alpha1.ReasonAccountReady, Message: own("The account is entitled")},
					{Type: billingv1alpha1.ConditionReady + "x", Status: metav1.ConditionFalse,
						Reason: billingv1alpha1.ReasonAccountReady, Message: "Account " + uid + " is its own"},
				}},
		}
	}
	a, b := account("a", "acct-a"), account("b", "acct-b")
	want := a.DeepCopy()
	for _, pa := range []*billingv1alpha1.PartnerAccount{a, b} {
		if _, err := stripUnread(pa); err != nil {
			t.Fatal(err)
		}
	}

	if a.Labels != nil || a.ManagedFields != nil {
		t.Errorf("labels %v and managedFields %v kept", a.Labels, a.ManagedFields)
	}
	wantAnnotations := map[string]string{billingv1alpha1.ReconcileRequestedAtAnnotation: "1",
		billingv1alpha1.ReadBackIntervalAnnotation: "1h"}
	if !equality.Semantic.DeepEqual(a.Annotations, wantAnnotations) {
		t.Errorf("annotations = %v, want the operator's only: %v", a.Annotations, wantAnnotations)
	}
	want.Labels, want.Annotations, want.ManagedFields = nil, wantAnnotations, nil
	if !equality.Semantic.DeepEqual(a, want) {
		t.Errorf("what the controllers read changed:\n got %+v\nwant %+v", a, want)
	}
	same := func(x, y string) bool { return unsafe.StringData(x) == unsafe.StringData(y) }
	if !same(a.Spec.Domain, b.Spec.Domain) || !same(a.Status.Conditions[0].Message, b.Status.Conditions[0].Message) ||
		!same(a.Namespace, b.Namespace) || !same(a.Status.Endpoint, b.Status.Endpoint) {
		t.Error("the strings both accounts repeat are two copies")
	}
}
