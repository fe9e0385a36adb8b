package partnerapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/contract"
)

var publishedFixtures = []string{
	contract.PublishedAccountEntitled, contract.PublishedAccountNoEndDate,
	contract.PublishedErrorForbidden, contract.PublishedErrorDomainNotFound, contract.PublishedErrorGone,
	contract.PublishedErrorUpdateDeleted, contract.PublishedErrorEndsAtPast, contract.PublishedErrorInternal,
}

var extraSeeds = []string{
	`{"account_uid":"acct-1","account_type":"I","domain":"b5test.com","status":"entitled","activation_token":"PNS-1","ends_at":"2050-02-05T13:00:00Z","created_at":"2026-11-27T10:00:00+02:00"}`,
	`{"account_uid":"acct-1","customer_account_uid":"acct-1","status":"suspended-by-partner","ends_at":""}`,
	`{"account_uid":"acct-1","customer_account_uid":"acct-2"}`,
	`{"customer_account_uid":"c","deployed_members":1.5}`,
	`{"status":400,"message":"Bad request.","code":"bad_request"}`,
	`{"message":"","description":"d","code":12.5e3}`,
	`<html>502</html>`, ``, `null`, `[]`, `"x"`,
}

// rawAccount is an independent reading of an account body, to check decodeAccount
// against: the top-level members in order.
type rawAccount []rawMember

type rawMember struct {
	key   string
	value json.RawMessage
}

func readRawAccount(body []byte) (rawAccount, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not an object: %v %v", tok, err)
	}
	var r rawAccount
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		r = append(r, rawMember{key: tok.(string), value: v})
	}
	return r, nil
}

// get returns the value encoding/json puts in a struct field named k: that of the
// last member whose name matches k ignoring case.
func (r rawAccount) get(k string) (json.RawMessage, bool) {
	for _, m := range slices.Backward(r) {
		if strings.EqualFold(m.key, k) {
			return m.value, true
		}
	}
	return nil, false
}

// str returns the string member k, or "" when it is absent, null or not a string.
func (r rawAccount) str(k string) string {
	var s string
	if v, ok := r.get(k); ok {
		_ = json.Unmarshal(v, &s)
	}
	return s
}

func FuzzDecodeAccount(f *testing.F) {
	for _, name := range publishedFixtures {
		f.Add(contract.PublishedFixture(name))
	}
	for _, s := range extraSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := decodeAccount(body)
		if err != nil {
			if a != nil {
				t.Fatal("an error came with an account")
			}
			return
		}
		raw, err := readRawAccount(body)
		if err != nil {
			t.Fatalf("decoded an account from a body that is not a JSON object: %v", err)
		}
		uid := raw.str("account_uid")
		cuid := raw.str("customer_account_uid")
		switch {
		case a.UID == "":
			t.Fatal("decoded an account without a UID")
		case a.UID != uid && a.UID != cuid:
			t.Fatalf("UID %q is neither account_uid %q nor customer_account_uid %q", a.UID, uid, cuid)
		case uid != "" && cuid != "" && uid != cuid:
			t.Fatalf("accepted differing ids %q and %q", uid, cuid)
		}
		if s := raw.str("status"); a.Status != s {
			t.Fatalf("Status = %q, want %q as sent", a.Status, s)
		}
		if s := raw.str("account_type"); string(a.Type) != s {
			t.Fatalf("Type = %q, want %q as sent", a.Type, s)
		}
		checkTime := func(field string, got *time.Time) {
			s := raw.str(field)
			if (s == "") != (got == nil) {
				t.Fatalf("%s %q decoded as %v", field, s, got)
			}
			if got == nil {
				return
			}
			if got.Location() != time.UTC {
				t.Fatalf("%s is in %v, want UTC", field, got.Location())
			}
			want, err := time.Parse(time.RFC3339Nano, s)
			if err != nil || !want.Equal(*got) {
				t.Fatalf("%s %q decoded as %v", field, s, got)
			}
		}
		checkTime("ends_at", a.EndsAt)
		checkTime("updated_at", a.UpdatedAt)
		var created *time.Time
		if !a.CreatedAt.IsZero() {
			created = &a.CreatedAt
		}
		if s := raw.str("created_at"); s != "" && created == nil {
			// A time that is exactly the zero time is indistinguishable from none.
			if tm, err := time.Parse(time.RFC3339Nano, s); err != nil || !tm.IsZero() {
				t.Fatalf("created_at %q was dropped", s)
			}
		} else {
			checkTime("created_at", created)
		}
		if a.DeployedMembers != nil {
			var n int
			v, _ := raw.get("deployed_members")
			if err := json.Unmarshal(v, &n); err != nil || n != *a.DeployedMembers {
				t.Fatalf("DeployedMembers = %d from %s", *a.DeployedMembers, v)
			}
		}
	})
}

func FuzzDecodeError(f *testing.F) {
	for _, name := range publishedFixtures {
		f.Add(404, contract.PublishedFixture(name))
	}
	for i, s := range extraSeeds {
		f.Add([]int{400, 401, 403, 409, 410, 429, 500, 503, 418, 302, 599}[i%11], []byte(s))
	}
	f.Add(403, []byte(`{"message":"token `+testToken+` refused","code":"`+testToken+`"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 || (status >= 200 && status < 300) {
			return
		}
		for _, op := range allOps {
			header := http.Header{"Retry-After": {string(body)}}
			if len(body)%2 == 1 { // half the inputs declare a content type, one that carries the token
				header.Set("Content-Type", "application/json; x="+testToken)
			}
			e := responseError(op, "acct-1", "https://billing.example/api/v1/partners/accounts/acct-1", status, header,
				body, time.Now(), testToken)
			redact(e, testToken)
			known := false
			for _, k := range allKinds {
				if errors.Is(e, k) {
					if known {
						t.Fatalf("error matches two kinds")
					}
					known = true
				}
			}
			if !known {
				t.Fatalf("kind %v is not one of the sentinels", e.Kind)
			}
			text := e.Error()
			if strings.Contains(text, testToken) {
				t.Fatalf("error text carries the token: %q", text)
			}
			if strings.ContainsFunc(text, unicode.IsControl) {
				t.Fatalf("error text has control characters: %q", text)
			}
			if len(e.Message) > maxMessageLen || len(text) > 400 {
				t.Fatalf("message of %d bytes, text of %d bytes", len(e.Message), len(text))
			}
			if status == http.StatusTooManyRequests && (e.RetryAfter < minRetryAfter || e.RetryAfter > maxRetryAfter) {
				t.Fatalf("RetryAfter = %v", e.RetryAfter)
			}
			if e.RetryAfter < 0 || e.RetryAfter > maxRetryAfter {
				t.Fatalf("RetryAfter = %v", e.RetryAfter)
			}
			if strings.HasPrefix(strings.TrimSpace(string(body)), "<") && e.Message != "" {
				t.Fatalf("a non-JSON body gave message %q", e.Message)
			}
			if errors.Is(e, ErrNotFound) && !errorBodyShape(body) {
				t.Fatalf("%d with body %q says the account is gone", status, body)
			}
		}
	})
}

// errorBodyShape reports whether body is an error body in one of the API's two
// shapes, written independently of decodeErrorBody: a JSON object with a string
// message (contract) or description or error (published).
func errorBodyShape(body []byte) bool {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return false
	}
	for _, k := range []string{"message", "description", "error"} {
		if _, ok := m[k].(string); ok {
			return true
		}
	}
	return false
}
