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

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// AccountType is the kind of 1Password account a partner billing account pays for.
// +kubebuilder:validation:Enum=Individual;Family
type AccountType string

const (
	// AccountTypeIndividual is a 1Password Individual account (sent to the API as "I").
	AccountTypeIndividual AccountType = "Individual"
	// AccountTypeFamily is a 1Password Families account (sent to the API as "F").
	AccountTypeFamily AccountType = "Family"
)

// DeletionPolicy says what deleting a PartnerAccount does to the remote account.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionPolicyDelete deactivates the remote account when the resource is deleted.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphan leaves the remote account as it is when the resource is deleted.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// ManagementPolicy says what the controller may do with the remote account.
// +kubebuilder:validation:Enum=Manage;Observe
type ManagementPolicy string

const (
	// ManagementPolicyManage creates the account, changes its end date and
	// deactivates it as the deletion policy says: the default.
	ManagementPolicyManage ManagementPolicy = "Manage"
	// ManagementPolicyObserve only reads the account: no create, no change, no
	// deletion, whatever the spec says.
	ManagementPolicyObserve ManagementPolicy = "Observe"
)

// CreatePolicy says whether the controller may create the remote account.
// +kubebuilder:validation:Enum=IfMissing;Never
type CreatePolicy string

const (
	// CreatePolicyIfMissing creates the account when none has its accountUID: the
	// default.
	CreatePolicyIfMissing CreatePolicy = "IfMissing"
	// CreatePolicyNever never creates it: the resource manages an account that
	// exists (adopting it with adoptExisting), and when there is none it says so
	// (AccountMissing) and waits for a person. kubectl partneraccount import writes it.
	CreatePolicyNever CreatePolicy = "Never"
)

// PartnerAccountSpec declares one customer's partner billing account.
// +kubebuilder:validation:XValidation:rule="has(self.connectionRef) == has(oldSelf.connectionRef) && (!has(self.connectionRef) || self.connectionRef.name == oldSelf.connectionRef.name)",message="connectionRef is immutable: an account belongs to the server that made it"
type PartnerAccountSpec struct {
	// accountUID is the partner's identifier for the customer's billing account.
	// It names the remote account and cannot be changed.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9.-]+$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="accountUID is immutable"
	AccountUID string `json:"accountUID"`

	// accountType is the 1Password account the customer gets: Individual or Family.
	// It cannot be changed.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="accountType is immutable"
	AccountType AccountType `json:"accountType"`

	// domain is the 1Password domain the customer signs up in, such as b5test.com or
	// 1password.com. It cannot be changed.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="domain is immutable"
	Domain string `json:"domain"`

	// endsAt is when the partner stops paying for the account, as an RFC 3339 time.
	// It may be set, changed or removed at any time; removing it clears the remote end date.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$`
	EndsAt *metav1.Time `json:"endsAt,omitempty"`

	// deletionPolicy says whether deleting this resource deactivates the remote account
	// (Delete) or leaves it as it is (Orphan). Unset, the operator's default applies
	// (--default-deletion-policy, Delete unless set otherwise); status.deletionPolicy
	// shows the policy in effect.
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// managementPolicy is Manage (the default) or Observe. An observed resource
	// reads its account and nothing else: it never creates, changes or deletes it,
	// whatever its spec says; its status shows the account and how it differs from
	// the spec (status.drift), but never its activation token. It needs no finalizer,
	// and deleting it deletes nothing remotely. Switching to Manage takes over an
	// account that existed before only with adoptExisting; switching to Observe stops
	// every write at once, which hands an account back without deleting the resource.
	// +optional
	ManagementPolicy ManagementPolicy `json:"managementPolicy,omitempty"`

	// suspend stops the controller from calling the Partnership API for this resource.
	// Deleting a suspended resource leaves the remote account as it is.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// adoptExisting lets this resource take over a remote account with its
	// accountUID, type and domain that existed before its first create attempt
	// (made by the partner's billing system, another cluster, or an older
	// PartnerAccount deleted with deletionPolicy Orphan). Without it such an account
	// is left alone: Stalled with reason AccountExists, its end date never written,
	// its token never shown, and deleting this resource deletes nothing remotely. An
	// account this resource created itself (even when the create's answer was lost)
	// is its own without this field. Once adopted, an account stays adopted.
	// +optional
	AdoptExisting bool `json:"adoptExisting,omitempty"`

	// createPolicy is IfMissing (the default) or Never. With Never the controller
	// never creates the remote account: it manages one that exists (adopting it only
	// with adoptExisting), and when none does it says so (reason AccountMissing),
	// makes no call to create one and waits. kubectl partneraccount import writes
	// it, so that an account missing from the server it was imported from is never
	// made again by applying the import. Set it to IfMissing to let the account be
	// created.
	// +optional
	CreatePolicy CreatePolicy `json:"createPolicy,omitempty"`

	// connectionRef names the PartnerConnection (the Partnership API server and
	// partner token) this account lives on; unset, the one the operator's flags set.
	// It cannot be added, changed or removed later: an account belongs to the server
	// that made it.
	// +optional
	ConnectionRef *ConnectionReference `json:"connectionRef,omitempty"`

	// activationTokenSecretRef names a Secret in this resource's namespace that the
	// controller writes and owns, holding the activation token (key
	// activationToken), the redemption link (redemptionURL) and accountUID. When it
	// is set, neither the token nor the link is written to status, so only those
	// who may read that Secret can redeem the account. A Secret of this name that
	// the controller did not create is never overwritten.
	// +optional
	ActivationTokenSecretRef *SecretReference `json:"activationTokenSecretRef,omitempty"`
}

// ConnectionReference names a PartnerConnection.
type ConnectionReference struct {
	// name is the PartnerConnection's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// SecretReference names a Secret in the PartnerAccount's own namespace.
type SecretReference struct {
	// name is the Secret's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// PartnerAccountStatus is what the controller last learnt about the remote account.
type PartnerAccountStatus struct {
	// observedGeneration is the metadata.generation the status describes; -1
	// before the controller has written any status.
	// +optional
	// +kubebuilder:default=-1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Ready, Reconciling and Stalled, following the kstatus conventions.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// accountUID is set once this resource owns the remote account spec.accountUID:
	// its create was answered with success, or a create whose answer was lost is
	// recovered (the account's createdAt falls inside createClaim's window), or it
	// adopted the account (spec.adoptExisting). Only a resource that owns its
	// account changes its end date or deletes it, and only while the account read
	// back is still the one it owns (same type, domain and createdAt).
	// +optional
	AccountUID string `json:"accountUID,omitempty"`

	// endpoint is the Partnership API base URL that last answered with this
	// account, and endpointID the identity of that URL with the partner token and
	// CA bundle it was called with (a digest, which does not reveal the token). A
	// 404 or 410 proves the account gone only from that origin, or from one that
	// has answered for another of its accounts as the same account: another URL,
	// another partner's token or another CA bundle may reach another server or
	// contract, which proves nothing about this account.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// +optional
	EndpointID string `json:"endpointID,omitempty"`

	// createClaim records this resource's attempts to create its account while
	// their outcome is not known, so that an account made by an attempt whose
	// answer was lost is recognised as its own, and no other. Each attempt is
	// written before its request is sent, and goes once its outcome is known.
	// +optional
	CreateClaim *CreateClaim `json:"createClaim,omitempty"`

	// createAttemptedAt is the first create attempt as versions before createClaim
	// recorded it. It is read as a claim whose attempt's outcome is unknown, and
	// replaced by createClaim.
	// +optional
	CreateAttemptedAt *metav1.Time `json:"createAttemptedAt,omitempty"`

	// lastHandledReconcileAt is the value of the
	// billing.partnerbilling.io/reconcile-requested-at annotation last acted on.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`

	// accountStatus is the remote account's status exactly as the Partnership API
	// reports it: entitled, provisioned, suspended, deprovisioned, ...
	// +optional
	AccountStatus string `json:"accountStatus,omitempty"`

	// activationToken is the coupon code the customer redeems to sign up. Anyone
	// holding it can redeem it. It is empty when the token is kept in a Secret
	// (see activationTokenSecretName).
	// +optional
	ActivationToken string `json:"activationToken,omitempty"`

	// redemptionURL is the ready-to-send link that redeems activationToken. It is
	// empty when the token is kept in a Secret.
	// +optional
	RedemptionURL string `json:"redemptionURL,omitempty"`

	// activationTokenSecretName is the Secret, in this namespace, that holds the
	// activation token and the redemption link instead of this status: the one
	// spec.activationTokenSecretRef names, or <name>-activation when the operator
	// runs with --activation-token-in-status=false.
	// +optional
	ActivationTokenSecretName string `json:"activationTokenSecretName,omitempty"`

	// endsAt is the remote account's end date as the Partnership API reports it.
	// +optional
	EndsAt *metav1.Time `json:"endsAt,omitempty"`

	// createdAt is when the remote account was created, as the Partnership API reports it.
	// +optional
	CreatedAt *metav1.Time `json:"createdAt,omitempty"`

	// provisionedAt is when the customer signed up and the account became
	// provisioned: the API's updated_at at the first read that saw it provisioned,
	// where the API reports one, and otherwise the time of that read. It is set once.
	// +optional
	ProvisionedAt *metav1.Time `json:"provisionedAt,omitempty"`

	// deployedMembers is the number of members in the customer's account, where the
	// Partnership API reports it (1Password's servers do).
	// +optional
	DeployedMembers *int32 `json:"deployedMembers,omitempty"`

	// deletionPolicy is the deletion policy in effect: spec.deletionPolicy, or the
	// operator's default when the spec sets none.
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// drift lists each field where the remote account differed from the spec at the
	// last read, and that this resource will not correct (an observed resource; type
	// and domain, which no account can change) or has not corrected yet. It is empty
	// when the account is in line with the spec.
	// +optional
	// +listType=map
	// +listMapKey=field
	Drift []Drift `json:"drift,omitempty"`
}

// DriftField names a field of the spec that can differ from the remote account.
// +kubebuilder:validation:Enum=accountType;domain;endsAt
type DriftField string

const (
	// DriftAccountType is spec.accountType.
	DriftAccountType DriftField = "accountType"
	// DriftDomain is spec.domain.
	DriftDomain DriftField = "domain"
	// DriftEndsAt is spec.endsAt.
	DriftEndsAt DriftField = "endsAt"
)

// Drift is one field where the remote account differs from the spec.
type Drift struct {
	// field is the spec's field: accountType, domain or endsAt.
	// +required
	Field DriftField `json:"field"`
	// declared is the spec's value; empty for none.
	// +optional
	Declared string `json:"declared,omitempty"`
	// remote is the account's value as the Partnership API reports it; empty for none.
	// +optional
	Remote string `json:"remote,omitempty"`
}

// Clock names the clock the times of a CreateClaim are on.
// +kubebuilder:validation:Enum=API;Local
type Clock string

const (
	// ClockAPI: the Partnership API's clock, read from the Date header of its
	// answers. Its created_at times are on the same clock, so the claim's margin
	// is seconds.
	ClockAPI Clock = "API"
	// ClockLocal: the operator's clock, used until the API has sent a Date header;
	// the margin then allows for the two clocks disagreeing by up to a minute.
	ClockLocal Clock = "Local"
)

// CreateClaim records this resource's create attempts whose outcome is not known:
// each may have made the account, from when it was sent to the latest its answer
// could have come. An account whose created_at falls inside one of them, give or
// take the clock's margin, is this resource's; any other account under its
// accountUID existed before. Each attempt is recorded before it is sent, and goes
// once it is answered: with the account (which is then the resource's), or with a
// refusal that made nothing.
type CreateClaim struct {
	// attempts are the create attempts whose outcome is unknown, oldest first.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Attempts []CreateAttempt `json:"attempts,omitempty"`

	// clock is the clock the attempts' times are on: API or Local.
	// +required
	Clock Clock `json:"clock"`

	// endpoint and endpointID are the origin the attempts were sent to (see
	// status.endpoint): only its answers say whether they made the account.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// +optional
	EndpointID string `json:"endpointID,omitempty"`

	// firstAttemptAt and unknownUntil are the window of attempts as versions before
	// attempts recorded it; they are read as one attempt.
	// +optional
	FirstAttemptAt *metav1.Time `json:"firstAttemptAt,omitempty"`
	// +optional
	UnknownUntil *metav1.Time `json:"unknownUntil,omitempty"`
}

// CreateAttempt is one create request whose outcome is unknown.
type CreateAttempt struct {
	// sentAt is when the request was sent, to the second.
	// +required
	SentAt metav1.Time `json:"sentAt"`
	// until is the latest its answer could have come: the end of its timeout.
	// +required
	Until metav1.Time `json:"until"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pa,categories=partnerbilling
// +kubebuilder:printcolumn:name="Account-UID",type=string,JSONPath=`.spec.accountUID`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.accountType`
// +kubebuilder:printcolumn:name="Domain",type=string,JSONPath=`.spec.domain`
// +kubebuilder:printcolumn:name="Remote-Status",type=string,JSONPath=`.status.accountStatus`
// +kubebuilder:printcolumn:name="Ends",type=string,JSONPath=`.status.endsAt`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Suspend",type=boolean,priority=1,JSONPath=`.spec.suspend`
// +kubebuilder:printcolumn:name="Deletion-Policy",type=string,priority=1,JSONPath=`.status.deletionPolicy`
// +kubebuilder:printcolumn:name="Members",type=integer,priority=1,JSONPath=`.status.deployedMembers`
// +kubebuilder:printcolumn:name="Management",type=string,priority=1,JSONPath=`.spec.managementPolicy`
// +kubebuilder:printcolumn:name="Drift",type=string,priority=1,JSONPath=`.status.drift[*].field`
// +kubebuilder:printcolumn:name="Connection",type=string,priority=1,JSONPath=`.spec.connectionRef.name`
// +kubebuilder:printcolumn:name="Signed-Up",type=date,priority=1,JSONPath=`.status.provisionedAt`

// PartnerAccount declares one customer's 1Password partner billing account. The
// controller creates it through the 1Password Partnership API, keeps its end date in
// line with the spec, and deactivates it when the resource is deleted.
//
// Deleting a PartnerAccount deactivates its remote account only when
// spec.deletionPolicy is Delete (the default), spec.suspend is false, and the
// resource owns the account: it created or adopted it, and a read just before the
// deletion shows it is still that account. With deletionPolicy Orphan, with suspend
// true, for an account the resource never owned, for a duplicate of another
// PartnerAccount, and when this CustomResourceDefinition is being deleted (an
// uninstall), nothing is deleted remotely. When the Partnership API cannot be
// reached or refuses the call, the finalizer keeps the resource and Ready=False says
// why; setting deletionPolicy to Orphan lets it go and keeps the account. The
// activation token Secret the operator wrote goes with the resource.
type PartnerAccount struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is a standard object metadata
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec declares the account.
	// +required
	Spec PartnerAccountSpec `json:"spec"`

	// status is what the controller last learnt about the remote account. Until the
	// controller writes it, it reads as observedGeneration -1, so that kstatus and
	// the tools that use it (Flux, kpt, cli-utils) see a resource not yet observed,
	// not one that is done.
	// +optional
	// +kubebuilder:default={}
	Status PartnerAccountStatus `json:"status,omitzero"`
}

// ConnectionName is the name of the PartnerConnection pa's account lives on, ""
// for the operator's default connection.
func (pa *PartnerAccount) ConnectionName() string {
	if pa.Spec.ConnectionRef == nil {
		return ""
	}
	return pa.Spec.ConnectionRef.Name
}

// +kubebuilder:object:root=true

// PartnerAccountList contains a list of PartnerAccount.
type PartnerAccountList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	// Items are the PartnerAccounts.
	Items []PartnerAccount `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &PartnerAccount{}, &PartnerAccountList{})
		return nil
	})
}
