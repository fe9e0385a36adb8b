package partnerconnection

import (
	"context"
	"errors"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// scope is one reconcile of a PartnerConnection: what its steps found, which
// finish turns into the status with one write. The steps set the scope; none
// writes the status.
type scope struct {
	client.Client
	pc *billingv1alpha1.PartnerConnection
	// before is the status as the reconcile found it.
	before *billingv1alpha1.PartnerConnectionStatus

	// ready is the Ready condition the steps came to; none when Reason is empty.
	ready metav1.Condition
	// accounts and usedBy are the PartnerAccounts on the connection.
	accounts int32
	usedBy   []string
	// proven is whether the connection's server has answered with an account.
	proven bool
	// verifiedAt is when the server last accepted the token; nil to keep the one
	// status has.
	verifiedAt *metav1.Time
}

// newScope starts the scope of a reconcile of pc.
func newScope(c client.Client, pc *billingv1alpha1.PartnerConnection) *scope {
	return &scope{Client: c, pc: pc, before: pc.Status.DeepCopy(), proven: pc.Status.EndpointProven}
}

// setReady sets the Ready condition of reason, with message.
func (s *scope) setReady(reason, message string) { s.ready = condition(reason, message) }

// previousReady is the Ready condition the reconcile found, or nil.
func (s *scope) previousReady() *metav1.Condition {
	return meta.FindStatusCondition(s.before.Conditions, billingv1alpha1.ConditionReady)
}

// finish writes what the steps found into the status, with one merge patch when
// it changed. err is what the steps failed with, if anything; steps that failed
// before coming to a Ready condition write nothing.
func (s *scope) finish(ctx context.Context, err error) error {
	pc := s.pc
	if s.ready.Reason == "" && (err != nil || !pc.DeletionTimestamp.IsZero()) {
		// The steps came to nothing, or let a deleted connection go.
		return err
	}
	pc.Status.Accounts, pc.Status.UsedBy = s.accounts, s.usedBy
	pc.Status.EndpointProven = s.proven
	if s.verifiedAt != nil {
		pc.Status.LastVerifiedAt = s.verifiedAt
	}
	if s.ready.Reason != "" {
		pc.Status.ObservedGeneration = pc.Generation
		s.ready.ObservedGeneration = pc.Generation
		meta.SetStatusCondition(&pc.Status.Conditions, s.ready)
	}
	if equality.Semantic.DeepEqual(s.before, &pc.Status) {
		return err
	}
	base := pc.DeepCopy()
	base.Status = *s.before
	return errors.Join(err, client.IgnoreNotFound(s.Status().Patch(ctx, pc, client.MergeFrom(base))))
}
