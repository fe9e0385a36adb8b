package plugin

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// maxUIDLine bounds one line of a UID file. A UID is at most 200 characters; a
// longer line is an error of the file, not a UID.
const maxUIDLine = 64 * 1024

// UIDLine is one UID of a UID file, with the line it is on (from 1).
type UIDLine struct {
	Line int
	UID  string
}

// UIDScanner reads a UID file one UID at a time: one accountUID a line, with
// surrounding whitespace removed. Blank lines, and comments from a '#' to the end
// of the line, are skipped (no UID contains a '#'). It holds one line at a time.
type UIDScanner struct {
	sc   *bufio.Scanner
	line int
	cur  UIDLine
	err  error
}

// NewUIDScanner returns a scanner reading r.
func NewUIDScanner(r io.Reader) *UIDScanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxUIDLine)
	return &UIDScanner{sc: sc}
}

// Scan moves to the next UID and reports whether there is one. At the end of the
// input, or on an error, it returns false; Err says which.
func (s *UIDScanner) Scan() bool {
	for s.sc.Scan() {
		s.line++
		text := s.sc.Text()
		if s.line == 1 {
			text = strings.TrimPrefix(text, "\uFEFF") // a byte order mark
		}
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		s.cur = UIDLine{Line: s.line, UID: text}
		return true
	}
	if err := s.sc.Err(); err != nil {
		s.err = fmt.Errorf("line %d: %w", s.line+1, err)
	}
	return false
}

// UID returns the UID Scan moved to.
func (s *UIDScanner) UID() UIDLine { return s.cur }

// Err returns the error that stopped Scan, or nil at the end of the input.
func (s *UIDScanner) Err() error { return s.err }

// CountUIDs returns how many UIDs r holds, for a progress bar's total.
func CountUIDs(r io.Reader) (int, error) {
	sc := NewUIDScanner(r)
	n := 0
	for sc.Scan() {
		n++
	}
	return n, sc.Err()
}

// uidPattern is the CRD's rule for spec.accountUID.
var uidPattern = regexp.MustCompile(`^[A-Za-z0-9.-]{1,200}$`)

// CheckUID returns why uid cannot be a PartnerAccount's spec.accountUID, or nil.
func CheckUID(uid string) error {
	switch {
	case !uidPattern.MatchString(uid):
		return fmt.Errorf("invalid account UID %q: it must be 1 to 200 of A-Z a-z 0-9 . -", uid)
	case uid == "." || uid == "..":
		return fmt.Errorf("invalid account UID %q", uid)
	}
	return nil
}
