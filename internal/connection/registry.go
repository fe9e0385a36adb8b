package connection

import (
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
	"github.com/partnerbilling/partner-account-operator/internal/readback"
)

// Options configure a Registry.
type Options struct {
	// ResyncPeriod is the longest any account goes unread; each connection's
	// read-back calendar plans within it.
	ResyncPeriod time.Duration
	// Log is where the calendars and the prover log.
	Log logr.Logger
}

// Registry holds the connections by name, and the evidence of where their accounts
// live. It is safe for concurrent use.
type Registry struct {
	opts Options
	// evidence is where accounts live.
	evidence *evidence

	mu sync.RWMutex
	// def is the default connection.
	def    *Connection
	byName map[string]*Connection
	// counts are the accounts on each connection, for its calendar, kept also for
	// a connection not made yet.
	counts map[string]int64
	// wake is told the name of a connection whose client accepts its token again,
	// or that was set up anew: its accounts that wait for it may go on.
	wake func(name string)
}

// NewRegistry makes a registry whose default connection uses api, with its
// read-back calendar at readBackRate calls a second (0: no limit).
func NewRegistry(api partnerapi.Client, readBackRate float64, opts Options) *Registry {
	r := &Registry{opts: opts, evidence: newEvidence(), byName: map[string]*Connection{}, counts: map[string]int64{}}
	r.def = r.newConnection("", api, readBackRate)
	return r
}

// newConnection makes the connection name around api, with its own read-back
// calendar at readBackRate.
func (r *Registry) newConnection(name string, api partnerapi.Client, readBackRate float64) *Connection {
	c := &Connection{name: name, API: api}
	label := c.Label()
	c.ReadBacks = readback.NewCalendar(r.opts.ResyncPeriod, readBackRate,
		r.opts.Log.WithName("readback").WithValues("connection", label), func(p time.Duration) {
			readBackPeriod.WithLabelValues(label).Set(p.Seconds())
		})
	r.watchReauthorization(c)
	return c
}

// Default is the default connection: the operator's flags'.
func (r *Registry) Default() *Connection { return r.def }

// Get returns the connection name ("" for the default), or nil when there is none.
func (r *Registry) Get(name string) *Connection {
	if name == "" {
		return r.def
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.byName[name]
}

// put makes c the connection of its name, and wakes its waiting accounts.
func (r *Registry) put(c *Connection) {
	r.mu.Lock()
	r.byName[c.name] = c
	if c.ReadBacks != nil {
		c.ReadBacks.AccountsChanged(r.counts[c.name])
	}
	r.mu.Unlock()
	r.wakeUp(c.name)
}

// AccountsChanged records that n accounts use the connection name.
func (r *Registry) AccountsChanged(name string, n int64) {
	r.mu.Lock()
	r.counts[name] = n
	r.mu.Unlock()
	if c := r.Get(name); c != nil && c.ReadBacks != nil {
		c.ReadBacks.AccountsChanged(n)
	}
}

// OnWake makes fn be told the name of each connection whose client accepts its
// partner token again after rejecting it, and of each connection set up anew (a
// new client, or found unusable), once the registry holds it: the accounts waiting
// for it then meet the connection as it is now, never the one it replaces.
func (r *Registry) OnWake(fn func(name string)) {
	r.mu.Lock()
	r.wake = fn
	conns := make([]*Connection, 0, 1+len(r.byName))
	conns = append(conns, r.def)
	for _, c := range r.byName {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	for _, c := range conns {
		r.watchReauthorization(c)
	}
}

// watchReauthorization tells the registry's listener each time c's client accepts
// its token again, when the client can say so.
func (r *Registry) watchReauthorization(c *Connection) {
	api, ok := c.API.(interface{ OnReauthorized(func()) })
	if !ok {
		return
	}
	name := c.name
	api.OnReauthorized(func() {
		r.wakeUp(name)
	})
}

// wakeUp tells the listener, if any, that the connection name's accounts may go on.
func (r *Registry) wakeUp(name string) {
	r.mu.RLock()
	fn := r.wake
	r.mu.RUnlock()
	if fn != nil {
		fn(name)
	}
}

// UseClient makes the connection name use a client configured by cfg, set up for
// its PartnerConnection's generation, keeping the one it has when fingerprint says
// nothing it depends on changed, so that its rate limiter, Retry-After pause and
// token state carry on. What the evidence says of where accounts live does not
// depend on the client: it carries on either way.
func (r *Registry) UseClient(name string, generation int64, cfg partnerapi.Config, fingerprint string) (*Connection, error) {
	old := r.Get(name)
	if old != nil && old.fingerprint == fingerprint && old.unusable == "" {
		old.generation.Store(generation)
		return old, nil
	}
	if old != nil && old.API != nil {
		// Its metric series go before the new client makes its own of the same name.
		old.close()
	}
	api, err := partnerapi.New(cfg)
	if err != nil {
		return nil, err
	}
	c := r.newConnection(name, api, cfg.RequestsPerSecond/2)
	c.fingerprint = fingerprint
	c.generation.Store(generation)
	if old != nil {
		c.Verified = old.Verified
		c.creates.atOnce, c.creates.readFirst = old.createsState()
	}
	r.put(c)
	return c, nil
}

// createsState is what c's create gate has learnt.
func (c *Connection) createsState() (atOnce, readFirst bool) {
	c.creates.mu.Lock()
	defer c.creates.mu.Unlock()
	return c.creates.atOnce, c.creates.readFirst
}

// MarkUnusable records why the connection name, at its PartnerConnection's
// generation, cannot be used; its accounts make no call until it can.
func (r *Registry) MarkUnusable(name string, generation int64, why string) {
	c := &Connection{name: name, unusable: why}
	c.generation.Store(generation)
	old := r.Get(name)
	if old != nil && old.API == nil && old.unusable == why {
		old.generation.Store(generation)
		return // as it was: nothing to wake
	}
	if old != nil {
		if old.API != nil {
			old.close()
		}
		c.ReadBacks, c.Verified = old.ReadBacks, old.Verified
		c.creates.atOnce, c.creates.readFirst = old.createsState()
	} else {
		c.ReadBacks = r.newConnection(name, nil, 0).ReadBacks
	}
	r.put(c)
}

// Unchanged records that the PartnerConnection name's generation changed nothing
// its connection depends on (its deletion began, say).
func (r *Registry) Unchanged(name string, generation int64) {
	if c := r.Get(name); c != nil {
		c.generation.Store(generation)
	}
}

// Forget drops the connection name, once its PartnerConnection is gone.
func (r *Registry) Forget(name string) {
	r.mu.Lock()
	old := r.byName[name]
	delete(r.byName, name)
	r.mu.Unlock()
	if old != nil {
		old.close()
	}
}
