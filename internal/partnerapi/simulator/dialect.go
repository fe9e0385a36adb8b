package simulator

import (
	"encoding/json"
	"net/http"
	"regexp"
	"time"
)

// timeLayout is how the simulator writes times: RFC 3339, UTC, milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// parseTime accepts any RFC 3339 date-time, with or without fractional seconds.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC().Truncate(time.Millisecond), nil
}

// contractAccount is an Account as partnership-openapi.yml describes it.
type contractAccount struct {
	AccountUID      string  `json:"account_uid"`
	AccountType     string  `json:"account_type"`
	Domain          string  `json:"domain"`
	Status          string  `json:"status"`
	ActivationToken string  `json:"activation_token"`
	EndsAt          *string `json:"ends_at,omitempty"`
	CreatedAt       string  `json:"created_at"`
}

// publishedAccount is an account as 1Password's published description shows it.
type publishedAccount struct {
	CustomerAccountUID string  `json:"customer_account_uid"`
	AccountType        string  `json:"account_type"`
	Domain             string  `json:"domain"`
	Status             string  `json:"status"`
	ActivationToken    string  `json:"activation_token"`
	DeployedMembers    int     `json:"deployed_members"`
	EndsAt             *string `json:"ends_at"`
	CreatedAt          string  `json:"created_at"`
	UpdatedAt          string  `json:"updated_at"`
}

// contractError is the Error schema of partnership-openapi.yml.
type contractError struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
	Code    string `json:"code"`
}

// publishedError is the error body of the published description.
type publishedError struct {
	Description string `json:"description"`
	Code        int    `json:"code"`
	Error       string `json:"error"`
}

// publishedErrorNames are the published "error" words; the description documents
// bad_request, forbidden, not_found, gone and internal_server_error.
var publishedErrorNames = map[int]string{
	http.StatusBadRequest:            "bad_request",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not_found",
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusConflict:              "conflict",
	http.StatusGone:                  "gone",
	http.StatusRequestEntityTooLarge: "request_entity_too_large",
	http.StatusTooManyRequests:       "too_many_requests",
	http.StatusInternalServerError:   "internal_server_error",
}

func (s *Server) accountResponse(status int, a *account, now time.Time) response {
	var endsAt *string
	if a.EndsAt != nil {
		e := formatTime(*a.EndsAt)
		endsAt = &e
	}
	var v any
	if s.published() {
		v = publishedAccount{
			CustomerAccountUID: a.UID,
			AccountType:        a.Type,
			Domain:             a.Domain,
			Status:             a.status(now),
			ActivationToken:    a.ActivationToken,
			DeployedMembers:    a.DeployedMembers,
			EndsAt:             endsAt,
			CreatedAt:          formatTime(a.CreatedAt),
			UpdatedAt:          formatTime(a.UpdatedAt),
		}
	} else {
		v = contractAccount{
			AccountUID:      a.UID,
			AccountType:     a.Type,
			Domain:          a.Domain,
			Status:          a.status(now),
			ActivationToken: a.ActivationToken,
			EndsAt:          endsAt,
			CreatedAt:       formatTime(a.CreatedAt),
		}
	}
	body, _ := json.Marshal(v) // plain strings and ints cannot fail
	return response{status: status, body: body}
}

// apiError is an error answer in the server's dialect. code is the contract's
// machine-readable code; the published dialect derives its code and error from
// the status instead.
func (s *Server) apiError(status int, code, message string) response {
	var v any
	if s.published() {
		name := publishedErrorNames[status]
		if name == "" {
			name = "error"
		}
		v = publishedError{Description: message, Code: status, Error: name}
	} else {
		v = contractError{Status: status, Message: message, Code: code}
	}
	body, _ := json.Marshal(v)
	return response{status: status, body: body}
}

func (s *Server) unauthorized() response {
	const msg = "Invalid or missing bearer token."
	if s.published() {
		return s.apiError(http.StatusForbidden, "forbidden", msg)
	}
	resp := s.apiError(http.StatusUnauthorized, "unauthorized", msg)
	resp.bearer = true
	return resp
}

// uidField is the name the dialect gives the account id in bodies.
func (s *Server) uidField() string {
	if s.published() {
		return "customer_account_uid"
	}
	return "account_uid"
}

var (
	contractUID  = regexp.MustCompile(`^[A-Za-z0-9.\-]{1,200}$`)
	publishedUID = regexp.MustCompile(`^[A-Za-z0-9\-]{1,80}$`)
)

func (s *Server) validUID(uid string) bool {
	if s.published() {
		return publishedUID.MatchString(uid)
	}
	return contractUID.MatchString(uid)
}

func (s *Server) badUID() response {
	msg := "Invalid account_uid - it must be 1 to 200 letters, digits, periods or hyphens."
	if s.published() {
		msg = "Invalid customer_account_uid - it must be 1 to 80 letters, digits or hyphens."
	}
	return s.apiError(http.StatusBadRequest, "invalid_account_uid", msg)
}

func (s *Server) badRequest(code, message string) response {
	return s.apiError(http.StatusBadRequest, code, message)
}

func (s *Server) notFound() response {
	return s.apiError(http.StatusNotFound, "account_not_found", "Account not found.")
}

func (s *Server) gone() response {
	return s.apiError(http.StatusGone, "account_gone", "The requested account is gone.")
}
