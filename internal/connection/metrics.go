package connection

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// MetricReadBackPeriod is a gauge, by connection, of the longest any account goes
// unread, in seconds. It is served with the controllers' metrics; docs/metrics.md
// describes it.
const MetricReadBackPeriod = "partneraccount_readback_period_seconds"

var readBackPeriod = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: MetricReadBackPeriod,
	Help: "The longest any PartnerAccount of the connection goes unread, in seconds: --resync-period, or longer " +
		"when half the connection's rate limit cannot read all its accounts within it.",
}, []string{partnerapi.LabelConnection})

func init() {
	if err := metrics.Registry.Register(readBackPeriod); err != nil &&
		!errors.As(err, &prometheus.AlreadyRegisteredError{}) {
		panic(err)
	}
}
