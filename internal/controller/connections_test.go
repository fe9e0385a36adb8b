package controller

import (
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// TestReadBackPeriodByConnection checks that each connection exports the longest
// any of its accounts goes unread under its own name, by its own rate, and that
// the series goes with the connection.
func TestReadBackPeriodByConnection(t *testing.T) {
	r := &PartnerAccountReconciler{Options: Options{ResyncPeriod: time.Hour}.withDefaults()}
	r.conns = newConnectionSet(nil)
	r.conns.def = r.newConnection("", nil, 5, logr.Discard())
	brand := r.newConnection("brand-b", nil, 1, logr.Discard())
	r.conns.put(brand)

	// 9,000 accounts at 5 a second fit in an hour; at 1 a second they take 2.5 hours.
	r.conns.accountsChanged("", 9000)
	r.conns.accountsChanged("brand-b", 9000)
	period := func(connection string) float64 {
		return testutil.ToFloat64(readBackPeriod.WithLabelValues(connection))
	}
	if got := period(partnerapi.DefaultConnection); got != time.Hour.Seconds() {
		t.Errorf("default connection: %v s, want 3600", got)
	}
	if got := period("brand-b"); got != 9000 {
		t.Errorf("brand-b: %v s, want 9000", got)
	}

	brand.close()
	if readBackPeriod.DeleteLabelValues("brand-b") {
		t.Error("brand-b's series outlived the connection")
	}
}
