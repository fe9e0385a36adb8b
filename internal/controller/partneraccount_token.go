package controller

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// placeToken puts the activation token where it belongs once the account step is
// done: in status, or in the resource's own Secret, in which case status carries
// only the Secret's name. It returns o, or a SecretConflict outcome when a Secret
// of the wanted name is not this resource's.
func (r *PartnerAccountReconciler) placeToken(ctx context.Context, pa *billingv1alpha1.PartnerAccount, o outcome) (outcome, error) {
	want := tokenSecretName(pa, r.Options.NoTokenInStatus)
	had := pa.Status.ActivationTokenSecretName
	// The token this reconcile read (setAccountFields put it in status), or one left
	// in status before the token moved to a Secret.
	token, link := pa.Status.ActivationToken, pa.Status.RedemptionURL

	switch {
	case !owns(pa):
		pa.Status.ActivationTokenSecretName = ""
	case want == "":
		if token != "" {
			pa.Status.ActivationTokenSecretName = ""
		}
	default:
		pa.Status.ActivationToken, pa.Status.RedemptionURL = "", ""
		if o.reason == billingv1alpha1.ReasonRemoteDeleted {
			pa.Status.ActivationTokenSecretName = ""
			break
		}
		if token == "" {
			break // not read this time: the Secret stays as it is
		}
		written, err := r.writeTokenSecret(ctx, pa, want, token, link)
		if err != nil {
			return o, err
		}
		if !written {
			// The token stays where it was, if it was in another Secret of this resource.
			if had == want {
				pa.Status.ActivationTokenSecretName = ""
			}
			if o.err == nil {
				o = secretConflictOutcome(want)
			}
			break
		}
		pa.Status.ActivationTokenSecretName = want
	}

	// A Secret the status no longer names has been replaced, or has no token to hold.
	if had != "" && had != pa.Status.ActivationTokenSecretName {
		if err := r.deleteTokenSecret(ctx, pa, had); err != nil {
			return o, err
		}
	}
	return o, nil
}

// tokenSecretName is the Secret that should hold pa's activation token, or "" when
// the token goes in status.
func tokenSecretName(pa *billingv1alpha1.PartnerAccount, noTokenInStatus bool) string {
	switch {
	case pa.Spec.ActivationTokenSecretRef != nil:
		return pa.Spec.ActivationTokenSecretRef.Name
	case noTokenInStatus:
		return pa.Name + "-activation"
	}
	return ""
}

// tokenSecretData is what pa's token Secret holds.
func tokenSecretData(uid, token, link string) map[string][]byte {
	return map[string][]byte{
		billingv1alpha1.SecretKeyActivationToken: []byte(token),
		billingv1alpha1.SecretKeyRedemptionURL:   []byte(link),
		billingv1alpha1.SecretKeyAccountUID:      []byte(uid),
	}
}

// tokenSecretLabels are the labels of pa's token Secret; the operator caches only
// Secrets that carry them.
func tokenSecretLabels(pa *billingv1alpha1.PartnerAccount) map[string]string {
	return map[string]string{
		billingv1alpha1.ManagedByLabel:      billingv1alpha1.ManagedByValue,
		billingv1alpha1.PartnerAccountLabel: pa.Name,
	}
}

// writeTokenSecret makes the Secret name hold token and link. It reports false,
// and changes nothing, when a Secret of that name exists that pa does not control.
func (r *PartnerAccountReconciler) writeTokenSecret(ctx context.Context, pa *billingv1alpha1.PartnerAccount, name, token, link string) (bool, error) {
	data := tokenSecretData(pa.Spec.AccountUID, token, link)
	current, created, err := r.getOrCreateTokenSecret(ctx, pa, name, data)
	if err != nil || created {
		return created, err
	}
	if !metav1.IsControlledBy(current, pa) {
		return false, nil
	}
	return true, r.restoreTokenSecret(ctx, pa, current, data)
}

// getOrCreateTokenSecret returns the Secret name, or creates it with data (created
// true) when there is none. A Secret of that name without the operator's label is
// not in the cache; it is read from the API server, to see whose it is.
func (r *PartnerAccountReconciler) getOrCreateTokenSecret(ctx context.Context, pa *billingv1alpha1.PartnerAccount,
	name string, data map[string][]byte) (current *corev1.Secret, created bool, err error) {
	key := client.ObjectKey{Namespace: pa.Namespace, Name: name}
	current = &corev1.Secret{}
	err = r.Get(ctx, key, current)
	if err == nil {
		return current, false, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, false, fmt.Errorf("read Secret %s: %w", name, err)
	}

	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: pa.Namespace, Name: name, Labels: tokenSecretLabels(pa)},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
	if err := controllerutil.SetControllerReference(pa, secret, r.Scheme()); err != nil {
		return nil, false, err
	}
	err = r.Create(ctx, secret)
	switch {
	case err == nil:
		logf.FromContext(ctx).Info("Wrote activation token Secret", "secret", name)
		return secret, true, nil
	case !apierrors.IsAlreadyExists(err):
		return nil, false, fmt.Errorf("create Secret %s: %w", name, err)
	}
	if err := r.APIReader.Get(ctx, key, current); err != nil {
		return nil, false, fmt.Errorf("read Secret %s: %w", name, err)
	}
	return current, false, nil
}

// restoreTokenSecret gives current, a Secret pa controls, data and the operator's
// labels, when it lacks them (edited by hand, or the token changed).
func (r *PartnerAccountReconciler) restoreTokenSecret(ctx context.Context, pa *billingv1alpha1.PartnerAccount,
	current *corev1.Secret, data map[string][]byte) error {
	wantLabels := tokenSecretLabels(pa)
	if maps.EqualFunc(current.Data, data, func(a, b []byte) bool { return string(a) == string(b) }) &&
		hasLabels(current.Labels, wantLabels) {
		return nil
	}
	base := current.DeepCopy()
	current.Data = data
	if current.Labels == nil {
		current.Labels = map[string]string{}
	}
	maps.Copy(current.Labels, wantLabels)
	if err := r.Patch(ctx, current, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("restore Secret %s: %w", current.Name, err)
	}
	logf.FromContext(ctx).Info("Restored activation token Secret", "secret", current.Name)
	return nil
}

// deleteTokenSecret deletes the Secret name when pa controls it.
func (r *PartnerAccountReconciler) deleteTokenSecret(ctx context.Context, pa *billingv1alpha1.PartnerAccount, name string) error {
	var secret corev1.Secret
	err := r.Get(ctx, client.ObjectKey{Namespace: pa.Namespace, Name: name}, &secret)
	if apierrors.IsNotFound(err) || (err == nil && !metav1.IsControlledBy(&secret, pa)) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read Secret %s: %w", name, err)
	}
	if err := r.Delete(ctx, &secret, client.Preconditions{UID: &secret.UID}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete Secret %s: %w", name, err)
	}
	logf.FromContext(ctx).Info("Deleted activation token Secret", "secret", name)
	return nil
}

// hasLabels reports whether labels holds every key and value of want.
func hasLabels(labels, want map[string]string) bool {
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}
