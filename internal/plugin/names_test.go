package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func hash(uid string, n int) string {
	sum := sha256.Sum256([]byte(uid))
	return hex.EncodeToString(sum[:])[:n]
}

func TestNameFor(t *testing.T) {
	long := strings.Repeat("a", 200)
	longUpper := strings.Repeat("A", 200)
	for _, tc := range []struct {
		uid, want string
	}{
		{"cust-0001", "cust-0001"},
		{"a", "a"},
		{"0001", "0001"},
		{"a.b.c", "a.b.c"},
		{long, long}, // 200 characters: a valid name as it is
		{"CUST-0001", "cust-0001-" + hash("CUST-0001", 8)},
		{"ABC", "abc-" + hash("ABC", 8)},
		{"Abc", "abc-" + hash("Abc", 8)},
		{"-lead", "lead-" + hash("-lead", 8)},
		{"trail-", "trail-" + hash("trail-", 8)},
		{".dot", "dot-" + hash(".dot", 8)},
		{"dot.", "dot-" + hash("dot.", 8)},
		{"a..b", "a.b-" + hash("a..b", 8)},
		{"a.-b", "a.b-" + hash("a.-b", 8)},
		{"a-.b", "a.b-" + hash("a-.b", 8)},
		{"---", hash("---", 8)},
		{"-.-", hash("-.-", 8)},
		{longUpper, long + "-" + hash(longUpper, 8)},
		// Impossible by the UID rules, made safe all the same.
		{"a_b", "a-b-" + hash("a_b", 8)},
		{"café", "caf-" + hash("café", 8)},
		{"a b", "a-b-" + hash("a b", 8)},
		{"", hash("", 8)},
	} {
		got := NameFor(tc.uid)
		if got != tc.want {
			t.Errorf("NameFor(%q) = %q, want %q", tc.uid, got, tc.want)
		}
		if errs := validation.IsDNS1123Subdomain(got); len(errs) != 0 {
			t.Errorf("NameFor(%q) = %q, not a valid name: %v", tc.uid, got, errs)
		}
	}
}

func TestNameForNeverCollidesOnCase(t *testing.T) {
	seen := map[string]string{}
	for _, uid := range []string{"abc", "ABC", "Abc", "aBc", "abC", "ABc"} {
		name := NameFor(uid)
		if other, ok := seen[name]; ok {
			t.Errorf("%q and %q both get the name %q", uid, other, name)
		}
		seen[name] = uid
	}
}

func TestHashedNameLength(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	// Longer than any UID may be, to test the cut, and with a cut that falls on a '-'.
	for _, uid := range []string{strings.Repeat("Ab", 200), strings.Repeat("a-", 150), strings.Repeat("a.", 150)} {
		for _, n := range hashLens {
			name := HashedName(uid, n)
			if len(name) > 253 || !valid.MatchString(name) {
				t.Errorf("HashedName(%.20q..., %d) = %q (%d characters): not a valid name", uid, n, name, len(name))
			}
			if !strings.HasSuffix(name, "-"+hash(uid, n)) {
				t.Errorf("HashedName(%.20q..., %d) = %q: does not end with the hash", uid, n, name)
			}
		}
	}
}

func TestNamer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing map[string]string // in the namespace: name -> accountUID
		uids     []string          // in the order of the run
		want     []string
	}{
		{
			name: "plain names",
			uids: []string{"a", "b", "c"},
			want: []string{"a", "b", "c"},
		},
		{
			name:     "a name taken in the namespace by another accountUID gets the hash",
			existing: map[string]string{"cust-1": "other-uid"},
			uids:     []string{"cust-1", "cust-2"},
			want:     []string{"cust-1-" + hash("cust-1", 8), "cust-2"},
		},
		{
			name:     "a name held by the same accountUID is its own",
			existing: map[string]string{"cust-1": "cust-1"},
			uids:     []string{"cust-1"},
			want:     []string{"cust-1"},
		},
		{
			name: "upper and lower case in one run",
			uids: []string{"abc", "ABC"},
			want: []string{"abc", "abc-" + hash("ABC", 8)},
		},
		{
			name: "a UID that spells another's hashed name: the first in the run keeps it",
			uids: []string{"abc-" + hash("ABC", 8), "ABC"},
			want: []string{"abc-" + hash("ABC", 8), "abc-" + hash("ABC", 16)},
		},
		{
			name:     "hashed names taken in the namespace: a longer hash",
			existing: map[string]string{"abc-" + hash("ABC", 8): "x", "abc-" + hash("ABC", 16): "y"},
			uids:     []string{"ABC"},
			want:     []string{"abc-" + hash("ABC", 64)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := NewNamer(tc.existing)
			for i, uid := range tc.uids {
				got, err := n.Name(uid)
				if err != nil {
					t.Fatalf("Name(%q): %v", uid, err)
				}
				if got != tc.want[i] {
					t.Errorf("Name(%q) = %q, want %q", uid, got, tc.want[i])
				}
			}
		})
	}
}

func TestNamerAllTaken(t *testing.T) {
	existing := map[string]string{NameFor("ABC"): "x"}
	for _, l := range hashLens {
		existing[HashedName("ABC", l)] = "x"
	}
	if name, err := NewNamer(existing).Name("ABC"); err == nil {
		t.Fatalf("Name = %q, want an error", name)
	}
}

func TestNewNamerCopies(t *testing.T) {
	existing := map[string]string{}
	if _, err := NewNamer(existing).Name("a"); err != nil {
		t.Fatal(err)
	}
	if len(existing) != 0 {
		t.Errorf("NewNamer changed its argument: %v", existing)
	}
}
