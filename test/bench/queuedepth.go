package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// controllerName is the operator's controller, as its work queue metrics name it.
const controllerName = "partneraccount"

// queueDepth reads workqueue_depth of the operator's controller, summed over its
// series, from its metrics endpoint (plain HTTP, served in the backlog phase,
// and with Config.Profile). It only describes the backlog; no figure the
// benchmark reports or asserts comes from the operator.
func queueDepth(ctx context.Context, metricsURL string) (int, error) {
	body, err := get(ctx, metricsURL)
	if err != nil {
		return 0, err
	}
	families, err := parseMetrics(bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	// With controller-runtime's priority queue there is a series per priority.
	depth, found := 0.0, false
	for _, m := range families["workqueue_depth"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "name" && l.GetValue() == controllerName {
				depth += m.GetGauge().GetValue()
				found = true
			}
		}
	}
	if !found {
		return 0, fmt.Errorf("operator %s: no workqueue_depth{name=%q}", metricsURL, controllerName)
	}
	return int(depth), nil
}

// parseMetrics parses metrics in Prometheus's text format, by family name.
func parseMetrics(metrics io.Reader) (map[string]*dto.MetricFamily, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(metrics)
}
