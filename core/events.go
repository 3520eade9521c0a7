package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Names and sources of CH events (Event.Name, Event.Source). Most come
// from source "vm"; "starting" and "shutdown" also from "vmm", the VMM
// process itself; "activated" and "reset" from "virtio-device" (property
// "id"); "panic" from "guest" (its pvpanic device); "create_vcpu" from
// "cpu_manager".
const (
	EventBooting      = "booting"
	EventBooted       = "booted"
	EventPaused       = "paused"
	EventResumed      = "resumed"
	EventShutdown     = "shutdown"
	EventRebooted     = "rebooted"
	EventSnapshotted  = "snapshotted"
	EventRestored     = "restored"
	EventDeleted      = "deleted"
	EventResized      = "resized"
	EventPanic        = "panic"
	EventActivated    = "activated"
	EventCreateVCPU   = "create_vcpu"
	EventSourceVM     = "vm"
	EventSourceVMM    = "vmm"
	EventSourceDevice = "virtio-device"
	EventSourceGuest  = "guest"
	EventSourceCPUs   = "cpu_manager"
)

// An Event is one entry of CH's event monitor, such as {source "vm", name
// "booted"}.
type Event struct {
	// Time is when it happened: the VMM's start time, as seen by this
	// program, plus Elapsed. Approximate (milliseconds).
	Time time.Time
	// Elapsed is CH's own timestamp: the time since its event monitor
	// started, right after the VMM started.
	Elapsed time.Duration
	// Source is what emitted it: "vmm", "vm", "virtio-device", …
	Source string
	// Name is what happened: "booted", "paused", "shutdown", …
	Name string
	// Properties are the event's details (nil when it has none).
	Properties map[string]string
}

// String returns "vm booted" or "virtio-device activated map[id:_disk0]".
func (e Event) String() string {
	if len(e.Properties) == 0 {
		return e.Source + " " + e.Name
	}
	return fmt.Sprintf("%s %s %v", e.Source, e.Name, e.Properties)
}

// isVMMShutdown reports CH's last event of an orderly exit.
func (e Event) isVMMShutdown() bool { return e.Source == EventSourceVMM && e.Name == EventShutdown }

// chEvent is the JSON CH writes, pretty-printed, one object after the other,
// separated by blank lines: the timestamp is a serde Duration.
type chEvent struct {
	Timestamp struct {
		Secs  uint64 `json:"secs"`
		Nanos uint32 `json:"nanos"`
	} `json:"timestamp"`
	Source     string            `json:"source"`
	Event      string            `json:"event"`
	Properties map[string]string `json:"properties"`
}

// maxEventSize bounds one event of CH's monitor (a few hundred bytes in
// practice); a bigger one ends the reading of the stream.
const maxEventSize = 64 << 10

// eventBuffer is how many events wait in Process.Events for a slow reader
// before further ones are dropped (and logged).
const eventBuffer = 64

// readEvents decodes CH's event stream r until it ends, handing each event
// to h. A malformed or oversized event is logged and the rest drained.
func readEvents(r io.Reader, start time.Time, h *eventHub, log *slog.Logger) {
	lr := &limitedEvents{r: r}
	dec := json.NewDecoder(lr)
	for {
		lr.n = 0
		var ce chEvent
		err := dec.Decode(&ce)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			log.Warn("cloud-hypervisor event stream unreadable; ignoring the rest", "err", err)
			_, _ = io.Copy(io.Discard, r)
			return
		}
		elapsed := time.Duration(ce.Timestamp.Secs)*time.Second + time.Duration(ce.Timestamp.Nanos)
		h.publish(Event{Time: start.Add(elapsed), Elapsed: elapsed, Source: ce.Source, Name: ce.Event, Properties: ce.Properties})
	}
}

// limitedEvents fails a read once one event has taken more than
// maxEventSize bytes (n counts since the last event).
type limitedEvents struct {
	r io.Reader
	n int
}

func (l *limitedEvents) Read(p []byte) (int, error) {
	if l.n > maxEventSize {
		return 0, fmt.Errorf("an event of more than %d bytes", maxEventSize)
	}
	n, err := l.r.Read(p)
	l.n += n
	return n, err
}

// eventHub hands a VMM's events to whoever waits for them: the channel of
// Process.Events and the waiters of WaitEvent. It remembers whether CH
// reported its orderly shutdown.
type eventHub struct {
	log *slog.Logger

	mu       sync.Mutex
	ch       chan Event // Process.Events
	closed   bool
	waiters  map[*eventWaiter]struct{}
	shutdown bool // a "vmm shutdown" event was seen
}

type eventWaiter struct {
	match func(Event) bool
	found chan Event // buffered 1
}

func (h *eventHub) publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e.isVMMShutdown() {
		h.shutdown = true
	}
	for w := range h.waiters {
		if w.match(e) {
			w.found <- e
			delete(h.waiters, w)
		}
	}
	{
		select {
		case h.ch <- e:
		default:
			h.log.Debug("cloud-hypervisor event dropped: Process.Events is full", "event", e.String())
		}
	}
}

// newEventHub returns the hub of a VMM that logs to log.
func newEventHub(log *slog.Logger) *eventHub {
	return &eventHub{log: log, ch: make(chan Event, eventBuffer)}
}

// events returns the channel of Process.Events.
func (h *eventHub) events() <-chan Event { return h.ch }

// wait registers a waiter for the first event match accepts.
func (h *eventHub) wait(match func(Event) bool) (*eventWaiter, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false
	}
	w := &eventWaiter{match: match, found: make(chan Event, 1)}
	if h.waiters == nil {
		h.waiters = map[*eventWaiter]struct{}{}
	}
	h.waiters[w] = struct{}{}
	return w, true
}

func (h *eventHub) cancel(w *eventWaiter) {
	h.mu.Lock()
	delete(h.waiters, w)
	h.mu.Unlock()
}

// close ends the stream: the VMM has exited.
func (h *eventHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	close(h.ch)
	h.waiters = nil
}

func (h *eventHub) sawShutdown() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.shutdown
}
