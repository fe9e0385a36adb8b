package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
	"github.com/partnerbilling/partner-account-operator/internal/readback"
)

// connection is what the controller needs to speak to one Partnership API server
// with one partner token: the client (with its rate limiter, Retry-After pause and
// token state), the calendar of its read-backs and the prover of its endpoint. Each
// PartnerConnection has one, and the operator's flags make the default one, so
// that trouble on one never delays or marks another's accounts.
type connection struct {
	// name is the PartnerConnection's, or "" for the default connection.
	name      string
	api       partnerapi.Client
	readBacks *readback.Calendar
	prover    *endpointProver
	// unusable, when set, says why the connection cannot be used (its token Secret
	// is missing, say): PartnerAccounts on it make no call.
	unusable string
	// fingerprint identifies the configuration the client was made with.
	fingerprint string
	// verified is the PartnerConnection controller's last verification of the
	// token; only that controller, with one worker, reads and writes it.
	verified verification
}

// verification is when a connection's token was last tried, for which generation
// of the PartnerConnection and which token (a SHA-256 digest).
type verification struct {
	at         time.Time
	generation int64
	token      [32]byte
}

// close lets the connection's client go, with its metric series.
func (c *connection) close() {
	if closer, ok := c.api.(interface{ Close() }); ok {
		closer.Close()
	}
	readBackPeriod.DeleteLabelValues(c.label())
}

// label is the connection's value of the metrics' connection label.
func (c *connection) label() string {
	if c.name == "" {
		return partnerapi.DefaultConnection
	}
	return c.name
}

// onAPIClock moves claim onto the API's clock when the client knows it.
func (c *connection) onAPIClock(claim *billingv1alpha1.CreateClaim) *billingv1alpha1.CreateClaim {
	apiNow, known := c.api.Now()
	if !known {
		return claim
	}
	return claimOnAPIClock(claim, time.Until(apiNow))
}

// sentAt is when a request sent at local time sent went out, on clock.
func (c *connection) sentAt(sent time.Time, clock billingv1alpha1.Clock) time.Time {
	if apiNow, known := c.api.Now(); known && clock == billingv1alpha1.ClockAPI {
		return apiNow.Add(-time.Since(sent))
	}
	return sent
}

// connectionSet holds the connections by name.
type connectionSet struct {
	mu sync.RWMutex
	// def is the default connection.
	def    *connection
	byName map[string]*connection
	// counts are the accounts on each connection, for its calendar, kept also for
	// a connection not made yet.
	counts map[string]int64
}

func newConnectionSet(def *connection) *connectionSet {
	return &connectionSet{def: def, byName: map[string]*connection{}, counts: map[string]int64{}}
}

// get returns the connection name ("" for the default), or nil when there is none.
func (cs *connectionSet) get(name string) *connection {
	if name == "" {
		return cs.def
	}
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	return cs.byName[name]
}

// put makes c the connection of its name, and returns the one it replaces.
func (cs *connectionSet) put(c *connection) *connection {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	old := cs.byName[c.name]
	cs.byName[c.name] = c
	if c.readBacks != nil {
		c.readBacks.AccountsChanged(cs.counts[c.name])
	}
	return old
}

// remove forgets the connection name and returns it.
func (cs *connectionSet) remove(name string) *connection {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	old := cs.byName[name]
	delete(cs.byName, name)
	return old
}

// accountsChanged records that n accounts use the connection name.
func (cs *connectionSet) accountsChanged(name string, n int64) {
	cs.mu.Lock()
	cs.counts[name] = n
	cs.mu.Unlock()
	if c := cs.get(name); c != nil && c.readBacks != nil {
		c.readBacks.AccountsChanged(n)
	}
}

// useConnection finds the connection s's resource's account lives on and puts it
// in s. It reports false, with s's outcome saying why, when the resource may not
// use it: no PartnerConnection of that name, one whose namespaceSelector does not
// admit the resource's namespace, or one that cannot be used yet. Then no call is
// made.
func (r *PartnerAccountReconciler) useConnection(ctx context.Context, s *scope) (bool, error) {
	pa := s.pa
	if pa.Spec.ConnectionRef == nil {
		s.conn = r.conns.def
		return true, nil
	}
	name := pa.Spec.ConnectionRef.Name
	pc := &billingv1alpha1.PartnerConnection{}
	if err := r.Get(ctx, client.ObjectKey{Name: name}, pc); err != nil {
		if apierrors.IsNotFound(err) {
			s.conclude(connectionNotFoundOutcome(name))
			return false, nil
		}
		return false, fmt.Errorf("read PartnerConnection %s: %w", name, err)
	}
	if admitted, err := r.admits(ctx, pc, pa.Namespace); err != nil || !admitted {
		if err == nil {
			s.conclude(connectionNotAllowedOutcome(name, pa.Namespace))
		}
		return false, err
	}
	c := r.conns.get(name)
	switch {
	case c == nil:
		s.conclude(connectionNotReadyOutcome(name, "the operator has not set it up yet"))
		return false, nil
	case c.unusable != "":
		s.conclude(connectionNotReadyOutcome(name, c.unusable))
		return false, nil
	}
	s.conn = c
	return true, nil
}

// admits reports whether pc's namespaceSelector admits namespace.
func (r *PartnerAccountReconciler) admits(ctx context.Context, pc *billingv1alpha1.PartnerConnection, namespace string) (bool, error) {
	sel := pc.Spec.NamespaceSelector
	if sel == nil || len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0 {
		return true, nil
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, nil // admission refuses such a selector; none is admitted by it
	}
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		return false, fmt.Errorf("read Namespace %s: %w", namespace, err)
	}
	return selector.Matches(labels.Set(ns.Labels)), nil
}

// connectionNotFoundOutcome is the outcome of a resource naming a PartnerConnection
// that does not exist.
func connectionNotFoundOutcome(name string) outcome {
	return outcome{reason: billingv1alpha1.ReasonConnectionNotFound,
		message: fmt.Sprintf("PartnerConnection %q does not exist, so no call is made; create it, or fix "+
			"spec.connectionRef (it cannot change: delete and recreate this resource)", name)}
}

// connectionNotAllowedOutcome is the outcome of a resource in a namespace its
// PartnerConnection does not admit.
func connectionNotAllowedOutcome(name, namespace string) outcome {
	return outcome{reason: billingv1alpha1.ReasonConnectionNotAllowed,
		message: fmt.Sprintf("PartnerConnection %q does not admit namespace %q (its spec.namespaceSelector), so no call "+
			"is made; ask its owner to admit this namespace", name, namespace)}
}

// connectionNotReadyOutcome is the outcome of a resource whose PartnerConnection
// cannot be used yet, and why.
func connectionNotReadyOutcome(name, why string) outcome {
	return outcome{reason: billingv1alpha1.ReasonConnectionNotReady,
		message: fmt.Sprintf("PartnerConnection %q cannot be used, so no call is made: %s", name, why)}
}

// useClient makes the connection name use a client configured by cfg, keeping the
// one it has when fingerprint says nothing it depends on changed, so that its
// rate limiter, Retry-After pause and token state carry on.
func (r *PartnerAccountReconciler) useClient(name string, cfg partnerapi.Config, fingerprint string) (*connection, error) {
	old := r.conns.get(name)
	if old != nil && old.fingerprint == fingerprint && old.unusable == "" {
		return old, nil
	}
	if old != nil && old.api != nil {
		// Its metric series go before the new client makes its own of the same name.
		old.close()
	}
	api, err := partnerapi.New(cfg)
	if err != nil {
		return nil, err
	}
	c := r.newConnection(name, api, cfg.RequestsPerSecond/2, r.log)
	c.fingerprint = fingerprint
	r.watchReauthorization(c)
	r.conns.put(c)
	return c, nil
}

// markUnusable records why the connection name cannot be used; its accounts make
// no call until it can.
func (r *PartnerAccountReconciler) markUnusable(name, why string) {
	if old := r.conns.put(&connection{name: name, unusable: why}); old != nil && old.api != nil {
		old.close()
	}
}

// forgetConnection drops the connection name, once its PartnerConnection is gone.
func (r *PartnerAccountReconciler) forgetConnection(name string) {
	if old := r.conns.remove(name); old != nil {
		old.close()
	}
}
