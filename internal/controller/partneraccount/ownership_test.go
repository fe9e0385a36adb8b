package partneraccount

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

func TestPlanFor(t *testing.T) {
	attempted := metav1.NewTime(time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC))
	claim := &billingv1alpha1.CreateClaim{Attempts: []billingv1alpha1.CreateAttempt{{SentAt: attempted, Until: attempted}},
		Clock: billingv1alpha1.ClockAPI}
	refused := &billingv1alpha1.CreateClaim{Clock: billingv1alpha1.ClockAPI}
	tests := []struct {
		name           string
		statusUID      string
		claim          *billingv1alpha1.CreateClaim
		legacyAttempt  *metav1.Time
		previousReason string
		generation     int64
		requested      bool
		want           plan
		edit           func(*billingv1alpha1.PartnerAccount)
	}{
		{"new resource creates", "", nil, nil, "", 1, false, planCreate, nil},
		{"a refused create waits for the spec", "", nil, nil, billingv1alpha1.ReasonInvalidRequest, 1, false, planWait, nil},
		{"a refused create creates again once the spec changed", "", nil, nil, billingv1alpha1.ReasonInvalidRequest, 2, false, planCreate, nil},
		{"a refused create reads when asked to", "", nil, nil, billingv1alpha1.ReasonInvalidRequest, 1, true, planCreate, nil},
		{"owned reads", "cust-1", nil, nil, billingv1alpha1.ReasonAccountReady, 1, false, planRead, nil},
		{"owned and gone reads, never re-creates", "cust-1", nil, nil, billingv1alpha1.ReasonRemoteDeleted, 1, false, planRead, nil},
		{"owned wins over a stale claim", "cust-1", claim, nil, billingv1alpha1.ReasonAccountReady, 1, false, planRead, nil},
		{"a claim reads first", "", claim, nil, billingv1alpha1.ReasonAPIUnavailable, 1, false, planReadFirst, nil},
		{"a claim whose attempts were all refused creates again", "", refused, nil, billingv1alpha1.ReasonRateLimited, 1, false, planCreate, nil},
		{"a claim of an earlier version reads first", "", nil, &attempted, billingv1alpha1.ReasonAPIUnavailable, 1, false, planReadFirst, nil},
		{"an existing account waits for the spec", "", nil, nil, billingv1alpha1.ReasonAccountExists, 1, false, planWait, nil},
		{"an existing account is read first once asked", "", nil, nil, billingv1alpha1.ReasonAccountExists, 1, true, planReadFirst, nil},
		{"a conflicting account is read first after a spec change", "", nil, nil, billingv1alpha1.ReasonAccountConflict, 2, false, planReadFirst, nil},
		{"a replaced account is read first once asked", "", nil, nil, billingv1alpha1.ReasonAccountReplaced, 1, true, planReadFirst, nil},
		{"a duplicate no longer is looks again", "", nil, nil, billingv1alpha1.ReasonDuplicateAccountUID, 1, false, planCreate, nil},
		{"another UID in status is not ownership", "other", nil, nil, billingv1alpha1.ReasonAccountReady, 1, false, planCreate, nil},
		{"adopting reads first", "", nil, nil, "", 1, false, planReadFirst,
			func(pa *billingv1alpha1.PartnerAccount) { pa.Spec.AdoptExisting = true }},
		{"a resource that never creates reads first", "", nil, nil, "", 1, false, planReadFirst,
			func(pa *billingv1alpha1.PartnerAccount) { pa.Spec.CreatePolicy = billingv1alpha1.CreatePolicyNever }},
		{"a deactivated account waits for the spec", "", nil, nil, billingv1alpha1.ReasonAccountDeactivated, 1, false, planWait, nil},
		{"a deactivated account is read first once asked", "", nil, nil, billingv1alpha1.ReasonAccountDeactivated, 1, true,
			planReadFirst, nil},
		{"a resource whose server changed reads first", "", nil, nil, billingv1alpha1.ReasonEndpointChanged, 1, false,
			planReadFirst, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pa := &billingv1alpha1.PartnerAccount{Spec: billingv1alpha1.PartnerAccountSpec{AccountUID: "cust-1"}}
			pa.Generation = tt.generation
			pa.Status.ObservedGeneration = 1
			pa.Status.AccountUID = tt.statusUID
			pa.Status.CreateClaim = tt.claim
			pa.Status.CreateAttemptedAt = tt.legacyAttempt
			if tt.edit != nil {
				tt.edit(pa)
			}
			if got := planFor(pa, tt.previousReason, tt.requested, attempted.Add(time.Hour)); got != tt.want {
				t.Errorf("planFor = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	attempt := time.Date(2050, 1, 1, 12, 0, 0, 0, time.UTC)
	claimOn := func(clock billingv1alpha1.Clock, unknownFor time.Duration) *billingv1alpha1.CreateClaim {
		c := &billingv1alpha1.CreateClaim{Clock: clock}
		if unknownFor > 0 {
			c.Attempts = []billingv1alpha1.CreateAttempt{{SentAt: metav1.NewTime(attempt),
				Until: metav1.NewTime(attempt.Add(unknownFor))}}
		}
		return c
	}
	api := claimOn(billingv1alpha1.ClockAPI, 30*time.Second)
	local := claimOn(billingv1alpha1.ClockLocal, 30*time.Second)
	refused := claimOn(billingv1alpha1.ClockAPI, 0)
	spec := &billingv1alpha1.PartnerAccountSpec{AccountUID: "cust-1", AccountType: billingv1alpha1.AccountTypeIndividual, Domain: "b5test.com"}
	acct := func(typ partnerapi.AccountType, domain string, created time.Time) *partnerapi.Account {
		return &partnerapi.Account{UID: "cust-1", Type: typ, Domain: domain, CreatedAt: created}
	}
	m := claimMargins{api: 5 * time.Second, local: time.Minute}
	// sent is when the 2xx's own request went out, on the API's clock.
	sent := attempt.Add(10 * time.Minute)
	tests := []struct {
		name    string
		claim   *billingv1alpha1.CreateClaim
		acct    *partnerapi.Account
		read    finding // as classifyRead decides
		created finding // as classifyCreated decides, for a 2xx create answer
	}{
		{"created inside the window", api, acct("I", "b5test.com", attempt.Add(2*time.Second)), foundOwn, foundOwn},
		{"created within the API margin before", api, acct("I", "b5test.com", attempt.Add(-4*time.Second)), foundOwn, foundOwn},
		{"created before the API margin", api, acct("I", "b5test.com", attempt.Add(-6*time.Second)), foundPreexisting, foundPreexisting},
		{"created after the window", api, acct("I", "b5test.com", attempt.Add(36*time.Second)), foundPreexisting, foundPreexisting},
		{"created by this 2xx's own request", api, acct("I", "b5test.com", sent.Add(time.Second)), foundPreexisting, foundOwn},
		{"on the local clock, a minute's margin", local, acct("I", "b5test.com", attempt.Add(-59*time.Second)), foundOwn, foundOwn},
		{"on the local clock, beyond it", local, acct("I", "b5test.com", attempt.Add(91*time.Second)), foundPreexisting, foundPreexisting},
		{"every attempt refused: nothing is covered", refused, acct("I", "b5test.com", attempt.Add(time.Second)), foundPreexisting, foundPreexisting},
		{"no created_at", api, acct("I", "b5test.com", time.Time{}), foundPreexisting, foundOwn},
		{"no claim, created before this request", nil, acct("I", "b5test.com", attempt), foundPreexisting, foundPreexisting},
		{"no claim, created by this request", nil, acct("I", "b5test.com", sent), foundPreexisting, foundOwn},
		{"domain differs in case only", api, acct("I", "B5TEST.com", attempt), foundOwn, foundOwn},
		{"another type", api, acct("F", "b5test.com", attempt.Add(time.Second)), foundConflict, foundConflict},
		{"another domain", api, acct("I", "b5test.ca", attempt.Add(time.Second)), foundConflict, foundConflict},
		{"another type and older", api, acct("F", "b5test.com", attempt.Add(-time.Hour)), foundConflict, foundConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classifyRead(spec, tt.claim, tt.acct, m); got != tt.read {
				t.Errorf("classifyRead = %v, want %v", got, tt.read)
			}
			if got := classifyCreated(spec, tt.claim, tt.acct, sent, m); got != tt.created {
				t.Errorf("classifyCreated = %v, want %v", got, tt.created)
			}
		})
	}
	// Without a Date on the 2xx, the 2xx alone owns the account.
	if got := classifyCreated(spec, nil, acct("I", "b5test.com", attempt.Add(-time.Hour)), time.Time{}, m); got != foundOwn {
		t.Errorf("classifyCreated without the API's clock = %v, want foundOwn", got)
	}
}

func TestIdentityChange(t *testing.T) {
	created := time.Date(2050, 1, 1, 12, 0, 0, 0, time.UTC)
	recorded := metav1.NewTime(created)
	spec := &billingv1alpha1.PartnerAccountSpec{AccountUID: "cust-1", AccountType: billingv1alpha1.AccountTypeIndividual, Domain: "b5test.com"}
	tests := []struct {
		name     string
		recorded *metav1.Time
		acct     partnerapi.Account
		want     []string // what the description names; none: the same account
	}{
		{"the same", &recorded, partnerapi.Account{Type: "I", Domain: "b5test.com", CreatedAt: created.Add(400 * time.Millisecond)}, nil},
		{"no creation time recorded", nil, partnerapi.Account{Type: "I", Domain: "b5test.com", CreatedAt: created.Add(time.Hour)}, nil},
		{"no creation time sent", &recorded, partnerapi.Account{Type: "I", Domain: "B5test.com"}, nil},
		{"created again", &recorded, partnerapi.Account{Type: "I", Domain: "b5test.com", CreatedAt: created.Add(time.Hour)},
			[]string{"created at 2050-01-01T13:00:00Z, not 2050-01-01T12:00:00Z"}},
		{"another type", &recorded, partnerapi.Account{Type: "F", Domain: "b5test.com", CreatedAt: created.Add(time.Minute)},
			[]string{"type Family, not Individual", "created at"}},
		{"another domain", nil, partnerapi.Account{Type: "I", Domain: "b5test.ca"}, []string{"domain b5test.ca, not b5test.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := identityChange(spec, tt.recorded, &tt.acct)
			if (got == "") != (len(tt.want) == 0) {
				t.Fatalf("identityChange = %q, want it to name %q", got, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("identityChange = %q, lacks %q", got, w)
				}
			}
		})
	}
}

func TestReconcileRequest(t *testing.T) {
	tests := []struct {
		name, annotation, handled, want string
	}{
		{"none", "", "", ""},
		{"new", "2050-01-01T00:00:00Z", "", "2050-01-01T00:00:00Z"},
		{"handled", "2050-01-01T00:00:00Z", "2050-01-01T00:00:00Z", ""},
		{"newer", "2", "1", "2"},
		{"removed after handling", "", "1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pa := &billingv1alpha1.PartnerAccount{}
			if tt.annotation != "" {
				pa.Annotations = map[string]string{billingv1alpha1.ReconcileRequestedAtAnnotation: tt.annotation}
			}
			pa.Status.LastHandledReconcileAt = tt.handled
			if got := reconcileRequest(pa); got != tt.want {
				t.Errorf("reconcileRequest = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadErrorOutcomeNeverStalls(t *testing.T) {
	for _, kind := range []error{partnerapi.ErrInvalidRequest, partnerapi.ErrAlreadyExists, partnerapi.ErrTransient,
		partnerapi.ErrMisconfigured, partnerapi.ErrUnauthorized, partnerapi.ErrRateLimited} {
		t.Run(kind.Error(), func(t *testing.T) {
			err := &partnerapi.Error{Kind: kind, Op: partnerapi.OpGet, UID: "cust-1", StatusCode: http.StatusBadRequest, Message: "Bad id."}
			o := readErrorOutcome("read the account", err)
			if billingv1alpha1.Reasons[o.reason].Stalled {
				t.Errorf("a failed read stalls with %s", o.reason)
			}
			if o.err != err {
				t.Error("the error is not kept for the retry decision")
			}
		})
	}
}

func TestUnknownOutcome(t *testing.T) {
	for kind, want := range map[error]bool{
		partnerapi.ErrTransient: true, partnerapi.ErrMisconfigured: true,
		partnerapi.ErrUnauthorized: false, partnerapi.ErrRateLimited: false,
		partnerapi.ErrInvalidRequest: false, partnerapi.ErrAlreadyExists: false,
	} {
		if got := unknownOutcome(&partnerapi.Error{Kind: kind}); got != want {
			t.Errorf("unknownOutcome(%v) = %v, want %v", kind, got, want)
		}
	}
	if unknownOutcome(errors.New("other")) {
		t.Error("an error that is not the client's counts as a possible create")
	}
}

func TestExistsOutcome(t *testing.T) {
	created := time.Date(2049, 3, 4, 5, 6, 7, 0, time.UTC)
	o := existsOutcome("cust-1", &partnerapi.Account{Type: partnerapi.AccountTypeFamily, Domain: "b5test.com", CreatedAt: created})
	for _, want := range []string{`"cust-1"`, "type Family", "domain b5test.com", "2049-03-04T05:06:07Z", "spec.adoptExisting"} {
		if !strings.Contains(o.message, want) {
			t.Errorf("message %q lacks %q", o.message, want)
		}
	}
	if !billingv1alpha1.Reasons[o.reason].Stalled {
		t.Errorf("reason %s does not stall", o.reason)
	}
	o = existsOutcome("cust-1", &partnerapi.Account{Type: partnerapi.AccountTypeIndividual, Domain: "b5test.com"})
	if !strings.Contains(o.message, "does not report") {
		t.Errorf("message %q does not say the creation time is unknown", o.message)
	}
}

func TestMatchesSpec(t *testing.T) {
	spec := &billingv1alpha1.PartnerAccountSpec{AccountUID: "c", AccountType: billingv1alpha1.AccountTypeFamily, Domain: "b5test.com"}
	tests := []struct {
		acct partnerapi.Account
		want bool
	}{
		{partnerapi.Account{Type: "F", Domain: "b5test.com"}, true},
		{partnerapi.Account{Type: "F", Domain: "B5test.com"}, true},
		{partnerapi.Account{Type: "I", Domain: "b5test.com"}, false},
		{partnerapi.Account{Type: "F", Domain: "b5test.ca"}, false},
	}
	for _, tt := range tests {
		if got := matchesSpec(spec, &tt.acct); got != tt.want {
			t.Errorf("matchesSpec(%+v) = %v, want %v", tt.acct, got, tt.want)
		}
	}
}
