package connection

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// server is a partnerapi.Client that answers from a fixed origin with the
// accounts it holds, and counts its reads.
type server struct {
	partnerapi.Client
	origin   partnerapi.Origin
	accounts map[string]time.Time
	reads    int
}

func (s *server) Get(_ context.Context, uid string) (*partnerapi.Account, error) {
	s.reads++
	created, ok := s.accounts[uid]
	if !ok {
		return nil, &partnerapi.Error{Kind: partnerapi.ErrNotFound, Op: partnerapi.OpGet, UID: uid,
			StatusCode: http.StatusNotFound, Origin: s.origin}
	}
	return &partnerapi.Account{UID: uid, CreatedAt: created, Origin: s.origin}, nil
}

func (s *server) Origin() partnerapi.Origin { return s.origin }

var (
	originA = partnerapi.Origin{URL: "https://a.example/api/v1", ID: "aaaaaaaaaaaaaaaa"}
	originB = partnerapi.Origin{URL: "https://b.example/api/v1", ID: "bbbbbbbbbbbbbbbb"}
	created = time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC)
)

// registryWith is a registry whose default connection is api, knowing accounts
// acct-1 to acct-n last answered at originA.
func registryWith(api partnerapi.Client, n int) *Registry {
	r := NewRegistry(api, 0, Options{ResyncPeriod: time.Hour, Log: logr.Discard()})
	for i := range n {
		r.NoteAccount("", "acct-"+string(rune('1'+i)), originA, created.Add(time.Duration(i)*time.Second))
	}
	return r
}

func TestHoldsOnlyWhereTheEvidenceWasEarned(t *testing.T) {
	ctx := context.Background()
	known := map[string]time.Time{"acct-1": created, "acct-2": created.Add(time.Second), "acct-3": created.Add(2 * time.Second)}

	t.Run("the same origin, with no call", func(t *testing.T) {
		srv := &server{origin: originA}
		r := registryWith(srv, 3)
		if !r.Holds(ctx, r.Default(), originA, originA, "x") || srv.reads != 0 {
			t.Errorf("reads %d", srv.reads)
		}
	})
	t.Run("another server, which has none of the accounts", func(t *testing.T) {
		srv := &server{origin: originB, accounts: map[string]time.Time{}}
		r := registryWith(srv, 5)
		if r.Holds(ctx, r.Default(), originA, originB, "acct-1") {
			t.Fatal("a server without the accounts holds them")
		}
		if srv.reads != proofReads {
			t.Errorf("%d reads, want %d", srv.reads, proofReads)
		}
		if r.Holds(ctx, r.Default(), originA, originB, "acct-1") || srv.reads != proofReads {
			t.Errorf("a failed proof was tried again at once: %d reads", srv.reads)
		}
		if r.Served(originB) {
			t.Error("its 404s made it serve accounts")
		}
	})
	t.Run("another partner's contract, with other accounts under the same UIDs", func(t *testing.T) {
		other := map[string]time.Time{}
		for uid, c := range known {
			other[uid] = c.Add(time.Hour)
		}
		srv := &server{origin: originB, accounts: other}
		r := registryWith(srv, 3)
		if r.Holds(ctx, r.Default(), originA, originB, "x") {
			t.Error("other accounts under the same UIDs proved the other contract holds them")
		}
	})
	t.Run("the same partner with a rotated token", func(t *testing.T) {
		srv := &server{origin: originB, accounts: known}
		r := registryWith(srv, 3)
		if !r.Holds(ctx, r.Default(), originA, originB, "acct-1") {
			t.Fatal("the same accounts did not prove it")
		}
		reads := srv.reads
		if !r.Holds(ctx, r.Default(), originA, originB, "acct-2") || srv.reads != reads {
			t.Errorf("the proof was not remembered: %d reads after %d", srv.reads, reads)
		}
		if !r.Served(originB) {
			t.Error("it does not serve accounts")
		}
	})
	t.Run("accounts without a creation time prove no continuity", func(t *testing.T) {
		srv := &server{origin: originB, accounts: known}
		r := NewRegistry(srv, 0, Options{ResyncPeriod: time.Hour, Log: logr.Discard()})
		r.NoteAccount("", "acct-1", originA, time.Time{})
		if r.Holds(ctx, r.Default(), originA, originB, "x") || srv.reads != 0 {
			t.Errorf("an undated account proved it (%d reads)", srv.reads)
		}
	})
	t.Run("an account answered as the same account proves it", func(t *testing.T) {
		srv := &server{origin: originB}
		r := registryWith(srv, 0)
		r.Answered(&partnerapi.Account{UID: "acct-9", Origin: originB}, originA, false)
		if r.Holds(ctx, r.Default(), originA, originB, "x") {
			t.Error("an answer not judged the same account proved it")
		}
		r.Answered(&partnerapi.Account{UID: "acct-9", Origin: originB}, originA, true)
		if !r.Holds(ctx, r.Default(), originA, originB, "x") || srv.reads != 0 {
			t.Errorf("the same account did not prove it (%d reads)", srv.reads)
		}
	})
	t.Run("nothing recorded: any account read proves it serves accounts", func(t *testing.T) {
		srv := &server{origin: originB, accounts: known}
		r := NewRegistry(srv, 0, Options{ResyncPeriod: time.Hour, Log: logr.Discard()})
		if r.Holds(ctx, r.Default(), partnerapi.Origin{}, originB, "x") {
			t.Error("no account known, yet proven")
		}
		r.NoteAccount("", "acct-1", originB, time.Time{})
		r.evidence.failed = map[[2]uint32]time.Time{} // as after proofInterval
		if !r.Holds(ctx, r.Default(), partnerapi.Origin{}, originB, "x") {
			t.Error("an account read did not prove the origin serves accounts")
		}
	})
	t.Run("a recording made before origins had IDs: the same URL", func(t *testing.T) {
		legacy := partnerapi.Origin{URL: originA.URL}
		if !SameOrigin(legacy, originA) || SameOrigin(legacy, originB) || SameOrigin(partnerapi.Origin{}, originA) {
			t.Error("SameOrigin")
		}
	})
}

func TestKnownAccountsFollowNoteAndForget(t *testing.T) {
	r := NewRegistry(nil, 0, Options{ResyncPeriod: time.Hour, Log: logr.Discard()})
	if r.KnownAccounts("brand-b") {
		t.Fatal("known before any note")
	}
	r.NoteAccount("brand-b", "u1", originA, time.Time{})
	r.NoteAccount("brand-b", "u2", originB, created)
	uid, at, c, ok := r.KnownAccount("brand-b", originA)
	if !ok || uid != "u2" || at != originB || !c.Equal(created) {
		t.Errorf("KnownAccount = %q %+v %v %v, want the dated u2, last answered elsewhere", uid, at, c, ok)
	}
	r.NoteAccount("brand-b", "u3", originA, created)
	if uid, _, _, _ := r.KnownAccount("brand-b", originB); uid != "u3" {
		t.Errorf("KnownAccount from originB = %q, want u3, last answered at originA", uid)
	}
	r.ForgetAccount("brand-b", "u3")
	r.ForgetAccount("brand-b", "u1")
	r.ForgetAccount("brand-b", "u2")
	if r.KnownAccounts("brand-b") || r.KnownAccounts("") {
		t.Error("still known after forget")
	}
}
