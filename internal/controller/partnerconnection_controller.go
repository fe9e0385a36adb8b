package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// DefaultVerifyPeriod is how often a PartnerConnection's token is tried against its
// server when nothing changes.
const DefaultVerifyPeriod = 10 * time.Minute

// verifyUID is the account a verification reads when no account of the connection
// is known to exist: no account has it, so an authenticated server answers 404.
const verifyUID = "partner-account-operator-verify"

// PartnerConnectionReconciler keeps, for each PartnerConnection, a connection of the
// PartnerAccount controller: a client for its URL and token with its own rate limit,
// Retry-After pause and token state. It reports whether the server accepts the
// token, and keeps the PartnerConnection while PartnerAccounts use it.
type PartnerConnectionReconciler struct {
	client.Client
	// Accounts is the PartnerAccount controller whose connections this keeps.
	Accounts *PartnerAccountReconciler
	// Defaults is the client configuration of the operator's flags: timeout, rate
	// limit, user agent, insecure HTTP; a connection's spec overrides the rate.
	Defaults partnerapi.Config
	// SecretNamespace is where the token and CA Secrets are (the operator's own).
	SecretNamespace string
	// VerifyPeriod is how often the token is tried when nothing changes; zero means
	// DefaultVerifyPeriod.
	VerifyPeriod time.Duration
}

// +kubebuilder:rbac:groups=billing.partnerbilling.io,resources=partnerconnections,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=billing.partnerbilling.io,resources=partnerconnections/status,verbs=patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// Reconcile sets up the connection of a PartnerConnection, or lets it go.
func (r *PartnerConnectionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pc := &billingv1alpha1.PartnerConnection{}
	if err := r.Get(ctx, req.NamespacedName, pc); err != nil {
		if apierrors.IsNotFound(err) {
			r.Accounts.forgetConnection(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := pc.Status.DeepCopy()
	users, err := r.users(ctx, pc.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	pc.Status.Accounts = int32(len(users))
	pc.Status.UsedBy = usedBy(users)

	if !pc.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.release(ctx, pc, before, len(users))
	}
	if err := setFinalizer(ctx, r.Client, pc, billingv1alpha1.ConnectionFinalizer, true); err != nil {
		return ctrl.Result{}, err
	}

	ready := observed(pc, r.connect(ctx, pc, before))
	pc.Status.ObservedGeneration = pc.Generation
	meta.SetStatusCondition(&pc.Status.Conditions, ready)
	if err := r.patchStatus(ctx, pc, before); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: jitter(r.trustFor(ready.Status), 0.2)}, nil
}

// unreadyVerifyPeriod is how often a connection that is not Ready is tried again.
const unreadyVerifyPeriod = 30 * time.Second

// trustFor is how long a verification with Ready status holds before the token is
// tried again.
func (r *PartnerConnectionReconciler) trustFor(status metav1.ConditionStatus) time.Duration {
	if status != metav1.ConditionTrue {
		return unreadyVerifyPeriod
	}
	if r.VerifyPeriod > 0 {
		return r.VerifyPeriod
	}
	return DefaultVerifyPeriod
}

// connect gives pc's connection a client for its spec and Secrets, or records why
// it cannot have one, and returns the Ready condition that follows.
func (r *PartnerConnectionReconciler) connect(ctx context.Context, pc *billingv1alpha1.PartnerConnection,
	before *billingv1alpha1.PartnerConnectionStatus) metav1.Condition {
	cfg, fingerprint, tokenSum, problem := r.clientConfig(ctx, pc)
	if problem == "" {
		conn, err := r.Accounts.useClient(pc.Name, cfg, fingerprint)
		if err == nil {
			return r.verify(ctx, pc, conn, tokenSum, before)
		}
		problem = specFieldError(err)
	}
	r.Accounts.markUnusable(pc.Name, problem)
	pc.Status.EndpointProven = false
	return condition(billingv1alpha1.ReasonConnectionMisconfigured, problem)
}

// specFieldError is a client configuration error in the words of the
// PartnerConnection's spec, naming its field rather than the client's.
func specFieldError(err error) string {
	return strings.NewReplacer(
		"partnerapi: invalid ", "",
		"Config.BaseURL", "spec.url",
		"Config.CAData", "spec.caSecretRef",
		"Config.RequestsPerSecond", "spec.rateLimit.rps",
		"Config.Burst", "spec.rateLimit.burst",
	).Replace(err.Error())
}

// release lets a PartnerConnection being deleted go once no PartnerAccount uses it.
// Deleting it deletes nothing remotely.
func (r *PartnerConnectionReconciler) release(ctx context.Context, pc *billingv1alpha1.PartnerConnection,
	before *billingv1alpha1.PartnerConnectionStatus, users int) error {
	if users > 0 {
		pc.Status.ObservedGeneration = pc.Generation
		meta.SetStatusCondition(&pc.Status.Conditions, observed(pc, condition(billingv1alpha1.ReasonConnectionInUse,
			fmt.Sprintf("The deletion waits for the %d PartnerAccounts that use this connection (%s%s): delete them, "+
				"or their namespaces, first. Deleting the connection deletes nothing remotely", users,
				strings.Join(pc.Status.UsedBy, ", "), more(users, len(pc.Status.UsedBy))))))
		return r.patchStatus(ctx, pc, before)
	}
	r.Accounts.forgetConnection(pc.Name)
	return setFinalizer(ctx, r.Client, pc, billingv1alpha1.ConnectionFinalizer, false)
}

// patchStatus writes pc's status when it changed from before.
func (r *PartnerConnectionReconciler) patchStatus(ctx context.Context, pc *billingv1alpha1.PartnerConnection,
	before *billingv1alpha1.PartnerConnectionStatus) error {
	if equality.Semantic.DeepEqual(before, &pc.Status) {
		return nil
	}
	base := pc.DeepCopy()
	base.Status = *before
	return client.IgnoreNotFound(r.Status().Patch(ctx, pc, client.MergeFrom(base)))
}

// clientConfig is the client configuration of pc, a fingerprint of what a new
// client would differ in, and a digest of the token now in the Secret; problem
// says why there can be no client yet (a Secret missing, say).
func (r *PartnerConnectionReconciler) clientConfig(ctx context.Context, pc *billingv1alpha1.PartnerConnection) (
	cfg partnerapi.Config, fingerprint string, tokenSum [sha256.Size]byte, problem string) {
	if r.SecretNamespace == "" {
		return cfg, "", tokenSum, "The operator does not know its own namespace, where the token Secret is: run it " +
			"with --connection-secret-namespace"
	}
	tokenRef := pc.Spec.TokenSecretRef
	token, err := r.secretValue(ctx, tokenRef)
	if err != nil {
		return cfg, "", tokenSum, fmt.Sprintf("spec.tokenSecretRef: %v. Create it with the partner token for %s: "+
			"kubectl -n %s create secret generic %s --from-file=%s=./partner-token", err, pc.Spec.URL,
			r.SecretNamespace, tokenRef.Name, tokenRef.Key)
	}
	tokenSum = sha256.Sum256([]byte(strings.TrimSpace(token)))
	cfg = r.Defaults
	cfg.BaseURL, cfg.TokenFile, cfg.Name = pc.Spec.URL, "", pc.Name
	cfg.TokenSecret = fmt.Sprintf("Secret %s/%s, key %s", r.SecretNamespace, tokenRef.Name, tokenRef.Key)
	cfg.Token = func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		v, err := r.secretValue(ctx, tokenRef)
		return strings.TrimSpace(v), err
	}
	if rl := pc.Spec.RateLimit; rl != nil {
		cfg.RequestsPerSecond, cfg.Burst = float64(rl.RPS), int(rl.Burst)
		if cfg.Burst == 0 {
			cfg.Burst = max(int(rl.RPS)*2, 1)
		}
	}
	if ref := pc.Spec.CASecretRef; ref != nil {
		ca, err := r.secretValue(ctx, *ref)
		if err != nil {
			return cfg, "", tokenSum, fmt.Sprintf("spec.caSecretRef: %v; it holds the PEM certificates to trust for %s",
				err, pc.Spec.URL)
		}
		cfg.CAData = []byte(ca)
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%v\x00%d\x00%s\x00%v", cfg.BaseURL, cfg.RequestsPerSecond, cfg.Burst,
		cfg.CAData, cfg.AllowInsecureHTTP))
	return cfg, hex.EncodeToString(sum[:]), tokenSum, ""
}

// secretValue reads the key of a Secret in the operator's namespace.
func (r *PartnerConnectionReconciler) secretValue(ctx context.Context, ref billingv1alpha1.SecretKeySelector) (string, error) {
	secret := &corev1.Secret{}
	err := r.Get(ctx, client.ObjectKey{Namespace: r.SecretNamespace, Name: ref.Name}, secret)
	switch {
	case apierrors.IsNotFound(err):
		return "", fmt.Errorf("the Secret %s/%s does not exist", r.SecretNamespace, ref.Name)
	case err != nil:
		return "", fmt.Errorf("the Secret %s/%s cannot be read: %w", r.SecretNamespace, ref.Name, err)
	}
	v, ok := secret.Data[ref.Key]
	if !ok || len(strings.TrimSpace(string(v))) == 0 {
		return "", fmt.Errorf("the Secret %s/%s has no key %s, or it is empty", r.SecretNamespace, ref.Name, ref.Key)
	}
	return string(v), nil
}

// verify tries the connection's token against its server, unless the same token
// was tried on the same spec recently (see trustFor). It reads an account of the
// connection known to exist, whose answer proves that the server serves accounts,
// or else an account no one has: a 404 for it says the token was not refused, but
// not that the URL serves the Partnership API, since a wrong path prefix answers 404
// too. Verified needs the proof; TokenAccepted is Ready without it. A connection
// whose client has proven itself since (its first account made) becomes Verified
// without a call.
func (r *PartnerConnectionReconciler) verify(ctx context.Context, pc *billingv1alpha1.PartnerConnection, conn *connection,
	tokenSum [sha256.Size]byte, before *billingv1alpha1.PartnerConnectionStatus) metav1.Condition {
	previous := meta.FindStatusCondition(before.Conditions, billingv1alpha1.ConditionReady)
	if previous != nil && conn.verified.at.IsZero() && before.LastVerifiedAt != nil &&
		previous.ObservedGeneration == pc.Generation && previous.Status == metav1.ConditionTrue {
		// Verified before the operator started: it holds as long as it would have.
		conn.verified = verification{at: before.LastVerifiedAt.Time, generation: pc.Generation, token: tokenSum}
	}
	if v := conn.verified; previous != nil && v.generation == pc.Generation && v.token == tokenSum &&
		time.Since(v.at) < r.trustFor(previous.Status)*8/10 {
		if previous.Reason == billingv1alpha1.ReasonConnectionTokenAccepted && conn.api.Proven() {
			pc.Status.EndpointProven = true
			return condition(billingv1alpha1.ReasonConnectionVerified, verifiedMessage(pc))
		}
		return *previous
	}

	uid := verifyUID
	if known := r.Accounts.tracker.knownToExist(pc.Name, "", 1); len(known) > 0 {
		uid = known[0]
	}
	_, err := conn.api.Get(ctx, uid)
	now := time.Now()
	conn.verified = verification{at: now, generation: pc.Generation, token: tokenSum}
	pc.Status.EndpointProven = conn.api.Proven()
	accepted := err == nil || errors.Is(err, partnerapi.ErrNotFound) || errors.Is(err, partnerapi.ErrInvalidRequest)
	if accepted {
		at := metav1.NewTime(now.Truncate(time.Second))
		pc.Status.LastVerifiedAt = &at
	}
	switch {
	case accepted && pc.Status.EndpointProven:
		return condition(billingv1alpha1.ReasonConnectionVerified, verifiedMessage(pc))
	case accepted:
		return condition(billingv1alpha1.ReasonConnectionTokenAccepted, fmt.Sprintf(
			"The server at %s did not refuse the token (it answered %d %s for account %q), but has not answered with "+
				"an account yet, which a wrong path prefix would not: the first account made or read on this "+
				"connection proves it. Until then no 404 from it counts as an account gone", pc.Spec.URL,
			statusOf(err), http.StatusText(statusOf(err)), uid))
	case errors.Is(err, partnerapi.ErrUnauthorized):
		return condition(billingv1alpha1.ReasonConnectionUnauthorized, unauthorizedMessage("verify the connection", err))
	case errors.Is(err, partnerapi.ErrMisconfigured):
		return condition(billingv1alpha1.ReasonConnectionMisconfigured, errorOutcome("verify the connection", err).message)
	}
	return condition(billingv1alpha1.ReasonConnectionUnreachable, errorOutcome("verify the connection", err).message)
}

// verifiedMessage is the Ready message of a Verified connection.
func verifiedMessage(pc *billingv1alpha1.PartnerConnection) string {
	return fmt.Sprintf("The server at %s accepted the token and has answered with an account: it serves the "+
		"Partnership API", pc.Spec.URL)
}

// condition is the Ready condition of a PartnerConnection for reason.
func condition(reason, message string) metav1.Condition {
	return metav1.Condition{Type: billingv1alpha1.ConditionReady, Status: billingv1alpha1.ConnectionReasons[reason],
		Reason: reason, Message: message}
}

// observed is c for pc's generation.
func observed(pc *billingv1alpha1.PartnerConnection, c metav1.Condition) metav1.Condition {
	c.ObservedGeneration = pc.Generation
	return c
}

// connectionRefIndex indexes the cached PartnerAccounts by spec.connectionRef.name.
const connectionRefIndex = "spec.connectionRef.name"

// users returns the PartnerAccounts that use the connection name, those being
// deleted included, as the cache shows them: it is up to date with every event
// its handlers are given, so a deleted PartnerAccount's event never finds it.
func (r *PartnerConnectionReconciler) users(ctx context.Context, name string) ([]types.NamespacedName, error) {
	var list billingv1alpha1.PartnerAccountList
	if err := r.List(ctx, &list, client.MatchingFields{connectionRefIndex: name}); err != nil {
		return nil, fmt.Errorf("list the PartnerAccounts of PartnerConnection %s: %w", name, err)
	}
	keys := make([]types.NamespacedName, 0, len(list.Items))
	for _, pa := range list.Items {
		keys = append(keys, types.NamespacedName{Namespace: pa.Namespace, Name: pa.Name})
	}
	return keys, nil
}

// usedBy names up to ten of the PartnerAccounts users, sorted.
func usedBy(users []types.NamespacedName) []string {
	names := make([]string, 0, len(users))
	for _, u := range users {
		names = append(names, u.String())
	}
	slices.Sort(names)
	return names[:min(len(names), 10)]
}

// more says how many of n users are not named, when some are not.
func more(n, named int) string {
	if n <= named {
		return ""
	}
	return fmt.Sprintf(" and %d more", n-named)
}

// SetupWithManager registers the controller: PartnerConnections, the Secrets in
// the operator's namespace they name, and the PartnerAccounts that come and go on
// them.
func (r *PartnerConnectionReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &billingv1alpha1.PartnerAccount{}, connectionRefIndex,
		func(o client.Object) []string {
			if name := connectionOf(o.(*billingv1alpha1.PartnerAccount)); name != "" {
				return []string{name}
			}
			return nil
		}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&billingv1alpha1.PartnerConnection{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.connectionsOfSecret),
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
				return o.GetNamespace() == r.SecretNamespace
			}))).
		Watches(&billingv1alpha1.PartnerAccount{}, handler.EnqueueRequestsFromMapFunc(connectionOfAccount),
			builder.WithPredicates(predicate.Funcs{
				UpdateFunc:  firstAccountOnConnection,
				GenericFunc: func(event.GenericEvent) bool { return false },
			})).
		Named("partnerconnection").
		Complete(r)
}

// connectionsOfSecret maps a Secret to the PartnerConnections that name it.
func (r *PartnerConnectionReconciler) connectionsOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	var list billingv1alpha1.PartnerConnectionList
	if err := r.List(ctx, &list); err != nil {
		logf.FromContext(ctx).Error(err, "Failed to list the PartnerConnections")
		return nil
	}
	var reqs []reconcile.Request
	for _, pc := range list.Items {
		if pc.Spec.TokenSecretRef.Name == o.GetName() || pc.Spec.CASecretRef != nil && pc.Spec.CASecretRef.Name == o.GetName() {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Name: pc.Name}})
		}
	}
	return reqs
}

// firstAccountOnConnection passes the update of a PartnerAccount on a
// PartnerConnection whose account the API has just shown, which may prove the
// connection's endpoint.
func firstAccountOnConnection(e event.UpdateEvent) bool {
	old, okOld := e.ObjectOld.(*billingv1alpha1.PartnerAccount)
	pa, ok := e.ObjectNew.(*billingv1alpha1.PartnerAccount)
	return ok && okOld && pa.Spec.ConnectionRef != nil && old.Status.AccountStatus == "" && pa.Status.AccountStatus != ""
}

// connectionOfAccount maps a PartnerAccount to the PartnerConnection it names.
func connectionOfAccount(_ context.Context, o client.Object) []reconcile.Request {
	pa, ok := o.(*billingv1alpha1.PartnerAccount)
	if !ok {
		return nil
	}
	if name := connectionOf(pa); name != "" {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: name}}}
	}
	return nil
}
