package partneraccount

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

func TestOwnerAmong(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC))
	later := metav1.NewTime(t0.Add(time.Hour))
	peer := func(namespace string, created metav1.Time, state string) billingv1alpha1.PartnerAccount {
		pa := billingv1alpha1.PartnerAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "customer",
			UID: types.UID(namespace), CreationTimestamp: created}, Spec: billingv1alpha1.PartnerAccountSpec{AccountUID: "cust-1"}}
		switch state {
		case "owns":
			pa.Status.AccountUID = "cust-1"
		case "claims":
			pa.Status.CreateClaim = &billingv1alpha1.CreateClaim{Clock: billingv1alpha1.ClockAPI,
				Attempts: []billingv1alpha1.CreateAttempt{{SentAt: t0, Until: later}}}
		case "refused":
			pa.Status.CreateClaim = &billingv1alpha1.CreateClaim{Clock: billingv1alpha1.ClockAPI}
		}
		return pa
	}
	tests := []struct {
		name string
		self billingv1alpha1.PartnerAccount
		peer billingv1alpha1.PartnerAccount
		want string // the owner's namespace
	}{
		{"the older, neither owning", peer("b", t0, ""), peer("a", later, ""), "b"},
		{"the owner, though younger", peer("b", later, "owns"), peer("a", t0, ""), "b"},
		{"the owner, same second, whatever the names", peer("z", t0, "owns"), peer("a", t0, ""), "z"},
		{"the claim holder, same second, whatever the names", peer("z", t0, "claims"), peer("a", t0, ""), "z"},
		{"the owner before the claim holder", peer("b", later, "owns"), peer("a", t0, "claims"), "b"},
		{"a claim whose attempts were all refused counts for nothing", peer("z", t0, "refused"), peer("a", t0, ""), "a"},
		{"names break a tie of equals", peer("z", t0, ""), peer("a", t0, ""), "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ownerAmong(&tt.self, []billingv1alpha1.PartnerAccount{tt.peer, tt.self}); got.Namespace != tt.want {
				t.Errorf("owner from %s's side = %s, want %s", tt.self.Namespace, got.Namespace, tt.want)
			}
			if got := ownerAmong(&tt.peer, []billingv1alpha1.PartnerAccount{tt.self, tt.peer}); got.Namespace != tt.want {
				t.Errorf("owner from %s's side = %s, want %s", tt.peer.Namespace, got.Namespace, tt.want)
			}
		})
	}
}

// TestOwnerAmongObservedPeers checks that an observed peer holds the account when
// it owns it or holds a claim (it may be switched back to Manage), and does not
// count otherwise.
func TestOwnerAmongObservedPeers(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC))
	managed := billingv1alpha1.PartnerAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "customer",
		UID: "prod", CreationTimestamp: metav1.NewTime(t0.Add(time.Hour))},
		Spec: billingv1alpha1.PartnerAccountSpec{AccountUID: "cust-1"}}
	observed := func(owns bool) billingv1alpha1.PartnerAccount {
		pa := billingv1alpha1.PartnerAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "old", Name: "customer",
			UID: "old", CreationTimestamp: t0}, Spec: billingv1alpha1.PartnerAccountSpec{AccountUID: "cust-1",
			ManagementPolicy: billingv1alpha1.ManagementPolicyObserve}}
		if owns {
			pa.Status.AccountUID = "cust-1"
		}
		return pa
	}
	if got := ownerAmong(&managed, []billingv1alpha1.PartnerAccount{observed(false), managed}); got.Namespace != "prod" {
		t.Errorf("an older observed peer that never held the account holds it")
	}
	if got := ownerAmong(&managed, []billingv1alpha1.PartnerAccount{observed(true), managed}); got.Namespace != "old" {
		t.Errorf("an observed peer that owns the account does not hold it")
	}
}
