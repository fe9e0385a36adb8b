package partneraccount

import (
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

func TestAccountTracker(t *testing.T) {
	conns := testRegistry()
	rb := conns.Default().ReadBacks
	tr := newAccountTracker(conns)
	gauge := func(ready, reason string) float64 {
		return testutil.ToFloat64(resourcesGauge.WithLabelValues(ready, reason, partnerapi.DefaultConnection))
	}
	remote := func(status string) float64 { return testutil.ToFloat64(remoteAccountsGauge.WithLabelValues(status)) }
	readyBefore, noneBefore := gauge("True", billingv1alpha1.ReasonAccountReady), remote(remoteNone)
	entitledBefore := remote("entitled")

	a := newAccount("ns1", "a", "shared")
	b := newAccount("ns2", "b", "shared")
	tr.OnAdd(a, true)
	tr.OnAdd(b, true)
	if got := tr.withAccountUID("", "shared"); len(got) != 2 || got[0] != (types.NamespacedName{Namespace: "ns1", Name: "a"}) {
		t.Errorf("withAccountUID = %v", got)
	}
	if d := remote(remoteNone) - noneBefore; d != 2 {
		t.Errorf("remote none grew by %v, want 2", d)
	}

	ready := a.DeepCopy()
	ready.Status.AccountStatus = "entitled"
	ready.Status.Conditions = []metav1.Condition{{Type: billingv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: billingv1alpha1.ReasonAccountReady}}
	tr.OnUpdate(a, ready)
	if d := gauge("True", billingv1alpha1.ReasonAccountReady) - readyBefore; d != 1 {
		t.Errorf("Ready accounts grew by %v, want 1", d)
	}
	if d := remote("entitled") - entitledBefore; d != 1 {
		t.Errorf("entitled grew by %v, want 1", d)
	}

	tr.OnDelete(toolscache.DeletedFinalStateUnknown{Key: "ns1/a", Obj: ready})
	if d := gauge("True", billingv1alpha1.ReasonAccountReady) - readyBefore; d != 0 {
		t.Errorf("a deleted account still counts: %v", d)
	}
	if got := tr.withAccountUID("", "shared"); len(got) != 1 || got[0].Name != "b" {
		t.Errorf("withAccountUID after a delete = %v", got)
	}
	tr.OnDelete(b)
	if got := tr.withAccountUID("", "shared"); len(got) != 0 {
		t.Errorf("withAccountUID after both deletes = %v", got)
	}
	if d := remote(remoteNone) - noneBefore; d != 0 {
		t.Errorf("remote none is off by %v after the deletes", d)
	}
	if rb.Accounts() != 0 {
		t.Errorf("the read-back planner counts %d accounts", rb.Accounts())
	}
}

func TestStateOfBoundsLabels(t *testing.T) {
	pa := newAccount("ns", "a", "u")
	pa.Status.AccountStatus = "frozen-by-a-new-server"
	pa.Status.Conditions = []metav1.Condition{{Type: billingv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: "SomethingNew"}}
	if got := stateOf(pa); got != (accountState{ready: "False", reason: "Other", remote: remoteOther, connection: partnerapi.DefaultConnection}) {
		t.Errorf("stateOf = %+v", got)
	}
}

func TestTrackerWaitsForItsOwnWrites(t *testing.T) {
	tr := newAccountTracker(testRegistry())
	pa := &billingv1alpha1.PartnerAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a", ResourceVersion: "10"}}
	key := types.NamespacedName{Namespace: "ns", Name: "a"}
	tr.OnAdd(pa, false)
	if tr.behind(key, "10") != cacheCurrent {
		t.Fatal("behind with no write")
	}
	tr.wrote(key, "12")
	if tr.behind(key, "10") != cacheLagging {
		t.Error("a cached copy older than the write is not behind")
	}
	newer := pa.DeepCopy()
	newer.ResourceVersion = "12"
	tr.OnUpdate(pa, newer)
	if tr.behind(key, "10") != cacheCurrent {
		t.Error("behind after the cache showed the write")
	}
	tr.wrote(key, "14")
	if tr.behind(key, "14") != cacheCurrent {
		t.Error("a cached copy at the write is behind")
	}
	third := newer.DeepCopy()
	third.ResourceVersion = "18"
	tr.writing(key)
	tr.OnUpdate(newer, third)
	tr.wrote(key, "18")
	if tr.behind(key, "19") != cacheCurrent {
		t.Error("a write the cache showed before the writer heard back is pending")
	}
	tr.mu.Lock()
	if _, kept := tr.seen[key]; kept {
		t.Error("the versions seen during a write outlive it")
	}
	tr.mu.Unlock()
	tr.writing(key)
	tr.wrote(key, "")
	if tr.behind(key, "19") != cacheCurrent {
		t.Error("a failed write is pending")
	}
	tr.writing(key)
	tr.wrote(key, "16")
	tr.mu.Lock()
	w := tr.written[key]
	w.at = time.Now().Add(-cacheLag - time.Second)
	tr.written[key] = w
	tr.mu.Unlock()
	if tr.behind(key, "15") != cacheStale {
		t.Error("a write the cache never showed, past the lag, does not send the reconcile to the API server")
	}
	if tr.behind(key, "15") != cacheCurrent {
		t.Error("the write is still pending once the API server was read")
	}
}

func TestTrackerForgetsAConnectionsSeriesWithItsLastAccount(t *testing.T) {
	tr := newAccountTracker(testRegistry())
	// The gauge is the process's: a name no other test uses.
	const conn = "tracker-forgets-series"
	count := func(connection string) int {
		n := 0
		ch := make(chan prometheus.Metric, 1024)
		resourcesGauge.Collect(ch)
		close(ch)
		for m := range ch {
			var out dto.Metric
			if err := m.Write(&out); err != nil {
				t.Fatal(err)
			}
			for _, l := range out.GetLabel() {
				if l.GetName() == partnerapi.LabelConnection && l.GetValue() == connection {
					n++
				}
			}
		}
		return n
	}
	a := newAccount("ns", "a", "brand-1")
	a.Spec.ConnectionRef = &billingv1alpha1.ConnectionReference{Name: conn}
	b := newAccount("ns", "b", "brand-2")
	b.Spec.ConnectionRef = a.Spec.ConnectionRef
	tr.OnAdd(a, true)
	tr.OnAdd(b, true)
	if n := count(conn); n != 1 {
		t.Fatalf("%d series for connection %s, want 1", n, conn)
	}
	if got := testutil.ToFloat64(resourcesGauge.WithLabelValues("Unknown", "None", conn)); got != 2 {
		t.Errorf("%s counts %v accounts, want 2", conn, got)
	}
	tr.OnDelete(a)
	if n := count(conn); n != 1 {
		t.Errorf("%d series for connection %s with one account left, want 1", n, conn)
	}
	tr.OnDelete(b)
	if n := count(conn); n != 0 {
		t.Errorf("%d series for connection %s after its last account went, want none", n, conn)
	}
	if n := count(partnerapi.DefaultConnection); n == 0 {
		t.Error("the default connection's series went too")
	}
}

// TestTrackerIndexesAccountUIDsByConnection checks that the same accountUID on two
// connections names two accounts, and that the accounts known to exist reach the
// registry with where they were answered.
func TestTrackerIndexesAccountUIDsByConnection(t *testing.T) {
	conns := testRegistry()
	tr := newAccountTracker(conns)
	test := newAccount("test", "customer", "cust-1")
	test.Spec.ConnectionRef = &billingv1alpha1.ConnectionReference{Name: "test-server"}
	prod := newAccount("prod", "customer", "cust-1")
	tr.OnAdd(test, true)
	tr.OnAdd(prod, true)
	if got := tr.withAccountUID("", "cust-1"); len(got) != 1 || got[0].Namespace != "prod" {
		t.Errorf("the default connection's cust-1: %v", got)
	}
	if got := tr.withAccountUID("test-server", "cust-1"); len(got) != 1 || got[0].Namespace != "test" {
		t.Errorf("test-server's cust-1: %v", got)
	}

	created := metav1.NewTime(time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC))
	ready := prod.DeepCopy()
	ready.Status.AccountUID, ready.Status.AccountStatus, ready.Status.CreatedAt = "cust-1", "entitled", &created
	ready.Status.Endpoint, ready.Status.EndpointID = "https://a/api/v1", "aaaaaaaaaaaaaaaa"
	tr.OnUpdate(prod, ready)
	uid, at, c, ok := conns.KnownAccount("", partnerapi.Origin{})
	if !ok || uid != "cust-1" || at.ID != "aaaaaaaaaaaaaaaa" || !c.Equal(created.Time) {
		t.Errorf("known = %q %+v %v %v", uid, at, c, ok)
	}
	if conns.KnownAccounts("test-server") {
		t.Error("an account not known to exist is known on test-server")
	}
	tr.OnDelete(ready)
	if conns.KnownAccounts("") {
		t.Error("a deleted resource's account is still known")
	}
}

// TestTrackerIndexesEachAccountUIDPerConnection checks the index by accountUID:
// the resources that declare one on a connection, in the order the cache showed
// them, as they come and go, and none shared across connections.
func TestTrackerIndexesEachAccountUIDPerConnection(t *testing.T) {
	tr := newAccountTracker(testRegistry())
	a, b, c := newAccount("ns", "a", "shared"), newAccount("ns", "b", "shared"), newAccount("other", "c", "shared")
	elsewhere := newAccount("ns", "d", "shared")
	elsewhere.Spec.ConnectionRef = &billingv1alpha1.ConnectionReference{Name: "brand-b"}
	for _, pa := range []*billingv1alpha1.PartnerAccount{a, b, c, elsewhere} {
		tr.OnAdd(pa, false)
	}
	names := func(conn string) []string {
		keys := tr.withAccountUID(conn, "shared")
		out := make([]string, 0, len(keys))
		for _, k := range keys {
			out = append(out, k.String())
		}
		return out
	}
	for _, step := range []struct {
		gone *billingv1alpha1.PartnerAccount
		want []string
	}{
		{nil, []string{"ns/a", "ns/b", "other/c"}},
		{a, []string{"ns/b", "other/c"}},
		{c, []string{"ns/b"}},
		{b, nil},
	} {
		if step.gone != nil {
			tr.OnDelete(step.gone)
		}
		if got := names(""); !slices.Equal(got, step.want) {
			t.Errorf("default connection: %v, want %v", got, step.want)
		}
		if got := names("brand-b"); !slices.Equal(got, []string{"ns/d"}) {
			t.Errorf("brand-b: %v, want [ns/d]", got)
		}
	}
	if len(tr.byUID) != 1 || len(tr.moreByUID) != 0 {
		t.Errorf("index left behind: %v, %v", tr.byUID, tr.moreByUID)
	}
}
