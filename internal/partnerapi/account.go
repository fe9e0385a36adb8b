// Package partnerapi is the operator's client for the 1Password Partnership API.
//
// The API has two descriptions that disagree: the contract the project was given
// (contract/partnership-openapi.yml) and the dialect 1Password's servers speak
// (fixtures in contract/published). The client sends what both accept and accepts
// what either sends, so it works against either kind of server with nothing to
// configure: the id goes out under both names and is read from either, 401 and 403
// both mean unauthorized, 404 and 410 both mean gone, and either error body decodes.
package partnerapi

import (
	"context"
	"time"
)

// AccountType is the account type as the API spells it.
type AccountType string

const (
	// AccountTypeIndividual is a 1Password Individual account.
	AccountTypeIndividual AccountType = "I"
	// AccountTypeFamily is a 1Password Families account.
	AccountTypeFamily AccountType = "F"
)

// Remote account statuses the descriptions name. The API may send others; they are
// kept as they are.
const (
	// StatusEntitled: created, the customer has not signed up yet.
	StatusEntitled = "entitled"
	// StatusProvisioned: the customer completed signup.
	StatusProvisioned = "provisioned"
	// StatusActivated is named only by the given contract.
	StatusActivated = "activated"
	// StatusSuspended is named only by the given contract.
	StatusSuspended = "suspended"
	// StatusDeprovisioned is named only by the given contract.
	StatusDeprovisioned = "deprovisioned"
)

// Account is a partner billing account as the API reports it.
type Account struct {
	// UID is the partner's identifier for the account.
	UID string
	// Type is I or F.
	Type AccountType
	// Domain is the 1Password domain the customer signs up in.
	Domain string
	// Status is the remote status exactly as sent (entitled, provisioned, ...).
	Status string
	// ActivationToken is the coupon code the customer redeems.
	ActivationToken string
	// EndsAt is the end date; nil means none.
	EndsAt *time.Time
	// CreatedAt is when the account was created; zero when the server did not say.
	CreatedAt time.Time
	// DeployedMembers is the number of members in the customer's account, when the
	// server reports it (published dialect only).
	DeployedMembers *int
	// UpdatedAt is when the account last changed, when the server reports it
	// (published dialect only).
	UpdatedAt *time.Time
	// Origin is where the answer came from.
	Origin Origin
}

// CreateRequest describes an account to create.
type CreateRequest struct {
	// UID is the partner's identifier for the new account.
	UID string
	// Type is I or F.
	Type AccountType
	// Domain is the 1Password domain the customer signs up in.
	Domain string
	// EndsAt is the optional end date; nil means none.
	EndsAt *time.Time
}

// Client is what the operator needs from the Partnership API. Every call returns
// an *Error on failure, which errors.Is matches against ErrInvalidRequest,
// ErrUnauthorized, ErrNotFound, ErrAlreadyExists, ErrRateLimited, ErrTransient or
// ErrMisconfigured.
type Client interface {
	// Create creates an account. ErrAlreadyExists (or another ErrInvalidRequest)
	// may mean an earlier create succeeded and its response was lost.
	Create(ctx context.Context, req CreateRequest) (*Account, error)
	// Get reads an account. ErrNotFound means it was never created or is gone.
	Get(ctx context.Context, uid string) (*Account, error)
	// UpdateEndsAt sets the account's end date; nil clears it.
	UpdateEndsAt(ctx context.Context, uid string, endsAt *time.Time) (*Account, error)
	// Delete deactivates an account. ErrNotFound means it was already gone.
	Delete(ctx context.Context, uid string) error

	// Endpoint returns the base URL the client calls.
	Endpoint() string
	// Origin returns the origin the client's calls come from now: its URL, and
	// the identity of that URL with the partner token it holds now.
	Origin() Origin
	// Now returns the time on the API's clock (from the Date header of its latest
	// answer) and true, or the local time and false before any answer had one.
	Now() (time.Time, bool)
	// Timeout returns how long one request may take at most.
	Timeout() time.Duration
	// Blocked returns the error a call of op about uid would fail with now without
	// sending anything (a Retry-After pause, a rejected token), or nil.
	Blocked(op, uid string) error
}
