package partneraccount

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// TestSetConditions checks that the conditions follow the reason table for every
// reason, and a few reasons by hand, so that the table itself is checked too.
func TestSetConditions(t *testing.T) {
	byHand := map[string]billingv1alpha1.ReasonInfo{
		billingv1alpha1.ReasonProgressing:    {Ready: metav1.ConditionUnknown, Reconciling: true},
		billingv1alpha1.ReasonAccountReady:   {Ready: metav1.ConditionTrue},
		billingv1alpha1.ReasonAPIUnavailable: {Ready: metav1.ConditionFalse, Reconciling: true},
		billingv1alpha1.ReasonInvalidRequest: {Ready: metav1.ConditionFalse, Stalled: true},
		billingv1alpha1.ReasonUnauthorized:   {Ready: metav1.ConditionFalse},
	}
	for reason, info := range billingv1alpha1.Reasons {
		t.Run(reason, func(t *testing.T) {
			if want, ok := byHand[reason]; ok &&
				(want.Ready != info.Ready || want.Reconciling != info.Reconciling || want.Stalled != info.Stalled) {
				t.Fatalf("the reason table says %+v", info)
			}
			// Start from the opposite state, so that removal is checked too.
			var status billingv1alpha1.PartnerAccountStatus
			setConditions(&status, 1, outcome{reason: billingv1alpha1.ReasonProgressing, message: "m"})
			setConditions(&status, 1, outcome{reason: billingv1alpha1.ReasonInvalidRequest, message: "m"})
			setConditions(&status, 3, outcome{reason: reason, message: "msg"})

			if status.ObservedGeneration != 3 {
				t.Errorf("observedGeneration = %d, want 3", status.ObservedGeneration)
			}
			ready := meta.FindStatusCondition(status.Conditions, billingv1alpha1.ConditionReady)
			if ready == nil || ready.Status != info.Ready || ready.Reason != reason || ready.Message != "msg" ||
				ready.ObservedGeneration != 3 {
				t.Errorf("Ready = %+v, want status %s reason %s", ready, info.Ready, reason)
			}
			if got := meta.IsStatusConditionTrue(status.Conditions, billingv1alpha1.ConditionReconciling); got != info.Reconciling {
				t.Errorf("Reconciling=True is %v, want %v", got, info.Reconciling)
			}
			if got := meta.IsStatusConditionTrue(status.Conditions, billingv1alpha1.ConditionStalled); got != info.Stalled {
				t.Errorf("Stalled=True is %v, want %v", got, info.Stalled)
			}
			if want := 1 + btoi(info.Reconciling) + btoi(info.Stalled); len(status.Conditions) != want {
				t.Errorf("%d conditions, want %d (false abnormal conditions are removed)", len(status.Conditions), want)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestSetConditionsKeepsTransitionTimeWhenUnchanged(t *testing.T) {
	var status billingv1alpha1.PartnerAccountStatus
	setConditions(&status, 1, outcome{reason: billingv1alpha1.ReasonAccountReady, message: "The account is entitled"})
	past := metav1.NewTime(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	status.Conditions[0].LastTransitionTime = past
	before := status.DeepCopy()

	setConditions(&status, 1, outcome{reason: billingv1alpha1.ReasonAccountReady, message: "The account is entitled"})
	if !equalStatus(before, &status) {
		t.Errorf("an unchanged outcome changed the status: %+v -> %+v", before.Conditions, status.Conditions)
	}
}

func equalStatus(a, b *billingv1alpha1.PartnerAccountStatus) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func TestSetConditionsPanicsOnUnknownReason(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a reason without a shape")
		}
	}()
	setConditions(&billingv1alpha1.PartnerAccountStatus{}, 1, outcome{reason: "Bogus"})
}

func TestAccountOutcome(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	tests := []struct {
		name   string
		acct   partnerapi.Account
		reason string
	}{
		{"entitled", partnerapi.Account{Status: "entitled"}, billingv1alpha1.ReasonAccountReady},
		{"provisioned", partnerapi.Account{Status: "provisioned"}, billingv1alpha1.ReasonAccountReady},
		{"activated", partnerapi.Account{Status: "activated"}, billingv1alpha1.ReasonAccountReady},
		{"unknown status kept ready", partnerapi.Account{Status: "migrating"}, billingv1alpha1.ReasonAccountReady},
		{"suspended", partnerapi.Account{Status: "suspended"}, billingv1alpha1.ReasonAccountSuspended},
		{"deprovisioned on its end date", partnerapi.Account{Status: "deprovisioned", EndsAt: &past}, billingv1alpha1.ReasonEnded},
		{"deprovisioned exactly at its end date", partnerapi.Account{Status: "deprovisioned", EndsAt: &now}, billingv1alpha1.ReasonEnded},
		{"deprovisioned before its end date", partnerapi.Account{Status: "deprovisioned", EndsAt: &future}, billingv1alpha1.ReasonDeprovisioned},
		{"deprovisioned without end date", partnerapi.Account{Status: "deprovisioned"}, billingv1alpha1.ReasonDeprovisioned},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := accountOutcome(&tt.acct, now)
			if o.reason != tt.reason {
				t.Errorf("reason = %s, want %s", o.reason, tt.reason)
			}
			if o.message == "" {
				t.Error("empty message")
			}
		})
	}
}

func TestErrorOutcome(t *testing.T) {
	apiErr := func(kind error, code int, msg string) error {
		return &partnerapi.Error{Kind: kind, Op: partnerapi.OpCreate, UID: "cust-1", StatusCode: code, Message: msg}
	}
	tests := []struct {
		name      string
		err       error
		reason    string
		wantInMsg string
	}{
		{"unauthorized", apiErr(partnerapi.ErrUnauthorized, http.StatusForbidden, "Forbidden"),
			billingv1alpha1.ReasonUnauthorized, "token"},
		{"rate limited", apiErr(partnerapi.ErrRateLimited, http.StatusTooManyRequests, ""),
			billingv1alpha1.ReasonRateLimited, "rate limiting"},
		{"invalid carries the server's message", apiErr(partnerapi.ErrInvalidRequest, http.StatusNotFound, "Domain not found."),
			billingv1alpha1.ReasonInvalidRequest, "Domain not found"},
		{"already exists without adoption", apiErr(partnerapi.ErrAlreadyExists, http.StatusConflict, "exists"),
			billingv1alpha1.ReasonInvalidRequest, "exists"},
		{"5xx", apiErr(partnerapi.ErrTransient, http.StatusInternalServerError, "boom"),
			billingv1alpha1.ReasonAPIUnavailable, "boom"},
		{"connection error", &partnerapi.Error{Kind: partnerapi.ErrTransient, Op: partnerapi.OpCreate, UID: "cust-1",
			Err: errors.New("read tcp 127.0.0.1:51234->127.0.0.1:8089: connection reset by peer")},
			billingv1alpha1.ReasonAPIUnavailable, `create account "cust-1"`},
		{"not an API error", errors.New("something else"), billingv1alpha1.ReasonAPIUnavailable, "unexpected error"},
		{"not the API names the URL", &partnerapi.Error{Kind: partnerapi.ErrMisconfigured, Op: partnerapi.OpCreate,
			UID: "cust-1", StatusCode: http.StatusNotFound, URL: "https://proxy.example/wrong/partners/accounts",
			ContentType: "text/html"},
			billingv1alpha1.ReasonAPIEndpointMisconfigured, "https://proxy.example/wrong/partners/accounts (text/html)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := errorOutcome("create the account", tt.err)
			if o.reason != tt.reason {
				t.Errorf("reason = %s, want %s", o.reason, tt.reason)
			}
			if !strings.Contains(o.message, tt.wantInMsg) {
				t.Errorf("message %q does not contain %q", o.message, tt.wantInMsg)
			}
			if strings.Contains(o.message, "51234") {
				t.Errorf("message %q carries a per-attempt detail (a port), so retries would rewrite it", o.message)
			}
			if o.err != tt.err {
				t.Error("the error is not kept for the retry decision")
			}
		})
	}
}

func TestEndsAtDiffers(t *testing.T) {
	base := time.Date(2050, 2, 5, 13, 0, 0, 0, time.UTC)
	mt := func(t time.Time) *metav1.Time { m := metav1.NewTime(t); return &m }
	tp := func(t time.Time) *time.Time { return &t }
	tests := []struct {
		name     string
		declared *metav1.Time
		remote   *time.Time
		want     bool
	}{
		{"both none", nil, nil, false},
		{"declared, remote none", mt(base), nil, true},
		{"cleared in spec", nil, tp(base), true},
		{"equal", mt(base), tp(base), false},
		{"remote has milliseconds", mt(base), tp(base.Add(999 * time.Millisecond)), false},
		{"another time zone, same instant", mt(base.In(time.FixedZone("CET", 3600))), tp(base), false},
		{"one second apart", mt(base), tp(base.Add(time.Second)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := endsAtDiffers(tt.declared, tt.remote); got != tt.want {
				t.Errorf("endsAtDiffers = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRedemptionURL(t *testing.T) {
	tests := []struct {
		domain, token string
		typ           partnerapi.AccountType
		want          string
	}{
		{"b5test.com", "PNS-DEFG1234", partnerapi.AccountTypeIndividual,
			"https://start.b5test.com/partnership/redeem?c=PNS-DEFG1234&t=I"},
		{"1password.eu", "PNS-AB12CD34", partnerapi.AccountTypeFamily,
			"https://start.1password.eu/partnership/redeem?c=PNS-AB12CD34&t=F"},
		{"b5test.com", "", partnerapi.AccountTypeFamily, ""},
		{"b5test.com", "a&b=c", partnerapi.AccountTypeFamily,
			"https://start.b5test.com/partnership/redeem?c=a%26b%3Dc&t=F"},
	}
	for _, tt := range tests {
		if got := redemptionURL(tt.domain, tt.typ, tt.token); got != tt.want {
			t.Errorf("redemptionURL(%q, %q, %q) = %q, want %q", tt.domain, tt.typ, tt.token, got, tt.want)
		}
	}
}

func TestSetAccountFields(t *testing.T) {
	created := time.Date(2026, 11, 27, 10, 0, 0, 123e6, time.UTC)
	ends := time.Date(2050, 2, 5, 13, 0, 0, 500e6, time.UTC)
	var status billingv1alpha1.PartnerAccountStatus
	setAccountFields(&status, &partnerapi.Account{
		UID: "cust-1", Type: partnerapi.AccountTypeFamily, Domain: "b5test.com", Status: "entitled",
		ActivationToken: "PNS-DEFG1234", EndsAt: &ends, CreatedAt: created,
	})
	if status.AccountStatus != "entitled" || status.ActivationToken != "" || status.RedemptionURL != "" {
		t.Errorf("status = %+v, want the remote status and no token: the token step places it", status)
	}
	// Kubernetes keeps whole seconds; storing milliseconds would make every resync
	// look like a change.
	if !status.EndsAt.Equal(&metav1.Time{Time: ends.Truncate(time.Second)}) ||
		!status.CreatedAt.Equal(&metav1.Time{Time: created.Truncate(time.Second)}) {
		t.Errorf("times not truncated to seconds: endsAt %v createdAt %v", status.EndsAt, status.CreatedAt)
	}

	setAccountFields(&status, &partnerapi.Account{Status: "provisioned", Type: partnerapi.AccountTypeFamily})
	if status.EndsAt != nil {
		t.Errorf("a cleared remote end date left endsAt %v", status.EndsAt)
	}
	if status.CreatedAt == nil {
		t.Error("an answer without created_at forgot the creation time recorded")
	}

	clearAccountFields(&status)
	if status.AccountStatus != "" || status.EndsAt != nil || status.CreatedAt == nil {
		t.Errorf("after clearAccountFields: %+v (createdAt must stay)", status)
	}
}

// TestMessagesSayWhatToDo checks the message of each kind of failure that needs a
// person: why no answer came, and which token problem it is, with the file and the
// Secret named.
func TestMessagesSayWhatToDo(t *testing.T) {
	const file = "/var/run/secrets/partnerbilling.io/token"
	tests := []struct {
		name   string
		err    error
		reason string
		want   []string
		not    []string
	}{
		{"dns", &partnerapi.Error{Kind: partnerapi.ErrTransient, Op: "get", UID: "c", Cause: partnerapi.CauseDNS,
			Detail: "cannot resolve billing.example: no such host"}, billingv1alpha1.ReasonAPIUnavailable,
			[]string{"(dns: cannot resolve billing.example: no such host)", "cluster DNS"}, nil},
		{"tls", &partnerapi.Error{Kind: partnerapi.ErrTransient, Op: "get", UID: "c", Cause: partnerapi.CauseTLS,
			Detail: "x509: certificate signed by unknown authority"}, billingv1alpha1.ReasonAPIUnavailable,
			[]string{"(tls: x509: certificate signed by unknown authority)", "--partner-api-ca-file", "partnerAPI.caBundle"}, nil},
		{"timeout", &partnerapi.Error{Kind: partnerapi.ErrTransient, Op: "get", UID: "c", Cause: partnerapi.CauseTimeout,
			Detail: "no answer within the request timeout"}, billingv1alpha1.ReasonAPIUnavailable,
			[]string{"(timeout:", "NetworkPolicy", "--partner-api-timeout"}, nil},
		{"a 503 keeps the server's words", &partnerapi.Error{Kind: partnerapi.ErrTransient, Op: "get", UID: "c",
			StatusCode: 503, Message: "Down for maintenance."}, billingv1alpha1.ReasonAPIUnavailable,
			[]string{"503 Service Unavailable: Down for maintenance."}, []string{"No answer"}},
		{"a missing token file", &partnerapi.Error{Kind: partnerapi.ErrUnauthorized, Op: "get", UID: "c",
			Cause: partnerapi.CauseTokenFile, TokenFile: file, Err: errors.New("bearer token: stat " + file + ": no such file or directory")},
			billingv1alpha1.ReasonUnauthorized,
			[]string{"could not be read", "nothing was sent", file, "partner-api-token", "key token"}, []string{"401", "403"}},
		{"401", &partnerapi.Error{Kind: partnerapi.ErrUnauthorized, Op: "get", UID: "c", StatusCode: 401, TokenFile: file},
			billingv1alpha1.ReasonUnauthorized, []string{"401 Unauthorized", file, "partner-api-token"}, []string{"403"}},
		{"403", &partnerapi.Error{Kind: partnerapi.ErrUnauthorized, Op: "get", UID: "c", StatusCode: 403, TokenFile: file},
			billingv1alpha1.ReasonUnauthorized, []string{"403 Forbidden", "revoked", file, "partner-api-token"}, []string{"401"}},
		{"not sent after a 403", &partnerapi.Error{Kind: partnerapi.ErrUnauthorized, Op: "get", UID: "c", Rejected: 403, TokenFile: file},
			billingv1alpha1.ReasonUnauthorized, []string{"403 Forbidden", "not sent", "every 2 minutes"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := errorOutcome("read the account", tt.err)
			if o.reason != tt.reason {
				t.Errorf("reason %s, want %s", o.reason, tt.reason)
			}
			for _, w := range tt.want {
				if !strings.Contains(o.message, w) {
					t.Errorf("message %q lacks %q", o.message, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(o.message, n) {
					t.Errorf("message %q has %q", o.message, n)
				}
			}
		})
	}

	suspended := suspendedOutcome().message
	for _, w := range []string{"Set it to false to resume", "deleting the resource while suspended leaves the remote account"} {
		if !strings.Contains(suspended, w) {
			t.Errorf("the suspended message %q lacks %q", suspended, w)
		}
	}
	domain := refusedCreateOutcome("b5test.com", &partnerapi.Error{Kind: partnerapi.ErrInvalidRequest, Op: "create", UID: "c",
		StatusCode: 404, Message: "Domain not found."})
	for _, w := range []string{"Domain not found", "b5test.com", "test domain", "production URL"} {
		if !strings.Contains(domain.message, w) {
			t.Errorf("the domain-not-found message %q lacks %q", domain.message, w)
		}
	}
}
