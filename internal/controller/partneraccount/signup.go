package partneraccount

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// Signups: the customer redeems the activation token and the account becomes
// provisioned; the read-backs see it.

// provisionedAt is when an account answered at readAt became provisioned, given
// the time status records (recorded, nil when none): once recorded it stays; the
// first answer that shows the account provisioned gives its updated_at, where the
// API reports one, and otherwise the time of that answer.
func provisionedAt(recorded *metav1.Time, acct *partnerapi.Account, readAt time.Time) *metav1.Time {
	switch {
	case recorded != nil:
		return recorded
	case acct.Status != partnerapi.StatusProvisioned:
		return nil
	case acct.UpdatedAt != nil:
		return toMetaTime(acct.UpdatedAt)
	}
	return toMetaTime(&readAt)
}

// observeSignup records, once, that the customer signed up: the Provisioned event,
// the time from the account's creation to it, and, when the read before saw the
// account still entitled, how long after it the operator saw it.
func (r *Reconciler) observeSignup(pa *billingv1alpha1.PartnerAccount,
	previous *billingv1alpha1.PartnerAccountStatus, seen time.Time) {
	at := pa.Status.ProvisionedAt
	if previous.ProvisionedAt != nil || at == nil {
		return
	}
	r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventProvisioned, "Observe",
		"The customer signed up: remote account %q is provisioned since %s", pa.Spec.AccountUID,
		at.UTC().Format(time.RFC3339))
	if c := pa.Status.CreatedAt; c != nil {
		timeToProvisioned.Observe(at.Sub(c.Time).Seconds())
	}
	if previous.AccountStatus == partnerapi.StatusEntitled {
		detectionLag.Observe(max(seen.Sub(at.Time), 0).Seconds())
	}
}
