/*
Copyright 2026.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package v1alpha1

// Condition types, following the kstatus conventions
// (sigs.k8s.io/cli-utils/pkg/kstatus) that Flux, kpt and kubectl wait understand.
const (
	// ConditionReady is always present. True: the remote account matches the spec
	// (or ended on its end date). False: it does not, and the reason says why.
	// Unknown: the controller has not found out yet, or is suspended.
	ConditionReady = "Ready"

	// ConditionReconciling is present, and True, only while the controller is
	// working towards the spec and expects to get there without help.
	ConditionReconciling = "Reconciling"

	// ConditionStalled is present, and True, only when the controller cannot go on
	// until the spec (or another PartnerAccount) changes. Its message says what to do.
	ConditionStalled = "Stalled"
)

// Reasons for Ready=True.
const (
	// ReasonAccountReady: the remote account exists and its end date matches the spec.
	ReasonAccountReady = "AccountReady"
	// ReasonEnded: the remote account was deprovisioned on its end date, as declared.
	ReasonEnded = "Ended"
)

// Reasons while the controller makes progress (Ready=Unknown or False, Reconciling=True).
const (
	// ReasonProgressing: the controller has seen a new generation and is acting on it.
	ReasonProgressing = "Progressing"
	// ReasonRateLimited: the Partnership API asked the controller to slow down;
	// it retries after the delay the API gave.
	ReasonRateLimited = "RateLimited"
	// ReasonAPIUnavailable: the Partnership API could not be reached, failed (408,
	// 425, 5xx, timeout) or refused a read; the controller retries with exponential
	// backoff.
	ReasonAPIUnavailable = "APIUnavailable"
)

// Reasons for Ready=False that need a human but not a spec change. The controller
// checks again slowly, and on every resync.
const (
	// ReasonUnauthorized: the Partnership API rejected the partner token (401 or 403).
	ReasonUnauthorized = "Unauthorized"
	// ReasonRemoteDeleted: the remote account is gone (404 or 410), deleted outside
	// the operator. It is not re-created on its own.
	ReasonRemoteDeleted = "RemoteDeleted"
	// ReasonDeprovisioned: the remote account was deprovisioned before its end date.
	ReasonDeprovisioned = "Deprovisioned"
	// ReasonAccountSuspended: 1Password reports the remote account as suspended.
	ReasonAccountSuspended = "AccountSuspended"
	// ReasonAPIEndpointMisconfigured: what answers at the Partnership API URL is not
	// the API (a 404 or 410 without the API's error body, an HTML page, a redirect);
	// the message names the URL called. Nothing is concluded about the account: the
	// status keeps what it had, finalizers stay, and calls are retried with backoff
	// until the operator's --partner-api-url is fixed.
	ReasonAPIEndpointMisconfigured = "APIEndpointMisconfigured"
	// ReasonSecretConflict: the Secret that should hold the activation token exists
	// and is not this PartnerAccount's; it is never overwritten. Delete it or name
	// another in spec.activationTokenSecretRef.
	ReasonSecretConflict = "SecretConflict"
	// ReasonEndpointUnproven: the Partnership API URL answered 404 or 410 for the
	// account, in the API's own error shape, but it has not shown that it serves
	// accounts: it never answered 2xx for this account, and has answered 2xx for no
	// account since the operator started. A wrong path prefix on the right host
	// answers that way too, so nothing is concluded: the status keeps what it had,
	// finalizers stay, and the operator reads an account it knows exists to prove
	// the endpoint. The message names the URL called.
	ReasonEndpointUnproven = "EndpointUnproven"
	// ReasonTokenSecretFailed: the Secret that should hold the activation token could
	// not be written; the message is the Kubernetes API server's. Retried with
	// backoff. The account itself is in status.accountUID.
	ReasonTokenSecretFailed = "TokenSecretFailed"
	// ReasonEndpointChanged: the account was last answered by another origin
	// (another URL, or the same URL with another partner token or CA bundle) than
	// the one the resource's connection calls now, and the new one has no such
	// account and has not shown that it holds the old one's accounts. Nothing is
	// concluded: the account is not taken for gone, never created again, its token
	// and finalizer stay, until its own server answers. The message names both.
	ReasonEndpointChanged = "EndpointChanged"
	// ReasonAccountMissing: spec.createPolicy is Never and no account has this
	// accountUID (or it is gone), so none is created; it is read again at the next
	// read-back.
	ReasonAccountMissing = "AccountMissing"
	// ReasonEndsAtNotApplied: the Partnership API answered a change of the end date
	// with an account that does not carry the end date asked for. It is tried again
	// at the next read-back, not in a loop.
	ReasonEndsAtNotApplied = "EndsAtNotApplied"
)

// Reasons for Stalled=True (and Ready=False): nothing happens until the spec changes,
// or, for a duplicate, until the PartnerAccount that owns the account goes away.
const (
	// ReasonInvalidRequest: the Partnership API refused the request (400, or 404
	// "Domain not found" on create); the message is the server's.
	ReasonInvalidRequest = "InvalidRequest"
	// ReasonAccountConflict: an account with this UID exists with a different
	// type or domain, so it cannot be adopted.
	ReasonAccountConflict = "AccountConflict"
	// ReasonDuplicateAccountUID: an older PartnerAccount in the cluster declares the
	// same accountUID and owns the remote account.
	ReasonDuplicateAccountUID = "DuplicateAccountUID"
	// ReasonAccountExists: an account with this UID, type and domain existed before
	// this resource's first create attempt. It is adopted only when
	// spec.adoptExisting is true; until then it is left alone.
	ReasonAccountExists = "AccountExists"
	// ReasonAccountDeactivated: the Partnership API answers 410 Gone for the
	// accountUID: an account under it was deactivated. The operator never creates
	// an account under it again, whatever spec.adoptExisting says. Choose another
	// accountUID, or delete this resource.
	ReasonAccountDeactivated = "AccountDeactivated"
	// ReasonAccountReplaced: the account this resource owned was replaced outside
	// the operator: the one under its accountUID now has another type, domain or
	// creation time. It is not this resource's: it is never written or deleted from
	// here. Adopt it (spec.adoptExisting, then a reconcile request), or delete this
	// resource, which deletes nothing remotely.
	ReasonAccountReplaced = "AccountReplaced"
)

// ReasonReconcileSuspended is the Ready=Unknown reason while spec.suspend is true.
const ReasonReconcileSuspended = "ReconcileSuspended"

// Reasons of a PartnerAccount whose PartnerConnection (spec.connectionRef) it
// cannot use: no call is made. The message names the connection and why.
const (
	// ReasonConnectionNotFound: no PartnerConnection has that name.
	ReasonConnectionNotFound = "ConnectionNotFound"
	// ReasonConnectionNotAllowed: the connection's namespaceSelector does not admit
	// this resource's namespace.
	ReasonConnectionNotAllowed = "ConnectionNotAllowed"
	// ReasonConnectionNotReady: the connection cannot be used yet: its token
	// Secret or CA Secret is missing or unusable, or its URL is refused.
	ReasonConnectionNotReady = "ConnectionNotReady"
)

// Reasons of a PartnerConnection's Ready condition.
const (
	// ReasonConnectionVerified (True): the token could be read, the server
	// accepted it, and it has answered with an account (status.endpointProven).
	ReasonConnectionVerified = "Verified"
	// ReasonConnectionTokenAccepted (True): the token could be read and the server
	// did not refuse it, but it has not answered with an account yet, so its
	// 404s prove nothing: a connection no account was made on yet.
	ReasonConnectionTokenAccepted = "TokenAccepted"
	// ReasonConnectionUnauthorized: the server rejected the token (401 or 403).
	ReasonConnectionUnauthorized = "Unauthorized"
	// ReasonConnectionUnreachable: no answer came, or a 5xx or 429.
	ReasonConnectionUnreachable = "Unreachable"
	// ReasonConnectionMisconfigured: the token or CA Secret is missing or
	// unusable, the URL is refused, or what answers is not the Partnership API.
	ReasonConnectionMisconfigured = "Misconfigured"
	// ReasonConnectionInUse: the connection is being deleted and waits for the
	// PartnerAccounts that use it to go.
	ReasonConnectionInUse = "InUse"
	// ReasonConnectionEndpointChanged: the server at url, with this token and CA
	// bundle, does not answer for an account known to exist on this connection as
	// the same account: the URL or the token was changed to another server or
	// partner contract. The connection's accounts are not concluded gone; their
	// conditions say EndpointChanged.
	ReasonConnectionEndpointChanged = "EndpointChanged"
)

// ConnectionFinalizer keeps a PartnerConnection while PartnerAccounts use it.
const ConnectionFinalizer = "billing.partnerbilling.io/in-use"

// Reasons of an observed resource (spec.managementPolicy Observe).
const (
	// ReasonAccountObserved (Ready=True): the account exists and was read; the
	// controller writes nothing to it. status.drift says how it differs from the spec.
	ReasonAccountObserved = "AccountObserved"
	// ReasonObservedAccountMissing (Ready=False): no account has this UID, or it is
	// gone. An observed resource never creates one.
	ReasonObservedAccountMissing = "ObservedAccountMissing"
)

// Event reasons, beside the failure reasons above (Reasons[r].Warning), which are
// recorded once each time the Ready condition changes to one of them.
const (
	// EventCreated: the controller created the remote account.
	EventCreated = "Created"
	// EventAdopted: the remote account existed before this resource's first create
	// attempt, spec.adoptExisting is true, and this resource now manages it.
	EventAdopted = "Adopted"
	// EventRecovered: a create whose answer was lost had created the account; this
	// resource found it and manages it.
	EventRecovered = "Recovered"
	// EventUpdated: the controller changed the remote account's end date.
	EventUpdated = "Updated"
	// EventDeleted: the controller deactivated the remote account, or found it already gone.
	EventDeleted = "Deleted"
	// EventOrphaned: the resource was deleted and the remote account left as it is.
	EventOrphaned = "Orphaned"
	// EventProvisioned: the customer signed up; the account became provisioned
	// (status.provisionedAt). Recorded once.
	EventProvisioned = "Provisioned"
	// EventInvalidAnnotation (Warning): an annotation of the operator's has a value
	// it cannot use; the message names it and says what applies instead.
	EventInvalidAnnotation = "InvalidAnnotation"
	// EventOrphanedByUninstall (Warning): the resource was deleted because its
	// CustomResourceDefinition is being deleted, so the remote account was left as
	// it is, whatever spec.deletionPolicy says.
	EventOrphanedByUninstall = "OrphanedByUninstall"
)

// Finalizer keeps a PartnerAccount until the controller has dealt with its remote account.
const Finalizer = "billing.partnerbilling.io/finalizer"

// Labels on the Secrets the controller writes. The operator caches only Secrets
// with ManagedByLabel set to ManagedByValue.
const (
	// ManagedByLabel marks a Secret as the operator's.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedByValue is ManagedByLabel's value on the operator's Secrets.
	ManagedByValue = "partner-account-operator"
	// PartnerAccountLabel names the PartnerAccount a Secret belongs to.
	PartnerAccountLabel = "billing.partnerbilling.io/partneraccount"
)

// Keys of an activation token Secret.
const (
	// SecretKeyActivationToken holds the activation token.
	SecretKeyActivationToken = "activationToken"
	// SecretKeyRedemptionURL holds the ready-to-send redemption link.
	SecretKeyRedemptionURL = "redemptionURL"
	// SecretKeyAccountUID holds the account's UID.
	SecretKeyAccountUID = "accountUID"
)

// ReadBackIntervalAnnotation, set to a Go duration (30s, 5m, 12h), makes the
// controller read this resource's account back at that interval instead of the
// schedule's; 0 means never, except when asked with ReconcileRequestedAtAnnotation.
// An invalid value gets a Warning event naming the annotation, and the schedule
// applies.
const ReadBackIntervalAnnotation = "billing.partnerbilling.io/read-back-interval"

// ReconcileRequestedAtAnnotation, set to any new value (a timestamp, say), makes the
// controller read the remote account again at once, even when Stalled; suspend
// still wins. status.lastHandledReconcileAt echoes the value handled. It follows
// Flux's reconcile.fluxcd.io/requestedAt.
const ReconcileRequestedAtAnnotation = "billing.partnerbilling.io/reconcile-requested-at"
