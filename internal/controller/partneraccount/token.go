package partneraccount

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// placeToken puts the owned account's activation token where it belongs once the
// account step is done: in status, or in the resource's own Secret, in which case
// status carries only the Secret's name. The token is the one the account step
// read, or, when it read none, the one the resource already holds: no API call is
// needed to restore a Secret deleted by hand or to move it. When the Secret cannot
// hold it, a Ready outcome becomes SecretConflict or TokenSecretFailed.
func (r *Reconciler) placeToken(ctx context.Context, s *scope) error {
	pa := s.pa
	had := s.previous.ActivationTokenSecretName
	want := tokenSecretName(pa, r.Options.NoTokenInStatus)
	p := tokenPlacement{decided: true}

	switch {
	case !s.owned() || s.gone || observing(pa):
		// Nothing to place (an observed account's token is not shown, even one this
		// resource created): a Secret that held the token goes below.
	case want == "":
		token, err := r.knownToken(ctx, s)
		if err != nil {
			return err
		}
		p.inStatus = token
	default:
		token, err := r.knownToken(ctx, s)
		if err != nil {
			return err
		}
		if token.token == "" {
			p.secretName = had // nothing known to write: the Secret stays as it is
			break
		}
		written, err := r.writeTokenSecret(ctx, pa, want, token)
		switch {
		case err != nil:
			logf.FromContext(ctx).Error(err, "Failed to write the activation token Secret", "secret", want)
			r.overrideReady(s, tokenSecretFailedOutcome(want, err))
			p.secretName = keepIf(had, had != want)
		case !written:
			r.overrideReady(s, secretConflictOutcome(want))
			p.secretName = keepIf(had, had != want)
		default:
			r.tokens.forget(pa.UID)
			p.secretName = want
		}
	}
	s.placement = p

	// A Secret the status no longer names has been replaced, or has no token to hold.
	if had != "" && had != p.secretName {
		return r.deleteTokenSecret(ctx, pa, had)
	}
	return nil
}

// overrideReady replaces a Ready outcome with o: a failure of the account step
// says more than the Secret's.
func (r *Reconciler) overrideReady(s *scope, o outcome) {
	if billingv1alpha1.Reasons[s.outcome.reason].Ready == metav1.ConditionTrue {
		s.conclude(o)
	}
}

// keepIf returns name when keep is true, and "" otherwise.
func keepIf(name string, keep bool) string {
	if keep {
		return name
	}
	return ""
}

// knownToken is the activation token of the account s's resource owns: the one the
// account step read, else the one in status, in the Secret status names, or in
// that Secret as it was just before someone deleted it.
func (r *Reconciler) knownToken(ctx context.Context, s *scope) (activation, error) {
	pa := s.pa
	switch {
	case s.token.token != "":
		return s.token, nil
	case s.previous.ActivationToken != "":
		return activation{token: s.previous.ActivationToken, link: s.previous.RedemptionURL}, nil
	}
	if name := s.previous.ActivationTokenSecretName; name != "" {
		var secret corev1.Secret
		err := r.Get(ctx, client.ObjectKey{Namespace: pa.Namespace, Name: name}, &secret)
		switch {
		case err == nil && metav1.IsControlledBy(&secret, pa):
			return activation{token: string(secret.Data[billingv1alpha1.SecretKeyActivationToken]),
				link: string(secret.Data[billingv1alpha1.SecretKeyRedemptionURL])}, nil
		case err != nil && !apierrors.IsNotFound(err):
			return activation{}, fmt.Errorf("read Secret %s: %w", name, err)
		}
	}
	return r.tokens.lookup(pa.UID), nil
}

// tokenSecretName is the Secret that should hold pa's activation token, or "" when
// the token goes in status. The default name, <name>-activation, is shortened with
// a hash where it would be longer than a Secret's name may be.
func tokenSecretName(pa *billingv1alpha1.PartnerAccount, noTokenInStatus bool) string {
	switch {
	case pa.Spec.ActivationTokenSecretRef != nil:
		return pa.Spec.ActivationTokenSecretRef.Name
	case noTokenInStatus:
		return boundedName(pa.Name, "-activation", validation.DNS1123SubdomainMaxLength)
	}
	return ""
}

// tokenSecretData is what pa's token Secret holds.
func tokenSecretData(uid string, token activation) map[string][]byte {
	return map[string][]byte{
		billingv1alpha1.SecretKeyActivationToken: []byte(token.token),
		billingv1alpha1.SecretKeyRedemptionURL:   []byte(token.link),
		billingv1alpha1.SecretKeyAccountUID:      []byte(uid),
	}
}

// tokenSecretLabels are the labels of pa's token Secret; the operator caches only
// Secrets that carry them. The PartnerAccount's name is the label's value when it
// fits one (63 characters); a longer name is shortened with a hash.
func tokenSecretLabels(pa *billingv1alpha1.PartnerAccount) map[string]string {
	return map[string]string{
		billingv1alpha1.ManagedByLabel:      billingv1alpha1.ManagedByValue,
		billingv1alpha1.PartnerAccountLabel: boundedName(pa.Name, "", validation.LabelValueMaxLength),
	}
}

// boundedName is base+suffix when that is at most limit characters long;
// otherwise base is cut and ends in a hash of the whole base, so that the result
// stays unique, at most limit long, and a valid name and label value (it starts
// and ends with a letter or digit, as base does).
func boundedName(base, suffix string, limit int) string {
	if len(base)+len(suffix) <= limit {
		return base + suffix
	}
	sum := sha256.Sum256([]byte(base))
	hash := hex.EncodeToString(sum[:])[:10]
	cut := strings.TrimRight(base[:limit-len(suffix)-len(hash)-1], "-.")
	return cut + "-" + hash + suffix
}

// writeTokenSecret makes the Secret name hold token. It reports false, and changes
// nothing, when a Secret of that name exists that pa does not control.
func (r *Reconciler) writeTokenSecret(ctx context.Context, pa *billingv1alpha1.PartnerAccount, name string,
	token activation) (bool, error) {
	data := tokenSecretData(pa.Spec.AccountUID, token)
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
func (r *Reconciler) getOrCreateTokenSecret(ctx context.Context, pa *billingv1alpha1.PartnerAccount,
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
func (r *Reconciler) restoreTokenSecret(ctx context.Context, pa *billingv1alpha1.PartnerAccount,
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
func (r *Reconciler) deleteTokenSecret(ctx context.Context, pa *billingv1alpha1.PartnerAccount, name string) error {
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

// deletedTokens keeps the activation token of each token Secret deleted while its
// PartnerAccount lives, from the informer's last copy of it, until the controller
// has written it again: a Secret deleted by hand is restored without a call to the
// Partnership API, even while the API asks the operator to wait.
type deletedTokens struct {
	mu     sync.Mutex
	tokens map[types.UID]activation
	// live reports whether the PartnerAccount namespace/name with that UID is in
	// the cache and not being deleted; the tokens of others are not kept.
	live func(ctx context.Context, key types.NamespacedName, uid types.UID) bool
}

func newDeletedTokens(live func(context.Context, types.NamespacedName, types.UID) bool) *deletedTokens {
	return &deletedTokens{tokens: map[types.UID]activation{}, live: live}
}

// keep keeps the token of a deleted token Secret whose PartnerAccount lives.
func (d *deletedTokens) keep(ctx context.Context, obj client.Object) {
	secret, ok := obj.(*corev1.Secret)
	if !ok {
		return
	}
	owner := metav1.GetControllerOf(secret)
	token := string(secret.Data[billingv1alpha1.SecretKeyActivationToken])
	if owner == nil || owner.Kind != "PartnerAccount" || token == "" ||
		!d.live(ctx, types.NamespacedName{Namespace: secret.Namespace, Name: owner.Name}, owner.UID) {
		return
	}
	d.mu.Lock()
	d.tokens[owner.UID] = activation{token: token, link: string(secret.Data[billingv1alpha1.SecretKeyRedemptionURL])}
	d.mu.Unlock()
}

// lookup returns the kept token of the PartnerAccount uid, if any.
func (d *deletedTokens) lookup(uid types.UID) activation {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tokens[uid]
}

// forget drops the kept token of the PartnerAccount uid.
func (d *deletedTokens) forget(uid types.UID) {
	d.mu.Lock()
	delete(d.tokens, uid)
	d.mu.Unlock()
}

// tokenSecretEvents enqueues the PartnerAccount that controls a token Secret, as
// Owns does; a deleted Secret's token is kept first, so that the reconcile that
// follows can write it again.
func (r *Reconciler) tokenSecretEvents(scheme *runtime.Scheme, mapper meta.RESTMapper) handler.EventHandler {
	owner := handler.EnqueueRequestForOwner(scheme, mapper, &billingv1alpha1.PartnerAccount{}, handler.OnlyControllerOwner())
	return handler.Funcs{
		CreateFunc:  owner.Create,
		UpdateFunc:  owner.Update,
		GenericFunc: owner.Generic,
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.tokens.keep(ctx, e.Object)
			owner.Delete(ctx, e, q)
		},
	}
}

// isLive reports whether the PartnerAccount key, with uid, is in the cache and not
// being deleted.
func (r *Reconciler) isLive(ctx context.Context, key types.NamespacedName, uid types.UID) bool {
	pa := &billingv1alpha1.PartnerAccount{}
	return r.Get(ctx, key, pa) == nil && pa.UID == uid && pa.DeletionTimestamp.IsZero()
}
