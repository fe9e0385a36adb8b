package controller

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

func TestSetConditions(t *testing.T) {
	tests := []struct {
		reason               string
		ready                metav1.ConditionStatus
		reconciling, stalled bool
	}{
		{billingv1alpha1.ReasonProgressing, metav1.ConditionUnknown, true, false},
		{billingv1alpha1.ReasonAccountReady, metav1.ConditionTrue, false, false},
		{billingv1alpha1.ReasonEnded, metav1.ConditionTrue, false, false},
		{billingv1alpha1.ReasonReconcileSuspended, metav1.ConditionUnknown, false, false},
		{billingv1alpha1.ReasonRateLimited, metav1.ConditionFalse, true, false},
		{billingv1alpha1.ReasonAPIUnavailable, metav1.ConditionFalse, true, false},
		{billingv1alpha1.ReasonUnauthorized, metav1.ConditionFalse, false, false},
		{billingv1alpha1.ReasonRemoteDeleted, metav1.ConditionFalse, false, false},
		{billingv1alpha1.ReasonDeprovisioned, metav1.ConditionFalse, false, false},
		{billingv1alpha1.ReasonAccountSuspended, metav1.ConditionFalse, false, false},
		{billingv1alpha1.ReasonInvalidRequest, metav1.ConditionFalse, false, true},
		{billingv1alpha1.ReasonAccountConflict, metav1.ConditionFalse, false, true},
		{billingv1alpha1.ReasonDuplicateAccountUID, metav1.ConditionFalse, false, true},
		{billingv1alpha1.ReasonAccountExists, metav1.ConditionFalse, false, true},
		{billingv1alpha1.ReasonAPIEndpointMisconfigured, metav1.ConditionFalse, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			// Start from the opposite state, so that removal is checked too.
			var status billingv1alpha1.PartnerAccountStatus
			setConditions(&status, 1, outcome{reason: billingv1alpha1.ReasonProgressing, message: "m"})
			setConditions(&status, 1, outcome{reason: billingv1alpha1.ReasonInvalidRequest, message: "m"})
			setConditions(&status, 3, outcome{reason: tt.reason, message: "msg"})

			if status.ObservedGeneration != 3 {
				t.Errorf("observedGeneration = %d, want 3", status.ObservedGeneration)
			}
			ready := meta.FindStatusCondition(status.Conditions, billingv1alpha1.ConditionReady)
			if ready == nil || ready.Status != tt.ready || ready.Reason != tt.reason || ready.Message != "msg" ||
				ready.ObservedGeneration != 3 {
				t.Errorf("Ready = %+v, want status %s reason %s", ready, tt.ready, tt.reason)
			}
			if got := meta.IsStatusConditionTrue(status.Conditions, billingv1alpha1.ConditionReconciling); got != tt.reconciling {
				t.Errorf("Reconciling=True is %v, want %v", got, tt.reconciling)
			}
			if got := meta.IsStatusConditionTrue(status.Conditions, billingv1alpha1.ConditionStalled); got != tt.stalled {
				t.Errorf("Stalled=True is %v, want %v", got, tt.stalled)
			}
			if want := 1 + btoi(tt.reconciling) + btoi(tt.stalled); len(status.Conditions) != want {
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
	setAccountFields(&status, "b5test.com", &partnerapi.Account{
		UID: "cust-1", Type: partnerapi.AccountTypeFamily, Domain: "b5test.com", Status: "entitled",
		ActivationToken: "PNS-DEFG1234", EndsAt: &ends, CreatedAt: created,
	})
	if status.AccountStatus != "entitled" || status.ActivationToken != "PNS-DEFG1234" ||
		status.RedemptionURL != "https://start.b5test.com/partnership/redeem?c=PNS-DEFG1234&t=F" {
		t.Errorf("status = %+v", status)
	}
	// Kubernetes keeps whole seconds; storing milliseconds would make every resync
	// look like a change.
	if !status.EndsAt.Equal(&metav1.Time{Time: ends.Truncate(time.Second)}) ||
		!status.CreatedAt.Equal(&metav1.Time{Time: created.Truncate(time.Second)}) {
		t.Errorf("times not truncated to seconds: endsAt %v createdAt %v", status.EndsAt, status.CreatedAt)
	}

	setAccountFields(&status, "b5test.com", &partnerapi.Account{Status: "provisioned", ActivationToken: "PNS-DEFG1234",
		Type: partnerapi.AccountTypeFamily, CreatedAt: created})
	if status.EndsAt != nil {
		t.Errorf("a cleared remote end date left endsAt %v", status.EndsAt)
	}

	clearAccountFields(&status)
	if status.AccountStatus != "" || status.ActivationToken != "" || status.RedemptionURL != "" || status.CreatedAt == nil {
		t.Errorf("after clearAccountFields: %+v (createdAt must stay)", status)
	}
	status.AccountUID = "cust-1"
	disown(&status)
	if status.AccountUID != "" || status.CreatedAt != nil {
		t.Errorf("after disown: %+v", status)
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

func TestJitteredBackoff(t *testing.T) {
	b := newJitteredBackoff(time.Second, 10*time.Second)
	var req = requestFor("ns", "a")
	for n, ceiling := range []time.Duration{1, 2, 4, 8, 10, 10} {
		ceiling *= time.Second
		got := b.When(req)
		if got < ceiling/2 || got >= ceiling+1 {
			t.Errorf("failure %d: waited %v, want within [%v, %v)", n, got, ceiling/2, ceiling)
		}
	}
	if b.NumRequeues(req) != 6 {
		t.Errorf("NumRequeues = %d, want 6", b.NumRequeues(req))
	}
	b.Forget(req)
	if got := b.When(req); got >= time.Second {
		t.Errorf("after Forget, waited %v, want < 1s", got)
	}
	if got := b.When(requestFor("ns", "other")); got >= time.Second {
		t.Errorf("another object inherited the backoff: %v", got)
	}

	// Jitter: many draws for the same failure count are not all equal.
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[newJitteredBackoff(time.Second, time.Minute).When(req)] = true
	}
	if len(seen) < 10 {
		t.Errorf("only %d distinct delays in 20 draws: no jitter", len(seen))
	}
}

func TestJitter(t *testing.T) {
	for range 1000 {
		if d := jitter(10*time.Minute, 0.2); d < 8*time.Minute || d >= 12*time.Minute {
			t.Fatalf("jitter(10m, 0.2) = %v", d)
		}
	}
}

func requestFor(namespace, name string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: namespace, Name: name}}
}

func TestResultFor(t *testing.T) {
	r := &PartnerAccountReconciler{Options: Options{ResyncPeriod: 10 * time.Minute, UnauthorizedRetryPeriod: time.Minute, Now: time.Now},
		readBacks: newReadBacks(10*time.Minute, 0, logr.Discard())}
	rateLimited := &partnerapi.Error{Kind: partnerapi.ErrRateLimited, StatusCode: 429, RetryAfter: 3 * time.Second}
	transient := &partnerapi.Error{Kind: partnerapi.ErrTransient, StatusCode: 503}
	misconfigured := &partnerapi.Error{Kind: partnerapi.ErrMisconfigured, StatusCode: 404}
	tests := []struct {
		name     string
		o        outcome
		min, max time.Duration
		wantErr  error
	}{
		{"ready resyncs with jitter", outcome{reason: billingv1alpha1.ReasonAccountReady}, 8 * time.Minute, 12 * time.Minute, nil},
		{"remote deleted resyncs", outcome{reason: billingv1alpha1.ReasonRemoteDeleted}, 8 * time.Minute, 12 * time.Minute, nil},
		{"rate limited waits Retry-After plus jitter", outcome{reason: billingv1alpha1.ReasonRateLimited, err: rateLimited},
			3 * time.Second, 3*time.Second + 850*time.Millisecond, nil},
		{"unauthorized retries slowly", outcome{reason: billingv1alpha1.ReasonUnauthorized}, 48 * time.Second, 72 * time.Second, nil},
		{"stalled waits for the spec", outcome{reason: billingv1alpha1.ReasonInvalidRequest}, 0, 0, nil},
		{"suspended waits for the spec", outcome{reason: billingv1alpha1.ReasonReconcileSuspended}, 0, 0, nil},
		{"transient returns the error for backoff", outcome{reason: billingv1alpha1.ReasonAPIUnavailable, err: transient}, 0, 0, transient},
		{"misconfigured returns the error for backoff", outcome{reason: billingv1alpha1.ReasonAPIEndpointMisconfigured, err: misconfigured},
			0, 0, misconfigured},
		{"an existing account waits for the spec", outcome{reason: billingv1alpha1.ReasonAccountExists}, 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.resultFor(tt.o)
			if err != tt.wantErr {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if res.RequeueAfter < tt.min || res.RequeueAfter > tt.max {
				t.Errorf("RequeueAfter = %v, want within [%v, %v]", res.RequeueAfter, tt.min, tt.max)
			}
		})
	}
}
