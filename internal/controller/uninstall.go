package controller

import (
	"context"
	"fmt"
	"sync/atomic"

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

// uninstallWatch tells whether the PartnerAccount CRD is being deleted. Deleting a
// CRD deletes every object of its kind, so a deletion then is an uninstall, not a
// user's wish to deactivate an account. Once seen, a CRD's deletion cannot be
// undone, so it is remembered.
type uninstallWatch struct {
	reader client.Reader
	seen   atomic.Bool
}

// uninstalling reports whether the PartnerAccount CRD is being deleted, or gone.
func (u *uninstallWatch) uninstalling(ctx context.Context) (bool, error) {
	if u.seen.Load() {
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
		return false, nil
	}
	u.seen.Store(true)
	return true, nil
}

// uninstalling reports whether the PartnerAccount CRD is being deleted.
func (r *PartnerAccountReconciler) uninstalling(ctx context.Context) (bool, error) {
	return r.uninstall.uninstalling(ctx)
}
