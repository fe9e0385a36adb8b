package partneraccount

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/connection"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

func TestRequeue(t *testing.T) {
	r := &Reconciler{Options: Options{ResyncPeriod: 10 * time.Minute, UnauthorizedRetryPeriod: time.Minute, Now: time.Now}}
	conn := testRegistry().Default()
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
		{"a Secret conflict looks again slowly", outcome{reason: billingv1alpha1.ReasonSecretConflict}, 48 * time.Second, 72 * time.Second, nil},
		{"an unproven endpoint returns the error for backoff", outcome{reason: billingv1alpha1.ReasonEndpointUnproven, err: misconfigured},
			0, 0, misconfigured},
		{"an end date not applied waits for the read-back", outcome{reason: billingv1alpha1.ReasonEndsAtNotApplied},
			8 * time.Minute, 12 * time.Minute, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.requeue(&billingv1alpha1.PartnerAccount{}, conn, tt.o)
			if err != tt.wantErr {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if res.RequeueAfter < tt.min || res.RequeueAfter > tt.max {
				t.Errorf("RequeueAfter = %v, want within [%v, %v]", res.RequeueAfter, tt.min, tt.max)
			}
		})
	}
}

func TestShownOutcome(t *testing.T) {
	status := func(reason string) *billingv1alpha1.PartnerAccountStatus {
		s := &billingv1alpha1.PartnerAccountStatus{}
		setConditions(s, 1, outcome{reason: reason, message: "first " + reason})
		return s
	}
	rateLimited := outcome{reason: billingv1alpha1.ReasonRateLimited, message: "slow down"}
	if got := shownOutcome(status(billingv1alpha1.ReasonAPIUnavailable), 1, rateLimited); got.reason != billingv1alpha1.ReasonAPIUnavailable ||
		got.message != "first APIUnavailable" {
		t.Errorf("a 429 within an outage of 500s rewrites the condition: %+v", got)
	}
	if got := shownOutcome(status(billingv1alpha1.ReasonAccountReady), 1, rateLimited); got.reason != billingv1alpha1.ReasonRateLimited {
		t.Errorf("the start of an outage is not written: %+v", got)
	}
	ready := outcome{reason: billingv1alpha1.ReasonAccountReady, message: "ok"}
	if got := shownOutcome(status(billingv1alpha1.ReasonRateLimited), 1, ready); got.reason != billingv1alpha1.ReasonAccountReady {
		t.Errorf("the end of an outage is not written: %+v", got)
	}

	// A call refused during a pause, never sent, says nothing about the account.
	notSent := outcome{reason: billingv1alpha1.ReasonRateLimited, message: "wait",
		err: refusedDuringPause(t)}
	for _, previous := range []string{billingv1alpha1.ReasonAccountReady, billingv1alpha1.ReasonRemoteDeleted,
		billingv1alpha1.ReasonAccountExists} {
		if got := shownOutcome(status(previous), 1, notSent); got.reason != previous || got.err != notSent.err {
			t.Errorf("a call refused during a pause turned %s into %+v", previous, got)
		}
	}
	if got := shownOutcome(status(billingv1alpha1.ReasonAPIUnavailable), 2, rateLimited); got.reason != billingv1alpha1.ReasonRateLimited {
		t.Errorf("an outage held the condition of a generation before: %+v", got)
	}
	for _, previous := range []*billingv1alpha1.PartnerAccountStatus{{}, status(billingv1alpha1.ReasonProgressing)} {
		if got := shownOutcome(previous, 1, notSent); got.reason != billingv1alpha1.ReasonRateLimited {
			t.Errorf("a new resource refused during a pause shows %+v, want RateLimited", got)
		}
	}

	// A call refused while the API rejects the token, never sent, keeps the
	// Unauthorized condition the sent call wrote; it still tells a resource that
	// was Ready.
	unsent := outcome{reason: billingv1alpha1.ReasonUnauthorized, message: "not sent", err: refusedWhileRejected(t)}
	if got := shownOutcome(status(billingv1alpha1.ReasonUnauthorized), 1, unsent); got.message != "first Unauthorized" {
		t.Errorf("a call not sent rewrote the Unauthorized condition: %+v", got)
	}
	if got := shownOutcome(status(billingv1alpha1.ReasonAccountReady), 1, unsent); got.reason != billingv1alpha1.ReasonUnauthorized {
		t.Errorf("a Ready resource whose call was not sent shows %+v, want Unauthorized", got)
	}
}

// refusedWhileRejected returns the error of a call the client refused, without
// sending it, because the API rejected the token before.
func refusedWhileRejected(t *testing.T) error {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(testToken), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := partnerapi.New(partnerapi.Config{BaseURL: srv.URL + "/api/v1", TokenFile: tokenFile,
		UnauthorizedRetryPeriod: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(t.Context(), "cust-1"); !errors.Is(err, partnerapi.ErrUnauthorized) || partnerapi.NotSent(err) {
		t.Fatalf("first call: err = %v, want a 401 that was sent", err)
	}
	_, err = c.Get(t.Context(), "cust-1")
	if !errors.Is(err, partnerapi.ErrUnauthorized) || !partnerapi.NotSent(err) {
		t.Fatalf("second call: err = %v, want ErrUnauthorized, not sent", err)
	}
	return err
}

// refusedDuringPause returns the error of a call the client refused during a
// Retry-After pause.
func refusedDuringPause(t *testing.T) error {
	t.Helper()
	c := pausedClient(t)
	err := c.Blocked(partnerapi.OpGet, "cust-1")
	if !partnerapi.NotSent(err) {
		t.Fatalf("Blocked = %v, want a call not sent", err)
	}
	return err
}

func TestApplyFacts(t *testing.T) {
	created := metav1.NewTime(time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC))
	owned := func() *billingv1alpha1.PartnerAccount {
		pa := &billingv1alpha1.PartnerAccount{Spec: billingv1alpha1.PartnerAccountSpec{AccountUID: "cust-1"}}
		pa.Status = billingv1alpha1.PartnerAccountStatus{AccountUID: "cust-1", AccountStatus: "entitled", CreatedAt: &created,
			Endpoint: "https://a/api/v1", ActivationToken: "PNS-1", RedemptionURL: "https://start/x"}
		return pa
	}
	acct := &partnerapi.Account{UID: "cust-1", Type: "I", Domain: "b5test.com", Status: "provisioned",
		ActivationToken: "PNS-2", CreatedAt: created.Time}

	t.Run("gone keeps the ownership, forgets the account", func(t *testing.T) {
		pa := owned()
		s := &scope{pa: pa, gone: true}
		applyFacts(&pa.Status, s)
		if pa.Status.AccountUID != "cust-1" || pa.Status.CreatedAt == nil || pa.Status.AccountStatus != "" {
			t.Errorf("status = %+v", pa.Status)
		}
	})
	t.Run("dropped forgets everything, the token only by its placement", func(t *testing.T) {
		pa := owned()
		s := &scope{pa: pa}
		s.observe(acct)
		s.disown()
		s.placement = tokenPlacement{decided: true}
		applyFacts(&pa.Status, s)
		if pa.Status.AccountUID != "" || pa.Status.CreatedAt != nil || pa.Status.Endpoint != "" || pa.Status.EndpointID != "" ||
			pa.Status.AccountStatus != "" || pa.Status.ActivationToken != "" || pa.Status.RedemptionURL != "" {
			t.Errorf("status = %+v", pa.Status)
		}
	})
	t.Run("taken records the account, the endpoint, and ends the claim", func(t *testing.T) {
		pa := &billingv1alpha1.PartnerAccount{Spec: billingv1alpha1.PartnerAccountSpec{AccountUID: "cust-1", Domain: "b5test.com"}}
		pa.Status.CreateClaim = &billingv1alpha1.CreateClaim{Clock: billingv1alpha1.ClockAPI}
		pa.Status.CreateAttemptedAt = &created
		s := &scope{pa: pa}
		answered := *acct
		answered.Origin = partnerapi.Origin{URL: "https://b/api/v1", ID: "0123456789abcdef"}
		s.observe(&answered)
		s.take()
		applyFacts(&pa.Status, s)
		if pa.Status.AccountUID != "cust-1" || pa.Status.AccountStatus != "provisioned" || pa.Status.Endpoint != "https://b/api/v1" ||
			pa.Status.EndpointID != "0123456789abcdef" ||
			pa.Status.CreateClaim != nil || pa.Status.CreateAttemptedAt != nil || pa.Status.ActivationToken != "" {
			t.Errorf("status = %+v (the token is placed apart)", pa.Status)
		}
		if s.token.token != "PNS-2" || s.token.link != "https://start.b5test.com/partnership/redeem?c=PNS-2&t=I" {
			t.Errorf("token = %+v", s.token)
		}
	})
}

// pausedClient returns an API client that a 429 has just told to wait a minute.
func pausedClient(t *testing.T) *partnerapi.HTTPClient {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	t.Cleanup(srv.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(testToken), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := partnerapi.New(partnerapi.Config{BaseURL: srv.URL + "/api/v1", TokenFile: tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(t.Context(), "cust-1"); !errors.Is(err, partnerapi.ErrRateLimited) {
		t.Fatalf("err = %v, want ErrRateLimited", err)
	}
	return c
}

// testRegistry is a connection registry with no client, for tests that need its
// calendars and counts only.
func testRegistry() *connection.Registry {
	return connection.NewRegistry(nil, 0, connection.Options{ResyncPeriod: 10 * time.Minute, Log: logr.Discard()})
}
