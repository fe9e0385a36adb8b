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

// PartnerConnectionSpec is one Partnership API server and the partner token that
// speaks to it.
type PartnerConnectionSpec struct {
	// url is the Partnership API's base URL, such as https://billing.b5test.eu/api/v1
	// (1Password's test server) or https://billing.1password.com/api/v1
	// (production). It must be https://, except for a loopback host or when the
	// operator runs with --partner-api-allow-insecure-http.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	URL string `json:"url"`

	// tokenSecretRef names the Secret, in the operator's own namespace
	// (--connection-secret-namespace), and its key that hold the partner's bearer
	// token. A new token in it is used without a restart.
	// +required
	TokenSecretRef SecretKeySelector `json:"tokenSecretRef"`

	// caSecretRef optionally names a Secret, in the operator's own namespace, and
	// its key holding PEM certificates of the authorities to trust for url, beside
	// the system's.
	// +optional
	CASecretRef *SecretKeySelector `json:"caSecretRef,omitempty"`

	// rateLimit is how many requests a second this connection sends at most, and
	// how many more at once; the operator's --partner-api-rps and
	// --partner-api-burst when unset. Half of it is the budget of read-backs.
	// +optional
	RateLimit *RateLimit `json:"rateLimit,omitempty"`

	// namespaceSelector says which namespaces' PartnerAccounts may use this
	// connection; empty or unset, every namespace's.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
}

// SecretKeySelector names a key of a Secret in the operator's namespace.
type SecretKeySelector struct {
	// name is the Secret's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// key is the key in the Secret's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// RateLimit is a rate of requests to the Partnership API.
type RateLimit struct {
	// rps is the sustained requests a second.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	RPS int32 `json:"rps"`

	// burst is how many requests may go at once above rps.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	Burst int32 `json:"burst,omitempty"`
}

// PartnerConnectionStatus is what the operator last found of the connection.
type PartnerConnectionStatus struct {
	// observedGeneration is the metadata.generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions hold Ready: the token could be read and the server accepted it.
	// Its reason is Verified once the server has also answered with an account, which
	// proves that url serves the Partnership API; TokenAccepted before that.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// accounts is how many PartnerAccounts use this connection.
	// +optional
	Accounts int32 `json:"accounts,omitempty"`

	// usedBy names some of those PartnerAccounts (namespace/name), for a deletion
	// that waits on them.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	UsedBy []string `json:"usedBy,omitempty"`

	// lastVerifiedAt is when the server last accepted the token.
	// +optional
	LastVerifiedAt *metav1.Time `json:"lastVerifiedAt,omitempty"`

	// endpointProven is true once url has answered with an account, proving that it
	// serves the Partnership API. Until then no 404 from it is taken as proof that an
	// account is gone: a wrong path prefix answers 404 too.
	// +optional
	EndpointProven bool `json:"endpointProven,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=pconn,categories=partnerbilling
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Accounts",type=integer,JSONPath=`.status.accounts`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Proven",type=boolean,priority=1,JSONPath=`.status.endpointProven`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`

// PartnerConnection is one Partnership API server and partner token that
// PartnerAccounts may use by name (spec.connectionRef): the test server beside
// production, or one partner contract per brand. Each connection has its own client,
// rate limit, read-back budget, Retry-After pause and token state, so that trouble
// on one never delays another. It cannot be deleted while a PartnerAccount uses it;
// deleting it deletes nothing remotely.
type PartnerConnection struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is a standard object metadata
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec declares the connection.
	// +required
	Spec PartnerConnectionSpec `json:"spec"`

	// status is what the operator last found of it.
	// +optional
	Status PartnerConnectionStatus `json:"status,omitzero"`
}

// +kubebuilder:object:root=true

// PartnerConnectionList contains a list of PartnerConnection.
type PartnerConnectionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	// Items are the PartnerConnections.
	Items []PartnerConnection `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &PartnerConnection{}, &PartnerConnectionList{})
		return nil
	})
}
