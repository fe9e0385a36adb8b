package connection

import (
	"context"
	"sync"
	"time"

	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// Bounds of a proof.
const (
	// proofReads is how many accounts known to exist one proof reads at most.
	proofReads = 3
	// proofInterval is how long after a proof that failed the same proof may be
	// tried again.
	proofInterval = 30 * time.Second
)

// evidence is what the registry knows of where accounts live: for each account
// known to exist, the origin that last answered for it and its creation time; the
// origins that have answered for an account they were asked about (they serve
// accounts, so their 404s mean what they say); and the pairs of origins of which
// the second has answered, as the same account, for an account last answered by
// the first (it holds the first's accounts: the same server and partner under
// another URL or token). Origins are kept as small numbers.
type evidence struct {
	mu   sync.Mutex
	keys map[string]uint32
	// origins holds the origin of each key, at its number minus one.
	origins []partnerapi.Origin
	known   map[string]map[string]knownAccount
	served  map[uint32]struct{}
	holds   map[[2]uint32]struct{}
	failed  map[[2]uint32]time.Time
	// proving lets one proof run at a time.
	proving sync.Mutex
}

// knownAccount is where an account known to exist was last answered, and when it
// was created (Unix seconds; 0 when the API did not say).
type knownAccount struct {
	origin  uint32
	created int64
}

func newEvidence() *evidence {
	return &evidence{keys: map[string]uint32{}, known: map[string]map[string]knownAccount{},
		served: map[uint32]struct{}{}, holds: map[[2]uint32]struct{}{}, failed: map[[2]uint32]time.Time{}}
}

// originKey is the key of an origin: its ID, or, for an origin recorded before
// origins had IDs, its URL alone. "" for none.
func originKey(o partnerapi.Origin) string {
	switch {
	case o.ID != "":
		return o.ID
	case o.URL != "":
		return "url:" + o.URL
	}
	return ""
}

// SameOrigin reports whether an answer from answered comes from the origin
// recorded: the same ID, or, for a recording made before origins had IDs, the same
// URL.
func SameOrigin(recorded, answered partnerapi.Origin) bool {
	if recorded.ID != "" {
		return recorded.ID == answered.ID
	}
	return recorded.URL != "" && recorded.URL == answered.URL
}

// keyLocked interns the key of o.
func (e *evidence) keyLocked(o partnerapi.Origin) uint32 {
	k := originKey(o)
	if i, ok := e.keys[k]; ok {
		return i
	}
	e.origins = append(e.origins, o)
	i := uint32(len(e.origins))
	e.keys[k] = i
	return i
}

// NoteAccount records that the account uid on the connection conn is known to
// exist, last answered at origin, created at created (zero when unknown).
func (r *Registry) NoteAccount(conn, uid string, origin partnerapi.Origin, created time.Time) {
	e := r.evidence
	e.mu.Lock()
	defer e.mu.Unlock()
	accounts := e.known[conn]
	if accounts == nil {
		accounts = map[string]knownAccount{}
		e.known[conn] = accounts
	}
	k := knownAccount{origin: e.keyLocked(origin)}
	if !created.IsZero() {
		k.created = created.Unix()
	}
	accounts[uid] = k
}

// ForgetAccount records that the account uid on conn is no longer known to exist.
func (r *Registry) ForgetAccount(conn, uid string) {
	e := r.evidence
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.known[conn], uid)
	if len(e.known[conn]) == 0 {
		delete(e.known, conn)
	}
}

// KnownAccounts reports whether an account is known to exist on conn.
func (r *Registry) KnownAccounts(conn string) bool {
	e := r.evidence
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.known[conn]) > 0
}

// KnownAccount returns an account known to exist on conn, where it was last
// answered and its creation time (zero when unknown), for a check of the
// connection's server; ok is false when none is known. One last answered
// elsewhere than current is preferred (whether current holds it is the question),
// and one with a creation time (only it tells the same account from another).
func (r *Registry) KnownAccount(conn string, current partnerapi.Origin) (uid string, at partnerapi.Origin,
	created time.Time, ok bool) {
	e := r.evidence
	e.mu.Lock()
	defer e.mu.Unlock()
	best := -1
	for u, k := range e.known[conn] {
		o := e.origins[k.origin-1]
		score := 0
		if !SameOrigin(o, current) {
			score += 2
		}
		if k.created != 0 {
			score++
		}
		if score > best {
			best, uid, at, ok = score, u, o, true
			created = time.Time{}
			if k.created != 0 {
				created = time.Unix(k.created, 0)
			}
		}
		if best == 3 {
			break
		}
	}
	return uid, at, created, ok
}

// Answered records an answer that carried acct: its origin serves accounts. When
// recorded, the origin the account was last answered at, is another, and the
// answer is the same account (same, as the caller judged by its type, domain and
// creation time), the answer's origin holds recorded's accounts.
func (r *Registry) Answered(acct *partnerapi.Account, recorded partnerapi.Origin, same bool) {
	if acct.Origin.URL == "" {
		return
	}
	e := r.evidence
	e.mu.Lock()
	defer e.mu.Unlock()
	to := e.keyLocked(acct.Origin)
	e.served[to] = struct{}{}
	if same && originKey(recorded) != "" && !SameOrigin(recorded, acct.Origin) {
		pair := [2]uint32{e.keyLocked(recorded), to}
		e.holds[pair] = struct{}{}
		delete(e.failed, pair)
	}
}

// Served reports whether origin has answered for an account it was asked about.
func (r *Registry) Served(origin partnerapi.Origin) bool {
	e := r.evidence
	e.mu.Lock()
	defer e.mu.Unlock()
	i, ok := e.keys[originKey(origin)]
	if !ok {
		return false
	}
	_, served := e.served[i]
	return served
}

// Holds reports whether an answer from answered, on connection c, is evidence about
// an account last answered at recorded. It is when both are the same origin, or
// answered has shown that it holds recorded's accounts: it answered, as the same
// account, for one of them. With nothing recorded (an account never answered), it
// is when answered serves accounts at all. When neither is known, Holds tries to
// prove it by reading, through c, up to three accounts known to exist other than
// except, last answered at recorded (or, with nothing recorded, anywhere); one
// proof runs at a time (a caller waits for the one under way, which may settle its
// question), and a failed one is not tried again for proofInterval, so that
// proving costs a few calls, not one per resource.
func (r *Registry) Holds(ctx context.Context, c *Connection, recorded, answered partnerapi.Origin, except string) bool {
	if SameOrigin(recorded, answered) {
		return true
	}
	e := r.evidence
	if _, proven, tried := e.lookup(recorded, answered); proven || tried || c.API == nil {
		return proven
	}
	// One proof at a time: one under way may settle this one too.
	e.proving.Lock()
	defer e.proving.Unlock()
	pair, proven, tried := e.lookup(recorded, answered)
	if proven || tried {
		return proven
	}
	log := logf.FromContext(ctx)
	for _, cand := range e.candidates(c.name, pair[0], except) {
		acct, err := c.API.Get(ctx, cand.uid)
		if err != nil || !SameOrigin(answered, acct.Origin) ||
			cand.created != 0 && (acct.CreatedAt.IsZero() || acct.CreatedAt.Unix() != cand.created) {
			continue
		}
		e.prove(pair)
		log.Info("Partnership API origin proven by reading an account known to exist", "endpoint", answered.URL,
			"accountUID", cand.uid)
		return true
	}
	e.mu.Lock()
	e.failed[pair] = time.Now()
	e.mu.Unlock()
	log.Info("Partnership API origin not proven: no account known to exist could be read from it as the same "+
		"account", "endpoint", answered.URL)
	return false
}

// lookup returns the pair of keys (recorded, answered), 0 for recorded when there
// is none, whether answered is known to hold recorded's accounts (or, with none
// recorded, to serve accounts), and whether a proof of it failed lately.
func (e *evidence) lookup(recorded, answered partnerapi.Origin) (pair [2]uint32, proven, tried bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	pair[1] = e.keyLocked(answered)
	if originKey(recorded) == "" {
		_, proven = e.served[pair[1]]
	} else {
		pair[0] = e.keyLocked(recorded)
		_, proven = e.holds[pair]
	}
	at, failed := e.failed[pair]
	return pair, proven, failed && time.Since(at) < proofInterval
}

// prove records that pair's second origin holds the first's accounts, or, when
// the first is 0, serves accounts.
func (e *evidence) prove(pair [2]uint32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.served[pair[1]] = struct{}{}
	if pair[0] != 0 {
		e.holds[pair] = struct{}{}
	}
	delete(e.failed, pair)
}

// candidate is an account a proof reads.
type candidate struct {
	uid     string
	created int64
}

// candidates returns up to proofReads accounts known to exist on conn, other than
// except, last answered at origin, with a known creation time: only that tells the
// same account from another one under the same UID on another partner's contract.
// With origin 0 (does an origin serve accounts at all?) any account will do, those
// with a creation time first.
func (e *evidence) candidates(conn string, origin uint32, except string) []candidate {
	e.mu.Lock()
	defer e.mu.Unlock()
	var dated, undated []candidate
	for uid, k := range e.known[conn] {
		if len(dated) == proofReads {
			break
		}
		if uid == except || origin != 0 && k.origin != origin {
			continue
		}
		if k.created != 0 {
			dated = append(dated, candidate{uid: uid, created: k.created})
		} else if origin == 0 && len(undated) < proofReads {
			undated = append(undated, candidate{uid: uid})
		}
	}
	return append(dated, undated...)[:min(proofReads, len(dated)+len(undated))]
}
