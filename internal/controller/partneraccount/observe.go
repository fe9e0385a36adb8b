package partneraccount

import (
	"context"
	"fmt"
	"strings"
	"time"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/controller"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// observing reports whether pa only observes its account (spec.managementPolicy
// Observe).
func observing(pa *billingv1alpha1.PartnerAccount) bool {
	return pa.Spec.ManagementPolicy == billingv1alpha1.ManagementPolicyObserve
}

// deletionPolicyOf is the deletion policy in effect for pa: its own, or the
// operator's default when it sets none.
func deletionPolicyOf(pa *billingv1alpha1.PartnerAccount, operatorDefault billingv1alpha1.DeletionPolicy) billingv1alpha1.DeletionPolicy {
	if pa.Spec.DeletionPolicy != "" {
		return pa.Spec.DeletionPolicy
	}
	if operatorDefault == "" {
		return billingv1alpha1.DeletionPolicyDelete
	}
	return operatorDefault
}

// observeAccount reads the account of an observed resource, and does nothing else
// with the Partnership API: no create, no change, no deletion. An observed resource
// needs no finalizer, so one left from when it was managed is taken off.
func (r *Reconciler) observeAccount(ctx context.Context, s *scope) error {
	pa := s.pa
	if err := controller.SetFinalizer(ctx, r.Client, pa, billingv1alpha1.Finalizer, false); err != nil {
		return err
	}
	uid := pa.Spec.AccountUID
	recorded := recordedOrigin(pa)
	acct, err := s.conn.API.Get(ctx, uid)
	if err != nil {
		switch r.absence(ctx, s, err, recorded) {
		case absentProven:
			s.gone = true
			s.conclude(observedMissingOutcome(uid))
		case absentUnproven:
			s.conclude(unprovenOutcome("read the account", err))
		case absentElsewhere:
			answered, _ := partnerapi.OriginOf(err)
			s.conclude(endpointChangedOutcome("read the account", uid, recorded, answered))
		default:
			s.conclude(readErrorOutcome("read the account", err))
		}
		return nil
	}
	change := identityChange(&pa.Spec, pa.Status.CreatedAt, acct)
	if owns(pa) && !r.answerHolds(ctx, s, acct, recorded, sameAccount(pa.Status.CreatedAt, acct, change)) {
		s.conclude(endpointChangedOutcome("read the account", uid, recorded, acct.Origin))
		return nil
	}
	if owns(pa) && change != "" {
		// Not the account it owned when it was managed: that ownership is over.
		s.ownership = ownDropped
	}
	r.Connections.Answered(acct, partnerapi.Origin{}, false)
	s.observe(acct)
	s.observed = true
	s.conclude(observedOutcome(acct, driftOf(&pa.Spec, acct)))
	return nil
}

// observedOutcome is the outcome of reading an observed resource's account.
func observedOutcome(acct *partnerapi.Account, drift []billingv1alpha1.Drift) outcome {
	message := fmt.Sprintf("Observed, not managed: the account is %s, and nothing is written to it", acct.Status)
	if len(drift) > 0 {
		fields := make([]string, 0, len(drift))
		for _, d := range drift {
			fields = append(fields, string(d.Field))
		}
		message += fmt.Sprintf(". It differs from the spec in %s (see status.drift)", strings.Join(fields, ", "))
	}
	return outcome{reason: billingv1alpha1.ReasonAccountObserved, message: message}
}

// observedMissingOutcome is the outcome when an observed resource's account does
// not exist.
func observedMissingOutcome(uid string) outcome {
	return outcome{reason: billingv1alpha1.ReasonObservedAccountMissing,
		message: fmt.Sprintf("No account %q exists, or it is gone; an observed resource never creates one. Check "+
			"spec.accountUID, or set spec.managementPolicy to Manage to create it", uid)}
}

// driftOf lists where acct differs from spec: type, domain, and the end date at
// one-second precision.
func driftOf(spec *billingv1alpha1.PartnerAccountSpec, acct *partnerapi.Account) []billingv1alpha1.Drift {
	var drift []billingv1alpha1.Drift
	if t := apiAccountType(spec.AccountType); acct.Type != t {
		drift = append(drift, billingv1alpha1.Drift{Field: billingv1alpha1.DriftAccountType,
			Declared: string(spec.AccountType), Remote: strings.Trim(describeType(acct.Type), `"`)})
	}
	if !strings.EqualFold(acct.Domain, spec.Domain) {
		drift = append(drift, billingv1alpha1.Drift{Field: billingv1alpha1.DriftDomain, Declared: spec.Domain, Remote: acct.Domain})
	}
	if endsAtDiffers(spec.EndsAt, acct.EndsAt) {
		d := billingv1alpha1.Drift{Field: billingv1alpha1.DriftEndsAt}
		if spec.EndsAt != nil {
			d.Declared = spec.EndsAt.UTC().Format(time.RFC3339)
		}
		if acct.EndsAt != nil {
			d.Remote = acct.EndsAt.UTC().Truncate(time.Second).Format(time.RFC3339)
		}
		drift = append(drift, d)
	}
	return drift
}
