package partnerapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// wireTimeLayout is how the client writes times: RFC 3339 in UTC with milliseconds,
// as in the published examples (2050-02-05T13:00:00.000Z).
const wireTimeLayout = "2006-01-02T15:04:05.000Z"

// createBody is the create request. The id goes under both names: the given
// contract requires account_uid, the published description customer_account_uid,
// and neither forbids extra properties.
type createBody struct {
	AccountUID         string      `json:"account_uid"`
	CustomerAccountUID string      `json:"customer_account_uid"`
	AccountType        AccountType `json:"account_type"`
	Domain             string      `json:"domain"`
	EndsAt             *string     `json:"ends_at,omitempty"`
}

// updateBody is the change-end-date request; a nil EndsAt is sent as null, which
// published servers read as "clear the end date".
type updateBody struct {
	EndsAt *string `json:"ends_at"`
}

func encodeCreate(req CreateRequest) ([]byte, error) {
	b := createBody{
		AccountUID:         req.UID,
		CustomerAccountUID: req.UID,
		AccountType:        req.Type,
		Domain:             req.Domain,
	}
	if req.EndsAt != nil {
		s, err := formatTime(*req.EndsAt)
		if err != nil {
			return nil, err
		}
		b.EndsAt = &s
	}
	return json.Marshal(b)
}

func encodeUpdate(endsAt *time.Time) ([]byte, error) {
	var b updateBody
	if endsAt != nil {
		s, err := formatTime(*endsAt)
		if err != nil {
			return nil, err
		}
		b.EndsAt = &s
	}
	return json.Marshal(b)
}

func formatTime(t time.Time) (string, error) {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return "", fmt.Errorf("end date %s is outside years 0000-9999", t)
	}
	return t.Format(wireTimeLayout), nil
}

// wireAccount is an account in either dialect: the given contract names the id
// account_uid, the published one customer_account_uid and adds deployed_members and
// updated_at.
type wireAccount struct {
	AccountUID         *string `json:"account_uid"`
	CustomerAccountUID *string `json:"customer_account_uid"`
	AccountType        *string `json:"account_type"`
	Domain             *string `json:"domain"`
	Status             *string `json:"status"`
	ActivationToken    *string `json:"activation_token"`
	EndsAt             *string `json:"ends_at"`
	CreatedAt          *string `json:"created_at"`
	UpdatedAt          *string `json:"updated_at"`
	DeployedMembers    *int    `json:"deployed_members"`
}

// decodeAccount decodes an account sent in either dialect. The UID comes from
// account_uid or customer_account_uid (they must agree when both are set); a null,
// empty or absent time means none; times are converted to UTC; status values are
// kept as sent.
func decodeAccount(body []byte) (*Account, error) {
	var w wireAccount
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("decode account: %w", err)
	}
	a := &Account{
		Type:            AccountType(deref(w.AccountType)),
		Domain:          deref(w.Domain),
		Status:          deref(w.Status),
		ActivationToken: deref(w.ActivationToken),
		DeployedMembers: w.DeployedMembers,
	}
	uid, cuid := deref(w.AccountUID), deref(w.CustomerAccountUID)
	switch {
	case uid != "" && cuid != "" && uid != cuid:
		return nil, fmt.Errorf("decode account: account_uid %q and customer_account_uid %q differ", uid, cuid)
	case uid != "":
		a.UID = uid
	case cuid != "":
		a.UID = cuid
	default:
		return nil, errors.New("decode account: no account_uid or customer_account_uid")
	}
	var err error
	if a.EndsAt, err = parseOptionalTime("ends_at", w.EndsAt); err != nil {
		return nil, err
	}
	if a.UpdatedAt, err = parseOptionalTime("updated_at", w.UpdatedAt); err != nil {
		return nil, err
	}
	created, err := parseOptionalTime("created_at", w.CreatedAt)
	if err != nil {
		return nil, err
	}
	if created != nil {
		a.CreatedAt = *created
	}
	return a, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// parseOptionalTime parses an RFC 3339 time with or without fractional seconds
// into UTC; nil or "" give nil.
func parseOptionalTime(field string, s *string) (*time.Time, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return nil, fmt.Errorf("decode account: %s %q is not an RFC 3339 time", field, truncate(*s, 64))
	}
	t = t.UTC()
	return &t, nil
}

// wireError is an error body in either dialect: the given contract's
// {status, message, code:string} or the published {description, code:int, error}.
type wireError struct {
	Message     json.RawMessage `json:"message"`
	Description json.RawMessage `json:"description"`
	Code        json.RawMessage `json:"code"`
	Error       json.RawMessage `json:"error"`
}

// maxMessageLen and maxCodeLen bound the server message, and the code or content
// type, carried into error text.
const (
	maxMessageLen = 300
	maxCodeLen    = 64
)

// decodeErrorBody returns the human message (message, else description, else error)
// and machine code (code as a string or number, else error) of an error body in
// either dialect, and whether the body is one: a JSON answer holding an object with
// a string message, description or error. A proxy's HTML page, an empty body or
// any other content type gives fromAPI false. Both are as the server sent them:
// responseError cleans and cuts them.
func decodeErrorBody(contentType string, body []byte) (message, code string, fromAPI bool) {
	var w wireError
	if !isJSON(contentType, body) || len(bytes.TrimSpace(body)) == 0 || json.Unmarshal(body, &w) != nil {
		return "", "", false
	}
	message = firstNonEmpty(jsonString(w.Message), jsonString(w.Description), jsonString(w.Error))
	code = firstNonEmpty(jsonScalar(w.Code), jsonString(w.Error))
	fromAPI = isJSONString(w.Message) || isJSONString(w.Description) || isJSONString(w.Error)
	return message, code, fromAPI
}

// isJSON reports whether an answer is JSON as the API sends it: declared
// application/json (or a +json type), or, with no Content-Type at all, a body that
// is empty or starts like a JSON object or array.
func isJSON(contentType string, body []byte) bool {
	if contentType == "" {
		b := bytes.TrimSpace(body)
		return len(b) == 0 || b[0] == '{' || b[0] == '['
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// isJSONString reports whether raw is a JSON string (possibly empty).
func isJSONString(raw json.RawMessage) bool {
	var s string
	return len(raw) > 0 && json.Unmarshal(raw, &s) == nil
}

// jsonString returns raw's value when it is a JSON string.
func jsonString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// jsonScalar returns raw's value as a string when it is a JSON string or number.
func jsonScalar(raw json.RawMessage) string {
	if s := jsonString(raw); s != "" {
		return s
	}
	var n json.Number
	if len(raw) == 0 || json.Unmarshal(raw, &n) != nil {
		return ""
	}
	if i, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
		return strconv.FormatInt(i, 10)
	}
	return n.String()
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// clean makes server text safe to put in an error message on one line: invalid
// UTF-8 and control characters become spaces, surrounding space is trimmed and the
// text is cut to at most max bytes.
func clean(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return truncate(strings.TrimSpace(s), max)
}

// truncate cuts s to at most max bytes on a rune boundary, marking the cut with "...".
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
