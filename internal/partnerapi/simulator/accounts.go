package simulator

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Account statuses. The API never moves an account out of entitled: a customer's
// signup does (Redeem), 1Password does (Suspend, Deprovision), or the end date does.
const (
	// StatusEntitled: created, the customer has not signed up yet.
	StatusEntitled = "entitled"
	// StatusProvisioned: the customer completed signup with the activation token.
	StatusProvisioned = "provisioned"
	// StatusSuspended: suspended by 1Password (Suspend).
	StatusSuspended = "suspended"
	// StatusDeprovisioned: the end date has passed, 1Password deprovisioned the
	// account early (Deprovision), or the account was deleted.
	StatusDeprovisioned = "deprovisioned"
)

// Who deleted an account, as AccountState.DeletedBy reports it.
const (
	// DeletedByAPI: DELETE /api/v1/partners/accounts/{uid}.
	DeletedByAPI = "api"
	// DeletedOutOfBand: DeleteOutOfBand or DELETE /sim/accounts/{uid}.
	DeletedOutOfBand = "out_of_band"
)

// deletedStatusLabel is the status a deleted account reads as in AccountState.
const deletedStatusLabel = StatusDeprovisioned

// Errors returned by the account controls (Redeem, Suspend, Unsuspend,
// Deprovision, DeleteOutOfBand).
var (
	// ErrNotFound: no account was ever created with this id (or Reset forgot it).
	ErrNotFound = errors.New("simulator: no such account")
	// ErrDeleted: the account was deleted.
	ErrDeleted = errors.New("simulator: account deleted")
	// ErrInvalidState: the account's status does not allow the change (redeeming a
	// suspended or ended account).
	ErrInvalidState = errors.New("simulator: account status does not allow this")
)

// account is one account as stored, and as written to the state file.
type account struct {
	UID             string     `json:"uid"`
	Type            string     `json:"account_type"`
	Domain          string     `json:"domain"`
	Status          string     `json:"status"` // entitled, provisioned, suspended or deprovisioned (Deprovision)
	Resume          string     `json:"resume_status,omitempty"`
	ActivationToken string     `json:"activation_token"`
	DeployedMembers int        `json:"deployed_members"`
	EndsAt          *time.Time `json:"ends_at,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	Deleted         bool       `json:"deleted,omitempty"`
	DeletedAt       *time.Time `json:"deleted_at,omitempty"`
	DeletedBy       string     `json:"deleted_by,omitempty"`
}

// status is the status the account reads as at now: deprovisioned once its end
// date has come.
func (a *account) status(now time.Time) string {
	if a.Deleted {
		return deletedStatusLabel
	}
	if a.EndsAt != nil && !now.Before(*a.EndsAt) {
		return StatusDeprovisioned
	}
	return a.Status
}

// AccountState is everything the simulator knows about one account, deleted ones
// included. It is also the JSON of the /sim/accounts endpoints.
type AccountState struct {
	// UID is the partner's id for the account.
	UID string `json:"account_uid"`
	// Type is I or F.
	Type string `json:"account_type"`
	// Domain is the 1Password domain.
	Domain string `json:"domain"`
	// Status is what the account reads as now: entitled, provisioned, suspended or
	// deprovisioned (end date passed, or deleted).
	Status string `json:"status"`
	// ActivationToken is the coupon code a customer redeems.
	ActivationToken string `json:"activation_token"`
	// DeployedMembers is the number of members (0 until redeemed).
	DeployedMembers int `json:"deployed_members"`
	// EndsAt is the end date; nil means none.
	EndsAt *time.Time `json:"ends_at"`
	// CreatedAt is when the account was created.
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is when the account last changed.
	UpdatedAt time.Time `json:"updated_at"`
	// Deleted says the account was deleted; the contract dialect then answers 404
	// for it, the published dialect 410.
	Deleted bool `json:"deleted"`
	// DeletedAt is when it was deleted.
	DeletedAt *time.Time `json:"deleted_at"`
	// DeletedBy is DeletedByAPI or DeletedOutOfBand.
	DeletedBy string `json:"deleted_by,omitempty"`
}

// MarshalJSON writes the account as /sim shows it, with times in the API's
// format (RFC 3339, UTC, milliseconds).
func (st AccountState) MarshalJSON() ([]byte, error) {
	type plain AccountState
	return json.Marshal(struct {
		plain
		EndsAt    *string `json:"ends_at"`
		CreatedAt string  `json:"created_at"`
		UpdatedAt string  `json:"updated_at"`
		DeletedAt *string `json:"deleted_at"`
	}{
		plain:     plain(st),
		EndsAt:    formatTimePtr(st.EndsAt),
		CreatedAt: formatTime(st.CreatedAt),
		UpdatedAt: formatTime(st.UpdatedAt),
		DeletedAt: formatTimePtr(st.DeletedAt),
	})
}

func formatTimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := formatTime(*t)
	return &s
}

func (a *account) state(now time.Time) AccountState {
	return AccountState{
		UID:             a.UID,
		Type:            a.Type,
		Domain:          a.Domain,
		Status:          a.status(now),
		ActivationToken: a.ActivationToken,
		DeployedMembers: a.DeployedMembers,
		EndsAt:          cloneTime(a.EndsAt),
		CreatedAt:       a.CreatedAt,
		UpdatedAt:       a.UpdatedAt,
		Deleted:         a.Deleted,
		DeletedAt:       cloneTime(a.DeletedAt),
		DeletedBy:       a.DeletedBy,
	}
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// Accounts returns every account the simulator holds, deleted ones included,
// sorted by id.
func (s *Server) Accounts() []AccountState {
	now := s.now()
	s.mu.RLock()
	out := make([]AccountState, 0, len(s.accounts))
	for _, a := range s.accounts {
		out = append(out, a.state(now))
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b AccountState) int { return strings.Compare(a.UID, b.UID) })
	return out
}

// Account returns the account with this id, deleted or not; false if there is none.
func (s *Server) Account(uid string) (AccountState, bool) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.accounts[uid]
	if !ok {
		return AccountState{}, false
	}
	return a.state(now), true
}

// Redeem does what a customer's signup with the activation token does: the
// account goes from entitled to provisioned, with one member. Redeeming a
// provisioned account changes nothing; a suspended or ended one is ErrInvalidState.
func (s *Server) Redeem(uid string) error {
	return s.control(uid, func(a *account, now time.Time) error {
		switch a.status(now) {
		case StatusProvisioned:
			return nil
		case StatusEntitled:
			a.Status = StatusProvisioned
			a.DeployedMembers = max(a.DeployedMembers, 1)
			a.UpdatedAt = now
			return nil
		}
		return ErrInvalidState
	})
}

// SetDeployedMembers sets how many members the customer's account has, as the
// customer inviting family members or colleagues does.
func (s *Server) SetDeployedMembers(uid string, n int) error {
	if n < 0 {
		return fmt.Errorf("simulator: %d members", n)
	}
	return s.control(uid, func(a *account, now time.Time) error {
		if a.DeployedMembers != n {
			a.DeployedMembers = n
			a.UpdatedAt = now
		}
		return nil
	})
}

// Suspend suspends the account, as 1Password might; suspending a suspended
// account changes nothing.
func (s *Server) Suspend(uid string) error {
	return s.control(uid, func(a *account, now time.Time) error {
		if a.Status != StatusSuspended {
			a.Resume, a.Status = a.Status, StatusSuspended
			a.UpdatedAt = now
		}
		return nil
	})
}

// Unsuspend gives a suspended account back the status it had before Suspend; on
// any other account it changes nothing.
func (s *Server) Unsuspend(uid string) error {
	return s.control(uid, func(a *account, now time.Time) error {
		if a.Status == StatusSuspended {
			a.Status, a.Resume = a.Resume, ""
			if a.Status == "" {
				a.Status = StatusEntitled
			}
			a.UpdatedAt = now
		}
		return nil
	})
}

// DeleteOutOfBand deletes the account as if 1Password or another tool had, behind
// the operator's back. The API then treats it like any deleted account.
func (s *Server) DeleteOutOfBand(uid string) error {
	return s.control(uid, func(a *account, now time.Time) error {
		a.markDeleted(now, DeletedOutOfBand)
		return nil
	})
}

// Deprovision deprovisions the account before its end date, as 1Password might
// (a chargeback, a terms violation). The API keeps serving it, with status
// deprovisioned; deprovisioning it again changes nothing.
func (s *Server) Deprovision(uid string) error {
	return s.control(uid, func(a *account, now time.Time) error {
		if a.Status != StatusDeprovisioned {
			a.Status, a.Resume = StatusDeprovisioned, ""
			a.UpdatedAt = now
		}
		return nil
	})
}

// Reset forgets every account and all request counts. Tokens and faults stay.
func (s *Server) Reset() error {
	s.ResetCounts()
	return s.mutate(func(time.Time) error {
		clear(s.accounts)
		clear(s.issued)
		return nil
	})
}

// control applies fn to the live account uid.
func (s *Server) control(uid string, fn func(a *account, now time.Time) error) error {
	return s.mutate(func(now time.Time) error {
		a, ok := s.accounts[uid]
		switch {
		case !ok:
			return ErrNotFound
		case a.Deleted:
			return ErrDeleted
		}
		return fn(a, now)
	})
}

// mutate runs fn under the write lock and, when it succeeds and a state file is
// configured, writes the new state. Snapshots are taken under the lock and carry a
// version, so a slow writer never overwrites a newer state with an older one.
func (s *Server) mutate(fn func(now time.Time) error) error {
	now := s.clock()
	s.mu.Lock()
	err := fn(now)
	var snap []byte
	var version uint64
	if err == nil && s.persist != nil {
		s.version++
		version = s.version
		snap = s.snapshotLocked()
	}
	s.mu.Unlock()
	if snap != nil {
		if werr := s.persist.write(version, snap); werr != nil {
			s.log.Error("Cannot write the state file", "path", s.persist.path, "error", werr)
		}
	}
	return err
}

func (a *account) markDeleted(now time.Time, by string) {
	a.Deleted = true
	a.DeletedAt = &now
	a.DeletedBy = by
	a.UpdatedAt = now
}

// Outcomes of the API's changes that are not plain success.
var (
	errExists = errors.New("account exists")
)

type newAccount struct {
	uid, typ, domain string
	endsAt           *time.Time
}

// createAccount adds an account. A live account with the same id is errExists; a
// deleted one is too in the published dialect (the tombstone stays) and is
// replaced in the contract dialect.
func (s *Server) createAccount(in newAccount) (account, error) {
	var out account
	err := s.mutate(func(now time.Time) error {
		if old, ok := s.accounts[in.uid]; ok {
			if !old.Deleted || s.published() {
				return errExists
			}
			delete(s.issued, old.ActivationToken)
		}
		a := &account{
			UID:             in.uid,
			Type:            in.typ,
			Domain:          in.domain,
			Status:          StatusEntitled,
			ActivationToken: s.newActivationTokenLocked(),
			EndsAt:          in.endsAt,
			CreatedAt:       now,
			UpdatedAt:       now,
		}
		s.accounts[in.uid] = a
		out = *a
		return nil
	})
	return out, err
}

// Seed is an account that existed before a test began, as the partner's billing
// system or another cluster would have made it.
type Seed struct {
	UID       string    `json:"account_uid"`
	Type      string    `json:"account_type"`
	Domain    string    `json:"domain"`
	CreatedAt time.Time `json:"created_at"`
}

// ErrExists is Seed's answer when an account with the id is already there.
var ErrExists = errors.New("simulator: account exists")

// Seed adds an account created at in.CreatedAt (now, when zero), without a
// request: request counts do not change. The id, type and domain are checked as a
// create would check them.
func (s *Server) Seed(in Seed) (AccountState, error) {
	switch _, known := s.domains[in.Domain]; {
	case !s.validUID(in.UID):
		return AccountState{}, fmt.Errorf("simulator: invalid account_uid %q", in.UID)
	case in.Type != "I" && in.Type != "F":
		return AccountState{}, fmt.Errorf("simulator: invalid account_type %q", in.Type)
	case !known:
		return AccountState{}, fmt.Errorf("simulator: no promotion in domain %q", in.Domain)
	}
	a, err := s.createAccount(newAccount{uid: in.UID, typ: in.Type, domain: in.Domain})
	if errors.Is(err, errExists) {
		return AccountState{}, ErrExists
	}
	if err != nil || in.CreatedAt.IsZero() {
		st, _ := s.Account(in.UID)
		return st, err
	}
	err = s.control(in.UID, func(a *account, _ time.Time) error {
		a.CreatedAt = in.CreatedAt.UTC().Truncate(time.Millisecond)
		a.UpdatedAt = a.CreatedAt
		return nil
	})
	st, _ := s.Account(a.UID)
	return st, err
}

// lookup returns a copy of the account uid, deleted or not.
func (s *Server) lookup(uid string) (account, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.accounts[uid]
	if !ok {
		return account{}, false
	}
	return *a, true
}

// setEndsAt sets or (nil) clears the end date of a live account.
func (s *Server) setEndsAt(uid string, endsAt *time.Time) (account, error) {
	var out account
	err := s.control(uid, func(a *account, now time.Time) error {
		a.EndsAt = endsAt
		a.UpdatedAt = now
		out = *a
		return nil
	})
	return out, err
}

// deleteAccount deletes a live account through the API.
func (s *Server) deleteAccount(uid string) error {
	return s.control(uid, func(a *account, now time.Time) error {
		a.markDeleted(now, DeletedByAPI)
		return nil
	})
}

const tokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newActivationTokenLocked returns an unused activation token: PNS- and eight
// uppercase letters or digits.
func (s *Server) newActivationTokenLocked() string {
	for {
		var raw [16]byte
		_, _ = rand.Read(raw[:]) // never fails (crypto/rand since Go 1.24)
		tok := []byte("PNS-")
		for _, b := range raw {
			if b >= 252 { // 252 = 7*36: keeps the draw uniform
				continue
			}
			tok = append(tok, tokenAlphabet[int(b)%len(tokenAlphabet)])
			if len(tok) == 12 {
				break
			}
		}
		if len(tok) < 12 {
			continue
		}
		t := string(tok)
		if _, used := s.issued[t]; !used {
			s.issued[t] = struct{}{}
			return t
		}
	}
}
