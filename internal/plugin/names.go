package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Name derivation: a PartnerAccount imported for a UID is named after it.
//
//   - A UID that is a valid resource name as it is (an RFC 1123 subdomain: lower
//     case, at most 253 characters, no leading or trailing '.' or '-') is the name.
//   - Any other UID (upper case, too long, a leading or trailing '.' or '-', '..')
//     is lowered, cleaned and cut to fit, and gets "-" and the first 8 hex digits
//     of the SHA-256 of the exact UID appended: "CUST-0001" becomes
//     "cust-0001-<hash>", so that "ABC" and "abc" never share a name.
//   - When the name is taken, in the namespace by a PartnerAccount of another
//     accountUID or by an earlier UID of the same run, the hashed name is used; if
//     that is taken too, 16 hex digits, then all 64.
const (
	maxNameLen   = validation.DNS1123SubdomainMaxLength
	shortHashLen = 8
)

// hashLens are the hash lengths tried in turn when a name is taken.
var hashLens = []int{shortHashLen, 16, sha256.Size * 2}

// NameFor returns the name of the PartnerAccount for uid, before collisions are
// considered: uid itself when it is a valid resource name, otherwise
// HashedName(uid, 8).
func NameFor(uid string) string {
	if isName(uid) {
		return uid
	}
	return HashedName(uid, shortHashLen)
}

// HashedName returns uid lowered and cleaned into a valid resource name, cut to
// leave room for "-" and the first n hex digits of the SHA-256 of uid, which are
// appended.
func HashedName(uid string, n int) string {
	sum := sha256.Sum256([]byte(uid))
	hash := hex.EncodeToString(sum[:])[:n]
	base := cleanName(uid, maxNameLen-1-n)
	if base == "" {
		return hash
	}
	return base + "-" + hash
}

// isName reports whether s is a valid resource name: an RFC 1123 subdomain.
func isName(s string) bool { return len(validation.IsDNS1123Subdomain(s)) == 0 }

// cleanName makes s a valid resource name of at most max characters, or "": lower
// case, other characters than [a-z0-9.-] turned into '-', each dot-separated
// label without leading or trailing '-', empty labels dropped, and no trailing
// '.' or '-' after the cut.
func cleanName(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return '-'
	}, s)
	var labels []string
	for l := range strings.SplitSeq(s, ".") {
		if l = strings.Trim(l, "-"); l != "" {
			labels = append(labels, l)
		}
	}
	s = strings.Join(labels, ".")
	if len(s) > max {
		s = s[:max]
	}
	return strings.TrimRight(s, ".-")
}

// Namer gives each UID of an import a name no other PartnerAccount has: not one
// already in the namespace for another accountUID, not one given to an earlier UID
// of the run.
type Namer struct {
	taken map[string]string // name -> the accountUID that has it
}

// NewNamer returns a Namer for a namespace whose PartnerAccounts are existing,
// from name to spec.accountUID. It keeps its own copy.
func NewNamer(existing map[string]string) *Namer {
	taken := make(map[string]string, len(existing))
	maps.Copy(taken, existing)
	return &Namer{taken: taken}
}

// Name returns the name for uid and records it as taken. It fails only when
// every candidate, down to the full hash, is taken by another UID.
func (n *Namer) Name(uid string) (string, error) {
	candidates := make([]string, 0, 1+len(hashLens))
	candidates = append(candidates, NameFor(uid))
	for _, l := range hashLens {
		candidates = append(candidates, HashedName(uid, l))
	}
	for _, name := range candidates {
		if holder, ok := n.taken[name]; ok && holder != uid {
			continue
		}
		n.taken[name] = uid
		return name, nil
	}
	return "", fmt.Errorf("no free name: %s and its hashed forms are taken", candidates[0])
}
