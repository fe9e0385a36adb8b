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

// Package controller holds the PartnerAccount controller. It orchestrates; the
// conditions are computed by the pure functions in partneraccount_status.go, and each
// phase of an account's life (create or adopt, sync, delete) is in
// partneraccount_phases.go.
package controller

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// Defaults for Options.
const (
	// DefaultResyncPeriod is the default Options.ResyncPeriod.
	DefaultResyncPeriod = 10 * time.Minute
	// DefaultUnauthorizedRetryPeriod is the default Options.UnauthorizedRetryPeriod.
	DefaultUnauthorizedRetryPeriod = 2 * time.Minute
	// DefaultBackoffBase is the default Options.BackoffBase.
	DefaultBackoffBase = time.Second
	// DefaultBackoffMax is the default Options.BackoffMax.
	DefaultBackoffMax = 5 * time.Minute
	// DefaultMaxConcurrentReconciles is the default Options.MaxConcurrentReconciles.
	DefaultMaxConcurrentReconciles = 4
)

// Options configure the controller. A zero duration or count takes its default
// above; a zero ReadBackRate means no limit.
type Options struct {
	// ResyncPeriod is how often a settled account is read back from the API, with
	// ±20% jitter.
	ResyncPeriod time.Duration
	// UnauthorizedRetryPeriod is how often a call is retried after the API rejected
	// the partner token (±20%), and how often a resource whose Secret name is taken
	// (SecretConflict) looks again.
	UnauthorizedRetryPeriod time.Duration
	// BackoffBase and BackoffMax bound the per-object exponential backoff after
	// transient failures.
	BackoffBase, BackoffMax time.Duration
	// MaxConcurrentReconciles is how many PartnerAccounts are reconciled at once.
	MaxConcurrentReconciles int
	// CreateClockSkew is how far the API's clock may lag the operator's when an
	// account's created_at is compared with a resource's first create attempt.
	CreateClockSkew time.Duration
	// NoTokenInStatus keeps activation tokens out of every status: a resource
	// without spec.activationTokenSecretRef gets its Secret at <name>-activation.
	NoTokenInStatus bool
	// ReadBackRate is how many background read-backs a second may be made at most:
	// half the API client's rate limit, so that user work has the other half. Zero
	// means no limit.
	ReadBackRate float64
	// Now is the controller's clock: for the claim before a create, telling an
	// account that ended from one deprovisioned early, the time to first Ready and
	// the read-back schedule.
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
	// Reauthorized, when set, tells the controller that the API accepts the partner
	// token again, so that the PartnerAccounts waiting as Unauthorized are retried
	// at once (see partnerapi.HTTPClient.OnReauthorized).
	Reauthorized <-chan event.GenericEvent

	readBacks *readBacks
	tracker   *accountTracker
}

// +kubebuilder:rbac:groups=billing.partnerbilling.io,resources=partneraccounts,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=billing.partnerbilling.io,resources=partneraccounts/status,verbs=patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch;delete

// Reconcile brings one PartnerAccount's remote account in line with its spec and
// reports what it found in the status.
func (r *PartnerAccountReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if !r.tracker.synced() {
		// Until every account is indexed, a duplicate accountUID could go unseen.
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	pa := &billingv1alpha1.PartnerAccount{}
	if err := r.Get(ctx, req.NamespacedName, pa); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !pa.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, pa)
	}
	return r.reconcileNormal(ctx, pa)
}

// SetupWithManager registers the controller, and the informer handler that keeps
// the metrics, the read-back period and the index of PartnerAccounts by
// spec.accountUID in line with the cache.
func (r *PartnerAccountReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	r.Options = r.Options.withDefaults()
	r.readBacks = newReadBacks(r.Options.ResyncPeriod, r.Options.ReadBackRate, mgr.GetLogger().WithName("readback"))
	r.tracker = newAccountTracker(r.readBacks)
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
		Owns(&corev1.Secret{}, builder.WithPredicates(tokenSecretTampered())).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.Options.MaxConcurrentReconciles,
			RateLimiter:             newJitteredBackoff(r.Options.BackoffBase, r.Options.BackoffMax),
			UsePriorityQueue:        new(true),
		}).
		Named("partneraccount")
	if r.Reauthorized != nil {
		b = b.WatchesRawSource(source.Channel(r.Reauthorized, handler.EnqueueRequestsFromMapFunc(r.unauthorizedAccounts)))
	}
	return b.Complete(r)
}

// resultFor turns an outcome into when to look at the resource again.
func (r *PartnerAccountReconciler) resultFor(o outcome) (ctrl.Result, error) {
	switch {
	case o.reason == billingv1alpha1.ReasonAPIUnavailable, o.reason == billingv1alpha1.ReasonAPIEndpointMisconfigured:
		// Returned errors go through the work queue's per-object jittered backoff.
		if o.err == nil {
			return ctrl.Result{}, errors.New(o.message)
		}
		return ctrl.Result{}, o.err
	case o.reason == billingv1alpha1.ReasonRateLimited:
		d, ok := partnerapi.RetryAfter(o.err)
		if !ok {
			d = time.Second
		}
		return ctrl.Result{RequeueAfter: d + time.Duration(rand.Int64N(int64(d/4+100*time.Millisecond)))}, nil
	case o.reason == billingv1alpha1.ReasonUnauthorized, o.reason == billingv1alpha1.ReasonSecretConflict:
		return ctrl.Result{RequeueAfter: jitter(r.Options.UnauthorizedRetryPeriod, 0.2)}, nil
	case isStalled(o.reason), o.reason == billingv1alpha1.ReasonReconcileSuspended:
		return ctrl.Result{}, nil
	default:
		// A background read-back: within the read-back budget, after user work.
		return ctrl.Result{RequeueAfter: r.readBacks.after(r.Options.Now()), Priority: new(readBackPriority)}, nil
	}
}

// unauthorizedAccounts maps the API's accepting the token again to the
// PartnerAccounts waiting as Unauthorized.
func (r *PartnerAccountReconciler) unauthorizedAccounts(ctx context.Context, _ client.Object) []reconcile.Request {
	var list billingv1alpha1.PartnerAccountList
	if err := r.List(ctx, &list); err != nil {
		logf.FromContext(ctx).Error(err, "Failed to list the PartnerAccounts to retry")
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if readyReason(&list.Items[i].Status) == billingv1alpha1.ReasonUnauthorized {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}

// statusPatcher writes the status subresource only when it changed since the last
// write, as a merge patch of the status alone.
type statusPatcher struct {
	client.Client
	last billingv1alpha1.PartnerAccountStatus
}

func newStatusPatcher(c client.Client, pa *billingv1alpha1.PartnerAccount) *statusPatcher {
	return &statusPatcher{Client: c, last: *pa.Status.DeepCopy()}
}

func (p *statusPatcher) patch(ctx context.Context, pa *billingv1alpha1.PartnerAccount) error {
	if equality.Semantic.DeepEqual(p.last, pa.Status) {
		return nil
	}
	base := pa.DeepCopy()
	base.Status = p.last
	if err := p.Status().Patch(ctx, pa, client.MergeFrom(base)); err != nil {
		return err
	}
	p.last = *pa.Status.DeepCopy()
	return nil
}

// recordFailure records a Warning event when the Ready reason changes to a failure,
// once per change rather than once per retry.
func (r *PartnerAccountReconciler) recordFailure(pa *billingv1alpha1.PartnerAccount, previousReason string, o outcome) {
	if isFailure(o.reason) && o.reason != previousReason {
		r.Recorder.Eventf(pa, nil, corev1.EventTypeWarning, o.reason, "Reconcile", "%s", o.message)
	}
}
