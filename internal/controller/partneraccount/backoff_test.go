package partneraccount

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func TestJitteredBackoff(t *testing.T) {
	b := newJitteredBackoff(time.Second, 10*time.Second)
	var req = requestFor("ns", "a")
	for n, ceiling := range []time.Duration{1, 2, 4, 8, 10, 10} {
		ceiling *= time.Second
		got := b.When(req)
		if got < ceiling/2 || got >= ceiling+1 {
			t.Errorf("failure %d: waited %v, want within [%v, %v)", n, got, ceiling/2, ceiling)
		}
	}
	if b.NumRequeues(req) != 6 {
		t.Errorf("NumRequeues = %d, want 6", b.NumRequeues(req))
	}
	b.Forget(req)
	if got := b.When(req); got >= time.Second {
		t.Errorf("after Forget, waited %v, want < 1s", got)
	}
	if got := b.When(requestFor("ns", "other")); got >= time.Second {
		t.Errorf("another object inherited the backoff: %v", got)
	}

	// Jitter: many draws for the same failure count are not all equal.
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[newJitteredBackoff(time.Second, time.Minute).When(req)] = true
	}
	if len(seen) < 10 {
		t.Errorf("only %d distinct delays in 20 draws: no jitter", len(seen))
	}
}

func requestFor(namespace, name string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: namespace, Name: name}}
}
