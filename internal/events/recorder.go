// Package events records the Kubernetes Events users see in kubectl describe and
// kubectl events (events.k8s.io/v1), with memory that does not grow with the
// accounts a burst creates.
//
// client-go's recorder (k8s.io/client-go/tools/events) keeps a copy of every event
// it wrote for 6 to 12 minutes, to count repeats of it into a series: at 50,000
// accounts created within minutes, that is 50,000 Created events held at once.
// The controllers record each distinct failure once (not once per retry) and each
// account's Created once, so repeats are rare; this recorder writes each event
// once and keeps nothing after. Like client-go's, it writes from a queue of
// bounded length, in the background (several at once), and drops what overflows
// it rather than slow a reconcile.
package events

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
	clientevents "k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/reference"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// QueueLength is how many events may wait to be written, as in client-go's
// recorder; more are dropped.
const QueueLength = 1000

// writeTimeout bounds the write of one event.
const writeTimeout = 10 * time.Second

// Recorder records events about objects of a scheme, as one controller and
// instance. It is a manager.Runnable: the events recorded before it starts wait
// in its queue.
type Recorder struct {
	client     client.Client
	scheme     *runtime.Scheme
	controller string
	instance   string
	log        logr.Logger
	queue      chan *eventsv1.Event
	now        func() time.Time
}

var (
	_ clientevents.EventRecorder = (*Recorder)(nil)
	_ manager.Runnable           = (*Recorder)(nil)
)

// NewRecorder makes a recorder that writes with c, naming controller as the
// reporting controller and instance (the pod's name, say) as its instance.
func NewRecorder(c client.Client, scheme *runtime.Scheme, controller, instance string, log logr.Logger) *Recorder {
	return newRecorder(c, scheme, controller, instance, log, QueueLength)
}

// newRecorder is NewRecorder with a queue of length events.
func newRecorder(c client.Client, scheme *runtime.Scheme, controller, instance string, log logr.Logger,
	length int) *Recorder {
	return &Recorder{client: c, scheme: scheme, controller: controller, instance: instance, log: log,
		queue: make(chan *eventsv1.Event, length), now: time.Now}
}

// Eventf records an event about regarding (and related, when not nil), of type
// corev1.EventTypeNormal or corev1.EventTypeWarning, with the note formatted from
// note and args. It never blocks: an event that finds the queue full is dropped.
func (r *Recorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	ev, err := r.event(regarding, related, eventtype, reason, action, fmt.Sprintf(note, args...))
	if err != nil {
		r.log.Error(err, "Could not make an event", "reason", reason)
		return
	}
	r.log.V(1).Info("Event occurred", "object", ev.Regarding.Namespace+"/"+ev.Regarding.Name,
		"kind", ev.Regarding.Kind, "type", eventtype, "reason", reason, "action", action, "note", ev.Note)
	select {
	case r.queue <- ev:
	default:
		r.log.Info("Dropped an event: too many wait to be written", "object",
			ev.Regarding.Namespace+"/"+ev.Regarding.Name, "reason", reason)
	}
}

// event makes the Event object.
func (r *Recorder) event(regarding, related runtime.Object, eventtype, reason, action, note string) (
	*eventsv1.Event, error) {
	if eventtype != corev1.EventTypeNormal && eventtype != corev1.EventTypeWarning {
		return nil, fmt.Errorf("event type %q is neither %s nor %s", eventtype, corev1.EventTypeNormal,
			corev1.EventTypeWarning)
	}
	ref, err := reference.GetReference(r.scheme, regarding)
	if err != nil {
		return nil, err
	}
	var relatedRef *corev1.ObjectReference
	if related != nil {
		if relatedRef, err = reference.GetReference(r.scheme, related); err != nil {
			return nil, err
		}
	}
	namespace := ref.Namespace
	if namespace == "" {
		namespace = metav1.NamespaceDefault
	}
	now := r.now()
	return &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{
			// As client-go names them: the object's name and the time, made unique.
			Name:      fmt.Sprintf("%s.%x%s", ref.Name, now.UnixNano(), rand.String(4)),
			Namespace: namespace,
		},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: r.controller,
		ReportingInstance:   r.instance,
		Action:              action,
		Reason:              reason,
		Regarding:           *ref,
		Related:             relatedRef,
		Note:                truncate(note),
		Type:                eventtype,
	}, nil
}

// maxNoteLength is the longest note the API accepts.
const maxNoteLength = 1024

// truncate shortens note to what the API accepts.
func truncate(note string) string {
	if len(note) <= maxNoteLength {
		return note
	}
	return note[:maxNoteLength-3] + "..."
}

// writers is how many events are written at once: one write takes a round trip
// to the API server, and a burst of creates records events faster than one
// writer keeps up with.
const writers = 8

// Start writes the queued events until ctx ends.
func (r *Recorder) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case ev := <-r.queue:
					r.write(ctx, ev)
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// NeedLeaderElection is false: a replica that is not the leader records nothing,
// and what it may record must not wait for it to lead.
func (r *Recorder) NeedLeaderElection() bool { return false }

// write creates ev, once; an event that cannot be written is logged and dropped.
func (r *Recorder) write(ctx context.Context, ev *eventsv1.Event) {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if err := r.client.Create(ctx, ev); err != nil && ctx.Err() == nil {
		r.log.Error(err, "Could not write an event", "object", ev.Regarding.Namespace+"/"+ev.Regarding.Name,
			"reason", ev.Reason)
	}
}

// ForManager makes a recorder for mgr's objects, reporting as controller from
// this host (the pod's name), and adds it to mgr to run.
func ForManager(mgr manager.Manager, controller string) (*Recorder, error) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = controller
	}
	r := NewRecorder(mgr.GetClient(), mgr.GetScheme(), controller, host, mgr.GetLogger().WithName("events"))
	return r, mgr.Add(r)
}
