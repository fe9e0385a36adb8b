package controller

import (
	"strings"
	"unique"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// operatorAnnotationPrefix begins the annotations the controller reads on a
// PartnerAccount; it reads no other annotation and no label.
const operatorAnnotationPrefix = "billing.partnerbilling.io/"

// stripUnread removes from a cached object what the controller never reads, and
// shares the strings PartnerAccounts repeat (see trimPartnerAccount).
func stripUnread(in any) (any, error) {
	if pa, ok := in.(*billingv1alpha1.PartnerAccount); ok {
		trimPartnerAccount(pa)
		return pa, nil
	}
	if obj, err := meta.Accessor(in); err == nil {
		obj.SetManagedFields(nil)
		if a := obj.GetAnnotations(); a[lastAppliedAnnotation] != "" {
			delete(a, lastAppliedAnnotation)
			obj.SetAnnotations(a)
		}
	}
	return in, nil
}

// trimPartnerAccount keeps of a PartnerAccount what the controllers read: of its
// metadata, no managedFields, no label and only the operator's annotations (an
// Argo CD tracking id, a kubectl last-applied copy, a team's own notes are never
// read). The values every account repeats (its type, domain, the conditions'
// reasons and messages, the endpoint and its ID, the finalizer) share one string
// each (package unique) rather than one copy per account. What it keeps is
// what it was: a status or finalizer patch made from the trimmed copy changes
// nothing else, and no decision reads what it drops.
func trimPartnerAccount(pa *billingv1alpha1.PartnerAccount) {
	pa.ManagedFields = nil
	pa.Labels = nil
	var keep map[string]string
	for k, v := range pa.Annotations {
		if strings.HasPrefix(k, operatorAnnotationPrefix) {
			if keep == nil {
				keep = map[string]string{}
			}
			keep[intern(k)] = v
		}
	}
	pa.Annotations = keep
	pa.Namespace = intern(pa.Namespace)
	for i := range pa.Finalizers {
		pa.Finalizers[i] = intern(pa.Finalizers[i])
	}
	spec := &pa.Spec
	spec.AccountType = billingv1alpha1.AccountType(intern(string(spec.AccountType)))
	spec.Domain = intern(spec.Domain)
	if spec.ConnectionRef != nil {
		spec.ConnectionRef.Name = intern(spec.ConnectionRef.Name)
	}
	st := &pa.Status
	st.AccountStatus = intern(st.AccountStatus)
	st.Endpoint, st.EndpointID = intern(st.Endpoint), intern(st.EndpointID)
	st.DeletionPolicy = billingv1alpha1.DeletionPolicy(intern(string(st.DeletionPolicy)))
	for i := range st.Conditions {
		c := &st.Conditions[i]
		c.Type, c.Reason = intern(c.Type), intern(c.Reason)
		c.Status = metav1.ConditionStatus(intern(string(c.Status)))
		if !strings.Contains(c.Message, spec.AccountUID) {
			// A message that names its account is its own.
			c.Message = intern(c.Message)
		}
	}
	if cl := st.CreateClaim; cl != nil {
		cl.Endpoint, cl.EndpointID = intern(cl.Endpoint), intern(cl.EndpointID)
	}
}

// internMaxLength bounds the strings worth sharing: a long message is its
// account's own.
const internMaxLength = 512

// intern returns the one shared copy of s (see package unique): the copies the
// cache holds of strings every account repeats become one, and go once no
// account holds them.
func intern(s string) string {
	if s == "" || len(s) > internMaxLength {
		return s
	}
	return unique.Make(s).Value()
}
