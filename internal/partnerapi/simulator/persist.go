package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// stateFileVersion is the layout of the state file.
const stateFileVersion = 1

// stateFile is what Options.StateFile holds: the accounts, deleted ones included.
type stateFile struct {
	Version  int        `json:"version"`
	Accounts []*account `json:"accounts"`
}

// persister writes state file snapshots, never an older one over a newer one.
type persister struct {
	path    string
	mu      sync.Mutex
	written uint64
}

// write replaces the state file with data by writing a temporary file beside it
// and renaming it into place, so a reader never sees half a file.
func (p *persister) write(version uint64, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if version <= p.written {
		return nil
	}
	dir, base := filepath.Split(p.path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p.path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	p.written = version
	return nil
}

// save writes the current state.
func (s *Server) save() error {
	s.mu.Lock()
	s.version++
	version, snap := s.version, s.snapshotLocked()
	s.mu.Unlock()
	return s.persist.write(version, snap)
}

func (s *Server) snapshotLocked() []byte {
	st := stateFile{Version: stateFileVersion, Accounts: make([]*account, 0, len(s.accounts))}
	for _, a := range s.accounts {
		st.Accounts = append(st.Accounts, a)
	}
	slices.SortFunc(st.Accounts, func(a, b *account) int { return strings.Compare(a.UID, b.UID) })
	data, _ := json.MarshalIndent(st, "", "  ") // plain values cannot fail
	return append(data, '\n')
}

// load reads the state file into the (empty) server; a missing file is an empty state.
func (s *Server) load() error {
	data, err := os.ReadFile(s.persist.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("simulator: state file: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("simulator: state file %s: %w", s.persist.path, err)
	}
	if st.Version != stateFileVersion {
		return fmt.Errorf("simulator: state file %s: version %d, want %d", s.persist.path, st.Version, stateFileVersion)
	}
	for i, a := range st.Accounts {
		if a == nil || a.UID == "" {
			return fmt.Errorf("simulator: state file %s: account %d has no uid", s.persist.path, i+1)
		}
		if _, dup := s.accounts[a.UID]; dup {
			return fmt.Errorf("simulator: state file %s: account %q appears twice", s.persist.path, a.UID)
		}
		s.accounts[a.UID] = a
		s.issued[a.ActivationToken] = struct{}{}
	}
	return nil
}
