package partneraccount

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// attemptAt is an attempt sent at sent with a 30 s timeout.
func attemptAt(sent time.Time) billingv1alpha1.CreateAttempt { return newAttempt(sent, 30*time.Second) }

func TestNewAttemptLastsAsLongAsItsRequestMay(t *testing.T) {
	sent := time.Date(2050, 1, 1, 12, 0, 0, 700e6, time.UTC)
	a := attemptAt(sent)
	if !a.SentAt.Equal(&metav1.Time{Time: sent.Truncate(time.Second)}) {
		t.Errorf("sentAt = %v", a.SentAt)
	}
	// Until its answer comes, the attempt's outcome is unknown for as long as the
	// request may take, rounded up to the second.
	if want := time.Date(2050, 1, 1, 12, 0, 31, 0, time.UTC); !a.Until.Equal(&metav1.Time{Time: want}) {
		t.Errorf("until = %v, want %v", a.Until, want)
	}
}

func TestAttemptsComeAndGoOneByOne(t *testing.T) {
	origin := partnerapi.Origin{URL: "https://billing.example/api/v1", ID: "0123456789abcdef"}
	t0 := time.Date(2050, 1, 1, 12, 0, 0, 0, time.UTC)
	first, second := attemptAt(t0), attemptAt(t0.Add(12*time.Hour))
	c := withAttempt(nil, first, billingv1alpha1.ClockAPI, origin)
	if c.Clock != billingv1alpha1.ClockAPI || c.Endpoint != origin.URL || c.EndpointID != origin.ID || len(c.Attempts) != 1 {
		t.Fatalf("claim = %+v", c)
	}
	c = withAttempt(c, second, billingv1alpha1.ClockLocal, origin)
	if len(c.Attempts) != 2 || c.Clock != billingv1alpha1.ClockAPI {
		t.Fatalf("claim = %+v, want two attempts on the API's clock", c)
	}
	m := claimMargins{api: 5 * time.Second}
	// A refused attempt goes, and with it what it covered: an account made by
	// someone else between the two attempts is not this resource's.
	refused := withoutAttempt(c, first)
	if len(refused.Attempts) != 1 || claimCovers(refused, t0.Add(10*time.Second), m) ||
		!claimCovers(refused, t0.Add(12*time.Hour+10*time.Second), m) {
		t.Errorf("after the first was refused: %+v", refused)
	}
	if claimCovers(c, t0.Add(6*time.Hour), m) {
		t.Error("the time between two attempts is covered")
	}
	if withoutAttempt(withoutAttempt(c, first), second) != nil {
		t.Error("a claim with no attempt left is kept")
	}
	if len(c.Attempts) != 2 {
		t.Error("the claim given was changed")
	}
}

func TestAClaimHoldsAtMostSixteenAttemptsAndCoversAtLeastAsMuch(t *testing.T) {
	t0 := time.Date(2050, 1, 1, 12, 0, 0, 0, time.UTC)
	var c *billingv1alpha1.CreateClaim
	for i := range maxAttempts + 3 {
		c = withAttempt(c, attemptAt(t0.Add(time.Duration(i)*time.Minute)), billingv1alpha1.ClockAPI, partnerapi.Origin{})
	}
	if len(c.Attempts) != maxAttempts {
		t.Fatalf("%d attempts, want %d", len(c.Attempts), maxAttempts)
	}
	m := claimMargins{api: time.Second}
	for i := range maxAttempts + 3 {
		if at := t0.Add(time.Duration(i)*time.Minute + 10*time.Second); !claimCovers(c, at, m) {
			t.Errorf("attempt %d's time %v is no longer covered", i, at)
		}
	}
}

func TestWithoutSettledKeepsWhatMayStillLand(t *testing.T) {
	t0 := time.Date(2050, 1, 1, 12, 0, 0, 0, time.UTC)
	m := claimMargins{api: 5 * time.Second, local: time.Minute}
	c := withAttempt(withAttempt(nil, attemptAt(t0), billingv1alpha1.ClockAPI, partnerapi.Origin{}),
		attemptAt(t0.Add(time.Minute)), billingv1alpha1.ClockAPI, partnerapi.Origin{})
	// 20 s after the second was sent: the first's answer can no longer come, the
	// second's can.
	got := withoutSettled(c, t0.Add(80*time.Second), m)
	if got == nil || len(got.Attempts) != 1 || !got.Attempts[0].SentAt.Equal(&metav1.Time{Time: t0.Add(time.Minute)}) {
		t.Fatalf("claim = %+v, want the second attempt only", got)
	}
	if withoutSettled(c, t0.Add(time.Hour), m) != nil {
		t.Error("attempts long settled are kept")
	}
	if withoutSettled(nil, t0, m) != nil {
		t.Error("no claim became one")
	}
}

func TestClaimOnAPIClock(t *testing.T) {
	first := time.Date(2050, 1, 1, 12, 0, 0, 0, time.UTC)
	local := withAttempt(nil, attemptAt(first), billingv1alpha1.ClockLocal, partnerapi.Origin{})
	got := claimOnAPIClock(local, -2*time.Minute)
	if got.Clock != billingv1alpha1.ClockAPI || !got.Attempts[0].SentAt.Equal(&metav1.Time{Time: first.Add(-2 * time.Minute)}) ||
		!got.Attempts[0].Until.Equal(&metav1.Time{Time: first.Add(31*time.Second - 2*time.Minute)}) {
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
	until := first.Add(31 * time.Second)
	m := claimMargins{api: 5 * time.Second, local: time.Minute}
	api := withAttempt(nil, attemptAt(first), billingv1alpha1.ClockAPI, partnerapi.Origin{})
	local := withAttempt(nil, attemptAt(first), billingv1alpha1.ClockLocal, partnerapi.Origin{})
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

func TestCurrentClaimReadsEarlierVersionsRecords(t *testing.T) {
	now := time.Date(2050, 1, 2, 0, 0, 0, 0, time.UTC)
	attempted := metav1.NewTime(now.Add(-time.Hour))
	status := &billingv1alpha1.PartnerAccountStatus{CreateAttemptedAt: &attempted}
	c := currentClaim(status, now)
	if c == nil || len(c.Attempts) != 1 || !c.Attempts[0].SentAt.Equal(&attempted) || c.Clock != billingv1alpha1.ClockLocal ||
		!c.Attempts[0].Until.Equal(&metav1.Time{Time: now}) {
		t.Fatalf("claim = %+v, want one attempt on the local clock from createAttemptedAt until now", c)
	}
	if currentClaim(&billingv1alpha1.PartnerAccountStatus{}, now) != nil {
		t.Error("a status without a claim has one")
	}

	until := metav1.NewTime(attempted.Add(31 * time.Second))
	status.CreateClaim = &billingv1alpha1.CreateClaim{FirstAttemptAt: &attempted, UnknownUntil: &until,
		Clock: billingv1alpha1.ClockAPI}
	c = currentClaim(status, now)
	if c == nil || len(c.Attempts) != 1 || !c.Attempts[0].Until.Equal(&until) || c.FirstAttemptAt != nil ||
		c.Clock != billingv1alpha1.ClockAPI {
		t.Fatalf("claim = %+v, want the window of the earlier claim as one attempt", c)
	}
	if status.CreateClaim.FirstAttemptAt == nil {
		t.Error("the status's claim was changed")
	}
	// An earlier claim whose attempts were all refused covers nothing.
	status.CreateClaim = &billingv1alpha1.CreateClaim{FirstAttemptAt: &attempted, Clock: billingv1alpha1.ClockAPI}
	if c := currentClaim(status, now); c != nil {
		t.Errorf("claim = %+v, want none", c)
	}
}
