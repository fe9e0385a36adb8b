package plugin

import (
	"bufio"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestUIDScanner(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []UIDLine
	}{
		{"empty", "", nil},
		{"one, no newline", "cust-1", []UIDLine{{1, "cust-1"}}},
		{"lines", "a\nb\nc\n", []UIDLine{{1, "a"}, {2, "b"}, {3, "c"}}},
		{"blank lines and spaces", "\n  a  \n\t\n\nb\t\n", []UIDLine{{2, "a"}, {5, "b"}}},
		{"comments", "# accounts\na # the first\n  # indented\nb#c\n#\n", []UIDLine{{2, "a"}, {4, "b"}}},
		{"CRLF", "a\r\nB\r\n", []UIDLine{{1, "a"}, {2, "B"}}},
		{"byte order mark", "\uFEFFa\nb\n", []UIDLine{{1, "a"}, {2, "b"}}},
		{"kept verbatim, invalid or not", "CUST-Upper\na b\nx_y\n", []UIDLine{{1, "CUST-Upper"}, {2, "a b"}, {3, "x_y"}}},
		{"duplicates are kept", "a\na\n", []UIDLine{{1, "a"}, {2, "a"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := NewUIDScanner(strings.NewReader(tc.in))
			var got []UIDLine
			for sc.Scan() {
				got = append(got, sc.UID())
			}
			if err := sc.Err(); err != nil {
				t.Fatalf("Err: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			n, err := CountUIDs(strings.NewReader(tc.in))
			if err != nil || n != len(tc.want) {
				t.Errorf("CountUIDs = %d, %v; want %d", n, err, len(tc.want))
			}
		})
	}
}

func TestUIDScannerLongLine(t *testing.T) {
	sc := NewUIDScanner(strings.NewReader("a\n" + strings.Repeat("x", maxUIDLine+1) + "\nb\n"))
	if !sc.Scan() || sc.UID().UID != "a" {
		t.Fatalf("first UID: %v", sc.UID())
	}
	if sc.Scan() {
		t.Fatalf("Scan went on past a line too long: %v", sc.UID())
	}
	if err := sc.Err(); !errors.Is(err, bufio.ErrTooLong) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("Err = %v, want line 2: too long", err)
	}
}

func TestCheckUID(t *testing.T) {
	for uid, ok := range map[string]bool{
		"cust-0001":              true,
		"CUST.0001":              true,
		"a":                      true,
		strings.Repeat("a", 200): true,
		strings.Repeat("a", 201): false,
		"":                       false,
		"a b":                    false,
		"a_b":                    false,
		"a/b":                    false,
		"café":                   false,
		".":                      false,
		"..":                     false,
	} {
		if err := CheckUID(uid); (err == nil) != ok {
			t.Errorf("CheckUID(%.30q) = %v, want ok %t", uid, err, ok)
		}
	}
}
