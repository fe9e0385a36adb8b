package bench

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWorkersStartedReadsBothLogFormats(t *testing.T) {
	path := filepath.Join(t.TempDir(), "operator.log")
	log := `{"level":"info","msg":"Starting workers","controller":"partneraccount","worker count":4}
2026-12-03T07:28:37Z	INFO	Starting workers	{"controller": "partneraccount", "worker count": 4}
{"level":"info","msg":"Starting workers","controller":"other"}
{"level":"info","msg":"Starting EventSource","controller":"partneraccount"}
`
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := workersStarted(path)
	if err != nil || n != 2 {
		t.Errorf("workersStarted = %d, %v; want 2: one JSON line, one console line", n, err)
	}
}
