package core

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chEventStream is what CH's event monitor writes: serde_json's
// to_string_pretty of each event, each followed by a blank line.
const chEventStream = `{
  "timestamp": {
    "secs": 0,
    "nanos": 15000000
  },
  "source": "vmm",
  "event": "starting",
  "properties": null
}

{
  "timestamp": {
    "secs": 2,
    "nanos": 500
  },
  "source": "virtio-device",
  "event": "activated",
  "properties": {
    "id": "_net1"
  }
}

`

func collect(ch <-chan Event) []Event {
	var evs []Event
	for ev := range ch {
		evs = append(evs, ev)
	}
	return evs
}

// hubOf returns a hub whose Events channel holds n, and that channel.
func hubOf(n int) (*eventHub, <-chan Event) {
	h := &eventHub{log: slog.New(slog.DiscardHandler), ch: make(chan Event, n)}
	return h, h.ch
}

func TestReadEventsDecodesCHStream(t *testing.T) {
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	h, ch := hubOf(eventBuffer)
	readEvents(strings.NewReader(chEventStream), start, h, h.log)
	h.close()
	evs := collect(ch)
	require.Len(t, evs, 2)
	assert.Equal(t, Event{Time: start.Add(15 * time.Millisecond), Elapsed: 15 * time.Millisecond,
		Source: EventSourceVMM, Name: "starting"}, evs[0])
	assert.Equal(t, Event{Time: start.Add(2*time.Second + 500), Elapsed: 2*time.Second + 500,
		Source: EventSourceDevice, Name: EventActivated, Properties: map[string]string{"id": "_net1"}}, evs[1])
}

func TestReadEventsStopsOnGarbageAndDrains(t *testing.T) {
	r, w := io.Pipe()
	h, ch := hubOf(eventBuffer)
	done := make(chan struct{})
	go func() {
		readEvents(r, time.Now(), h, h.log)
		h.close()
		close(done)
	}()
	_, err := io.WriteString(w, chEventStream+"not json\n")
	require.NoError(t, err)
	// The reader keeps draining, so the writer (CH) never blocks.
	_, err = w.Write(make([]byte, 1<<20))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	<-done
	assert.Len(t, collect(ch), 2, "the events before the garbage")
}

func TestReadEventsDropsWhenNobodyReads(t *testing.T) {
	h, ch := hubOf(1)
	readEvents(strings.NewReader(chEventStream), time.Now(), h, h.log)
	h.close()
	evs := collect(ch)
	require.Len(t, evs, 1, "the second event found the channel full")
	assert.Equal(t, "starting", evs[0].Name)
}

// TestReadEventsIsBounded: an event larger than 64 KiB (a hostile VMM, or a
// corrupt stream) ends the reading instead of growing the supervisor.
func TestReadEventsIsBounded(t *testing.T) {
	h, ch := hubOf(4)
	huge := `{"timestamp":{"secs":0,"nanos":0},"source":"vm","event":"` + strings.Repeat("x", 8<<20) + `"}`
	readEvents(strings.NewReader(chEventStream+huge), time.Now(), h, h.log)
	h.close()
	assert.Len(t, collect(ch), 2, "the events before the huge one")
}
