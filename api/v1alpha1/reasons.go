package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Retry says when the controller looks at a PartnerAccount again after a
// reconcile that ended with a reason.
type Retry string

const (
	// RetryOnChange: only when the spec changes or a reconcile is requested
	// (ReconcileRequestedAtAnnotation); with RetryOnPeerChange also when another
	// PartnerAccount with the same accountUID on the same connection comes or goes.
	RetryOnChange Retry = "OnChange"
	// RetryBackoff: with per-object jittered exponential backoff, from one second
	// up to five minutes.
	RetryBackoff Retry = "Backoff"
	// RetryAfterPause: once the delay the Partnership API asked for (Retry-After)
	// has passed.
	RetryAfterPause Retry = "AfterPause"
	// RetrySlowly: every two minutes (±20%), and at once when the API accepts the
	// partner token again.
	RetrySlowly Retry = "Slowly"
	// RetryReadBack: at the resource's next background read-back.
	RetryReadBack Retry = "ReadBack"
)

// Alert is the alert of config/prometheus/prometheus_rule.yaml that fires when
// PartnerAccounts keep a reason for long.
type Alert string

const (
	// AlertNone: no alert counts the reason.
	AlertNone Alert = "None"
	// AlertStalled: PartnerAccountsStalled.
	AlertStalled Alert = "PartnerAccountsStalled"
	// AlertFailing: PartnerAccountsFailing.
	AlertFailing Alert = "PartnerAccountsFailing"
	// AlertTokenRejected: PartnerAPITokenRejected.
	AlertTokenRejected Alert = "PartnerAPITokenRejected"
)

// Health is the health Argo CD's check (argocd/.../PartnerAccount/health.lua)
// gives a PartnerAccount whose status describes its generation.
type Health string

const (
	// HealthHealthy: as declared.
	HealthHealthy Health = "Healthy"
	// HealthProgressing: getting there without help.
	HealthProgressing Health = "Progressing"
	// HealthDegraded: a person has to act.
	HealthDegraded Health = "Degraded"
	// HealthSuspended: paused on purpose.
	HealthSuspended Health = "Suspended"
)

// ReasonInfo is what one Ready reason means: how the conditions show it, when the
// controller looks again, which alert counts it and what Argo CD calls it.
// +kubebuilder:object:generate=false
type ReasonInfo struct {
	// Ready is the Ready condition's status.
	Ready metav1.ConditionStatus
	// Reconciling is whether Reconciling=True goes with it.
	Reconciling bool
	// Stalled is whether Stalled=True goes with it.
	Stalled bool
	// Warning is whether a Warning event is recorded when the Ready condition
	// changes to it.
	Warning bool
	// Retry is when the controller looks again.
	Retry Retry
	// Alert is the alert that counts it.
	Alert Alert
	// Health is Argo CD's health.
	Health Health
	// ReadFirst is whether a resource with the reason reads its account before it
	// may create one: an account was found under its accountUID that is not its
	// own, or its server changed.
	ReadFirst bool
	// Outage is whether the reason is one of a failing or throttling API: within
	// one outage the status keeps the first such reason, so that an outage writes
	// one status change per account however the answers mix.
	Outage bool
	// RetryOnPeerChange is whether the resource is looked at again when another
	// PartnerAccount with its accountUID on its connection comes or goes, even when
	// its spec did not change.
	RetryOnPeerChange bool
	// RetryOnConnectionChange is whether the resource is looked at again at once
	// when its connection changes (created, its spec edited, its Ready flipped, its
	// token accepted again): it waits for the connection. Other resources wait for
	// their own schedule, so that a connection's change costs no read.
	RetryOnConnectionChange bool
}

// Reasons holds every reason the controller writes in the Ready condition, and what
// each means. The controller's conditions and requeues, its metrics, the alerts,
// the Argo CD health check and the README's table all follow it; tests hold them to
// it. Adding a reason means adding it here.
var Reasons = map[string]ReasonInfo{
	ReasonAccountReady: {Ready: metav1.ConditionTrue, Retry: RetryReadBack, Alert: AlertNone, Health: HealthHealthy},
	ReasonAccountObserved: {Ready: metav1.ConditionTrue, Retry: RetryReadBack, Alert: AlertNone,
		Health: HealthHealthy},
	ReasonEnded: {Ready: metav1.ConditionTrue, Retry: RetryReadBack, Alert: AlertNone, Health: HealthHealthy},

	ReasonProgressing: {Ready: metav1.ConditionUnknown, Reconciling: true, Retry: RetryBackoff, Alert: AlertNone,
		Health: HealthProgressing},
	ReasonReconcileSuspended: {Ready: metav1.ConditionUnknown, Retry: RetryOnChange, Alert: AlertNone,
		Health: HealthSuspended},
	ReasonRateLimited: {Ready: metav1.ConditionFalse, Reconciling: true, Warning: true, Retry: RetryAfterPause,
		Alert: AlertFailing, Health: HealthProgressing, Outage: true},
	ReasonAPIUnavailable: {Ready: metav1.ConditionFalse, Reconciling: true, Warning: true, Retry: RetryBackoff,
		Alert: AlertFailing, Health: HealthProgressing, Outage: true},

	ReasonUnauthorized: {Ready: metav1.ConditionFalse, Warning: true, Retry: RetrySlowly, Alert: AlertTokenRejected,
		Health: HealthDegraded, RetryOnConnectionChange: true},
	ReasonRemoteDeleted: {Ready: metav1.ConditionFalse, Warning: true, Retry: RetryReadBack, Alert: AlertFailing,
		Health: HealthDegraded},
	ReasonDeprovisioned: {Ready: metav1.ConditionFalse, Warning: true, Retry: RetryReadBack, Alert: AlertFailing,
		Health: HealthDegraded},
	ReasonAccountSuspended: {Ready: metav1.ConditionFalse, Warning: true, Retry: RetryReadBack, Alert: AlertFailing,
		Health: HealthDegraded},
	ReasonAPIEndpointMisconfigured: {Ready: metav1.ConditionFalse, Warning: true, Retry: RetryBackoff,
		Alert: AlertFailing, Health: HealthDegraded, RetryOnConnectionChange: true},
	ReasonEndpointUnproven: {Ready: metav1.ConditionFalse, Warning: true, Retry: RetryBackoff, Alert: AlertFailing,
		Health: HealthDegraded, RetryOnConnectionChange: true},
	ReasonEndpointChanged: {Ready: metav1.ConditionFalse, Warning: true, Retry: RetryReadBack, Alert: AlertFailing,
		Health: HealthDegraded, ReadFirst: true, RetryOnConnectionChange: true},
	ReasonAccountMissing: {Ready: metav1.ConditionFalse, Warning: true, Retry: RetryReadBack, Alert: AlertFailing,
		Health: HealthDegraded},
	ReasonSecretConflict: {Ready: metav1.ConditionFalse, Warning: true, Retry: RetrySlowly, Alert: AlertFailing,
		Health: HealthDegraded},
	ReasonTokenSecretFailed: {Ready: metav1.ConditionFalse, Warning: true, Retry: RetryBackoff, Alert: AlertFailing,
		Health: HealthDegraded},
	ReasonEndsAtNotApplied: {Ready: metav1.ConditionFalse, Warning: true, Retry: RetryReadBack, Alert: AlertFailing,
		Health: HealthDegraded},
	ReasonObservedAccountMissing: {Ready: metav1.ConditionFalse, Warning: true, Retry: RetryReadBack,
		Alert: AlertFailing, Health: HealthDegraded},
	ReasonConnectionNotFound: {Ready: metav1.ConditionFalse, Warning: true, Retry: RetrySlowly, Alert: AlertFailing,
		Health: HealthDegraded, RetryOnConnectionChange: true},
	ReasonConnectionNotAllowed: {Ready: metav1.ConditionFalse, Warning: true, Retry: RetrySlowly, Alert: AlertFailing,
		Health: HealthDegraded, RetryOnConnectionChange: true},
	ReasonConnectionNotReady: {Ready: metav1.ConditionFalse, Warning: true, Retry: RetrySlowly, Alert: AlertFailing,
		Health: HealthDegraded, RetryOnConnectionChange: true},

	ReasonInvalidRequest: {Ready: metav1.ConditionFalse, Stalled: true, Warning: true, Retry: RetryOnChange,
		Alert: AlertStalled, Health: HealthDegraded},
	ReasonAccountConflict: {Ready: metav1.ConditionFalse, Stalled: true, Warning: true, Retry: RetryOnChange,
		Alert: AlertStalled, Health: HealthDegraded, ReadFirst: true},
	ReasonDuplicateAccountUID: {Ready: metav1.ConditionFalse, Stalled: true, Warning: true, Retry: RetryOnChange,
		Alert: AlertStalled, Health: HealthDegraded, RetryOnPeerChange: true},
	ReasonAccountExists: {Ready: metav1.ConditionFalse, Stalled: true, Warning: true, Retry: RetryOnChange,
		Alert: AlertStalled, Health: HealthDegraded, ReadFirst: true},
	ReasonAccountReplaced: {Ready: metav1.ConditionFalse, Stalled: true, Warning: true, Retry: RetryOnChange,
		Alert: AlertStalled, Health: HealthDegraded, ReadFirst: true},
	ReasonAccountDeactivated: {Ready: metav1.ConditionFalse, Stalled: true, Warning: true, Retry: RetryOnChange,
		Alert: AlertStalled, Health: HealthDegraded, ReadFirst: true},
}

// ConnectionReasons are the reasons of a PartnerConnection's Ready condition and
// the status each goes with. A PartnerConnection's Ready says nothing about the
// PartnerAccounts on it: each has its own.
var ConnectionReasons = map[string]metav1.ConditionStatus{
	ReasonConnectionVerified:        metav1.ConditionTrue,
	ReasonConnectionTokenAccepted:   metav1.ConditionTrue,
	ReasonConnectionUnauthorized:    metav1.ConditionFalse,
	ReasonConnectionUnreachable:     metav1.ConditionFalse,
	ReasonConnectionMisconfigured:   metav1.ConditionFalse,
	ReasonConnectionInUse:           metav1.ConditionFalse,
	ReasonConnectionEndpointChanged: metav1.ConditionFalse,
}
