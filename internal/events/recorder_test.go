package events

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// TestRecorderWritesEachEventOnce checks the events written: their fields, a note
// cut to what the API takes, an event type refused, and a full queue dropping
// what overflows it without blocking.
func TestRecorderWritesEachEventOnce(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).Build()
	const length = 10
	r := newRecorder(c, scheme, "partner-account-operator", "pod-1", logr.Discard(), length)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cm", UID: "u1"}}

	r.Eventf(cm, nil, corev1.EventTypeNormal, "Created", "Create", "Created remote account %q", "acct-1")
	r.Eventf(cm, nil, corev1.EventTypeWarning, "Failed", "Reconcile", "%s", strings.Repeat("x", 2000))
	r.Eventf(cm, nil, "Info", "Odd", "Reconcile", "never written")
	for range length {
		r.Eventf(cm, nil, corev1.EventTypeNormal, "Flood", "Reconcile", "one of many")
	}
	if len(r.queue) != length {
		t.Fatalf("queue holds %d events, want %d", len(r.queue), length)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Start(ctx); close(done) }()
	var list eventsv1.EventList
	deadline := time.Now().Add(10 * time.Second)
	for len(list.Items) < length && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if err := c.List(ctx, &list); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	<-done
	if len(list.Items) != length {
		t.Fatalf("%d events written, want %d (the queue's length)", len(list.Items), length)
	}
	byReason := map[string][]eventsv1.Event{}
	for _, e := range list.Items {
		byReason[e.Reason] = append(byReason[e.Reason], e)
	}
	created := byReason["Created"]
	if len(created) != 1 || len(byReason["Odd"]) != 0 || len(byReason["Flood"]) != length-2 {
		t.Fatalf("events by reason: Created %d, Odd %d, Flood %d", len(created), len(byReason["Odd"]),
			len(byReason["Flood"]))
	}
	e := created[0]
	if e.Namespace != "ns" || e.Regarding.Name != "cm" || e.Regarding.Kind != "ConfigMap" || e.Regarding.UID != "u1" ||
		e.Note != `Created remote account "acct-1"` || e.Type != corev1.EventTypeNormal || e.Action != "Create" ||
		e.ReportingController != "partner-account-operator" || e.ReportingInstance != "pod-1" || e.EventTime.IsZero() {
		t.Errorf("event = %+v", e)
	}
	if note := byReason["Failed"][0].Note; len(note) != maxNoteLength || !strings.HasSuffix(note, "...") {
		t.Errorf("a long note is %d bytes, want %d ending in ...", len(note), maxNoteLength)
	}
}
