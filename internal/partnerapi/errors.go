package partnerapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Kinds of failure, matched with errors.Is. Every error the client returns is an
// *Error whose Kind is one of these.
var (
	// ErrInvalidRequest: the API refused the request as it stands (400; 404 on create,
	// "Domain not found"). Retrying the same request will not help.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrUnauthorized: the API rejected the bearer token (401 or 403), or the token
	// file could not be read or is empty.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotFound: the account does not exist or is gone (404 or 410 on read, update
	// and delete).
	ErrNotFound = errors.New("account not found")
	// ErrAlreadyExists: an account with this UID already exists (409 on create).
	ErrAlreadyExists = errors.New("account already exists")
	// ErrRateLimited: the API asked the client to slow down (429); see RetryAfter.
	ErrRateLimited = errors.New("rate limited")
	// ErrTransient: the API failed or could not be reached (408, 425, 5xx, timeout,
	// connection error, a JSON answer that cannot be understood). Worth retrying
	// later.
	ErrTransient = errors.New("partnership API unavailable")
	// ErrMisconfigured: what answered is not the Partnership API: a 404 or 410
	// without the API's error body, an HTML page or another content type the API
	// never sends, a redirect. The base URL is probably wrong. Nothing can be
	// concluded about the account; Error.URL names what was called.
	ErrMisconfigured = errors.New("not the Partnership API")
)

// Operation names used in errors and metrics.
const (
	// OpCreate is Client.Create.
	OpCreate = "create"
	// OpGet is Client.Get.
	OpGet = "get"
	// OpUpdate is Client.Update.
	OpUpdate = "update"
	// OpDelete is Client.Delete.
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
	// URL is the address that was called, set whenever an answer arrived. The
	// text of ErrMisconfigured errors names it, so that a wrong base URL is easy to
	// spot.
	URL string
	// ContentType is the response's Content-Type, on ErrMisconfigured errors.
	ContentType string
	// Message is the server's human message (message or description), if any.
	Message string
	// Code is the server's machine code (a string in one dialect, a number in the
	// other), if any.
	Code string
	// RetryAfter is the delay a 429 asked for (at least one second, also when the
	// server named none), or the delay a 503 named in Retry-After; otherwise 0.
	RetryAfter time.Duration
	// Cause says why no answer came (CauseDNS, CauseTLS, CauseConnect,
	// CauseTimeout, CauseProxy, CauseNetwork), or that the token file could not be
	// read (CauseTokenFile); "" otherwise. Hint(Cause) says what to check.
	Cause string
	// Detail describes a call that got no answer, in words that stay the same from
	// one attempt to the next.
	Detail string
	// Rejected is the status (401 or 403) the API rejected the token with, on a
	// call refused without being sent because of it.
	Rejected int
	// TokenFile is the bearer token file, on ErrUnauthorized errors; TokenSecret
	// names the Secret the token comes from instead, for a PartnerConnection.
	TokenFile, TokenSecret string
	// Origin is where the answer came from, on a call that was sent.
	Origin Origin
	// Err is the underlying transport or decoding error, if any.
	Err error
}

// Error returns "partnerapi: <op> account "<uid>"", then the HTTP status when a
// response arrived, then the server's message, the underlying error or the kind.
func (e *Error) Error() string {
	s := fmt.Sprintf("partnerapi: %s account %q", e.Op, e.UID)
	if e.StatusCode != 0 {
		s += fmt.Sprintf(": %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	if e.Kind == ErrMisconfigured {
		s += " from " + e.URL
		if e.ContentType != "" {
			s += " (" + e.ContentType + ")"
		}
		return s + ", which is not an answer of the Partnership API; check the base URL"
	}
	switch {
	case e.Message != "":
		s += ": " + e.Message
	case e.StatusCode == 0 && e.Detail != "":
		s += ": no answer (" + e.Cause + "): " + e.Detail
	case e.Err != nil:
		s += ": " + e.Err.Error()
	default:
		s += ": " + e.Kind.Error()
	}
	return s
}

// Gone reports whether err is the API's 410 Gone for an account: 1Password's
// servers answer so for an account that was deactivated, and 404 only for an id
// never created. An account that is gone is never made again under its UID by the
// operator.
func Gone(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.Kind == ErrNotFound && e.StatusCode == http.StatusGone
}

// OriginOf returns the origin of the answer behind err, and false when no answer
// came (the call was not sent, or failed before an answer arrived).
func OriginOf(err error) (Origin, bool) {
	e, ok := errors.AsType[*Error](err)
	if !ok || e.Origin.URL == "" {
		return Origin{}, false
	}
	return e.Origin, true
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

// Bounds of the delay a Retry-After header may ask for. The minimum also applies
// when a 429 carries no usable Retry-After, so a caller honouring it never retries
// at once.
const (
	minRetryAfter = time.Second
	maxRetryAfter = time.Hour
)

// responseError maps a non-2xx answer to an *Error. body is decoded in either error
// dialect. Only an answer carrying the API's own error body may mean that an account
// is gone, exists, or was refused: a 404 page from a proxy or a wrong path says
// nothing about the account, so it is ErrMisconfigured, as are redirects, which the
// API never sends. The bearer token is removed from the server's text before that
// text is cut to length, so that no part of it survives a cut.
func responseError(op, uid, target string, status int, header http.Header, body []byte, now time.Time,
	token string) *Error {
	message, code, fromAPI := decodeErrorBody(header.Get("Content-Type"), body)
	e := &Error{Kind: kindFor(op, status, fromAPI), Op: op, UID: uid, StatusCode: status, URL: target,
		Message: clean(redactText(message, token), maxMessageLen), Code: clean(redactText(code, token), maxCodeLen)}
	if e.Kind == ErrMisconfigured {
		e.ContentType = clean(redactText(header.Get("Content-Type"), token), maxCodeLen)
		e.Message, e.Code = "", ""
	}
	switch status {
	case http.StatusTooManyRequests:
		e.RetryAfter = parseRetryAfter(header.Get("Retry-After"), now)
	case http.StatusServiceUnavailable:
		if h := header.Get("Retry-After"); h != "" {
			e.RetryAfter = parseRetryAfter(h, now)
		}
	}
	return e
}

// kindFor maps an HTTP status other than 2xx to the kind of error it means for op.
// fromAPI says whether the body is an error body in one of the API's two shapes:
// without it, a status that would say something about the account (404, 410, 409,
// 400 and the other refusals) comes from something that is not the API.
func kindFor(op string, status int, fromAPI bool) error {
	switch {
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		// Also from an authenticating proxy: either way the credentials are refused.
		return ErrUnauthorized
	case status == http.StatusTooManyRequests:
		return ErrRateLimited
	case status == http.StatusRequestTimeout, status == http.StatusTooEarly, status >= 500:
		return ErrTransient
	case status < 400, !fromAPI:
		// 1xx and 3xx (a redirect is not followed: it would be a second request), or
		// a refusal without the API's error body.
		return ErrMisconfigured
	case status == http.StatusNotFound && op == OpCreate:
		// Published servers answer a create in an unknown domain with 404
		// "Domain not found.".
		return ErrInvalidRequest
	case status == http.StatusNotFound, status == http.StatusGone:
		return ErrNotFound
	case status == http.StatusConflict:
		return ErrAlreadyExists
	default:
		return ErrInvalidRequest
	}
}

// parseRetryAfter reads a Retry-After value given as delta-seconds or as an HTTP
// date (relative to now). The result is clamped to [minRetryAfter, maxRetryAfter];
// an absent or unparsable value, or a date in the past, gives minRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	var d time.Duration
	if v != "" && strings.Trim(v, "0123456789") == "" {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil || secs > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter // only digits, so the error is an overflow
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, minRetryAfter), maxRetryAfter)
}

// redacted replaces the bearer token wherever server text or an underlying error
// would carry it into an error message.
const redacted = "[REDACTED]"

// redactText replaces token in s.
func redactText(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, redacted)
}

// redact removes token from e's message, code, content type and underlying error text.
func redact(e *Error, token string) {
	if token == "" {
		return
	}
	e.Message = redactText(e.Message, token)
	e.Code = redactText(e.Code, token)
	e.ContentType = redactText(e.ContentType, token)
	if e.Err != nil && strings.Contains(e.Err.Error(), token) {
		e.Err = &redactedError{msg: strings.ReplaceAll(e.Err.Error(), token, redacted), err: e.Err}
	}
}

// redactedError is an error whose text had the token removed.
type redactedError struct {
	msg string
	err error
}

func (r *redactedError) Error() string { return r.msg }

// Is keeps errors.Is(err, context.DeadlineExceeded) and the like working without
// exposing the unredacted error through Unwrap.
func (r *redactedError) Is(target error) bool { return errors.Is(r.err, target) }

// NotSent reports whether err is a call the client refused without sending a
// request, because the API asked it to wait (a Retry-After pause) or rejects the
// partner token: such a call says nothing new about the account.
func NotSent(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && (errors.Is(e.Err, errPaused) || errors.Is(e.Err, errNotSent))
}
