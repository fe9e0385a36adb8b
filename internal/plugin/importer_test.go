package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

func exitCode(err error) int {
	if e, ok := errors.AsType[*ExitError](err); ok {
		return e.Code
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestImport(t *testing.T) {
	env := startSim(t)
	env.seed(t, "I", "cust-1", "CUST-UPPER", "managed-1")
	// An account with an end date: only a create makes one.
	ends := time.Date(2031, 6, 1, 8, 0, 0, 0, time.UTC)
	if _, err := env.client(t, partnerapi.Config{}).Create(testContext(t), partnerapi.CreateRequest{
		UID: "cust-2", Type: "F", Domain: "b5test.com", EndsAt: &ends}); err != nil {
		t.Fatal(err)
	}
	env.sim.ResetCounts()

	uids := `# accounts of the billing system
cust-1
unknown-1
CUST-UPPER
managed-1
cust-2   # its name is taken in the namespace
cust-1
bad_uid
`
	var stderr bytes.Buffer
	out := &recorder{}
	im := &Importer{
		API:       env.client(t, partnerapi.Config{}),
		Namespace: "team-a",
		Observe:   true,
		Managed: Managed{
			ByUID: map[string]string{"managed-1": "team-b/m1", "other-uid": "team-a/cust-2"},
			Names: map[string]string{"cust-2": "other-uid"},
		},
		Out:      out,
		Progress: lines{w: &stderr},
	}
	sum := im.Run(testContext(t), NewUIDScanner(strings.NewReader(uids)))

	pas := parseStream(t, out.bytes())
	got := make([]string, 0, len(pas))
	for _, pa := range pas {
		got = append(got, fmt.Sprintf("%s/%s %s %s %s %v %s adopt=%t", pa.Namespace, pa.Name, pa.Spec.AccountUID,
			pa.Spec.AccountType, pa.Spec.Domain, pa.Spec.EndsAt, pa.Spec.ManagementPolicy, pa.Spec.AdoptExisting))
	}
	want := []string{
		"team-a/cust-1 cust-1 Individual b5test.com <nil> Observe adopt=false",
		"team-a/cust-upper-" + hash("CUST-UPPER", 8) + " CUST-UPPER Individual b5test.com <nil> Observe adopt=false",
		"team-a/cust-2-" + hash("cust-2", 8) + " cust-2 Family b5test.com 2031-06-01 08:00:00 +0000 UTC Observe adopt=false",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("documents, in the order of the file:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(out.writes) != 3 {
		t.Errorf("%d writes for 3 documents", len(out.writes))
	}

	log := stderr.String()
	for _, line := range []string{
		`failed unknown-1: partnerapi: get account "unknown-1": 404 Not Found`,
		"skipped managed-1: already managed by team-b/m1",
		"skipped cust-1: listed again on line 7 (first on line 2)",
		`failed bad_uid: line 8: invalid account UID "bad_uid"`,
	} {
		if !strings.Contains(log, line) {
			t.Errorf("stderr does not say %q:\n%s", line, log)
		}
	}
	if strings.Contains(log+string(out.bytes()), simToken) {
		t.Error("the partner token was printed")
	}
	if sum.Total != 7 || sum.Imported != 3 || sum.Skipped != 2 || sum.Failed != 2 || sum.NotDone != 0 ||
		sum.Interrupted || sum.Stopped != nil {
		t.Errorf("summary %+v", sum)
	}
	if s := sum.String(); !strings.HasPrefix(s, "imported 3, skipped 2, failed 2 of 7 UIDs in ") {
		t.Errorf("summary line %q", s)
	}
	if code := exitCode(sum.Err()); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	// One read for each UID the API was asked about, and no write.
	if reqs := env.sim.Requests(); len(reqs) != 2 || reqs["get 200"] != 3 || reqs["get 404"] != 1 {
		t.Errorf("requests: %v", reqs)
	}
}

func TestImportAdoptsWithoutObserve(t *testing.T) {
	env := startSim(t)
	env.seed(t, "F", "fam-1")
	out := &recorder{}
	sum := (&Importer{API: env.client(t, partnerapi.Config{}), Namespace: "ns", Out: out}).
		Run(testContext(t), NewUIDScanner(strings.NewReader("fam-1\n")))
	if err := sum.Err(); err != nil {
		t.Fatalf("%v: %s", err, sum)
	}
	pas := parseStream(t, out.bytes())
	if len(pas) != 1 || !pas[0].Spec.AdoptExisting || pas[0].Spec.ManagementPolicy != "" {
		t.Errorf("got %+v", pas)
	}
}

func TestImportKeepsTheOrderOfTheFile(t *testing.T) {
	env := startSim(t)
	uids := make([]string, 0, 300)
	for i := range 300 {
		uids = append(uids, fmt.Sprintf("order-%03d", i))
	}
	env.seed(t, "I", uids...)
	// Answers that come back in another order than asked.
	if err := env.sim.SetFaults(simulator.Faults{LatencyJitter: 5 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	out := &recorder{}
	sum := (&Importer{API: env.client(t, partnerapi.Config{}), Namespace: "ns", Workers: 8, Out: out}).
		Run(testContext(t), NewUIDScanner(strings.NewReader(strings.Join(uids, "\n"))))
	if err := sum.Err(); err != nil {
		t.Fatalf("%v: %s", err, sum)
	}
	pas := parseStream(t, out.bytes())
	if len(pas) != len(uids) {
		t.Fatalf("%d documents for %d UIDs", len(pas), len(uids))
	}
	for i, pa := range pas {
		if pa.Spec.AccountUID != uids[i] {
			t.Fatalf("document %d is %s, want %s", i, pa.Spec.AccountUID, uids[i])
		}
	}
}

func TestImportInterrupted(t *testing.T) {
	env := startSim(t)
	uids := make([]string, 0, 40)
	for i := range 40 {
		uids = append(uids, fmt.Sprintf("int-%02d", i))
	}
	env.seed(t, "I", uids...)
	ctx, cancel := context.WithCancelCause(testContext(t))
	defer cancel(nil)
	// Ctrl-C after the third document; 20 requests a second, so most are not read yet.
	out := &recorder{after: 3, then: func() { cancel(ErrInterrupted) }}
	var stderr syncBuffer
	im := &Importer{
		API:       env.client(t, partnerapi.Config{RequestsPerSecond: 20, Burst: 1}),
		Namespace: "ns",
		Out:       out,
		Progress:  lines{w: &stderr},
	}
	start := time.Now()
	sum := im.Run(ctx, NewUIDScanner(strings.NewReader(strings.Join(uids, "\n"))))
	if d := time.Since(start); d > time.Second {
		t.Errorf("the import took %s to stop", d)
	}

	for i, w := range out.writes {
		if doc := parseStream(t, w); len(doc) != 1 {
			t.Errorf("write %d holds %d documents, not one whole:\n%s", i, len(doc), w)
		}
	}
	pas := parseStream(t, out.bytes())
	if len(pas) < 3 || len(pas) >= len(uids) {
		t.Fatalf("%d documents", len(pas))
	}
	for i, pa := range pas {
		if pa.Spec.AccountUID != uids[i] {
			t.Errorf("document %d is %s, want %s", i, pa.Spec.AccountUID, uids[i])
		}
	}
	if !sum.Interrupted || sum.Imported != len(pas) || sum.NotDone == 0 || sum.Failed != 0 ||
		sum.Imported+sum.NotDone != sum.Total {
		t.Errorf("summary %+v", sum)
	}
	if code := exitCode(sum.Err()); code != 130 {
		t.Errorf("exit status %d, want 130", code)
	}
	if s := sum.String(); !strings.HasPrefix(s, "interrupted: imported ") || !strings.Contains(s, " not done") {
		t.Errorf("summary line %q", s)
	}
	if log := stderr.String(); strings.Contains(log, "failed") {
		t.Errorf("UIDs not read were reported as failed:\n%s", log)
	}
}

func TestImportStopsWhenTheTokenIsRejected(t *testing.T) {
	env := startSim(t)
	uids := make([]string, 0, 100)
	for i := range 100 {
		uids = append(uids, fmt.Sprintf("tok-%02d", i))
	}
	env.seed(t, "I", uids...)
	var stderr bytes.Buffer
	im := &Importer{
		API:       env.client(t, partnerapi.Config{TokenFile: writeToken(t, "not-the-token")}),
		Namespace: "ns",
		Out:       &recorder{},
		Progress:  lines{w: &stderr},
	}
	sum := im.Run(testContext(t), NewUIDScanner(strings.NewReader(strings.Join(uids, "\n"))))
	if sum.Stopped == nil || !errors.Is(sum.Stopped, partnerapi.ErrUnauthorized) || sum.Imported != 0 {
		t.Errorf("summary %+v", sum)
	}
	if code := exitCode(sum.Err()); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if n := strings.Count(stderr.String(), "failed "); n == 0 || n > 2*DefaultWorkers {
		t.Errorf("%d UIDs reported failed after the token was rejected:\n%s", n, stderr.String())
	}
	if s := sum.String(); !strings.HasPrefix(s, "stopped: ") || !strings.Contains(s, "every UID would fail") {
		t.Errorf("summary line %q", s)
	}
	if strings.Contains(stderr.String(), "not-the-token") {
		t.Error("the token was printed")
	}
}

// flaky fails each UID's first reads with err, then answers.
type flaky struct {
	err   error
	fails int
	calls atomic.Int32
}

func (f *flaky) Get(_ context.Context, uid string) (*partnerapi.Account, error) {
	if int(f.calls.Add(1)) <= f.fails {
		return nil, f.err
	}
	return &partnerapi.Account{UID: uid, Type: partnerapi.AccountTypeIndividual, Domain: "b5test.com"}, nil
}

func TestImportRetries(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		fails     int
		wantCalls int32
		imported  bool
	}{
		{"unavailable once", &partnerapi.Error{Kind: partnerapi.ErrTransient, Op: "get", UID: "r", StatusCode: 503}, 1, 2, true},
		{"rate limited twice", &partnerapi.Error{Kind: partnerapi.ErrRateLimited, Op: "get", UID: "r", StatusCode: 429,
			RetryAfter: time.Millisecond}, 2, 3, true},
		{"unavailable three times", &partnerapi.Error{Kind: partnerapi.ErrTransient, Op: "get", UID: "r"}, 3, 3, false},
		{"not found: no retry", &partnerapi.Error{Kind: partnerapi.ErrNotFound, Op: "get", UID: "r", StatusCode: 404}, 1, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &flaky{err: tc.err, fails: tc.fails}
			out := &recorder{}
			sum := (&Importer{API: api, Namespace: "ns", Out: out, RetryDelay: time.Millisecond}).
				Run(testContext(t), NewUIDScanner(strings.NewReader("r\n")))
			if got := api.calls.Load(); got != tc.wantCalls {
				t.Errorf("%d calls, want %d", got, tc.wantCalls)
			}
			if (sum.Imported == 1) != tc.imported || (sum.Failed == 1) == tc.imported {
				t.Errorf("summary %+v", sum)
			}
		})
	}
}

func TestImportProgressBar(t *testing.T) {
	env := startSim(t)
	env.seed(t, "I", "bar-1", "bar-2")
	var stderr bytes.Buffer
	out := &recorder{}
	sum := (&Importer{API: env.client(t, partnerapi.Config{}), Namespace: "ns", Out: out,
		Progress: newBar(&stderr, 3)}).Run(testContext(t), NewUIDScanner(strings.NewReader("bar-1\nnone-1\nbar-2\n")))
	if sum.Imported != 2 || sum.Failed != 1 {
		t.Errorf("summary %+v", sum)
	}
	if log := stderr.String(); !strings.Contains(log, "importing") || !strings.Contains(log, "UIDs") ||
		!strings.Contains(log, "failed none-1: ") {
		t.Errorf("stderr:\n%q", log)
	}
	if len(parseStream(t, out.bytes())) != 2 {
		t.Error("the bar went to stdout")
	}
}
