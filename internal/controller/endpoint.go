package controller

import (
	"context"
	"sync"
	"time"

	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// Bounds of the endpoint prover.
const (
	// proofReads is how many accounts known to exist one proof reads at most.
	proofReads = 3
	// proofInterval is how long after a proof that failed the next may be tried.
	proofInterval = 30 * time.Second
)

// endpointProver finds out whether the Partnership API endpoint serves accounts,
// when a 404 or 410 from it would otherwise prove nothing: it reads accounts the
// operator knows exist. A 2xx for one of them proves the endpoint (the client
// remembers it); their 404s prove nothing either, so a wrong path prefix stays
// unproven. One proof runs at a time, and a failed one is not tried again for
// proofInterval, so that proving costs a few calls, not one per resource.
type endpointProver struct {
	api partnerapi.Client
	// connection is the connection's name, "" for the default.
	connection string
	// known returns up to n accountUIDs of accounts on a connection known to exist,
	// other than except.
	known func(connection, except string, n int) []string

	mu     sync.Mutex
	failed time.Time
}

// prove reports whether the endpoint is proven, trying to prove it with accounts
// other than except when it is not.
func (p *endpointProver) prove(ctx context.Context, except string) bool {
	if p.api.Proven() {
		return true
	}
	if !p.mu.TryLock() {
		return false // a proof is under way; this resource is looked at again later
	}
	defer p.mu.Unlock()
	if time.Since(p.failed) < proofInterval {
		return p.api.Proven()
	}
	log := logf.FromContext(ctx)
	for _, uid := range p.known(p.connection, except, proofReads) {
		if _, err := p.api.Get(ctx, uid); err == nil {
			log.Info("Partnership API endpoint proven by reading an account known to exist",
				"endpoint", p.api.Endpoint(), "accountUID", uid)
			return true
		}
	}
	p.failed = time.Now()
	log.Info("Partnership API endpoint not proven: no account known to exist could be read from it",
		"endpoint", p.api.Endpoint())
	return p.api.Proven()
}
