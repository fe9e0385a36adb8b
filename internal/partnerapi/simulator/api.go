package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"
)

// maxBody is the largest request body read; the real bodies are a few hundred bytes.
const maxBody = 64 << 10

func (s *Server) create(r *http.Request) response {
	fields, bad := s.readObject(r)
	if bad != nil {
		return *bad
	}
	uid, bad := s.bodyUID(fields)
	if bad != nil {
		return *bad
	}
	typ, present, ok := stringField(fields, "account_type")
	switch {
	case !present:
		return s.badRequest("missing_field", "Missing required field: account_type.")
	case !ok || (typ != "I" && typ != "F"):
		return s.badRequest("invalid_account_type", "Invalid account_type - it must be I or F.")
	}
	domain, present, ok := stringField(fields, "domain")
	switch {
	case !present:
		return s.badRequest("missing_field", "Missing required field: domain.")
	case !ok:
		return s.badRequest("invalid_domain", "Invalid domain - it must be a string.")
	}
	if _, known := s.domains[domain]; !known {
		if s.published() {
			return s.apiError(http.StatusNotFound, "domain_not_found", "Domain not found.")
		}
		return s.badRequest("invalid_domain", "Invalid domain - the partner has no promotion in this domain.")
	}
	endsAt, _, bad := s.bodyEndsAt(fields)
	if bad != nil {
		return *bad
	}
	a, err := s.createAccount(newAccount{uid: uid, typ: typ, domain: domain, endsAt: endsAt})
	if errors.Is(err, errExists) {
		if s.published() {
			return s.badRequest("account_exists", "Account already exists.")
		}
		return s.apiError(http.StatusConflict, "account_exists", "A billing account already exists for this account_uid.")
	}
	resp := s.accountResponse(http.StatusCreated, &a, s.now())
	if s.published() {
		resp.location = accountsPath + "/" + url.PathEscape(uid)
	}
	return resp
}

func (s *Server) get(rt apiRoute) response {
	if bad := s.checkPathUID(rt); bad != nil {
		return *bad
	}
	a, ok := s.lookup(rt.uid)
	switch {
	case !ok:
		return s.notFound()
	case a.Deleted && s.published():
		return s.gone()
	case a.Deleted:
		return s.notFound()
	}
	return s.accountResponse(http.StatusOK, &a, s.now())
}

func (s *Server) update(r *http.Request, rt apiRoute) response {
	if bad := s.checkPathUID(rt); bad != nil {
		return *bad
	}
	fields, bad := s.readObject(r)
	if bad != nil {
		return *bad
	}
	endsAt, present, bad := s.bodyEndsAt(fields)
	if bad != nil {
		return *bad
	}
	var a account
	var err error
	if present {
		a, err = s.setEndsAt(rt.uid, endsAt)
	} else {
		a, err = s.liveAccount(rt.uid)
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return s.notFound()
	case errors.Is(err, ErrDeleted) && s.published():
		return s.badRequest("account_deleted", "Invalid account - partner account deleted.")
	case errors.Is(err, ErrDeleted):
		return s.notFound()
	}
	return s.accountResponse(http.StatusOK, &a, s.now())
}

func (s *Server) delete(rt apiRoute) response {
	if bad := s.checkPathUID(rt); bad != nil {
		return *bad
	}
	switch err := s.deleteAccount(rt.uid); {
	case errors.Is(err, ErrNotFound):
		return s.notFound()
	case errors.Is(err, ErrDeleted) && s.published():
		return s.gone()
	case errors.Is(err, ErrDeleted):
		return s.notFound()
	}
	return response{status: http.StatusNoContent}
}

func (s *Server) liveAccount(uid string) (account, error) {
	a, ok := s.lookup(uid)
	switch {
	case !ok:
		return a, ErrNotFound
	case a.Deleted:
		return a, ErrDeleted
	}
	return a, nil
}

// checkPathUID refuses an account id on the path that breaks the dialect's rules.
// The contract declares no 400 for GET and DELETE, so there the contract dialect
// answers 404: no account can have such an id.
func (s *Server) checkPathUID(rt apiRoute) *response {
	if !rt.uidErr && s.validUID(rt.uid) {
		return nil
	}
	if !s.published() && rt.op != opUpdate {
		resp := s.apiError(http.StatusNotFound, "invalid_account_uid",
			"Account not found - account_uid must be 1 to 200 letters, digits, periods or hyphens.")
		return &resp
	}
	resp := s.badUID()
	return &resp
}

// readObject reads the request body as a JSON object.
func (s *Server) readObject(r *http.Request) (map[string]json.RawMessage, *response) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		resp := s.badRequest("invalid_body", "Invalid request body - it could not be read.")
		return nil, &resp
	}
	if len(body) > maxBody {
		resp := s.badRequest("invalid_body", "Invalid request body - it is too large.")
		return nil, &resp
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		resp := s.badRequest("invalid_json", "Invalid request body - it must be a JSON object.")
		return nil, &resp
	}
	return fields, nil
}

// bodyUID reads the account id from a create body, under either name; when both
// are given they must agree.
func (s *Server) bodyUID(fields map[string]json.RawMessage) (string, *response) {
	var uid string
	var seen bool
	for _, name := range [...]string{"account_uid", "customer_account_uid"} {
		v, present, ok := stringField(fields, name)
		if !present {
			continue
		}
		if !ok || (seen && v != uid) {
			resp := s.badUID()
			if ok {
				resp = s.badRequest("invalid_account_uid", "Invalid account id - account_uid and customer_account_uid differ.")
			}
			return "", &resp
		}
		uid, seen = v, true
	}
	if !seen {
		resp := s.badRequest("missing_field", "Missing required field: "+s.uidField()+".")
		return "", &resp
	}
	if !s.validUID(uid) {
		resp := s.badUID()
		return "", &resp
	}
	return uid, nil
}

// bodyEndsAt reads ends_at: absent (present false), null (clear), or an RFC 3339
// date-time; the published dialect also takes "" for clear and refuses a date in
// the past.
func (s *Server) bodyEndsAt(fields map[string]json.RawMessage) (endsAt *time.Time, present bool, bad *response) {
	raw, present := fields["ends_at"]
	if !present || isNull(raw) {
		return nil, present, nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err != nil || (str == "" && !s.published()) {
		resp := s.badRequest("invalid_ends_at", "Invalid ends_at date - it must be an RFC 3339 date-time.")
		return nil, true, &resp
	}
	if str == "" {
		return nil, true, nil
	}
	t, err := parseTime(str)
	if err != nil {
		resp := s.badRequest("invalid_ends_at", "Invalid ends_at date - it must be an RFC 3339 date-time.")
		return nil, true, &resp
	}
	if s.published() && t.Before(s.now()) {
		resp := s.badRequest("ends_at_in_past", "Invalid ends_at date - it cannot be in the past.")
		return nil, true, &resp
	}
	return &t, true, nil
}

// stringField reads a string field; null counts as absent.
func stringField(fields map[string]json.RawMessage, name string) (v string, present, ok bool) {
	raw, present := fields[name]
	if !present || isNull(raw) {
		return "", false, false
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", true, false
	}
	return v, true, true
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }
