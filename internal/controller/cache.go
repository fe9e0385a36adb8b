package controller

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// lastAppliedAnnotation is where kubectl apply (client-side) keeps a second copy of
// every object it applied; the controller never reads it.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// ConfigureCache sets what the manager's cache must hold for the controllers, and
// nothing more: of Secrets, only the operator's own (so memory does not grow with
// the cluster's other Secrets), and in connectionNamespace (the operator's, where
// PartnerConnections' token Secrets are; "" for none) all of them; of every object,
// no managedFields and no last-applied-configuration annotation.
func ConfigureCache(opts *cache.Options, connectionNamespace string) {
	if opts.ByObject == nil {
		opts.ByObject = map[client.Object]cache.ByObject{}
	}
	own := labels.SelectorFromSet(labels.Set{billingv1alpha1.ManagedByLabel: billingv1alpha1.ManagedByValue})
	secrets := cache.ByObject{Label: own}
	if connectionNamespace != "" {
		secrets = cache.ByObject{Namespaces: map[string]cache.Config{
			connectionNamespace: {LabelSelector: labels.Everything()},
			cache.AllNamespaces: {LabelSelector: own},
		}}
	}
	opts.ByObject[&corev1.Secret{}] = secrets
	opts.DefaultTransform = stripUnread
}

// stripUnread removes from a cached object what the controller never reads.
func stripUnread(in any) (any, error) {
	if obj, err := meta.Accessor(in); err == nil {
		obj.SetManagedFields(nil)
		if a := obj.GetAnnotations(); a[lastAppliedAnnotation] != "" {
			delete(a, lastAppliedAnnotation)
			obj.SetAnnotations(a)
		}
	}
	return in, nil
}
