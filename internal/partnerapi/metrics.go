package partnerapi

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metric names, registered on controller-runtime's registry so they are served
// with the manager's other metrics.
const (
	// MetricRequestsTotal is a counter of HTTP requests sent, labelled operation
	// (create, get, update, delete) and code (the HTTP status, or "error" when no
	// response arrived).
	MetricRequestsTotal = "partnerapi_requests_total"
	// MetricRequestDuration is a histogram of request durations in seconds,
	// labelled operation.
	MetricRequestDuration = "partnerapi_request_duration_seconds"
	// MetricRateLimiterWait is a histogram of the seconds calls waited for the
	// client-side rate limiter.
	MetricRateLimiterWait = "partnerapi_rate_limiter_wait_seconds"
)

// LabelConnection is the label every metric of the client carries: the name of
// the PartnerConnection it serves, or DefaultConnection for the one the flags set.
const LabelConnection = "connection"

// DefaultConnection is the connection label of the client the operator's flags
// configure.
const DefaultConnection = "default"

const requestsTotalHelp = "HTTP requests sent to the 1Password Partnership API, by connection, operation and HTTP status code (\"error\" when no response arrived)."

var (
	// requestsTotal counts HTTP requests sent, by operation and by response status
	// ("error" when no response arrived). Calls refused before sending (bad UID,
	// unreadable token, rate limiter wait cut short) are not requests.
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricRequestsTotal,
		Help: requestsTotalHelp,
	}, []string{LabelConnection, "operation", "code"})

	// requestDuration is the time from sending a request to having read its response.
	requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    MetricRequestDuration,
		Help:    "Duration of HTTP requests to the 1Password Partnership API, from sending to having read the response.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{LabelConnection, "operation"})

	// limiterWait is the time calls spent waiting for the client-side rate limiter.
	limiterWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    MetricRateLimiterWait,
		Help:    "Time calls to the 1Password Partnership API waited for the client-side rate limiter.",
		Buckets: []float64{0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	}, []string{LabelConnection})
)

func init() {
	requestsTotal = register(requestsTotal)
	requestDuration = register(requestDuration)
	limiterWait = register(limiterWait)
}

// register adds c to controller-runtime's registry. If an identical collector is
// already there, that one is used instead of failing.
func register[C prometheus.Collector](c C) C {
	err := metrics.Registry.Register(c)
	if err == nil {
		return c
	}
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(err)
}

func observe(connection, op, code string, start time.Time) {
	requestsTotal.WithLabelValues(connection, op, code).Inc()
	requestDuration.WithLabelValues(connection, op).Observe(time.Since(start).Seconds())
}

// forgetMetrics removes the series of connection, once its client is gone, so that
// the label's values stay as many as the connections.
func forgetMetrics(connection string) {
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{requestsTotal, requestDuration, limiterWait, credentialsRejected, pausedUntil} {
		v.DeletePartialMatch(prometheus.Labels{LabelConnection: connection})
	}
}
