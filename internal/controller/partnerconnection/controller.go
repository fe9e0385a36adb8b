// Package partnerconnection holds the PartnerConnection controller. It keeps, in
// the connection registry (internal/connection), a connection for each
// PartnerConnection: a client for its URL, token and CA with its own rate limit,
// Retry-After pause and token state. It reports whether the server accepts the
// token and holds the connection's accounts, and keeps the PartnerConnection while
// PartnerAccounts use it. Reconcile is a short list of steps that fill in a scope
// (scope.go), whose deferred finish writes the status once.
package partnerconnection

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	"github.com/partnerbilling/partner-account-operator/internal/connection"
	"github.com/partnerbilling/partner-account-operator/internal/controller"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// DefaultVerifyPeriod is how often a PartnerConnection's token is tried against its
// server when nothing changes.
const DefaultVerifyPeriod = 10 * time.Minute

// unreadyVerifyPeriod is how often a connection that is not Ready is tried again.
const unreadyVerifyPeriod = 30 * time.Second

// Reconciler keeps a connection in the registry for each PartnerConnection.
type Reconciler struct {
	client.Client
	// Connections is the registry the PartnerAccount controller uses too.
	Connections *connection.Registry
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

// Reconcile sets up the connection of a PartnerConnection, or lets it go: the
// steps fill in a scope, and finish writes its status once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, err error) {
	pc := &billingv1alpha1.PartnerConnection{}
	if err := r.Get(ctx, req.NamespacedName, pc); err != nil {
		if apierrors.IsNotFound(err) {
			r.Connections.Forget(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	s := newScope(r.Client, pc)
	defer func() { err = s.finish(ctx, err) }()
	if err := r.countUsers(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	if !pc.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.release(ctx, s)
	}
	if err := controller.SetFinalizer(ctx, r.Client, pc, billingv1alpha1.ConnectionFinalizer, true); err != nil {
		return ctrl.Result{}, err
	}
	r.connect(ctx, s)
	return ctrl.Result{RequeueAfter: controller.Jitter(r.trustFor(s.ready.Status), 0.2)}, nil
}

// trustFor is how long a verification with Ready status holds before the token is
// tried again.
func (r *Reconciler) trustFor(status metav1.ConditionStatus) time.Duration {
	if status != metav1.ConditionTrue {
		return unreadyVerifyPeriod
	}
	if r.VerifyPeriod > 0 {
		return r.VerifyPeriod
	}
	return DefaultVerifyPeriod
}

// connect gives s's connection a client for its spec and Secrets, or records why
// it cannot have one, and the Ready condition that follows.
func (r *Reconciler) connect(ctx context.Context, s *scope) {
	pc := s.pc
	cfg, fingerprint, tokenSum, problem := r.clientConfig(ctx, pc)
	if problem == "" {
		conn, err := r.Connections.UseClient(pc.Name, pc.Generation, cfg, fingerprint)
		if err == nil {
			r.verify(ctx, s, conn, tokenSum)
			return
		}
		problem = specFieldError(err)
	}
	r.Connections.MarkUnusable(pc.Name, pc.Generation, problem)
	s.proven = false
	s.setReady(billingv1alpha1.ReasonConnectionMisconfigured, problem)
}

// release lets a PartnerConnection being deleted go once no PartnerAccount uses it.
// Deleting it deletes nothing remotely.
func (r *Reconciler) release(ctx context.Context, s *scope) error {
	// The deletion raised the generation; the connection stays as it was.
	r.Connections.Unchanged(s.pc.Name, s.pc.Generation)
	if s.accounts > 0 {
		s.setReady(billingv1alpha1.ReasonConnectionInUse, inUseMessage(int(s.accounts), s.usedBy))
		return nil
	}
	r.Connections.Forget(s.pc.Name)
	return controller.SetFinalizer(ctx, r.Client, s.pc, billingv1alpha1.ConnectionFinalizer, false)
}

// connectionRefIndex indexes the cached PartnerAccounts by spec.connectionRef.name.
const connectionRefIndex = "spec.connectionRef.name"

// countUsers records in s the PartnerAccounts that use its connection, those being
// deleted included, as the cache shows them: it is up to date with every event its
// handlers are given, so a deleted PartnerAccount's event never finds it.
func (r *Reconciler) countUsers(ctx context.Context, s *scope) error {
	var list billingv1alpha1.PartnerAccountList
	if err := r.List(ctx, &list, client.MatchingFields{connectionRefIndex: s.pc.Name}); err != nil {
		return fmt.Errorf("list the PartnerAccounts of PartnerConnection %s: %w", s.pc.Name, err)
	}
	keys := make([]types.NamespacedName, 0, len(list.Items))
	for _, pa := range list.Items {
		keys = append(keys, types.NamespacedName{Namespace: pa.Namespace, Name: pa.Name})
	}
	s.accounts, s.usedBy = int32(len(keys)), usedBy(keys)
	return nil
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

// SetupWithManager registers the controller: PartnerConnections, the Secrets in
// the operator's namespace they name, and the PartnerAccounts that come and go on
// them.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &billingv1alpha1.PartnerAccount{}, connectionRefIndex,
		func(o client.Object) []string {
			if name := o.(*billingv1alpha1.PartnerAccount).ConnectionName(); name != "" {
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
func (r *Reconciler) connectionsOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
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
	if name := pa.ConnectionName(); name != "" {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: name}}}
	}
	return nil
}
