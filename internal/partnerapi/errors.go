package partnerapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Kinds of failure, matched with errors.Is. Every error the client returns is an
// *Error whose Kind is one of these.
var (
	// ErrInvalidRequest: the API refused the request as it stands (400; 404 on create,
	// "Domain not found"). Retrying the same request will not help.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrUnauthorized: the API rejected the bearer token (401 or 403).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotFound: the account does not exist or is gone (404 or 410 on read and delete).
	ErrNotFound = errors.New("account not found")
	// ErrAlreadyExists: an account with this UID already exists (409 on create).
	ErrAlreadyExists = errors.New("account already exists")
	// ErrRateLimited: the API asked the client to slow down (429); see RetryAfter.
	ErrRateLimited = errors.New("rate limited")
	// ErrTransient: the API failed or could not be reached (5xx, timeout, connection
	// error, an answer that cannot be understood). Worth retrying later.
	ErrTransient = errors.New("partnership API unavailable")
)

// Operation names used in errors and metrics.
const (
	OpCreate = "create"
	OpGet    = "get"
	OpUpdate = "update"
	OpDelete = "delete"
)

// Error is a failed call to the Partnership API. Its text names the operation, the
// account UID and the server's message; it never contains the bearer token.
type Error struct {
	// Kind is one of the Err* sentinels.
	Kind error
	// Op is the operation: create, get, update or delete.
	Op string
	// UID is the account the call was about.
	UID string
	// StatusCode is the HTTP status, or 0 when no response arrived.
	StatusCode int
	// Message is the server's human message (message or description), if any.
	Message string
	// Code is the server's machine code (a string in one dialect, a number in the
	// other), if any.
	Code string
	// RetryAfter is the delay a 429 asked for, or 0.
	RetryAfter time.Duration
	// Err is the underlying transport or decoding error, if any.
	Err error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("partnerapi: %s account %q", e.Op, e.UID)
	if e.StatusCode != 0 {
		s += fmt.Sprintf(": %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	switch {
	case e.Message != "":
		s += ": " + e.Message
	case e.Err != nil:
		s += ": " + e.Err.Error()
	default:
		s += ": " + e.Kind.Error()
	}
	return s
}

// Is reports whether target is e's kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap returns the underlying transport or decoding error.
func (e *Error) Unwrap() error { return e.Err }

// RetryAfter returns the delay a rate-limited error asked for, and whether err
// carries one.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

// ServerMessage returns the server's human message carried by err, or err's text
// when the server sent none.
func ServerMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return err.Error()
}
