package partneraccount

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

func TestReadBackOverride(t *testing.T) {
	tests := []struct {
		value     string
		wantEvery time.Duration
		wantSet   bool
		wantErr   bool
	}{
		{"", 0, false, false},
		{"30s", 30 * time.Second, true, false},
		{"0", 0, true, false},
		{"12h", 12 * time.Hour, true, false},
		{"soon", 0, false, true},
		{"-5m", 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			pa := &billingv1alpha1.PartnerAccount{}
			if tt.value != "" {
				pa.Annotations = map[string]string{billingv1alpha1.ReadBackIntervalAnnotation: tt.value}
			}
			every, set, err := readBackOverride(pa)
			if every != tt.wantEvery || set != tt.wantSet || (err != nil) != tt.wantErr {
				t.Errorf("readBackOverride = %v, %v, %v", every, set, err)
			}
			if err != nil && !strings.Contains(err.Error(), billingv1alpha1.ReadBackIntervalAnnotation) {
				t.Errorf("the error %q does not name the annotation", err)
			}
		})
	}
}

func TestReadBackPlanOf(t *testing.T) {
	now := time.Date(2050, 1, 10, 12, 0, 0, 0, time.UTC)
	pa := &billingv1alpha1.PartnerAccount{}
	pa.CreationTimestamp = metav1.NewTime(now.Add(-30 * 24 * time.Hour))
	created := metav1.NewTime(now.Add(-5 * time.Minute))
	pa.Status.CreatedAt = &created
	pa.Status.AccountStatus = "entitled"
	plan, never := readBackPlanOf(pa, now, 0, 24*time.Hour)
	if never || plan.Every != 20*time.Second || !plan.Hot {
		t.Errorf("a young entitled account: %+v, never %v", plan, never)
	}

	provisioned := metav1.NewTime(now.Add(-30 * time.Minute))
	pa.Status.AccountStatus, pa.Status.ProvisionedAt = "provisioned", &provisioned
	// A settled account is read once a period, even just after it changed.
	if plan, _ := readBackPlanOf(pa, now, 0, 24*time.Hour); plan.Every != 24*time.Hour || plan.Hot || !plan.LastChange.Equal(provisioned.Time) {
		t.Errorf("just provisioned: %+v", plan)
	}

	pa.Annotations = map[string]string{billingv1alpha1.ReadBackIntervalAnnotation: "0"}
	if _, never := readBackPlanOf(pa, now, 0, 24*time.Hour); !never {
		t.Error("an interval of 0 reads back")
	}
	pa.Annotations[billingv1alpha1.ReadBackIntervalAnnotation] = "45s"
	if plan, never := readBackPlanOf(pa, now, 0, 24*time.Hour); never || plan.Every != 45*time.Second {
		t.Errorf("an interval of 45s: %+v", plan)
	}
	pa.Annotations[billingv1alpha1.ReadBackIntervalAnnotation] = "often"
	if plan, _ := readBackPlanOf(pa, now, 0, 24*time.Hour); plan.Every != 24*time.Hour {
		t.Errorf("an invalid interval: %+v, want the schedule's", plan)
	}
}

func TestReadBackPlanOfKeepsToTheShortestInterval(t *testing.T) {
	now := time.Date(2050, 1, 10, 12, 0, 0, 0, time.UTC)
	pa := &billingv1alpha1.PartnerAccount{}
	created := metav1.NewTime(now.Add(-5 * time.Minute))
	pa.Status.CreatedAt, pa.Status.AccountStatus = &created, "entitled"
	if plan, _ := readBackPlanOf(pa, now, 10*time.Minute, 24*time.Hour); plan.Every != 10*time.Minute {
		t.Errorf("with a shortest interval of 10m: every %v", plan.Every)
	}
	if plan, _ := readBackPlanOf(pa, now, time.Hour, 30*time.Minute); plan.Every != 30*time.Minute {
		t.Errorf("a shortest interval above the longest: every %v, want the longest", plan.Every)
	}
	pa.Annotations = map[string]string{billingv1alpha1.ReadBackIntervalAnnotation: "5s"}
	if plan, _ := readBackPlanOf(pa, now, 10*time.Minute, 24*time.Hour); plan.Every != 5*time.Second {
		t.Errorf("the annotation does not win: every %v", plan.Every)
	}
}
