package plugin

import (
	"fmt"
	"time"

	"sigs.k8s.io/yaml"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// document is a PartnerAccount as import writes it: what a person would write,
// with no status and no metadata the API server sets.
type document struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Metadata   documentMeta `json:"metadata"`
	Spec       documentSpec `json:"spec"`
}

type documentMeta struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

type documentSpec struct {
	AccountUID       string                           `json:"accountUID"`
	AccountType      billingv1alpha1.AccountType      `json:"accountType"`
	Domain           string                           `json:"domain"`
	EndsAt           string                           `json:"endsAt,omitempty"`
	ManagementPolicy billingv1alpha1.ManagementPolicy `json:"managementPolicy,omitempty"`
	AdoptExisting    bool                             `json:"adoptExisting,omitempty"`
	CreatePolicy     billingv1alpha1.CreatePolicy     `json:"createPolicy"`
	ConnectionRef    *documentRef                     `json:"connectionRef,omitempty"`
}

type documentRef struct {
	Name string `json:"name"`
}

// AccountType returns the PartnerAccount's accountType for the API's t: I is
// Individual, F is Family.
func AccountType(t partnerapi.AccountType) (billingv1alpha1.AccountType, error) {
	switch t {
	case partnerapi.AccountTypeIndividual:
		return billingv1alpha1.AccountTypeIndividual, nil
	case partnerapi.AccountTypeFamily:
		return billingv1alpha1.AccountTypeFamily, nil
	}
	return "", fmt.Errorf("the API reports account type %q, neither I nor F", t)
}

// Document returns the YAML document, starting with "---", of the PartnerAccount
// name in namespace for the account acct read under uid on the PartnerConnection
// connection ("" for the operator's default connection). The spec holds uid as it
// is, the account's type, domain and end date (RFC 3339, UTC, whole seconds; none
// when it has none), managementPolicy Observe when observe is set and adoptExisting
// true otherwise, createPolicy Never (a resource made from an account that exists
// never creates one, should it go missing), and connectionRef when connection is
// set.
func Document(acct *partnerapi.Account, uid, name, namespace, connection string, observe bool) ([]byte, error) {
	typ, err := AccountType(acct.Type)
	if err != nil {
		return nil, err
	}
	if acct.Domain == "" {
		return nil, fmt.Errorf("the API reports no domain")
	}
	doc := document{
		APIVersion: billingv1alpha1.GroupVersion.String(),
		Kind:       "PartnerAccount",
		Metadata:   documentMeta{Name: name, Namespace: namespace},
		Spec: documentSpec{AccountUID: uid, AccountType: typ, Domain: acct.Domain,
			CreatePolicy: billingv1alpha1.CreatePolicyNever},
	}
	if connection != "" {
		doc.Spec.ConnectionRef = &documentRef{Name: connection}
	}
	if acct.EndsAt != nil {
		doc.Spec.EndsAt = acct.EndsAt.UTC().Truncate(time.Second).Format(time.RFC3339)
	}
	if observe {
		doc.Spec.ManagementPolicy = billingv1alpha1.ManagementPolicyObserve
	} else {
		doc.Spec.AdoptExisting = true
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return append([]byte("---\n"), out...), nil
}
