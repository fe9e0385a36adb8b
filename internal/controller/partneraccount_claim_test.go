package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

func TestNewAndExtendClaim(t *testing.T) {
	sent := time.Date(2050, 1, 1, 12, 0, 0, 700e6, time.UTC)
	c := newClaim(sent, billingv1alpha1.ClockAPI, 30*time.Second)
	if !c.FirstAttemptAt.Equal(&metav1.Time{Time: sent.Truncate(time.Second)}) || c.Clock != billingv1alpha1.ClockAPI {
		t.Errorf("claim = %+v", c)
	}
	// Until its answer comes, the first attempt's outcome is unknown for as long
	// as the request may take, rounded up to the second.
	if want := time.Date(2050, 1, 1, 12, 0, 31, 0, time.UTC); !c.UnknownUntil.Equal(&metav1.Time{Time: want}) {
		t.Errorf("unknownUntil = %v, want %v", c.UnknownUntil, want)
	}

	later := extendClaim(c, sent.Add(time.Minute), 30*time.Second)
	if want := time.Date(2050, 1, 1, 12, 1, 31, 0, time.UTC); !later.UnknownUntil.Equal(&metav1.Time{Time: want}) {
		t.Errorf("extended unknownUntil = %v, want %v", later.UnknownUntil, want)
	}
	if !later.FirstAttemptAt.Equal(&c.FirstAttemptAt) {
		t.Error("extending the window moved its start")
	}
	if earlier := extendClaim(later, sent, time.Second); !earlier.UnknownUntil.Equal(later.UnknownUntil) {
		t.Errorf("an earlier attempt shrank the window to %v", earlier.UnknownUntil)
	}
	refused := c.DeepCopy()
	refused.UnknownUntil = nil
	if again := extendClaim(refused, sent.Add(time.Hour), 30*time.Second); again.UnknownUntil == nil {
		t.Error("an attempt with an unknown outcome after refused ones opened no window")
	}
}

func TestClaimOnAPIClock(t *testing.T) {
	first := metav1.NewTime(time.Date(2050, 1, 1, 12, 0, 0, 0, time.UTC))
	until := metav1.NewTime(first.Add(31 * time.Second))
	local := &billingv1alpha1.CreateClaim{FirstAttemptAt: first, UnknownUntil: &until, Clock: billingv1alpha1.ClockLocal}
	got := claimOnAPIClock(local, -2*time.Minute)
	if got.Clock != billingv1alpha1.ClockAPI || !got.FirstAttemptAt.Equal(&metav1.Time{Time: first.Add(-2 * time.Minute)}) ||
		!got.UnknownUntil.Equal(&metav1.Time{Time: until.Add(-2 * time.Minute)}) {
		t.Errorf("moved claim = %+v", got)
	}
	if local.Clock != billingv1alpha1.ClockLocal {
		t.Error("the claim given was changed")
	}
	if again := claimOnAPIClock(got, time.Hour); again != got {
		t.Error("a claim on the API's clock was moved again")
	}
	if claimOnAPIClock(nil, time.Hour) != nil {
		t.Error("no claim became one")
	}
}

func TestClaimCovers(t *testing.T) {
	first := time.Date(2050, 1, 1, 12, 0, 0, 0, time.UTC)
	until := metav1.NewTime(first.Add(31 * time.Second))
	m := claimMargins{api: 5 * time.Second, local: time.Minute}
	api := &billingv1alpha1.CreateClaim{FirstAttemptAt: metav1.NewTime(first), UnknownUntil: &until, Clock: billingv1alpha1.ClockAPI}
	local := &billingv1alpha1.CreateClaim{FirstAttemptAt: metav1.NewTime(first), UnknownUntil: &until, Clock: billingv1alpha1.ClockLocal}
	refused := &billingv1alpha1.CreateClaim{FirstAttemptAt: metav1.NewTime(first), Clock: billingv1alpha1.ClockAPI}
	tests := []struct {
		name    string
		claim   *billingv1alpha1.CreateClaim
		created time.Time
		want    bool
	}{
		{"inside", api, first.Add(10 * time.Second), true},
		{"at the margin before", api, first.Add(-5 * time.Second), true},
		{"beyond the margin before", api, first.Add(-6 * time.Second), false},
		{"at the margin after", api, until.Add(5 * time.Second), true},
		{"beyond the margin after", api, until.Add(6 * time.Second), false},
		{"a minute and a half later", api, first.Add(90 * time.Second), false},
		{"on the local clock, a minute before", local, first.Add(-time.Minute), true},
		{"on the local clock, beyond a minute after", local, until.Add(61 * time.Second), false},
		{"every attempt refused", refused, first.Add(time.Second), false},
		{"no creation time", api, time.Time{}, false},
		{"no claim", nil, first, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := claimCovers(tt.claim, tt.created, m); got != tt.want {
				t.Errorf("claimCovers = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCurrentClaimReadsAnEarlierVersionsRecord(t *testing.T) {
	now := time.Date(2050, 1, 2, 0, 0, 0, 0, time.UTC)
	attempted := metav1.NewTime(now.Add(-time.Hour))
	status := &billingv1alpha1.PartnerAccountStatus{CreateAttemptedAt: &attempted}
	c := currentClaim(status, now)
	if c == nil || !c.FirstAttemptAt.Equal(&attempted) || c.Clock != billingv1alpha1.ClockLocal ||
		c.UnknownUntil == nil || !c.UnknownUntil.Equal(&metav1.Time{Time: now}) {
		t.Fatalf("claim = %+v, want one on the local clock from the attempt until now", c)
	}
	if currentClaim(&billingv1alpha1.PartnerAccountStatus{}, now) != nil {
		t.Error("a status without a claim has one")
	}
	status.CreateClaim = &billingv1alpha1.CreateClaim{FirstAttemptAt: attempted, Clock: billingv1alpha1.ClockAPI}
	if c := currentClaim(status, now); c.Clock != billingv1alpha1.ClockAPI || c == status.CreateClaim {
		t.Errorf("claim = %+v, want a copy of createClaim", c)
	}
}
