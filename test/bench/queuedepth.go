package bench

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// controllerName is the operator's controller, as its work queue metrics name it.
const controllerName = "partneraccount"

// queueDepth reads workqueue_depth of the operator's controller, summed over its
// series, from its metrics endpoint (plain HTTP, served only in the backlog
// phase). It only describes the backlog; no figure the benchmark reports or
// asserts comes from the operator.
func queueDepth(ctx context.Context, metricsURL string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("operator %s: %s", metricsURL, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
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
