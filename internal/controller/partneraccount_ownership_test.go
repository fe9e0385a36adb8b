package controller

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

func TestNextCallFor(t *testing.T) {
	attempted := metav1.NewTime(time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC))
	tests := []struct {
		name           string
		statusUID      string
		attemptedAt    *metav1.Time
		previousReason string
		want           nextCall
	}{
		{"new resource creates", "", nil, "", callCreate},
		{"after a refused create, creates again", "", nil, billingv1alpha1.ReasonInvalidRequest, callCreate},
		{"owned reads", "cust-1", nil, billingv1alpha1.ReasonAccountReady, callRead},
		{"owned and gone reads, never re-creates", "cust-1", nil, billingv1alpha1.ReasonRemoteDeleted, callRead},
		{"owned wins over a stale claim", "cust-1", &attempted, billingv1alpha1.ReasonAccountReady, callRead},
		{"unconfirmed create reads first", "", &attempted, billingv1alpha1.ReasonAPIUnavailable, callReadFirst},
		{"an existing account is read first", "", nil, billingv1alpha1.ReasonAccountExists, callReadFirst},
		{"a conflicting account is read first", "", nil, billingv1alpha1.ReasonAccountConflict, callReadFirst},
		{"another UID in status is not ownership", "other", nil, billingv1alpha1.ReasonAccountReady, callCreate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pa := &billingv1alpha1.PartnerAccount{
				Spec:   billingv1alpha1.PartnerAccountSpec{AccountUID: "cust-1"},
				Status: billingv1alpha1.PartnerAccountStatus{AccountUID: tt.statusUID, CreateAttemptedAt: tt.attemptedAt},
			}
			if got := nextCallFor(pa, tt.previousReason); got != tt.want {
				t.Errorf("nextCallFor = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	attempt := time.Date(2050, 1, 1, 12, 0, 0, 0, time.UTC)
	attemptedAt := metav1.NewTime(attempt)
	spec := &billingv1alpha1.PartnerAccountSpec{AccountUID: "cust-1", AccountType: billingv1alpha1.AccountTypeIndividual, Domain: "b5test.com"}
	acct := func(typ partnerapi.AccountType, domain string, created time.Time) *partnerapi.Account {
		return &partnerapi.Account{UID: "cust-1", Type: typ, Domain: domain, CreatedAt: created}
	}
	const skew = time.Minute
	tests := []struct {
		name        string
		attemptedAt *metav1.Time
		acct        *partnerapi.Account
		read        finding // as classifyRead decides
		created     finding // as classifyCreated decides, for a 2xx create answer
	}{
		{"created after the attempt", &attemptedAt, acct("I", "b5test.com", attempt.Add(2*time.Second)), foundOwn, foundOwn},
		{"created within the skew before", &attemptedAt, acct("I", "b5test.com", attempt.Add(-59*time.Second)), foundOwn, foundOwn},
		{"created before the skew", &attemptedAt, acct("I", "b5test.com", attempt.Add(-61*time.Second)), foundPreexisting, foundPreexisting},
		{"no created_at", &attemptedAt, acct("I", "b5test.com", time.Time{}), foundPreexisting, foundOwn},
		{"no attempt recorded", nil, acct("I", "b5test.com", attempt.Add(time.Hour)), foundPreexisting, foundOwn},
		{"domain differs in case only", &attemptedAt, acct("I", "B5TEST.com", attempt), foundOwn, foundOwn},
		{"another type", &attemptedAt, acct("F", "b5test.com", attempt.Add(time.Second)), foundConflict, foundConflict},
		{"another domain", &attemptedAt, acct("I", "b5test.ca", attempt.Add(time.Second)), foundConflict, foundConflict},
		{"another type and older", &attemptedAt, acct("F", "b5test.com", attempt.Add(-time.Hour)), foundConflict, foundConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classifyRead(spec, tt.attemptedAt, tt.acct, skew); got != tt.read {
				t.Errorf("classifyRead = %v, want %v", got, tt.read)
			}
			if got := classifyCreated(spec, tt.attemptedAt, tt.acct, skew); got != tt.created {
				t.Errorf("classifyCreated = %v, want %v", got, tt.created)
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
			if isStalled(o.reason) {
				t.Errorf("a failed read stalls with %s", o.reason)
			}
			if o.err != err {
				t.Error("the error is not kept for the retry decision")
			}
		})
	}
}

func TestMayHaveCreated(t *testing.T) {
	for kind, want := range map[error]bool{
		partnerapi.ErrTransient: true, partnerapi.ErrMisconfigured: true,
		partnerapi.ErrUnauthorized: false, partnerapi.ErrRateLimited: false,
		partnerapi.ErrInvalidRequest: false, partnerapi.ErrAlreadyExists: false,
	} {
		if got := mayHaveCreated(&partnerapi.Error{Kind: kind}); got != want {
			t.Errorf("mayHaveCreated(%v) = %v, want %v", kind, got, want)
		}
	}
	if mayHaveCreated(errors.New("other")) {
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
	if !isStalled(o.reason) {
		t.Errorf("reason %s does not stall", o.reason)
	}
	o = existsOutcome("cust-1", &partnerapi.Account{Type: partnerapi.AccountTypeIndividual, Domain: "b5test.com"})
	if !strings.Contains(o.message, "does not report") {
		t.Errorf("message %q does not say the creation time is unknown", o.message)
	}
}
