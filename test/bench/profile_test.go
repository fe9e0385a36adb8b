package bench

import (
	"slices"
	"strings"
	"testing"
)

// pprofTop is go tool pprof -top's output for a heap profile.
const pprofTop = `File: manager
Build ID: 67ea4b028bff0e5ee47c3407f07d37479154ed85
Type: inuse_space
Time: 2026-12-06 03:22:02 UTC
Showing nodes accounting for 38.51MB, 92.40% of 41.68MB total
Dropped 61 nodes (cum <= 0.21MB)
Showing top 15 nodes out of 94
      flat  flat%   sum%        cum   cum%
   12.50MB 29.99% 29.99%    12.50MB 29.99%  k8s.io/apimachinery/pkg/runtime.(*Unknown).Unmarshal   
         0     0% 92.40%    20.01MB 48.01%  sigs.k8s.io/controller-runtime/pkg/cache.New

`

func TestParseTop(t *testing.T) {
	total, top, err := parseTop(pprofTop)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(43704647); total != want { // 41.68 MiB
		t.Errorf("total = %d, want %d", total, want)
	}
	want := []string{
		"Showing nodes accounting for 38.51MB, 92.40% of 41.68MB total",
		"Dropped 61 nodes (cum <= 0.21MB)",
		"Showing top 15 nodes out of 94",
		"      flat  flat%   sum%        cum   cum%",
		"   12.50MB 29.99% 29.99%    12.50MB 29.99%  k8s.io/apimachinery/pkg/runtime.(*Unknown).Unmarshal",
		"         0     0% 92.40%    20.01MB 48.01%  sigs.k8s.io/controller-runtime/pkg/cache.New",
	}
	if !slices.Equal(top, want) {
		t.Errorf("top =\n%s\nwant\n%s", strings.Join(top, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseTopFails(t *testing.T) {
	for _, out := range []string{
		"",
		"File: manager\nType: inuse_space\n",
		"Showing nodes accounting for 1MB, 100% of lots total\n",
		"Showing nodes accounting for 1MB\n",
	} {
		if _, _, err := parseTop(out); err == nil {
			t.Errorf("parseTop(%q) succeeded", out)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"512B", 512},
		{"1.50kB", 1536},
		{"16852.23kB", 17256683},
		{"41.68MB", 43704647},
		{"1.25GB", 1.25 * (1 << 30)},
		{"2TB", 2 << 40},
	} {
		got, err := parseBytes(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "MB", "1.5XB", "-1kB", "twelve"} {
		if got, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) = %d, want an error", in, got)
		}
	}
}

func TestStartupSeconds(t *testing.T) {
	const other = "# TYPE workqueue_depth gauge\nworkqueue_depth{name=\"partneraccount\"} 3\n"
	for _, tc := range []struct {
		name, metrics string
		want          float64
		wantErr       string
	}{
		{"set", other + "# HELP partneraccount_startup_seconds Seconds.\n# TYPE partneraccount_startup_seconds gauge\n" +
			"partneraccount_startup_seconds 4.25\n", 4.25, ""},
		{"untyped", "partneraccount_startup_seconds 1.5\n", 0, "no gauge"},
		{"not set yet", "# TYPE partneraccount_startup_seconds gauge\npartneraccount_startup_seconds 0\n", 0, "is 0"},
		{"absent", other, 0, "no gauge partneraccount_startup_seconds"},
		{"labelled only", "# TYPE partneraccount_startup_seconds gauge\n" +
			"partneraccount_startup_seconds{connection=\"a\"} 2\n", 0, "no gauge"},
		{"not metrics", "<html>", 0, "text format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := startupSeconds(strings.NewReader(tc.metrics))
			switch {
			case tc.wantErr == "" && (err != nil || got != tc.want):
				t.Errorf("startupSeconds = %v, %v; want %v", got, err, tc.want)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("startupSeconds = %v, %v; want an error with %q", got, err, tc.wantErr)
			}
		})
	}
}
