package partnerapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/contract"
)

// publishedUID is the published description's rule for account ids.
var publishedUID = regexp.MustCompile(`^[A-Za-z0-9-]{1,80}$`)

// checkPublishedRequest checks a request against what the published description
// asks for.
func checkPublishedRequest(t *testing.T, rec recorded) {
	t.Helper()
	if rec.Header.Get("Authorization") != "Bearer "+testToken {
		t.Errorf("request does not carry the bearer token")
	}
	if len(rec.Body) == 0 {
		return
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body, &body); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if rec.Method == http.MethodPost {
		uid, _ := body["customer_account_uid"].(string)
		if !publishedUID.MatchString(uid) {
			t.Errorf("customer_account_uid = %q, not a published account id", uid)
		}
		for _, k := range []string{"account_type", "domain"} {
			if s, _ := body[k].(string); s == "" {
				t.Errorf("%s missing", k)
			}
		}
	}
	if e, ok := body["ends_at"]; ok && e != nil {
		s, _ := e.(string)
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("ends_at = %v, not RFC 3339", e)
		}
	}
}

func TestPublishedDialect(t *testing.T) {
	srv := newScripted(t)
	var c *HTTPClient // one per case, below
	ctx := testCtx(t)
	fixture := contract.PublishedFixture
	endsAt := mustTime(t, "2050-02-05T13:00:00Z")
	past := mustTime(t, "2020-01-01T00:00:00Z")

	entitled := func(t *testing.T, a *Account) {
		t.Helper()
		if a.UID != "cust-0001" || a.Type != AccountTypeIndividual || a.Domain != "b5test.com" ||
			a.Status != StatusEntitled || a.ActivationToken != "PNS-DEFG1234" ||
			a.EndsAt == nil || !a.EndsAt.Equal(endsAt) || a.EndsAt.Location() != time.UTC ||
			!a.CreatedAt.Equal(mustTime(t, "2026-11-27T10:00:00Z")) ||
			a.DeployedMembers == nil || *a.DeployedMembers != 0 ||
			a.UpdatedAt == nil || !a.UpdatedAt.Equal(mustTime(t, "2026-11-27T10:00:00Z")) {
			t.Errorf("account = %+v", a)
		}
	}
	provisioned := func(t *testing.T, a *Account) {
		t.Helper()
		if a.UID != "cust-0002" || a.Type != AccountTypeFamily || a.Status != StatusProvisioned ||
			a.ActivationToken != "PNS-HJKM5678" || a.EndsAt != nil ||
			a.DeployedMembers == nil || *a.DeployedMembers != 3 ||
			a.UpdatedAt == nil || !a.UpdatedAt.Equal(mustTime(t, "2026-11-27T11:30:00Z")) {
			t.Errorf("account = %+v", a)
		}
	}

	create := func(uid string) func() (*Account, error) {
		return func() (*Account, error) {
			return c.Create(ctx, CreateRequest{UID: uid, Type: AccountTypeIndividual, Domain: "b5test.com", EndsAt: &endsAt})
		}
	}
	get := func(uid string) func() (*Account, error) {
		return func() (*Account, error) { return c.Get(ctx, uid) }
	}
	update := func(uid string, at *time.Time) func() (*Account, error) {
		return func() (*Account, error) { return c.UpdateEndsAt(ctx, uid, at) }
	}
	del := func(uid string) func() (*Account, error) {
		return func() (*Account, error) { return nil, c.Delete(ctx, uid) }
	}

	for _, tc := range []struct {
		name       string
		call       func() (*Account, error)
		status     int
		body       []byte
		header     []string
		wantMethod string
		wantPath   string
		wantBody   string
		check      func(*testing.T, *Account)
		wantKind   error
		wantMsg    string
	}{
		{
			name: "create", call: create("cust-0001"),
			status: 201, body: fixture(contract.PublishedAccountEntitled),
			header:     []string{"Location", "/api/v1/partners/accounts/cust-0001"},
			wantMethod: "POST", wantPath: "/api/v1/partners/accounts",
			wantBody: `{"account_uid":"cust-0001","customer_account_uid":"cust-0001","account_type":"I","domain":"b5test.com","ends_at":"2050-02-05T13:00:00.000Z"}`,
			check:    entitled,
		},
		{
			name: "create again answered with the existing account", call: create("cust-0001"),
			status: 200, body: fixture(contract.PublishedAccountEntitled),
			wantMethod: "POST", wantPath: "/api/v1/partners/accounts", check: entitled,
		},
		{
			name: "create in an unknown domain", call: create("cust-0003"),
			status: 404, body: fixture(contract.PublishedErrorDomainNotFound),
			wantMethod: "POST", wantPath: "/api/v1/partners/accounts",
			wantKind: ErrInvalidRequest, wantMsg: "Domain not found.",
		},
		{
			name: "get", call: get("cust-0001"),
			status: 200, body: fixture(contract.PublishedAccountEntitled),
			wantMethod: "GET", wantPath: "/api/v1/partners/accounts/cust-0001", check: entitled,
		},
		{
			name: "get without end date", call: get("cust-0002"),
			status: 200, body: fixture(contract.PublishedAccountNoEndDate),
			wantMethod: "GET", wantPath: "/api/v1/partners/accounts/cust-0002", check: provisioned,
		},
		{
			name: "get deleted", call: get("cust-0001"),
			status: 410, body: fixture(contract.PublishedErrorGone),
			wantMethod: "GET", wantPath: "/api/v1/partners/accounts/cust-0001",
			wantKind: ErrNotFound, wantMsg: "The requested account is gone.",
		},
		{
			name: "get with a rejected token", call: get("cust-0001"),
			status: 403, body: fixture(contract.PublishedErrorForbidden),
			wantMethod: "GET", wantPath: "/api/v1/partners/accounts/cust-0001",
			wantKind: ErrUnauthorized, wantMsg: "Invalid or missing bearer token.",
		},
		{
			name: "get during an outage", call: get("cust-0001"),
			status: 500, body: fixture(contract.PublishedErrorInternal),
			wantMethod: "GET", wantPath: "/api/v1/partners/accounts/cust-0001",
			wantKind: ErrTransient, wantMsg: "Internal server error.",
		},
		{
			name: "update end date", call: update("cust-0001", &endsAt),
			status: 200, body: fixture(contract.PublishedAccountEntitled),
			wantMethod: "PATCH", wantPath: "/api/v1/partners/accounts/cust-0001",
			wantBody: `{"ends_at":"2050-02-05T13:00:00.000Z"}`, check: entitled,
		},
		{
			name: "clear end date", call: update("cust-0002", nil),
			status: 200, body: fixture(contract.PublishedAccountNoEndDate),
			wantMethod: "PATCH", wantPath: "/api/v1/partners/accounts/cust-0002",
			wantBody: `{"ends_at":null}`, check: provisioned,
		},
		{
			name: "update a deleted account", call: update("cust-0001", &endsAt),
			status: 400, body: fixture(contract.PublishedErrorUpdateDeleted),
			wantMethod: "PATCH", wantPath: "/api/v1/partners/accounts/cust-0001",
			wantKind: ErrInvalidRequest, wantMsg: "Invalid account - partner account deleted.",
		},
		{
			name: "update to a past date", call: update("cust-0001", &past),
			status: 400, body: fixture(contract.PublishedErrorEndsAtPast),
			wantMethod: "PATCH", wantPath: "/api/v1/partners/accounts/cust-0001",
			wantBody: `{"ends_at":"2020-01-01T00:00:00.000Z"}`,
			wantKind: ErrInvalidRequest, wantMsg: "Invalid ends_at date - it cannot be in the past.",
		},
		{
			name: "delete", call: del("cust-0001"), status: 204,
			wantMethod: "DELETE", wantPath: "/api/v1/partners/accounts/cust-0001",
		},
		{
			name: "delete answered with 200", call: del("cust-0001"), status: 200, body: []byte(`{}`),
			wantMethod: "DELETE", wantPath: "/api/v1/partners/accounts/cust-0001",
		},
		{
			name: "delete a deleted account", call: del("cust-0001"),
			status: 410, body: fixture(contract.PublishedErrorGone),
			wantMethod: "DELETE", wantPath: "/api/v1/partners/accounts/cust-0001",
			wantKind: ErrNotFound, wantMsg: "The requested account is gone.",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A client per case: a 401, 403 or Retry-After holds back the client's later calls.
			c = newTestClient(t, srv.apiURL())
			srv.set(answer(tc.status, tc.body, tc.header...))
			before := len(srv.all())
			acct, err := tc.call()
			rememberErr(err)
			if n := len(srv.all()) - before; n != 1 {
				t.Fatalf("the call sent %d requests, want 1", n)
			}
			rec := srv.last(t)
			checkPublishedRequest(t, rec)
			if rec.Method != tc.wantMethod || rec.Path != tc.wantPath {
				t.Errorf("request = %s %s, want %s %s", rec.Method, rec.Path, tc.wantMethod, tc.wantPath)
			}
			if tc.wantBody != "" && string(rec.Body) != tc.wantBody {
				t.Errorf("body = %s\nwant   %s", rec.Body, tc.wantBody)
			}
			if tc.wantKind == nil {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if tc.check != nil {
					tc.check(t, acct)
				}
				return
			}
			var e *Error
			if !errors.Is(err, tc.wantKind) || !errors.As(err, &e) {
				t.Fatalf("err = %v (%s), want %v", err, kindOf(err), tc.wantKind)
			}
			if e.StatusCode != tc.status || e.Message != tc.wantMsg || ServerMessage(err) != tc.wantMsg {
				t.Errorf("error = status %d message %q, want %d %q", e.StatusCode, e.Message, tc.status, tc.wantMsg)
			}
			if want := jsonField(t, tc.body, "code"); e.Code != want {
				t.Errorf("Code = %q, want %q (the published numeric code as a string)", e.Code, want)
			}
		})
	}
}

// jsonField returns a field of a JSON object in its JSON spelling, unquoted if a string.
func jsonField(t *testing.T, body []byte, field string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	var s string
	if json.Unmarshal(m[field], &s) == nil {
		return s
	}
	return string(m[field])
}
