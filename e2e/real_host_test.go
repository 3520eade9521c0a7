package e2e

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/chvmm/chvmm/core"
)

// What the real-CH suite needs from the host besides KVM and the binaries:
// TAP devices, a look at CH's threads and descriptors in /proc, and CH's
// event monitor.

// tunDevice is the TUN/TAP clone device.
const tunDevice = "/dev/net/tun"

// tapGone bounds how long the kernel may take to remove a TAP device once
// its last descriptor is closed.
const tapGone = 2 * time.Second

// tapUnavailable says why this host cannot give the suite TAP devices, or
// "" when it can: creating one needs root (CAP_NET_ADMIN) and /dev/net/tun.
func tapUnavailable() string {
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Sprintf("creating TAP devices requires root (running as uid %d)", uid)
	}
	f, err := os.OpenFile(tunDevice, os.O_RDWR, 0)
	if err != nil {
		return fmt.Sprintf("cannot open %s: %v", tunDevice, err)
	}
	f.Close()
	return ""
}

// tapWatch remembers the TAP devices a test created and, when the test
// ends, checks that the kernel removed every one.
type tapWatch struct {
	mu   sync.Mutex
	taps []tapDevice
}

// tapDevice is one TAP device: the kernel recycles the name of a removed
// device (another release's subtest running beside may get it at once), so
// the device is known by its name and its interface index together.
type tapDevice struct {
	name    string
	ifindex string
}

// exists reports whether the device is still there: a device of that name
// with another index is a new one.
func (d tapDevice) exists() (bool, error) {
	data, err := os.ReadFile(filepath.Join("/sys/class/net", d.name, "ifindex"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(string(data)) == d.ifindex, nil
}

// watchTAPs returns a tapWatch whose check runs when t ends, after every
// cleanup registered later (those that stop the VMMs holding the TAPs).
func watchTAPs(t *testing.T) *tapWatch {
	w := &tapWatch{}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, d := range w.taps {
			deadline := time.Now().Add(tapGone)
			for {
				there, err := d.exists()
				if err != nil {
					t.Errorf("TAP device %s: %v", d.name, err)
					break
				}
				if !there {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("TAP device %s (ifindex %s) still exists after the test closed its descriptor and stopped every VMM: expected the kernel to remove it; a process still holds it", d.name, d.ifindex)
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	return w
}

// newTAP creates a TAP device that lives while a descriptor of it is open:
// the kernel names it chvmmN. It has the flags CH sets on the TAPs it is
// given (IFF_TAP, IFF_NO_PI, IFF_VNET_HDR). The test's descriptor is closed
// when t ends; CH's, when its VMM exits; w checks that the device is gone.
func newTAP(t *testing.T, w *tapWatch) (*os.File, string) {
	t.Helper()
	fd, err := unix.Open(tunDevice, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	require.NoError(t, err, "open %s for a TAP device", tunDevice)
	ifr, err := unix.NewIfreq("chvmm%d")
	require.NoError(t, err)
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		t.Fatalf("TUNSETIFF on %s: expected a new TAP device, got %v", tunDevice, err)
	}
	name := ifr.Name()
	f := os.NewFile(uintptr(fd), "tap "+name)
	index, err := os.ReadFile(filepath.Join("/sys/class/net", name, "ifindex"))
	if err != nil {
		f.Close()
		t.Fatalf("the new TAP device %s: %v", name, err)
	}
	w.mu.Lock()
	w.taps = append(w.taps, tapDevice{name: name, ifindex: strings.TrimSpace(string(index))})
	w.mu.Unlock()
	t.Cleanup(func() { f.Close() })
	return f, name
}

// tapsHeldBy lists the TAP devices process pid has descriptors of (the
// "iff:" line of a TUN/TAP descriptor's /proc fdinfo), one entry per
// descriptor.
func tapsHeldBy(pid int) []string {
	infos, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "fdinfo", "*"))
	var names []string
	for _, f := range infos {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(data)) {
			if name, ok := strings.CutPrefix(line, "iff:"); ok {
				names = append(names, strings.TrimSpace(name))
			}
		}
	}
	return names
}

// threadsOf lists the names of process pid's threads (CH names its vCPU
// threads vcpu0, vcpu1, …).
func threadsOf(pid int) []string {
	comms, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "comm"))
	var names []string
	for _, f := range comms {
		if data, err := os.ReadFile(f); err == nil {
			names = append(names, strings.TrimSpace(string(data)))
		}
	}
	slices.Sort(names)
	return names
}

// eventLog keeps the events of a VMM (Process.Events).
type eventLog struct {
	mu     sync.Mutex
	events []core.Event
	notify chan struct{} // closed at each new event, then replaced
	closed bool
}

// watchEvents reads p's events until the VMM exits (the channel closes).
func watchEvents(p *core.Process) *eventLog {
	l := &eventLog{notify: make(chan struct{})}
	go func() {
		for e := range p.Events() {
			l.mu.Lock()
			l.events = append(l.events, e)
			close(l.notify)
			l.notify = make(chan struct{})
			l.mu.Unlock()
		}
		l.mu.Lock()
		l.closed = true
		close(l.notify)
		l.mu.Unlock()
	}()
	return l
}

// mark is the index of the next event.
func (l *eventLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

// since lists the events from index i on, as "source name".
func (l *eventLog) since(i int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events[min(i, len(l.events)):] {
		out = append(out, e.Source+" "+e.Name)
	}
	return out
}

// wait waits until an event source/name arrives at index ≥ i, up to
// timeout; it reports whether one did.
func (l *eventLog) wait(ctx context.Context, i int, source, name string, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		for _, e := range l.events[min(i, len(l.events)):] {
			if e.Source == source && e.Name == name {
				l.mu.Unlock()
				return true
			}
		}
		notify, closed := l.notify, l.closed
		l.mu.Unlock()
		if closed {
			return false
		}
		select {
		case <-notify:
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// TestRealTAPNameRecycled checks the suite's TAP bookkeeping against what
// the kernel does: a removed TAP device's name goes to the next new one, so
// a device is gone when its name is gone or names another device. (Judged
// by name alone, a release's check waited for a TAP another release's
// subtest running beside it had just been given.)
func TestRealTAPNameRecycled(t *testing.T) {
	if why := tapUnavailable(); why != "" {
		t.Skip(why)
	}
	w := &tapWatch{}
	first, name := newTAP(t, w)
	old := w.taps[0]
	there, err := old.exists()
	require.NoError(t, err)
	require.True(t, there, "TAP %s while its descriptor is open", name)
	require.NoError(t, first.Close())
	deadline := time.Now().Add(tapGone)
	for there && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		there, err = old.exists()
		require.NoError(t, err)
	}
	require.False(t, there, "TAP %s after its only descriptor was closed", name)
	_, again := newTAP(t, w)
	if again != name {
		t.Skipf("the kernel named the next TAP %s, not %s (another TAP appeared between): nothing to check", again, name)
	}
	there, err = old.exists()
	require.NoError(t, err)
	assert.False(t, there, "the removed TAP %s (ifindex %s) once a new device has its name (ifindex %s)", name, old.ifindex, w.taps[1].ifindex)
	there, err = w.taps[1].exists()
	require.NoError(t, err)
	assert.True(t, there, "the new TAP %s", again)
}
