package chsim

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// eventMonitor writes events as CH's event_monitor does: each event a
// pretty-printed JSON object followed by a blank line, with the time since
// the VMM started.
type eventMonitor struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

// Event is one event-monitor record, in CH's JSON shape.
type Event struct {
	Timestamp  EventTimestamp    `json:"timestamp"`
	Source     string            `json:"source"`
	Event      string            `json:"event"`
	Properties map[string]string `json:"properties"`
}

// EventTimestamp is a Rust Duration as serde serialises it.
type EventTimestamp struct {
	Secs  uint64 `json:"secs"`
	Nanos uint32 `json:"nanos"`
}

func newEventMonitor(w io.Writer, start time.Time) *eventMonitor {
	return &eventMonitor{w: w, start: start}
}

func (m *eventMonitor) emit(source, event string, props map[string]string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.w == nil {
		return
	}
	d := time.Since(m.start)
	e := Event{Timestamp: EventTimestamp{Secs: uint64(d / time.Second), Nanos: uint32(d % time.Second)}, Source: source, Event: event, Properties: props}
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return
	}
	_, _ = m.w.Write(append(b, '\n', '\n'))
}

// close stops writing (the writer belongs to the caller).
func (m *eventMonitor) close() {
	m.mu.Lock()
	m.w = nil
	m.mu.Unlock()
}
