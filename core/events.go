package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Sources of CH events (Event.Source).
const (
	EventSourceVMM          = "vmm"
	EventSourceVM           = "vm"
	EventSourceVirtioDevice = "virtio-device"
	EventSourceCPUManager   = "cpu_manager"
)

// Names of CH events (Event.Name). Most have source "vm"; "starting" and
// "shutdown" also come from "vmm" (the VMM process itself).
const (
	EventStarting     = "starting"
	EventBooting      = "booting"
	EventBooted       = "booted"
	EventPausing      = "pausing"
	EventPaused       = "paused"
	EventResuming     = "resuming"
	EventResumed      = "resumed"
	EventShutdown     = "shutdown"
	EventRebooting    = "rebooting"
	EventRebooted     = "rebooted"
	EventSnapshotting = "snapshotting"
	EventSnapshotted  = "snapshotted"
	EventRestoring    = "restoring"
	EventRestored     = "restored"
	EventDeleted      = "deleted"
	EventResizing     = "resizing"
	EventResized      = "resized"
	EventPanic        = "panic"
	EventActivated    = "activated" // virtio-device, property "id"
	EventReset        = "reset"     // virtio-device, property "id"
	EventCreateVCPU   = "create_vcpu"
)

// An Event is one entry of CH's event monitor (--event-monitor), such as
// {source "vm", name "booted"}.
type Event struct {
	// Time is when it happened: the VMM's start time, as seen by this
	// program, plus Elapsed. Approximate (milliseconds).
	Time time.Time
	// Elapsed is CH's own timestamp: the time since its event monitor
	// started, right after the VMM started.
	Elapsed time.Duration
	// Source is what emitted it: "vmm", "vm", "virtio-device", …
	Source string
	// Name is what happened: "booted", "paused", "shutdown", … (the Event*
	// constants).
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

// eventBuffer is how many events wait for a slow reader before further ones
// are dropped (CH's writes are non-blocking: a full pipe would cut its JSON).
const eventBuffer = 256

// readEvents decodes CH's event stream r into out until r ends, then closes
// out. start is when the VMM started. Events are dropped (and logged) when
// out is full; a malformed stream is logged and drained.
func readEvents(r io.Reader, start time.Time, out chan<- Event, log *slog.Logger) {
	defer close(out)
	dec := json.NewDecoder(r)
	for {
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
		ev := Event{
			Time:       start.Add(elapsed),
			Elapsed:    elapsed,
			Source:     ce.Source,
			Name:       ce.Event,
			Properties: ce.Properties,
		}
		select {
		case out <- ev:
		default:
			log.Warn("cloud-hypervisor event dropped: nobody reads Process.Events", "event", ev.String())
		}
	}
}
