package logcap

import (
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
)

func TestCap(t *testing.T) {
	var out strings.Builder
	l := Cap(funcr.New(func(prefix, args string) { out.WriteString(prefix + " " + args + "\n") },
		funcr.Options{Verbosity: 100}))

	l.V(MaxVerbosity).Info("headers")
	l.V(MaxVerbosity+1).Info("Request Body", "body", "PNS-SECRET1")
	l.WithName("leaderelection").WithValues("k", "v").V(9).Info("Response Body", "body", "PNS-SECRET2")
	l.WithCallDepth(2).V(10).Info("deep", "body", "PNS-SECRET3")

	if strings.Contains(out.String(), "PNS-SECRET") {
		t.Errorf("a body above V(%d) was logged:\n%s", MaxVerbosity, out.String())
	}
	if !strings.Contains(out.String(), "headers") {
		t.Errorf("V(%d) was dropped:\n%s", MaxVerbosity, out.String())
	}
	if l.V(MaxVerbosity + 1).Enabled() {
		t.Error("V above the cap reports enabled, so callers would build what is dropped")
	}
}
