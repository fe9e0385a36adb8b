package partneraccount

import (
	"errors"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// Metric names, served with controller-runtime's on the manager's /metrics.
// docs/metrics.md describes them, and the alerts and dashboard use them. No label
// names an account or a namespace.
const (
	// MetricResources is a gauge of PartnerAccounts by Ready status, reason and
	// connection (partnerapi.LabelConnection).
	MetricResources = "partneraccount_resources"
	// MetricRemoteAccounts is a gauge of PartnerAccounts by remote account status.
	MetricRemoteAccounts = "partneraccount_remote_accounts"
	// MetricTimeToFirstReady is a histogram of seconds from creation to first Ready.
	MetricTimeToFirstReady = "partneraccount_time_to_first_ready_seconds"
	// MetricRemoteChanges is a counter of changes made to remote accounts.
	MetricRemoteChanges = "partneraccount_remote_changes_total"
	// MetricDrifted is a gauge of PartnerAccounts whose account differs from the
	// spec, by field (status.drift).
	MetricDrifted = "partneraccount_drifted_resources"
	// MetricTimeToProvisioned is a histogram of seconds from an account's creation
	// to the customer's signup (status.provisionedAt): the partner's conversion speed.
	MetricTimeToProvisioned = "partneraccount_time_to_provisioned_seconds"
	// MetricDetectionLag is a histogram of seconds from a signup to the operator
	// seeing it: the read-back schedule's latency.
	MetricDetectionLag = "partneraccount_signup_detection_lag_seconds"
	// MetricEntitled is a gauge of accounts still entitled (no signup yet), by age.
	MetricEntitled = "partneraccount_entitled_accounts"
	// MetricStartup is a gauge of the seconds from the controller's start to its
	// index of every PartnerAccount the cache listed: when it is ready to act.
	MetricStartup = "partneraccount_startup_seconds"
)

// Operations counted by MetricRemoteChanges.
const (
	changeCreate       = "create"
	changeAdopt        = "adopt"
	changeDelete       = "delete"
	changeUpdateEndsAt = "update_ends_at"
)

var (
	resourcesGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: MetricResources,
		Help: "PartnerAccounts by the status and reason of their Ready condition, and the connection they use.",
	}, []string{"ready", "reason", partnerapi.LabelConnection})

	remoteAccountsGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: MetricRemoteAccounts,
		Help: "PartnerAccounts by the status of their remote account (none before it exists, other for a status the operator does not know).",
	}, []string{"status"})

	timeToFirstReady = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    MetricTimeToFirstReady,
		Help:    "Seconds from a PartnerAccount's creation to its first Ready=True.",
		Buckets: []float64{1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
	})

	remoteChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricRemoteChanges,
		Help: "Changes the operator made to remote accounts: created, adopted, deleted, end date changed.",
	}, []string{"operation"})

	driftedGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: MetricDrifted,
		Help: "PartnerAccounts whose remote account differs from the spec at the last read, by field (accountType, domain, endsAt).",
	}, []string{"field"})
)

var startupSeconds = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: MetricStartup,
	Help: "Seconds from the controller's start to its index of every PartnerAccount the cache listed, when it is " +
		"ready to act; 0 until then.",
})

var (
	timeToProvisioned = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    MetricTimeToProvisioned,
		Help:    "Seconds from a remote account's creation to the customer's signup (provisioned).",
		Buckets: []float64{60, 300, 900, 3600, 6 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400},
	})
	detectionLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    MetricDetectionLag,
		Help:    "Seconds from a customer's signup to the operator seeing the account provisioned.",
		Buckets: []float64{5, 15, 30, 60, 120, 300, 600, 1800, 3600, 6 * 3600, 86400},
	})
)

// driftFields are the values of MetricDrifted's field label.
var driftFields = []billingv1alpha1.DriftField{billingv1alpha1.DriftAccountType, billingv1alpha1.DriftDomain,
	billingv1alpha1.DriftEndsAt}

// Values of MetricRemoteAccounts's status label besides the statuses the API
// names: a status it does not know (so that a server cannot make the label
// unbounded), and no remote account yet.
const (
	remoteOther = "other"
	remoteNone  = "none"
)

// knownRemoteStatuses are the remote statuses MetricRemoteAccounts names as they are.
var knownRemoteStatuses = []string{partnerapi.StatusEntitled, partnerapi.StatusProvisioned, partnerapi.StatusActivated,
	partnerapi.StatusSuspended, partnerapi.StatusDeprovisioned}

func init() {
	for _, c := range []prometheus.Collector{resourcesGauge, remoteAccountsGauge, timeToFirstReady, remoteChanges,
		driftedGauge, timeToProvisioned, detectionLag, entitled, startupSeconds} {
		if err := metrics.Registry.Register(c); err != nil && !errors.As(err, &prometheus.AlreadyRegisteredError{}) {
			panic(err)
		}
	}
	// Every series exists from the start, so that alerts and the dashboard see
	// zeros rather than nothing.
	for _, op := range []string{changeCreate, changeAdopt, changeDelete, changeUpdateEndsAt} {
		remoteChanges.WithLabelValues(op)
	}
	for _, s := range append(slices.Clone(knownRemoteStatuses), remoteOther, remoteNone) {
		remoteAccountsGauge.WithLabelValues(s)
	}
	for reason, info := range billingv1alpha1.Reasons {
		resourcesGauge.WithLabelValues(string(info.Ready), reason, partnerapi.DefaultConnection)
	}
	for _, f := range driftFields {
		driftedGauge.WithLabelValues(string(f))
	}
}

// accountState is what the gauges count of one PartnerAccount.
type accountState struct {
	ready, reason, remote string
	// connection is the value of the connection label.
	connection string
	// drifted holds, for each of driftFields, whether the account differs in it.
	drifted [3]bool
}

// count adds d to the gauges' series of st.
func (st accountState) count(d float64) {
	resourcesGauge.WithLabelValues(st.ready, st.reason, st.connection).Add(d)
	remoteAccountsGauge.WithLabelValues(st.remote).Add(d)
	for i, f := range driftFields {
		if st.drifted[i] {
			driftedGauge.WithLabelValues(string(f)).Add(d)
		}
	}
}

// forgetConnectionSeries drops the series of a PartnerConnection no PartnerAccount
// uses any more, so that the connection label has a value for each connection in
// use, not for every name ever written in a spec.connectionRef.
func forgetConnectionSeries(connection string) {
	resourcesGauge.DeletePartialMatch(prometheus.Labels{partnerapi.LabelConnection: connection})
}

// stateOf is pa's accountState, with bounded label values.
func stateOf(pa *billingv1alpha1.PartnerAccount) accountState {
	st := accountState{ready: string(metav1.ConditionUnknown), reason: "None", remote: remoteNone,
		connection: partnerapi.DefaultConnection}
	if name := pa.ConnectionName(); name != "" {
		st.connection = name
	}
	if c := meta.FindStatusCondition(pa.Status.Conditions, billingv1alpha1.ConditionReady); c != nil {
		st.ready = string(c.Status)
		if _, known := billingv1alpha1.Reasons[c.Reason]; known {
			st.reason = c.Reason
		} else {
			st.reason = "Other"
		}
	}
	for _, d := range pa.Status.Drift {
		if i := slices.Index(driftFields, d.Field); i >= 0 {
			st.drifted[i] = true
		}
	}
	if s := pa.Status.AccountStatus; s != "" {
		st.remote = remoteOther
		if slices.Contains(knownRemoteStatuses, s) {
			st.remote = s
		}
	}
	return st
}

// entitledAgeBuckets are the values of MetricEntitled's age label and their upper
// bounds.
var entitledAgeBuckets = []struct {
	label string
	below time.Duration
}{
	{"lt_1h", time.Hour},
	{"1h_1d", 24 * time.Hour},
	{"1d_7d", 7 * 24 * time.Hour},
	{"7d_30d", 30 * 24 * time.Hour},
	{"ge_30d", math.MaxInt64},
}

// entitledAccounts is MetricEntitled: the creation time of each account still
// entitled, counted by age when scraped, so that the counts follow the clock. An
// entry is two words, as in dueReadBacks: the key's hash and Unix seconds.
type entitledAccounts struct {
	desc *prometheus.Desc
	now  func() time.Time

	mu      sync.Mutex
	created map[uint64]int64
}

var entitled = &entitledAccounts{
	desc: prometheus.NewDesc(MetricEntitled, "Remote accounts still entitled (the customer has not signed up), by age.",
		[]string{"age"}, nil),
	now:     time.Now,
	created: map[uint64]int64{},
}

// set records whether the account of the PartnerAccount key is entitled, created
// at created.
func (e *entitledAccounts) set(key types.NamespacedName, isEntitled bool, created time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if isEntitled {
		e.created[keyHash(key)] = created.Unix()
	} else {
		delete(e.created, keyHash(key))
	}
}

// Describe sends MetricEntitled's description.
func (e *entitledAccounts) Describe(ch chan<- *prometheus.Desc) { ch <- e.desc }

// Collect counts the entitled accounts by age, every bucket included.
func (e *entitledAccounts) Collect(ch chan<- prometheus.Metric) {
	counts := make([]float64, len(entitledAgeBuckets))
	now := e.now()
	e.mu.Lock()
	for _, c := range e.created {
		age := now.Sub(time.Unix(c, 0))
		for i, b := range entitledAgeBuckets {
			if age < b.below {
				counts[i]++
				break
			}
		}
	}
	e.mu.Unlock()
	for i, b := range entitledAgeBuckets {
		ch <- prometheus.MustNewConstMetric(e.desc, prometheus.GaugeValue, counts[i], b.label)
	}
}
