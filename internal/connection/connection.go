// Package connection is the registry of the operator's Partnership API
// connections: the default one, which the operator's flags make, and one for each
// PartnerConnection. The PartnerConnection controller puts and takes them; the
// PartnerAccount controller uses them. Each connection has its own client (with its
// rate limiter, Retry-After pause and token state), read-back calendar and create
// gate, so that trouble on one never delays or marks another's accounts.
//
// The registry also keeps the evidence of where accounts live (evidence.go): which
// origin (URL, partner token and CA bundle) last answered for each account known to
// exist, which origins have answered for accounts at all, and which have shown that
// they hold the accounts of another. An answer is evidence only about the origin
// that gave it.
package connection

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
	"github.com/partnerbilling/partner-account-operator/internal/readback"
)

// Connection is what the controllers need to speak to one Partnership API server
// with one partner token.
type Connection struct {
	// name is the PartnerConnection's, or "" for the default connection.
	name string
	// API is the connection's client; nil when the connection cannot be used.
	API partnerapi.Client
	// ReadBacks is the calendar of its accounts' background read-backs.
	ReadBacks *readback.Calendar
	// unusable, when set, says why the connection cannot be used (its token Secret
	// is missing, say): PartnerAccounts on it make no call.
	unusable string
	// fingerprint identifies the configuration the client was made with.
	fingerprint string
	// generation is the PartnerConnection generation it was last set up for.
	generation atomic.Int64
	// creates decides how its new accounts are created (see CreateMode).
	creates createGate
	// Verified is the PartnerConnection controller's last verification of the
	// token; only that controller, with one worker, reads and writes it.
	Verified Verification
}

// Verification is when a connection's token was last tried, for which generation
// of the PartnerConnection and which token (a SHA-256 digest), and the Ready
// reason and message it came to.
type Verification struct {
	At              time.Time
	Generation      int64
	Token           [32]byte
	Reason, Message string
}

// Name is the PartnerConnection's name, "" for the default connection.
func (c *Connection) Name() string { return c.name }

// Label is the connection's value of the metrics' connection label.
func (c *Connection) Label() string { return labelOf(c.name) }

// labelOf is the connection label of the connection name.
func labelOf(name string) string {
	if name == "" {
		return partnerapi.DefaultConnection
	}
	return name
}

// Generation is the PartnerConnection generation the connection was last set up
// for; a PartnerConnection with a newer one is about to be set up anew (another
// URL, say), so its accounts wait rather than call the server it leaves.
func (c *Connection) Generation() int64 { return c.generation.Load() }

// Unusable says why the connection cannot be used, or "" when it can.
func (c *Connection) Unusable() string { return c.unusable }

// close lets the connection's client go, with its metric series.
func (c *Connection) close() {
	if closer, ok := c.API.(interface{ Close() }); ok {
		closer.Close()
	}
	readBackPeriod.DeleteLabelValues(c.Label())
}

// CreateMode is how a resource that never made its account goes about it.
type CreateMode int

const (
	// CreateAtOnce: send the create; an account that exists is found from the
	// refusal. One call for a new account.
	CreateAtOnce CreateMode = iota
	// ReadFirst: read the account first and create it only when it is proven
	// absent. This server holds accounts that this cluster's resources declare but
	// never made (a cluster rebuilt from Git, say), so each new resource reads
	// before it writes anything.
	ReadFirst
	// ProbeFirst: as ReadFirst, for this resource alone; it finds out which of the
	// two the connection's other new resources follow (see ProbeDone).
	ProbeFirst
	// WaitForProbe: another resource is finding out; look again shortly, with no
	// call and no write.
	WaitForProbe
)

// createGate is the state behind a connection's CreateMode.
type createGate struct {
	mu sync.Mutex
	// probing is set while a resource finds out; readFirst once one found an
	// account this cluster did not make; atOnce once creating at once is known safe.
	probing, readFirst, atOnce bool
}

// CreateMode says how a resource on c that never made its account goes about it.
// While no account is known to exist on the connection (a new connection, or a
// cluster rebuilt from Git with no status), the first such resource reads before it
// creates, and the others wait for what it finds; then all create at once, or all
// read first when it found an account that existed before. knownAccounts is whether
// an account is known to exist on c; once one is, creating at once is safe.
func (c *Connection) CreateMode(knownAccounts bool) CreateMode {
	g := &c.creates
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.readFirst:
		return ReadFirst
	case g.atOnce, knownAccounts:
		g.atOnce = true
		return CreateAtOnce
	case g.probing:
		return WaitForProbe
	}
	g.probing = true
	return ProbeFirst
}

// ProbeDone records what the resource that probed found: preexisting is set when
// its account existed before this cluster made it, absent when none was there; with
// neither (the read failed) the next resource probes again.
func (c *Connection) ProbeDone(preexisting, absent bool) {
	g := &c.creates
	g.mu.Lock()
	defer g.mu.Unlock()
	g.probing = false
	switch {
	case preexisting:
		g.readFirst = true
	case absent:
		g.atOnce = true
	}
}
