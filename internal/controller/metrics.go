package controller

import (
	"errors"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// Metric names, served with controller-runtime's on the manager's /metrics.
// docs/metrics.md describes them, and the alerts and dashboard use them. No label
// names an account or a namespace.
const (
	// MetricResources is a gauge of PartnerAccounts by Ready status and reason.
	MetricResources = "partneraccount_resources"
	// MetricRemoteAccounts is a gauge of PartnerAccounts by remote account status.
	MetricRemoteAccounts = "partneraccount_remote_accounts"
	// MetricTimeToFirstReady is a histogram of seconds from creation to first Ready.
	MetricTimeToFirstReady = "partneraccount_time_to_first_ready_seconds"
	// MetricRemoteChanges is a counter of changes made to remote accounts.
	MetricRemoteChanges = "partneraccount_remote_changes_total"
	// MetricReadBackPeriod is a gauge of the effective read-back period in seconds.
	MetricReadBackPeriod = "partneraccount_readback_period_seconds"
	// MetricDrifted is a gauge of PartnerAccounts whose account differs from the
	// spec, by field (status.drift).
	MetricDrifted = "partneraccount_drifted_resources"
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
		Help: "PartnerAccounts by the status and reason of their Ready condition.",
	}, []string{"ready", "reason"})

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

	readBackPeriod = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: MetricReadBackPeriod,
		Help: "The effective period at which settled PartnerAccounts are read back from the Partnership API.",
	})

	driftedGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: MetricDrifted,
		Help: "PartnerAccounts whose remote account differs from the spec at the last read, by field (accountType, domain, endsAt).",
	}, []string{"field"})
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
		readBackPeriod, driftedGauge} {
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
		resourcesGauge.WithLabelValues(string(info.Ready), reason)
	}
	for _, f := range driftFields {
		driftedGauge.WithLabelValues(string(f))
	}
}

// accountState is what the gauges count of one PartnerAccount.
type accountState struct {
	ready, reason, remote string
	// drifted holds, for each of driftFields, whether the account differs in it.
	drifted [3]bool
}

// count adds d to the gauges' series of st.
func (st accountState) count(d float64) {
	resourcesGauge.WithLabelValues(st.ready, st.reason).Add(d)
	remoteAccountsGauge.WithLabelValues(st.remote).Add(d)
	for i, f := range driftFields {
		if st.drifted[i] {
			driftedGauge.WithLabelValues(string(f)).Add(d)
		}
	}
}

// stateOf is pa's accountState, with bounded label values.
func stateOf(pa *billingv1alpha1.PartnerAccount) accountState {
	st := accountState{ready: string(metav1.ConditionUnknown), reason: "None", remote: remoteNone}
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
