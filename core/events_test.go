package core

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
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

// TestFileTailsShareOneInotifyInstance: the tails of events files (one per
// detached or attached VMM) share the program's one inotify instance, even
// on one file, each is woken by a write, and the instance and its goroutine
// go when the last tail closes.
func TestFileTailsShareOneInotifyInstance(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	dir := t.TempDir()
	paths := []string{filepath.Join(dir, "a.events"), filepath.Join(dir, "b.events")}
	for _, p := range paths {
		require.NoError(t, os.WriteFile(p, nil, 0o600))
	}
	// Three tails: two on a.events, one on b.events.
	var tails []*fileTail
	var stops []*tailStop
	for _, p := range []string{paths[0], paths[0], paths[1]} {
		s := &tailStop{stop: make(chan struct{})}
		tl, err := newFileTail(p, 0, s)
		require.NoError(t, err)
		tails, stops = append(tails, tl), append(stops, s)
	}
	fileWatcher.mu.Lock()
	require.NotNil(t, fileWatcher.f)
	assert.Len(t, fileWatcher.wakes, 2, "one watch per file")
	fileWatcher.mu.Unlock()

	got := make([]chan string, len(tails))
	for i, tl := range tails {
		got[i] = make(chan string, 4)
		go func() {
			buf := make([]byte, 64)
			for {
				n, err := tl.Read(buf)
				if err != nil {
					close(got[i])
					return
				}
				got[i] <- string(buf[:n])
			}
		}()
	}
	appendTo := func(path, s string) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		require.NoError(t, err)
		_, err = f.WriteString(s)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	// Reads block at the end until a write wakes them.
	appendTo(paths[0], "one")
	appendTo(paths[1], "two")
	for i, want := range []string{"one", "one", "two"} {
		select {
		case s := <-got[i]:
			assert.Equal(t, want, s, "tail %d", i)
		case <-time.After(10 * time.Second):
			t.Fatalf("tail %d was not woken by a write", i)
		}
	}
	// Stopping a tail ends its Read; closing it leaves the others watching.
	stops[0].now()
	_, open := <-got[0]
	assert.False(t, open)
	tails[0].close()
	appendTo(paths[0], "three")
	select {
	case s := <-got[1]:
		assert.Equal(t, "three", s)
	case <-time.After(10 * time.Second):
		t.Fatal("the other tail of a.events was not woken after the first closed")
	}
	for i := 1; i < len(tails); i++ {
		stops[i].now()
		for range got[i] {
		}
		tails[i].close()
	}
	fileWatcher.mu.Lock()
	assert.Nil(t, fileWatcher.f, "the instance is closed when nothing is watched")
	fileWatcher.mu.Unlock()
	// Polled here, not with assert.Eventually, whose checks run in
	// goroutines of their own.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), goroutines, "the watcher's goroutine ends with the instance")
}
