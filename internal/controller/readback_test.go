package controller

import (
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

func TestEffectivePeriod(t *testing.T) {
	const slot = 200 * time.Millisecond // 5 read-backs a second: half of 10 rps
	tests := []struct {
		name     string
		resync   time.Duration
		slot     time.Duration
		accounts int64
		want     time.Duration
	}{
		{"few accounts: the resync period", 10 * time.Minute, slot, 100, 10 * time.Minute},
		{"exactly what fits", 10 * time.Minute, slot, 3000, 10 * time.Minute},
		{"10,000 accounts at 5 a second", 10 * time.Minute, slot, 10000, 2000 * time.Second},
		{"no limit", 10 * time.Minute, 0, 1_000_000, 10 * time.Minute},
		{"no accounts", time.Minute, slot, 0, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := effectivePeriod(tt.resync, tt.slot, tt.accounts); got != tt.want {
				t.Errorf("effectivePeriod = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFirstReadBack(t *testing.T) {
	now := time.Date(2050, 1, 1, 12, 0, 0, 0, time.UTC)
	const period = 10 * time.Minute
	tests := []struct {
		name       string
		lastChange time.Time
		u          float64
		want       time.Time
	}{
		{"changed just now: one period after the change, at the earliest", now.Add(-time.Minute), 0, now.Add(7 * time.Minute)},
		{"changed just now: one period after, at the latest", now.Add(-time.Minute), 0.999999, now.Add(11*time.Minute - 600*time.Microsecond)},
		{"changed long ago: anywhere in the next period", now.Add(-time.Hour), 0.5, now.Add(5 * time.Minute)},
		{"changed long ago: not at once", now.Add(-time.Hour), 0, now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := firstReadBack(now, tt.lastChange, period, tt.u)
			if d := got.Sub(tt.want); d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("firstReadBack = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestReadBackCalendar checks that read-backs never go faster than the read-back
// rate, however many want the same moment, and that slots in the past are forgotten.
func TestReadBackCalendar(t *testing.T) {
	rb := newReadBacks(10*time.Minute, 5, logr.Discard()) // one slot every 200ms
	now := time.Date(2050, 1, 1, 12, 0, 0, 0, time.UTC)
	want := now.Add(time.Minute)
	seen := map[time.Duration]bool{}
	var last time.Duration
	for i := range 10000 {
		d := rb.reserve(now, want)
		if seen[d] {
			t.Fatalf("reservation %d shares the slot at %v", i, d)
		}
		seen[d] = true
		if d < time.Minute-200*time.Millisecond {
			t.Fatalf("reservation %d at %v, before the minute it asked for", i, d)
		}
		last = max(last, d)
	}
	// 10,000 read-backs at 5 a second take 2,000 seconds.
	if wantLast := time.Minute + 1999*time.Second + 800*time.Millisecond; last < wantLast-time.Second || last > wantLast+time.Second {
		t.Errorf("the last read-back is at %v, want about %v", last, wantLast)
	}
	// Every 200ms slot in between is used once: no gaps, no doubles.
	if len(seen) != 10000 {
		t.Errorf("%d distinct slots", len(seen))
	}
	// Much later, the old slots are swept, and a reservation takes the slot it wants.
	later := now.Add(3 * time.Hour)
	if d := rb.reserve(later, later.Add(time.Second)); d > time.Second || d < 800*time.Millisecond {
		t.Errorf("a reservation after the backlog waits %v", d)
	}
	if len(rb.next) > 2 {
		t.Errorf("%d slots kept after a sweep", len(rb.next))
	}
}

func TestReadBacksUnlimited(t *testing.T) {
	rb := newReadBacks(time.Minute, 0, logr.Discard())
	now := time.Now()
	if d := rb.reserve(now, now.Add(time.Second)); d != time.Second {
		t.Errorf("reserve = %v, want 1s", d)
	}
	if d := rb.reserve(now, now.Add(-time.Second)); d != 0 {
		t.Errorf("reserve in the past = %v, want 0", d)
	}
}

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
