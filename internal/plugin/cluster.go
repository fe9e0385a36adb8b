package plugin

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// Scheme holds the Kubernetes types and the PartnerAccount.
var Scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(billingv1alpha1.AddToScheme(Scheme))
}

// listPage is how many PartnerAccounts one list request returns.
const listPage = 500

// LoadManaged lists the PartnerAccounts of every namespace, a page at a time,
// and returns which accountUIDs they name on the PartnerConnection connection (""
// for the default connection) and which names they take in namespace.
func LoadManaged(ctx context.Context, c client.Reader, namespace, connection string) (Managed, error) {
	m := Managed{ByUID: map[string]string{}, Names: map[string]string{}}
	var list billingv1alpha1.PartnerAccountList
	opts := []client.ListOption{client.Limit(listPage)}
	for {
		if err := c.List(ctx, &list, opts...); err != nil {
			return Managed{}, fmt.Errorf("listing the PartnerAccounts of all namespaces, to skip the accountUIDs "+
				"they already name: %w", err)
		}
		for i := range list.Items {
			pa := &list.Items[i]
			if _, ok := m.ByUID[pa.Spec.AccountUID]; !ok && pa.ConnectionName() == connection {
				m.ByUID[pa.Spec.AccountUID] = pa.Namespace + "/" + pa.Name
			}
			if pa.Namespace == namespace {
				m.Names[pa.Name] = pa.Spec.AccountUID
			}
		}
		if list.Continue == "" {
			return m, nil
		}
		opts = []client.ListOption{client.Limit(listPage), client.Continue(list.Continue)}
	}
}

// getPartnerAccount reads the PartnerAccount namespace/name, with an error that
// names it when there is none.
func getPartnerAccount(ctx context.Context, c client.Reader, namespace, name string) (*billingv1alpha1.PartnerAccount, error) {
	var pa billingv1alpha1.PartnerAccount
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &pa); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("partneraccount %s/%s not found", namespace, name)
		}
		return nil, err
	}
	return &pa, nil
}
