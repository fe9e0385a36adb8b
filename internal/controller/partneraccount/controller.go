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

// Package partneraccount holds the PartnerAccount controller. Reconcile is a short
// list of steps (phases.go) that fill in a scope, and one deferred step (scope.go)
// that writes the status once and says when to look again, from the table of
// reasons in the API package. The evidence the steps act on, claims, ownership and
// absence, is judged by pure functions (claim.go, ownership.go, evidence.go), and
// the conditions and messages by others (status.go). The Partnership API
// connections are internal/connection's registry, which the PartnerConnection
// controller keeps.
package partneraccount

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/go-logr/logr"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/connection"
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

// WithDefaults returns o with each zero field set to its default.
func (o Options) WithDefaults() Options {
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

// Reconciler keeps each PartnerAccount's remote account in line with its spec
// through the Partnership API.
type Reconciler struct {
	client.Client
	// APIReader reads past the cache: the Secrets it does not hold, to find out
	// whose a Secret of a wanted name is, a PartnerAccount whose cached copy lags
	// behind the controller's own write, and the CustomResourceDefinition.
	APIReader client.Reader
	// Connections are the Partnership API connections, the default one and each
	// PartnerConnection's, and the evidence of where accounts live.
	Connections *connection.Registry
	// Recorder records the events users see in kubectl describe.
	Recorder events.EventRecorder
	// Options tune timing.
	Options Options

	tracker *accountTracker
	// wakeups receives, from the connection registry, that a connection's client
	// accepts its partner token again or that the connection was set up anew; the
	// event's object is a PartnerConnection naming the connection ("" the default).
	wakeups      chan event.GenericEvent
	tokens       *deletedTokens
	uninstall    *uninstallWatch
	readBacksDue dueReadBacks
	// started is when the controller was set up.
	started time.Time
}

// +kubebuilder:rbac:groups=billing.partnerbilling.io,resources=partneraccounts,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=billing.partnerbilling.io,resources=partneraccounts/status,verbs=patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch;delete

// Reconcile brings one PartnerAccount's remote account in line with its spec and
// reports what it found in the status: the steps fill in a scope, and finish
// writes it once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, err error) {
	if !r.tracker.synced() {
		// Until every account is indexed, a duplicate accountUID could go unseen.
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	pa, wait, err := r.current(ctx, req.NamespacedName)
	if pa == nil || wait > 0 || err != nil {
		return ctrl.Result{RequeueAfter: wait}, err
	}
	if later, paced := r.paceReadBack(pa); paced {
		return later, nil
	}
	s := newScope(r.Client, pa, r.tracker)
	defer func() { result, err = r.finish(ctx, s, err) }()
	if !pa.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, s)
	}
	return ctrl.Result{}, r.reconcileNormal(ctx, s)
}

// current returns the PartnerAccount key as the cache holds it, or, when the
// cache has not shown the controller's own last write of it for cacheLag, as the
// API server does: a stale copy is never acted on. wait, when set, says to look
// again then instead; nil means it is gone.
func (r *Reconciler) current(ctx context.Context, key types.NamespacedName) (
	pa *billingv1alpha1.PartnerAccount, wait time.Duration, err error) {
	pa = &billingv1alpha1.PartnerAccount{}
	if err := r.Get(ctx, key, pa); err != nil {
		if apierrors.IsNotFound(err) {
			r.readBacksDue.forget(key)
			return nil, 0, nil
		}
		return nil, 0, err
	}
	switch r.tracker.behind(key, pa.ResourceVersion) {
	case cacheCurrent:
		return pa, 0, nil
	case cacheLagging:
		return nil, 100 * time.Millisecond, nil
	}
	// The watch may have skipped that version: read the object itself.
	if err := r.APIReader.Get(ctx, key, pa); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, 0, nil
		}
		return nil, 0, err
	}
	return pa, 0, nil
}

// SetupWithManager registers the controller, and the informer handler that keeps
// the metrics, the read-back period and the index of PartnerAccounts by
// spec.accountUID in line with the cache.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	r.Options = r.Options.WithDefaults()
	r.started = time.Now()
	r.tracker = newAccountTracker(r.Connections)
	r.wakeups = make(chan event.GenericEvent, 64)
	r.Connections.OnWake(r.wakeWaiting)
	r.tokens = newDeletedTokens(r.isLive)
	r.tracker.onGone = r.tokens.forget
	r.uninstall = &uninstallWatch{reader: r.APIReader}
	informer, err := mgr.GetCache().GetInformer(ctx, &billingv1alpha1.PartnerAccount{})
	if err != nil {
		return err
	}
	if r.tracker.registration, err = informer.AddEventHandler(r.tracker); err != nil {
		return err
	}
	go r.reportStartup(ctx, mgr.GetLogger())

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
		WithOptions(crcontroller.Options{
			MaxConcurrentReconciles: r.Options.MaxConcurrentReconciles,
			RateLimiter:             newJitteredBackoff(r.Options.BackoffBase, r.Options.BackoffMax),
			UsePriorityQueue:        new(true),
			ReconciliationTimeout:   r.Options.ReconcileTimeout,
		}).
		Named("partneraccount")
	// A PartnerConnection that comes, changes or becomes ready lets its accounts
	// that waited for it go on; the others keep to their schedule.
	b = b.Watches(&billingv1alpha1.PartnerConnection{}, handler.EnqueueRequestsFromMapFunc(r.waitingOnConnection),
		builder.WithPredicates(connectionChanged()))
	// When the API accepts a connection's token again, or the connection is set up
	// anew, its accounts that waited come back behind user work.
	b = b.WatchesRawSource(source.Channel(r.wakeups, r.wakeupEvents()))
	return b.Complete(r)
}

// reportStartup waits until the tracker has indexed every PartnerAccount the cache
// listed at start, and reports how long that took: the restart's time to act.
func (r *Reconciler) reportStartup(ctx context.Context, log logr.Logger) {
	if !toolscache.WaitForCacheSync(ctx.Done(), r.tracker.synced) {
		return
	}
	took := time.Since(r.started)
	startupSeconds.Set(took.Seconds())
	log.Info("Indexed the PartnerAccounts, ready to act", "accounts", r.tracker.count(), "took", took.String())
}
