package bench

import (
	"context"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// readyTracker watches the benchmark's PartnerAccounts, as kube-apiserver shows
// them to any client, and notes when each is first seen with Ready=True.
type readyTracker struct {
	mu      sync.Mutex
	start   time.Time
	readyAt map[string]time.Duration // since start
	want    int
	all     chan struct{} // closed when want accounts have been Ready
}

// trackReady registers a tracker on the cache's PartnerAccount informer; the
// cache must not have started yet, or must be started after.
func trackReady(ctx context.Context, c cache.Cache, want int) (*readyTracker, error) {
	t := &readyTracker{readyAt: make(map[string]time.Duration, want), want: want, all: make(chan struct{})}
	inf, err := c.GetInformer(ctx, &billingv1alpha1.PartnerAccount{}, cache.BlockUntilSynced(false))
	if err != nil {
		return nil, err
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    t.observe,
		UpdateFunc: func(_, obj any) { t.observe(obj) },
	})
	return t, err
}

// begin sets the moment times are counted from.
func (t *readyTracker) begin(at time.Time) {
	t.mu.Lock()
	t.start = at
	t.mu.Unlock()
}

func (t *readyTracker) observe(obj any) {
	pa, ok := obj.(*billingv1alpha1.PartnerAccount)
	if !ok || !meta.IsStatusConditionTrue(pa.Status.Conditions, billingv1alpha1.ConditionReady) {
		return
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, seen := t.readyAt[pa.Name]; seen || t.start.IsZero() {
		return
	}
	t.readyAt[pa.Name] = now.Sub(t.start)
	if len(t.readyAt) == t.want {
		close(t.all)
	}
}

// AllReady is closed when every account has been seen Ready.
func (t *readyTracker) AllReady() <-chan struct{} { return t.all }

// Count is how many accounts have been seen Ready.
func (t *readyTracker) Count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.readyAt)
}

// Times returns when each account was first seen Ready, since begin, in order.
func (t *readyTracker) Times() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]time.Duration, 0, len(t.readyAt))
	for _, d := range t.readyAt {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}
