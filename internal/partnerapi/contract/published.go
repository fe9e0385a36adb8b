package contract

import (
	"embed"
	"fmt"
)

//go:embed published/*.json
var published embed.FS

// Published fixtures: bodies in the dialect 1Password's servers speak, built from the
// examples in partner-api-facts.md (customer_account_uid, deployed_members,
// updated_at, "ends_at": null, and errors shaped {description, code, error}).
const (
	// PublishedAccountEntitled is a new Individual account with an end date.
	PublishedAccountEntitled = "account_entitled.json"
	// PublishedAccountNoEndDate is a provisioned Family account whose end date is null.
	PublishedAccountNoEndDate = "account_no_end_date.json"
	// PublishedErrorForbidden is the 403 answer to a missing or rejected token.
	PublishedErrorForbidden = "error_forbidden.json"
	// PublishedErrorDomainNotFound is the 404 answer to a create in an unknown domain.
	PublishedErrorDomainNotFound = "error_domain_not_found.json"
	// PublishedErrorGone is the 410 answer to reading a deleted account.
	PublishedErrorGone = "error_gone.json"
	// PublishedErrorUpdateDeleted is the 400 answer to changing a deleted account's end date.
	PublishedErrorUpdateDeleted = "error_update_deleted.json"
	// PublishedErrorEndsAtPast is the 400 answer to an end date in the past.
	PublishedErrorEndsAtPast = "error_ends_at_past.json"
	// PublishedErrorInternal is the 500 answer documented on every operation.
	PublishedErrorInternal = "error_internal.json"
)

// PublishedFixture returns the body of the named published fixture.
func PublishedFixture(name string) []byte {
	b, err := published.ReadFile("published/" + name)
	if err != nil {
		panic(fmt.Sprintf("contract: no published fixture %q", name))
	}
	return b
}
