/*
Copyright 2026.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package controller holds the PartnerAccount controller. Reconcile is a short
// list of steps (partneraccount_phases.go) that fill in a scope, and one deferred
// step (partneraccount_scope.go) that writes the status once and says when to look
// again, from the table of reasons in the API package. The evidence the steps act
// on, claims, ownership and absence, is judged by pure functions
// (partneraccount_claim.go, partneraccount_ownership.go), and the conditions and
// messages by others (partneraccount_status.go).
package controller

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/go-logr/logr"
	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
	"github.com/partnerbilling/partner-account-operator/internal/readback"
)

// Defaults for Options.
const (
	// DefaultResyncPeriod is the default Options.ResyncPeriod: settled accounts
	// are read once a day.
	DefaultResyncPeriod = 24 * time.Hour
	// DefaultUnauthorizedRetryPeriod is the default Options.UnauthorizedRetryPeriod.
	DefaultUnauthorizedRetryPeriod = 2 * time.Minute
	// DefaultBackoffBase is the default Options.BackoffBase.
	DefaultBackoffBase = time.Second
	// DefaultBackoffMax is the default Options.BackoffMax.
	DefaultBackoffMax = 5 * time.Minute
	// DefaultMaxConcurrentReconciles is the default Options.MaxConcurrentReconciles.
	DefaultMaxConcurrentReconciles = 4
	// DefaultReconcileTimeout is the default Options.ReconcileTimeout: room for a few
	// requests of the client's longest default timeout.
	DefaultReconcileTimeout = 3 * time.Minute
)

// Options configure the controller. A zero duration or count takes its default
// above; a zero ReadBackRate means no limit.
type Options struct {
	// ResyncPeriod is the longest any account goes unread (±20%), unless there are
	// more accounts than ReadBackRate can read within it. Within it, the read-back
	// schedule (internal/readback) reads accounts by the odds that they changed.
	ResyncPeriod time.Duration
	// MinReadBackInterval is the shortest interval at which the schedule reads an
	// account back; zero leaves it to the schedule. A resource's read-back-interval
	// annotation wins over both.
	MinReadBackInterval time.Duration
	// UnauthorizedRetryPeriod is how often a call is retried after the API rejected
	// the partner token (±20%), and how often a resource whose Secret name is taken
	// (SecretConflict) looks again.
	UnauthorizedRetryPeriod time.Duration
	// BackoffBase and BackoffMax bound the per-object exponential backoff after
	// transient failures.
	BackoffBase, BackoffMax time.Duration
	// MaxConcurrentReconciles is how many PartnerAccounts are reconciled at once.
	MaxConcurrentReconciles int
	// ReconcileTimeout bounds one reconcile, its waits for the API client's rate
	// limiter included.
	ReconcileTimeout time.Duration
	// APIClockMargin is how far an account's created_at may lie outside a create
	// claim's window on the API's clock and still count as made by its attempts.
	APIClockMargin time.Duration
	// CreateClockSkew is the same margin for a claim on the operator's clock, taken
	// before the API sent a Date header: how far the two clocks may disagree.
	CreateClockSkew time.Duration
	// NoTokenInStatus keeps activation tokens out of every status: a resource
	// without spec.activationTokenSecretRef gets its Secret at <name>-activation.
	NoTokenInStatus bool
	// DefaultDeletionPolicy applies to PartnerAccounts whose spec sets none; empty
	// means Delete.
	DefaultDeletionPolicy billingv1alpha1.DeletionPolicy
	// ReadBackRate is how many background read-backs a second may be made at most:
	// half the API client's rate limit, so that user work has the other half. Zero
	// means no limit.
	ReadBackRate float64
	// Now is the controller's clock: for telling an account that ended from one
	// deprovisioned early, the time to first Ready and the read-back schedule.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ResyncPeriod, DefaultResyncPeriod)
	def(&o.UnauthorizedRetryPeriod, DefaultUnauthorizedRetryPeriod)
	def(&o.BackoffBase, DefaultBackoffBase)
	def(&o.BackoffMax, DefaultBackoffMax)
	def(&o.ReconcileTimeout, DefaultReconcileTimeout)
	def(&o.APIClockMargin, DefaultAPIClockMargin)
	def(&o.CreateClockSkew, DefaultCreateClockSkew)
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// PartnerAccountReconciler keeps each PartnerAccount's remote account in line with its
// spec through the Partnership API.
type PartnerAccountReconciler struct {
	client.Client
	// APIReader reads past the cache, which holds only the operator's own Secrets,
	// to find out whose a Secret of a wanted name is.
	APIReader client.Reader
	// API is the Partnership API.
	API partnerapi.Client
	// Recorder records the events users see in kubectl describe.
	Recorder events.EventRecorder
	// Options tune timing.
	Options Options

	conns   *connectionSet
	tracker *accountTracker
	log     logr.Logger
	// reauthorized receives, from a connection's client, that the API accepts its
	// partner token again; the event's object is a PartnerConnection naming the
	// connection ("" the default).
	reauthorized chan event.GenericEvent
	tokens       *deletedTokens
	uninstall    *uninstallWatch
	readBacksDue dueReadBacks
}

// +kubebuilder:rbac:groups=billing.partnerbilling.io,resources=partneraccounts,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=billing.partnerbilling.io,resources=partneraccounts/status,verbs=patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch;delete

// Reconcile brings one PartnerAccount's remote account in line with its spec and
// reports what it found in the status: the steps fill in a scope, and finish
// writes it once.
func (r *PartnerAccountReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, err error) {
	if !r.tracker.synced() {
		// Until every account is indexed, a duplicate accountUID could go unseen.
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	pa := &billingv1alpha1.PartnerAccount{}
	if err := r.Get(ctx, req.NamespacedName, pa); err != nil {
		if apierrors.IsNotFound(err) {
			r.readBacksDue.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.tracker.behind(req.NamespacedName, pa.ResourceVersion) {
		// The cache does not show this controller's own last write yet.
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
	}
	if later, paced := r.paceReadBack(pa); paced {
		return later, nil
	}
	s := newScope(r.Client, pa, r.tracker.wrote)
	defer func() { result, err = r.finish(ctx, s, err) }()
	if !pa.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, s)
	}
	return ctrl.Result{}, r.reconcileNormal(ctx, s)
}

// SetupWithManager registers the controller, and the informer handler that keeps
// the metrics, the read-back period and the index of PartnerAccounts by
// spec.accountUID in line with the cache.
func (r *PartnerAccountReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	r.Options = r.Options.withDefaults()
	r.log = mgr.GetLogger()
	r.conns = newConnectionSet(nil)
	r.tracker = newAccountTracker(r.conns.accountsChanged)
	r.reauthorized = make(chan event.GenericEvent, 16)
	r.conns.def = r.newConnection("", r.API, r.Options.ReadBackRate, mgr.GetLogger())
	r.watchReauthorization(r.conns.def)
	r.tokens = newDeletedTokens(r.tracker.isLive)
	r.tracker.onGone = r.tokens.forget
	r.uninstall = &uninstallWatch{reader: r.APIReader}
	informer, err := mgr.GetCache().GetInformer(ctx, &billingv1alpha1.PartnerAccount{})
	if err != nil {
		return err
	}
	if r.tracker.registration, err = informer.AddEventHandler(r.tracker); err != nil {
		return err
	}

	b := ctrl.NewControllerManagedBy(mgr).
		For(&billingv1alpha1.PartnerAccount{}, builder.WithPredicates(needsWork(), notSettledAtStart(r.Options.NoTokenInStatus))).
		// A settled account found at start (or by a new leader) waits for its
		// read-back instead: a restart costs no call and no write.
		Watches(&billingv1alpha1.PartnerAccount{}, r.scheduleSettledAtStart()).
		// When a PartnerAccount comes or goes, the others with its accountUID may
		// have to give up or take over the remote account.
		Watches(&billingv1alpha1.PartnerAccount{},
			handler.EnqueueRequestsFromMapFunc(r.peersOf),
			builder.WithPredicates(predicate.Funcs{
				UpdateFunc:  func(event.UpdateEvent) bool { return false },
				GenericFunc: func(event.GenericEvent) bool { return false },
			})).
		// A token Secret deleted or edited by hand is written again.
		Watches(&corev1.Secret{}, r.tokenSecretEvents(mgr.GetScheme(), mgr.GetRESTMapper()),
			builder.WithPredicates(tokenSecretTampered())).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.Options.MaxConcurrentReconciles,
			RateLimiter:             newJitteredBackoff(r.Options.BackoffBase, r.Options.BackoffMax),
			UsePriorityQueue:        new(true),
			ReconciliationTimeout:   r.Options.ReconcileTimeout,
		}).
		Named("partneraccount")
	// A PartnerConnection that comes, changes or becomes ready lets its accounts
	// that waited for it go on.
	b = b.Watches(&billingv1alpha1.PartnerConnection{}, handler.EnqueueRequestsFromMapFunc(r.accountsOfConnection),
		builder.WithPredicates(connectionChanged()))
	// When the API accepts a connection's token again, its accounts that waited
	// come back behind user work.
	b = b.WatchesRawSource(source.Channel(r.reauthorized, r.reauthorizedEvents()))
	return b.Complete(r)
}

// reauthorizedEvents queues the PartnerAccounts waiting as Unauthorized when the
// API accepts the partner token again, behind user work: a recovery never delays
// an edit.
func (r *PartnerAccountReconciler) reauthorizedEvents() handler.EventHandler {
	return handler.Funcs{
		GenericFunc: func(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			for _, req := range r.unauthorizedAccounts(ctx, e.Object.GetName()) {
				addAtReadBackPriority(q, req, 0, false)
			}
		},
	}
}

// newConnection makes the connection name ("" the default) around api, with its own
// read-back calendar at readBackRate and its own endpoint prover.
func (r *PartnerAccountReconciler) newConnection(name string, api partnerapi.Client, readBackRate float64,
	log logr.Logger) *connection {
	c := &connection{name: name, api: api}
	c.readBacks = readback.NewCalendar(r.Options.ResyncPeriod, readBackRate,
		log.WithName("readback").WithValues("connection", c.label()), func(p time.Duration) {
			readBackPeriod.WithLabelValues(c.label()).Set(p.Seconds())
		})
	c.prover = &endpointProver{api: api, connection: name, known: r.tracker.knownToExist}
	return c
}

// accountsOfConnection maps a PartnerConnection to the PartnerAccounts that use it.
func (r *PartnerAccountReconciler) accountsOfConnection(_ context.Context, o client.Object) []reconcile.Request {
	keys := r.tracker.withConnection(o.GetName())
	reqs := make([]reconcile.Request, 0, len(keys))
	for _, key := range keys {
		reqs = append(reqs, reconcile.Request{NamespacedName: key})
	}
	return reqs
}

// unauthorizedAccounts returns the PartnerAccounts on connection ("" the default)
// waiting as Unauthorized.
func (r *PartnerAccountReconciler) unauthorizedAccounts(ctx context.Context, connection string) []reconcile.Request {
	var reqs []reconcile.Request
	for _, key := range r.tracker.withConnection(connection) {
		pa := &billingv1alpha1.PartnerAccount{}
		if err := r.Get(ctx, key, pa); err != nil {
			continue // gone since
		}
		if readyReason(&pa.Status) == billingv1alpha1.ReasonUnauthorized {
			reqs = append(reqs, reconcile.Request{NamespacedName: key})
		}
	}
	return reqs
}

// watchReauthorization tells the controller each time c's client accepts its
// token again, when the client can say so.
func (r *PartnerAccountReconciler) watchReauthorization(c *connection) {
	api, ok := c.api.(interface{ OnReauthorized(func()) })
	if !ok {
		return
	}
	ev := event.GenericEvent{Object: &billingv1alpha1.PartnerConnection{ObjectMeta: metav1.ObjectMeta{Name: c.name}}}
	api.OnReauthorized(func() {
		select {
		case r.reauthorized <- ev:
		default: // a wake-up is already pending
		}
	})
}
