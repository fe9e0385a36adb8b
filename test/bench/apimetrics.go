package bench

import (
	"context"
	"fmt"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// writeVerbs are the verbs of apiserver_request_total that change an object.
var writeVerbs = map[string]bool{
	"POST": true, "PUT": true, "PATCH": true, "APPLY": true, "DELETE": true, "DELETECOLLECTION": true,
}

// writeCounts are kube-apiserver's counts of write requests, from its own
// apiserver_request_total, whatever their answer (a conflict is a write attempt).
type writeCounts struct {
	// PartnerAccounts counts writes to partneraccounts and its status subresource.
	PartnerAccounts int
	// Secrets, Events and Leases count writes to secrets, to events (either API
	// group) and to leases, the operator's other writes: its activation token
	// Secrets, its Kubernetes Events and its leader lease.
	Secrets, Events, Leases int
}

func (w writeCounts) minus(o writeCounts) writeCounts {
	return writeCounts{
		PartnerAccounts: w.PartnerAccounts - o.PartnerAccounts,
		Secrets:         w.Secrets - o.Secrets,
		Events:          w.Events - o.Events,
		Leases:          w.Leases - o.Leases,
	}
}

// scrapeWrites reads kube-apiserver's /metrics as cluster admin and sums the write
// requests by resource.
func scrapeWrites(ctx context.Context, cfg *rest.Config) (writeCounts, error) {
	var w writeCounts
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return w, err
	}
	body, err := dc.RESTClient().Get().AbsPath("/metrics").Stream(ctx)
	if err != nil {
		return w, fmt.Errorf("kube-apiserver /metrics: %w", err)
	}
	defer func() { _ = body.Close() }()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(body)
	if err != nil {
		return w, fmt.Errorf("kube-apiserver /metrics: %w", err)
	}
	family, ok := families["apiserver_request_total"]
	if !ok {
		return w, fmt.Errorf("kube-apiserver /metrics has no apiserver_request_total")
	}
	for _, m := range family.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if !writeVerbs[labels["verb"]] {
			continue
		}
		n := int(m.GetCounter().GetValue())
		switch {
		case labels["group"] == "billing.partnerbilling.io" && labels["resource"] == "partneraccounts":
			w.PartnerAccounts += n
		case labels["group"] == "" && labels["resource"] == "secrets":
			w.Secrets += n
		case labels["resource"] == "events":
			w.Events += n
		case labels["resource"] == "leases":
			w.Leases += n
		}
	}
	return w, nil
}
