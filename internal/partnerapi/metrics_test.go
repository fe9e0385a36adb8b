package partnerapi

import (
	"errors"
	"net"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// histogramCount returns the sample count of the histogram name with the given
// labels, read from controller-runtime's registry.
func histogramCount(t *testing.T, name string, labels map[string]string) uint64 {
	t.Helper()
	m := findMetric(t, name, labels)
	if m == nil || m.GetHistogram() == nil {
		return 0
	}
	return m.GetHistogram().GetSampleCount()
}

func findMetric(t *testing.T, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			return m
		}
	}
	return nil
}

func TestMetrics(t *testing.T) {
	srv := newScripted(t)
	c := newTestClient(t, srv.apiURL())
	ctx := testCtx(t)
	count := func(op, code string) float64 {
		return testutil.ToFloat64(requestsTotal.WithLabelValues(DefaultConnection, op, code))
	}

	before := map[[2]string]float64{}
	for _, k := range [][2]string{{OpGet, "200"}, {OpGet, "404"}, {OpCreate, "201"}, {OpDelete, "204"}, {OpUpdate, "503"}, {OpCreate, "error"}} {
		before[k] = count(k[0], k[1])
	}
	getDurations := histogramCount(t, MetricRequestDuration, map[string]string{"connection": DefaultConnection, "operation": OpGet})

	srv.set(answer(200, []byte(`{"account_uid":"acct-1"}`)))
	_, err := c.Get(ctx, "acct-1")
	rememberErr(err)
	srv.set(answer(404, nil))
	_, err = c.Get(ctx, "acct-1")
	rememberErr(err)
	_, err = c.Get(ctx, "acct-1")
	rememberErr(err)
	srv.set(answer(201, []byte(`{"account_uid":"acct-1"}`)))
	_, err = c.Create(ctx, CreateRequest{UID: "acct-1", Type: AccountTypeIndividual, Domain: "b5test.com"})
	rememberErr(err)
	srv.set(answer(204, nil))
	rememberErr(c.Delete(ctx, "acct-1"))
	srv.set(answer(503, nil))
	_, err = c.UpdateEndsAt(ctx, "acct-1", nil)
	rememberErr(err)
	// Refused before sending: not a request.
	_, err = c.Get(ctx, "")
	rememberErr(err)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := l.Addr().String()
	_ = l.Close()
	down := newTestClient(t, "http://"+addr)
	_, err = down.Create(ctx, CreateRequest{UID: "acct-1", Type: AccountTypeIndividual, Domain: "b5test.com"})
	rememberErr(err)
	if !errors.Is(err, ErrTransient) {
		t.Fatalf("err = %v, want ErrTransient", err)
	}

	for k, want := range map[[2]string]float64{
		{OpGet, "200"}: 1, {OpGet, "404"}: 2, {OpCreate, "201"}: 1, {OpDelete, "204"}: 1, {OpUpdate, "503"}: 1, {OpCreate, "error"}: 1,
	} {
		if got := count(k[0], k[1]) - before[k]; got != want {
			t.Errorf("%s{operation=%q,code=%q} rose by %v, want %v", MetricRequestsTotal, k[0], k[1], got, want)
		}
	}
	if got := histogramCount(t, MetricRequestDuration, map[string]string{"connection": DefaultConnection, "operation": OpGet}) - getDurations; got != 3 {
		t.Errorf("%s{operation=get} observed %d requests, want 3", MetricRequestDuration, got)
	}
	if n := findMetric(t, MetricRequestsTotal, map[string]string{"connection": DefaultConnection, "operation": OpGet, "code": ""}); n != nil {
		t.Errorf("a request without a status was counted under an empty code")
	}

	// All three are served from controller-runtime's registry with these labels.
	families, err := metrics.Registry.Gather()
	must(t, err)
	labels := map[string][]string{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var names []string
			for _, l := range m.GetLabel() {
				names = append(names, l.GetName())
			}
			labels[f.GetName()] = names
		}
	}
	for name, want := range map[string][]string{
		MetricRequestsTotal:   {"code", "connection", "operation"},
		MetricRequestDuration: {"connection", "operation"},
		MetricRateLimiterWait: {"connection"},
	} {
		got, ok := labels[name]
		if !ok || !slices.Equal(got, want) {
			t.Errorf("%s: registered %v with labels %v, want labels %v", name, ok, got, want)
		}
	}
}

// TestRegisterTwice checks that registering the collectors again (as a second
// copy of the package in one binary would) reuses them instead of panicking.
func TestRegisterTwice(t *testing.T) {
	again := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricRequestsTotal,
		Help: requestsTotalHelp,
	}, []string{LabelConnection, "operation", "code"})
	if got := register(again); got != requestsTotal {
		t.Error("register did not return the collector already registered")
	}
}

// defaultLabel selects the series of the default connection.
var defaultLabel = map[string]string{LabelConnection: DefaultConnection}

// TestCloseForgetsTheConnectionsSeries checks that a client's metric series carry
// its connection's name, and go with the client, so that the label has as many
// values as there are connections.
func TestCloseForgetsTheConnectionsSeries(t *testing.T) {
	srv := newScripted(t)
	srv.set(answer(200, []byte(`{"account_uid":"acct-1"}`)))
	c := newTestClient(t, srv.apiURL(), func(cfg *Config) { cfg.Name = "brand-b" })
	if _, err := c.Get(testCtx(t), "acct-1"); err != nil {
		t.Fatal(err)
	}
	brand := map[string]string{LabelConnection: "brand-b", "operation": OpGet, "code": "200"}
	if findMetric(t, MetricRequestsTotal, brand) == nil ||
		findMetric(t, MetricCredentialsRejected, map[string]string{LabelConnection: "brand-b"}) == nil {
		t.Fatal("the client's series do not carry its connection's name")
	}
	c.Close()
	if findMetric(t, MetricRequestsTotal, brand) != nil ||
		findMetric(t, MetricCredentialsRejected, map[string]string{LabelConnection: "brand-b"}) != nil {
		t.Error("the series outlived the client")
	}
}

// TestNewClientServesItsSeriesBeforeAnyCall checks that a client's rate-limiter
// and gate series exist from its start: a standby replica, which makes no call,
// serves them too, and a scrape through the Service finds them on either.
func TestNewClientServesItsSeriesBeforeAnyCall(t *testing.T) {
	srv := newScripted(t)
	c := newTestClient(t, srv.apiURL(), func(cfg *Config) { cfg.Name = "idle" })
	defer c.Close()
	idle := map[string]string{LabelConnection: "idle"}
	for _, name := range []string{MetricRateLimiterWait, MetricCredentialsRejected, MetricPausedUntil} {
		if findMetric(t, name, idle) == nil {
			t.Errorf("%s{connection=\"idle\"} is not served before the first call", name)
		}
	}
}
