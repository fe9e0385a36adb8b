package partneraccount

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// crdName is the name of the PartnerAccount CustomResourceDefinition.
var crdName = "partneraccounts." + billingv1alpha1.GroupVersion.Group

// crdGVK is the kind of a CustomResourceDefinition.
var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get,resourceNames=partneraccounts.billing.partnerbilling.io

// uninstallRecheck is how long a CRD seen being deleted is taken to be so
// without reading it again: an uninstall deletes every PartnerAccount at once.
const uninstallRecheck = 10 * time.Second

// uninstallWatch tells whether the PartnerAccount CRD is being deleted. Deleting a
// CRD deletes every object of its kind, so a deletion then is an uninstall, not a
// user's wish to deactivate an account. The CRD can be created again (an Argo CD
// self-heal, a reinstall): then deletions are normal again, so a deletion seen is
// trusted for uninstallRecheck only, and the CRD read again after.
type uninstallWatch struct {
	reader client.Reader

	mu sync.Mutex
	// deletingSince is when the CRD was last read being deleted or gone; zero when
	// it was last read live.
	deletingSince time.Time
}

// uninstalling reports whether the PartnerAccount CRD is being deleted, or gone,
// as pa, a PartnerAccount being deleted, is. A PartnerAccount created since the
// deletion was seen proves a CRD made again: the CRD is read again then.
func (u *uninstallWatch) uninstalling(ctx context.Context, pa *billingv1alpha1.PartnerAccount) (bool, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if since := u.deletingSince; !since.IsZero() && time.Since(since) < uninstallRecheck &&
		pa.CreationTimestamp.Time.Before(since.Truncate(time.Second)) {
		return true, nil
	}
	crd := &metav1.PartialObjectMetadata{}
	crd.SetGroupVersionKind(crdGVK)
	err := u.reader.Get(ctx, client.ObjectKey{Name: crdName}, crd)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return false, fmt.Errorf("read CustomResourceDefinition %s to tell a deletion from an uninstall: %w", crdName, err)
	case crd.DeletionTimestamp.IsZero():
		u.deletingSince = time.Time{}
		return false, nil
	}
	u.deletingSince = time.Now()
	return true, nil
}

// uninstalling reports whether the PartnerAccount CRD is being deleted, as pa is.
func (r *Reconciler) uninstalling(ctx context.Context, pa *billingv1alpha1.PartnerAccount) (bool, error) {
	return r.uninstall.uninstalling(ctx, pa)
}
