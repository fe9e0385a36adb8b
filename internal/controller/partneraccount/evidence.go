package partneraccount

import (
	"context"
	"errors"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/connection"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// Evidence is tied to where it was earned. An account's absence (a 404 or 410)
// counts only when it comes from the origin that last answered for the account,
// or from one that has shown it holds that origin's accounts; an account never
// answered anywhere is absent only where the origin serves accounts at all. The
// registry (internal/connection) keeps what each origin has shown.

// absence is what a failed call says about whether the account exists.
type absence int

const (
	// notAbsent: nothing; the call failed for another reason (a 400, a 5xx, no
	// answer), which never means the account is missing.
	notAbsent absence = iota
	// absentProven: a 404 or 410 from where the account lived, or from an origin
	// that serves accounts when it never lived anywhere: the account is not there.
	absentProven
	// absentUnproven: a 404 or 410 about an account never answered anywhere, from
	// an origin that has not shown that it serves accounts, as a wrong path prefix
	// answers: nothing can be concluded.
	absentUnproven
	// absentElsewhere: a 404 or 410 from another origin than the one where the
	// account lived (another URL, token or CA bundle), which has not shown that it
	// holds that origin's accounts: the account may well be there still.
	absentElsewhere
)

// recordedOrigin is where status says pa's account was last answered; empty when
// nowhere.
func recordedOrigin(pa *billingv1alpha1.PartnerAccount) partnerapi.Origin {
	return partnerapi.Origin{URL: pa.Status.Endpoint, ID: pa.Status.EndpointID}
}

// hasOrigin reports whether o names an origin.
func hasOrigin(o partnerapi.Origin) bool { return o.URL != "" || o.ID != "" }

// absence says what err, from a call about s's account last answered at recorded,
// proves about whether the account exists there. Proving it may read accounts
// known to exist (Registry.Holds).
func (r *Reconciler) absence(ctx context.Context, s *scope, err error, recorded partnerapi.Origin) absence {
	answered, ok := partnerapi.OriginOf(err)
	if !errors.Is(err, partnerapi.ErrNotFound) || !ok {
		return notAbsent
	}
	switch {
	case r.Connections.Holds(ctx, s.conn, recorded, answered, s.pa.Spec.AccountUID):
		return absentProven
	case hasOrigin(recorded):
		return absentElsewhere
	}
	return absentUnproven
}

// answerHolds reports whether acct, an answer about s's account last answered at
// recorded, is evidence about that account: it comes from recorded (or nothing was
// recorded); or it shows the same account (same says so: its type, domain and
// creation time), which proves that its origin holds recorded's accounts; or its
// origin has shown that before. The registry learns from the answer either way.
func (r *Reconciler) answerHolds(ctx context.Context, s *scope, acct *partnerapi.Account, recorded partnerapi.Origin,
	same bool) bool {
	r.Connections.Answered(acct, recorded, same)
	if same || !hasOrigin(recorded) || connection.SameOrigin(recorded, acct.Origin) {
		return true
	}
	return r.Connections.Holds(ctx, s.conn, recorded, acct.Origin, s.pa.Spec.AccountUID)
}
