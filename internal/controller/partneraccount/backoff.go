package partneraccount

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// jitteredBackoff is the work queue's per-object rate limiter for failed reconciles:
// the n-th consecutive failure of an object waits a random time in [base*2^n/2,
// base*2^n), capped at max ("equal jitter"), so retries of many objects after a
// shared outage spread out instead of arriving together. A successful reconcile
// (Forget) starts the object over.
type jitteredBackoff struct {
	base, max time.Duration

	mu       sync.Mutex
	failures map[reconcile.Request]int
}

var _ workqueue.TypedRateLimiter[reconcile.Request] = (*jitteredBackoff)(nil)

func newJitteredBackoff(base, maxDelay time.Duration) *jitteredBackoff {
	return &jitteredBackoff{base: base, max: maxDelay, failures: map[reconcile.Request]int{}}
}

// When returns how long the object waits before its next attempt.
func (b *jitteredBackoff) When(item reconcile.Request) time.Duration {
	b.mu.Lock()
	n := b.failures[item]
	b.failures[item] = n + 1
	b.mu.Unlock()

	ceiling := float64(b.base) * math.Pow(2, float64(n))
	if ceiling > float64(b.max) || math.IsInf(ceiling, 0) {
		ceiling = float64(b.max)
	}
	return time.Duration(ceiling/2 + rand.Float64()*ceiling/2)
}

// Forget starts the object's backoff over.
func (b *jitteredBackoff) Forget(item reconcile.Request) {
	b.mu.Lock()
	delete(b.failures, item)
	b.mu.Unlock()
}

// NumRequeues returns the object's consecutive failures.
func (b *jitteredBackoff) NumRequeues(item reconcile.Request) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failures[item]
}
