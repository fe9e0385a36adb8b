package partnerapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/contract"
)

// contractServer is a fake Partnership API speaking the given contract
// (partnership-openapi.yml). It checks every request against the contract, records
// what the check said, and checks its own responses before sending them.
type contractServer struct {
	*httptest.Server
	t         *testing.T
	validator *contract.Validator

	mu       sync.Mutex
	accounts map[string]map[string]any
	reqs     []contractRequest
}

type contractRequest struct {
	recorded
	// Invalid is what the contract validator said about the request.
	Invalid error
}

func newContractServer(t *testing.T) *contractServer {
	t.Helper()
	v, err := contract.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	s := &contractServer{t: t, validator: v, accounts: map[string]map[string]any{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *contractServer) apiURL() string { return s.URL + "/api/v1" }

// last returns the last request and what the validator said about it.
func (s *contractServer) last(t *testing.T) contractRequest {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		t.Fatal("the server received no request")
	}
	return s.reqs[len(s.reqs)-1]
}

func (s *contractServer) serve(w http.ResponseWriter, r *http.Request) {
	var rec recorder
	req := rec.add(r)
	invalid := s.validator.ValidateRequest(r, req.Body)
	s.mu.Lock()
	s.reqs = append(s.reqs, contractRequest{recorded: req, Invalid: invalid})
	s.mu.Unlock()

	if r.Header.Get("Authorization") != "Bearer "+testToken {
		s.respondError(w, r, http.StatusUnauthorized, "Authentication credentials are missing or invalid.", "unauthorized")
		return
	}
	const prefix = "/api/v1/partners/accounts"
	var body map[string]any
	if len(req.Body) > 0 {
		if err := json.Unmarshal(req.Body, &body); err != nil {
			s.respondError(w, r, http.StatusBadRequest, "Request body is not JSON.", "bad_request")
			return
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.URL.Path == prefix && r.Method == http.MethodPost:
		uid, _ := body["account_uid"].(string)
		if _, ok := s.accounts[uid]; ok {
			s.respondError(w, r, http.StatusConflict, "A billing account already exists for this account UID.", "conflict")
			return
		}
		acct := map[string]any{
			"account_uid":      uid,
			"account_type":     body["account_type"],
			"domain":           body["domain"],
			"status":           StatusEntitled,
			"activation_token": "PNS-" + strings.ToUpper(uid),
			"created_at":       "2026-11-27T10:00:00.000Z",
		}
		if e, ok := body["ends_at"]; ok {
			acct["ends_at"] = e
		}
		s.accounts[uid] = acct
		s.respondJSON(w, r, http.StatusCreated, acct)
	case strings.HasPrefix(r.URL.Path, prefix+"/"):
		uid := strings.TrimPrefix(r.URL.Path, prefix+"/")
		acct, ok := s.accounts[uid]
		if !ok {
			s.respondError(w, r, http.StatusNotFound, "The requested resource was not found.", "not_found")
			return
		}
		switch r.Method {
		case http.MethodGet:
			s.respondJSON(w, r, http.StatusOK, acct)
		case http.MethodPatch:
			switch e, present := body["ends_at"]; {
			case !present:
			case e == nil:
				// The contract cannot say "no end date" in a request; a
				// published server reads null as "clear", and so does this fake.
				delete(acct, "ends_at")
			default:
				acct["ends_at"] = e
			}
			s.respondJSON(w, r, http.StatusOK, acct)
		case http.MethodDelete:
			delete(s.accounts, uid)
			s.respond(w, r, http.StatusNoContent, nil)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (s *contractServer) respondError(w http.ResponseWriter, r *http.Request, status int, message, code string) {
	s.respondJSON(w, r, status, map[string]any{"status": status, "message": message, "code": code})
}

func (s *contractServer) respondJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.t.Errorf("fake server: %v", err)
	}
	s.respond(w, r, status, b)
}

// respond checks the fake's own answer against the contract before sending it.
func (s *contractServer) respond(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	if len(body) > 0 {
		w.Header().Set("Content-Type", "application/json")
	}
	if err := s.validator.ValidateResponse(r, status, w.Header(), body); err != nil {
		s.t.Errorf("fake server's %d answer to %s %s breaks the contract: %v", status, r.Method, r.URL.Path, err)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// leafErrors flattens the validator's nested errors into the individual findings.
func leafErrors(err error) []error {
	switch e := err.(type) {
	case nil:
		return nil
	case openapi3.MultiError:
		var out []error
		for _, x := range e {
			out = append(out, leafErrors(x)...)
		}
		return out
	case *openapi3filter.RequestError:
		if e.Err != nil {
			return leafErrors(e.Err)
		}
	}
	return []error{err}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestContractDialect(t *testing.T) {
	srv := newContractServer(t)
	c := newTestClient(t, srv.apiURL(), func(cfg *Config) { cfg.UserAgent = "partner-account-operator/v1.2.3" })
	ctx := testCtx(t)
	// A non-UTC end date with sub-millisecond digits: sent in UTC, cut to milliseconds.
	endsAt := mustTime(t, "2050-02-05T14:00:00.123456+01:00")

	checkRequest := func(t *testing.T, method, path string, wantBody bool) contractRequest {
		t.Helper()
		req := srv.last(t)
		if req.Invalid != nil {
			t.Errorf("the request breaks the contract: %v", req.Invalid)
		}
		if req.Method != method || req.Path != path {
			t.Errorf("request = %s %s, want %s %s", req.Method, req.Path, method, path)
		}
		if got := req.Header.Get("Authorization"); got != "Bearer "+testToken {
			t.Errorf("Authorization header is wrong (%d bytes)", len(got))
		}
		if got := req.Header.Get("Accept"); got != "application/json" {
			t.Errorf("Accept = %q", got)
		}
		if got := req.Header.Get("User-Agent"); got != "partner-account-operator/v1.2.3" {
			t.Errorf("User-Agent = %q", got)
		}
		ct := req.Header.Get("Content-Type")
		if wantBody && ct != "application/json" {
			t.Errorf("Content-Type = %q, want application/json", ct)
		}
		if !wantBody && (ct != "" || len(req.Body) != 0) {
			t.Errorf("request without a body has Content-Type %q and %d body bytes", ct, len(req.Body))
		}
		return req
	}

	t.Run("create with end date", func(t *testing.T) {
		acct, err := c.Create(ctx, CreateRequest{UID: "acct-1.a", Type: AccountTypeIndividual, Domain: "b5test.com", EndsAt: &endsAt})
		rememberErr(err)
		if err != nil {
			t.Fatal(err)
		}
		req := checkRequest(t, http.MethodPost, "/api/v1/partners/accounts", true)
		want := `{"account_uid":"acct-1.a","customer_account_uid":"acct-1.a","account_type":"I","domain":"b5test.com","ends_at":"2050-02-05T13:00:00.123Z"}`
		if string(req.Body) != want {
			t.Errorf("body = %s\nwant   %s", req.Body, want)
		}
		wantEnds := mustTime(t, "2050-02-05T13:00:00.123Z")
		if acct.UID != "acct-1.a" || acct.Type != AccountTypeIndividual || acct.Domain != "b5test.com" ||
			acct.Status != StatusEntitled || acct.ActivationToken != "PNS-ACCT-1.A" ||
			acct.EndsAt == nil || !acct.EndsAt.Equal(wantEnds) || acct.EndsAt.Location() != time.UTC ||
			!acct.CreatedAt.Equal(mustTime(t, "2026-11-27T10:00:00Z")) ||
			acct.DeployedMembers != nil || acct.UpdatedAt != nil {
			t.Errorf("account = %+v", acct)
		}
	})

	t.Run("create without end date", func(t *testing.T) {
		acct, err := c.Create(ctx, CreateRequest{UID: "acct-2", Type: AccountTypeFamily, Domain: "b5test.eu"})
		rememberErr(err)
		if err != nil {
			t.Fatal(err)
		}
		req := checkRequest(t, http.MethodPost, "/api/v1/partners/accounts", true)
		want := `{"account_uid":"acct-2","customer_account_uid":"acct-2","account_type":"F","domain":"b5test.eu"}`
		if string(req.Body) != want {
			t.Errorf("body = %s\nwant   %s", req.Body, want)
		}
		if acct.UID != "acct-2" || acct.Type != AccountTypeFamily || acct.EndsAt != nil {
			t.Errorf("account = %+v", acct)
		}
	})

	t.Run("create again", func(t *testing.T) {
		_, err := c.Create(ctx, CreateRequest{UID: "acct-2", Type: AccountTypeFamily, Domain: "b5test.eu"})
		rememberErr(err)
		checkRequest(t, http.MethodPost, "/api/v1/partners/accounts", true)
		var e *Error
		if !errors.Is(err, ErrAlreadyExists) || !errors.As(err, &e) || e.StatusCode != 409 || e.Code != "conflict" ||
			e.Message != "A billing account already exists for this account UID." {
			t.Fatalf("err = %#v, want ErrAlreadyExists with the server's message", err)
		}
		if want := `partnerapi: create account "acct-2": 409 Conflict: A billing account already exists for this account UID.`; err.Error() != want {
			t.Errorf("err.Error() = %q\nwant %q", err, want)
		}
	})

	t.Run("get", func(t *testing.T) {
		acct, err := c.Get(ctx, "acct-1.a")
		rememberErr(err)
		if err != nil {
			t.Fatal(err)
		}
		checkRequest(t, http.MethodGet, "/api/v1/partners/accounts/acct-1.a", false)
		if acct.UID != "acct-1.a" || acct.EndsAt == nil || acct.Status != StatusEntitled {
			t.Errorf("account = %+v", acct)
		}
	})

	t.Run("update end date", func(t *testing.T) {
		newEnd := mustTime(t, "2051-03-01T00:00:00Z")
		acct, err := c.UpdateEndsAt(ctx, "acct-2", &newEnd)
		rememberErr(err)
		if err != nil {
			t.Fatal(err)
		}
		req := checkRequest(t, http.MethodPatch, "/api/v1/partners/accounts/acct-2", true)
		if want := `{"ends_at":"2051-03-01T00:00:00.000Z"}`; string(req.Body) != want {
			t.Errorf("body = %s, want %s", req.Body, want)
		}
		if acct.EndsAt == nil || !acct.EndsAt.Equal(newEnd) {
			t.Errorf("account.EndsAt = %v, want %v", acct.EndsAt, newEnd)
		}
	})

	t.Run("clear end date", func(t *testing.T) {
		acct, err := c.UpdateEndsAt(ctx, "acct-2", nil)
		rememberErr(err)
		if err != nil {
			t.Fatal(err)
		}
		req := srv.last(t)
		if req.Method != http.MethodPatch || req.Path != "/api/v1/partners/accounts/acct-2" {
			t.Errorf("request = %s %s", req.Method, req.Path)
		}
		if want := `{"ends_at":null}`; string(req.Body) != want {
			t.Errorf("body = %s, want %s", req.Body, want)
		}
		// The given contract has no way to clear an end date: UpdateAccountRequest
		// types ends_at as a string, so null does not validate. The published
		// description (what the real servers speak) clears the end date with
		// "ends_at": null, so the client sends it anyway. This request is the one
		// place the client knowingly departs from the contract; make sure null
		// is the only thing the validator objects to.
		leaves := leafErrors(req.Invalid)
		if len(leaves) != 1 {
			t.Fatalf("validator findings = %d (%v), want exactly one about ends_at being null", len(leaves), req.Invalid)
		}
		msg := leaves[0].Error()
		if !strings.Contains(msg, "/ends_at") || !strings.Contains(msg, "got null, want string") {
			t.Errorf("validator finding = %q, want ends_at: got null, want string", msg)
		}
		var se *openapi3.SchemaError
		if !errors.As(leaves[0], &se) || se.Value != nil || se.Schema == nil || se.Schema.Type == nil || !se.Schema.Type.Is("string") {
			t.Errorf("validator finding is not a schema error about a null string: %#v", leaves[0])
		}
		if acct.EndsAt != nil {
			t.Errorf("account.EndsAt = %v, want nil", acct.EndsAt)
		}
		// The server stored the change.
		got, err := c.Get(ctx, "acct-2")
		rememberErr(err)
		if err != nil || got.EndsAt != nil {
			t.Errorf("after clearing, Get = %+v, %v", got, err)
		}
	})

	t.Run("delete", func(t *testing.T) {
		err := c.Delete(ctx, "acct-2")
		rememberErr(err)
		if err != nil {
			t.Fatal(err)
		}
		checkRequest(t, http.MethodDelete, "/api/v1/partners/accounts/acct-2", false)
	})

	for _, tc := range []struct {
		name, method string
		call         func() error
	}{
		{"get after delete", http.MethodGet, func() error { _, err := c.Get(ctx, "acct-2"); return err }},
		{"update after delete", http.MethodPatch, func() error {
			_, err := c.UpdateEndsAt(ctx, "acct-2", &endsAt)
			return err
		}},
		{"delete after delete", http.MethodDelete, func() error { return c.Delete(ctx, "acct-2") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			rememberErr(err)
			checkRequest(t, tc.method, "/api/v1/partners/accounts/acct-2", tc.method == http.MethodPatch)
			var e *Error
			if !errors.Is(err, ErrNotFound) || !errors.As(err, &e) || e.StatusCode != 404 || e.Code != "not_found" {
				t.Fatalf("err = %v (%s), want ErrNotFound from a 404", err, kindOf(err))
			}
		})
	}

	t.Run("rejected token", func(t *testing.T) {
		bad := newTestClient(t, srv.apiURL(), func(cfg *Config) {
			cfg.TokenFile = writeTokenFile(t, testTokenRotated)
			cfg.UserAgent = "partner-account-operator/v1.2.3"
		})
		_, err := bad.Get(ctx, "acct-1.a")
		rememberErr(err)
		req := srv.last(t)
		if req.Invalid != nil {
			t.Errorf("the request breaks the contract: %v", req.Invalid)
		}
		var e *Error
		if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &e) || e.StatusCode != 401 {
			t.Fatalf("err = %v (%s), want ErrUnauthorized from a 401", err, kindOf(err))
		}
	})
}

// TestContractFakeRefusesBadAnswers shows the contract fake's self-check works: an
// answer outside the contract is caught.
func TestContractFakeRefusesBadAnswers(t *testing.T) {
	v, err := contract.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	r := httptestRequest(t, http.MethodGet, "/api/v1/partners/accounts/acct-1", nil)
	h := http.Header{"Content-Type": {"application/json"}}
	if err := v.ValidateResponse(r, 410, h, []byte(`{"status":410,"message":"gone","code":"gone"}`)); err == nil {
		t.Error("a 410 (not in the contract) validated")
	}
	if err := v.ValidateResponse(r, 200, h, []byte(`{"account_uid":"acct-1","ends_at":null}`)); err == nil {
		t.Error("an account with ends_at null validated")
	}
	if err := v.ValidateResponse(r, 200, h, []byte(`{"account_uid":"acct-1","ends_at":"2050-02-05T13:00:00.000Z"}`)); err != nil {
		t.Errorf("a good account did not validate: %v", err)
	}
}

func httptestRequest(t *testing.T, method, path string, body []byte) *http.Request {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), method, "http://127.0.0.1"+path, bytes.NewReader(body))
	r.Header.Set("Authorization", "Bearer x")
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

// TestContractRejectsWhatPublishedServersSend documents why the client must
// accept more than the contract: the published fixtures do not validate against it.
func TestContractRejectsWhatPublishedServersSend(t *testing.T) {
	v, err := contract.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	r := httptestRequest(t, http.MethodGet, "/api/v1/partners/accounts/cust-0002", nil)
	h := http.Header{"Content-Type": {"application/json"}}
	err = v.ValidateResponse(r, 200, h, contract.PublishedFixture(contract.PublishedAccountNoEndDate))
	if err == nil || !strings.Contains(fmt.Sprint(err), "ends_at") {
		t.Errorf("published account with ends_at null: err = %v, want a complaint about ends_at", err)
	}
}
