package connection

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// The messages of failed Partnership API calls, for the conditions of both kinds.
// None carries a timestamp or a request id, so that retries of the same failure
// write the same condition, and none carries the partner token.

// MisconfiguredMessage says that trying to op, the operator got an answer that is
// not the Partnership API's (err), and that fix is where the URL is set.
func MisconfiguredMessage(op string, err error, fix string) string {
	return fmt.Sprintf("Trying to %s, the operator got an answer that is not the Partnership API's: %s. "+
		"Fix %s; until then nothing is concluded about the account and the call is retried with backoff", op,
		strings.TrimSuffix(StableMessage(err), "; check the base URL"), fix)
}

// UnavailableMessage says why a call failed without the API's verdict: a 5xx, or
// no answer at all, and then why none came and what to check.
func UnavailableMessage(op string, err error) string {
	if e, ok := errors.AsType[*partnerapi.Error](err); ok && e.StatusCode == 0 && e.Cause != "" {
		return fmt.Sprintf("No answer came from the Partnership API while trying to %s (%s: %s): %s. "+
			"Retrying with backoff", op, e.Cause, e.Detail, partnerapi.Hint(e.Cause))
	}
	return fmt.Sprintf("The Partnership API failed while trying to %s; retrying with backoff: %s", op, StableMessage(err))
}

// tokenSecretHint says where the token file comes from, for the messages of a
// rejected or missing token.
const tokenSecretHint = "the Secret mounted there (partner-api-token, key token, unless the chart's " +
	"partnerAPI.tokenSecret names another); it is read again when it changes, without a restart"

// UnauthorizedMessage tells a token that cannot be read from a token the API
// refused with 401 or with 403, and names where the token comes from: the default
// connection's file and Secret, or a PartnerConnection's Secret.
func UnauthorizedMessage(op string, err error) string {
	e, _ := errors.AsType[*partnerapi.Error](err)
	if e == nil {
		return fmt.Sprintf("The partner token was refused while trying to %s; fix %s", op, tokenSecretHint)
	}
	status, notSent, from, fix, source := e.StatusCode, "", "", tokenSecretHint, "file"
	switch {
	case e.TokenSecret != "":
		from, source = " from "+e.TokenSecret, "Secret"
		fix = e.TokenSecret + "; it is read again when it changes, without a restart"
	case e.TokenFile != "":
		from = " from " + e.TokenFile
	}
	if status == 0 && e.Rejected != 0 {
		status = e.Rejected
		notSent = " (this call was not sent: the API rejected the token before, so it is tried again every 2 minutes, " +
			"or at once when the " + source + " changes)"
	}
	switch {
	case e.Cause == partnerapi.CauseTokenFile:
		return fmt.Sprintf("The partner token could not be read%s while trying to %s, so nothing was sent: %v. "+
			"Create or fix %s", from, op, e.Err, fix)
	case status == http.StatusForbidden:
		return fmt.Sprintf("The Partnership API refused the partner token%s with 403 Forbidden while trying to %s%s: "+
			"1Password's servers answer 403 for a token that is wrong, revoked, or issued for the other server (test and "+
			"production tokens differ). Put the right token in %s", from, op, notSent, fix)
	}
	return fmt.Sprintf("The Partnership API rejected the partner token%s with 401 Unauthorized while trying to %s%s: "+
		"it does not accept this token (test and production tokens differ). Put the token 1Password issued for this "+
		"server in %s", from, op, notSent, fix)
}

// StatusOf is the HTTP status of the API's answer behind err, or 0.
func StatusOf(err error) int {
	if e, ok := errors.AsType[*partnerapi.Error](err); ok {
		return e.StatusCode
	}
	return 0
}

// StableMessage is err's text when it comes from the API client, whose errors carry
// no timestamps or request ids, and a fixed text otherwise, so that retries of the
// same failure write the same condition.
func StableMessage(err error) string {
	if apiErr, ok := errors.AsType[*partnerapi.Error](err); ok {
		if apiErr.StatusCode != 0 {
			return apiErr.Error()
		}
		return fmt.Sprintf("partnerapi: %s account %q: %v", apiErr.Op, apiErr.UID, apiErr.Kind)
	}
	return "unexpected error (see the operator's log)"
}
