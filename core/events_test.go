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

func TestReadEventsDecodesCHStream(t *testing.T) {
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	ch := make(chan Event, eventBuffer)
	readEvents(strings.NewReader(chEventStream), start, ch, slog.New(slog.DiscardHandler))
	evs := collect(ch)
	require.Len(t, evs, 2)
	assert.Equal(t, Event{Time: start.Add(15 * time.Millisecond), Elapsed: 15 * time.Millisecond,
		Source: EventSourceVMM, Name: EventStarting}, evs[0])
	assert.Equal(t, Event{Time: start.Add(2*time.Second + 500), Elapsed: 2*time.Second + 500,
		Source: EventSourceVirtioDevice, Name: EventActivated, Properties: map[string]string{"id": "_net1"}}, evs[1])
}

func TestReadEventsStopsOnGarbageAndDrains(t *testing.T) {
	r, w := io.Pipe()
	ch := make(chan Event, eventBuffer)
	done := make(chan struct{})
	go func() {
		readEvents(r, time.Now(), ch, slog.New(slog.DiscardHandler))
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
	ch := make(chan Event, 1)
	readEvents(strings.NewReader(chEventStream), time.Now(), ch, slog.New(slog.DiscardHandler))
	evs := collect(ch)
	require.Len(t, evs, 1, "the second event found the channel full")
	assert.Equal(t, EventStarting, evs[0].Name)
}
