package core

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A Handle is what [Attach] needs to take back a VMM, from this program
// after a restart or from another: a small value to keep (it marshals to
// JSON) beside the VM's other records. [Process.Handle] returns it.
type Handle struct {
	// PID is the VMM's process id; 0 lets Attach find it: the one process
	// that holds the socket listening at Socket, as /proc tells.
	PID int `json:"pid,omitempty"`
	// Socket is the path of the VMM's API socket.
	Socket string `json:"socket"`
	// Version is the CH release the VMM runs ("v50.2"); "" accepts any
	// registered one.
	Version string `json:"version,omitempty"`
	// LogPath is the file its output goes to, if any.
	LogPath string `json:"log,omitempty"`
	// LogOffset is where the VMM's output begins in LogPath, which is
	// appended to by every VMM on the same socket: an attached VMM's exit
	// is judged from its own lines only.
	LogOffset int64 `json:"log_offset,omitempty"`
	// EventsPath is the file of CH's event monitor of a detached VMM.
	EventsPath string `json:"events,omitempty"`
	// Started is when it started.
	Started time.Time `json:"started,omitzero"`
	// StartTicks is the process's start time as the kernel counts it,
	// which tells it from a later process that reuses its pid; 0: unknown.
	StartTicks uint64 `json:"start_ticks,omitempty"`
}

// Attach takes back the VMM h names, typically one started with
// WithDetached before this program restarted. It checks that h.PID is the
// process that holds the socket listening at h.Socket, as the kernel tells
// (/proc), not as the server claims, and is still the process h recorded
// (its start time); that it runs h.Version; and returns a Process with the same
// abilities as StartProcess gives where it can: its events (from the file of
// a detached VMM), log path, exit record. A VMM that is this program's own
// child (after a re-exec) is reaped and its exit status reported; for
// another, Exit.State is nil.
func Attach(ctx context.Context, h Handle, options ...AttachOption) (*Process, error) {
	sv := defaultSupervision()
	for _, o := range options {
		o.applyAttach(&sv)
	}
	if err := checkSocketPath(h.Socket); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultConnectTimeout)
		defer cancel()
	}
	fail := func(err error) (*Process, error) {
		return nil, fmt.Errorf("attaching to cloud-hypervisor at %s: %w", h.Socket, err)
	}
	server, err := socketServer(h.Socket, h.PID)
	if err != nil {
		return fail(err)
	}
	h.PID = server
	fd, err := unix.PidfdOpen(h.PID, unix.PIDFD_NONBLOCK)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fail(fmt.Errorf("pid %d: %w", h.PID, ErrNotRunning))
		}
		return fail(fmt.Errorf("pidfd_open %d: %w", h.PID, err))
	}
	// Non-blocking, so the runtime poller waits on it (readable once the
	// process has exited) without holding a thread.
	pidfd := os.NewFile(uintptr(fd), "pidfd:"+strconv.Itoa(h.PID))
	if ticks := procStartTicks(h.PID); h.StartTicks != 0 && ticks != h.StartTicks {
		pidfd.Close()
		return fail(fmt.Errorf("%w: pid %d is another process than the one started at %v (its pid was reused)", ErrNotRunning, h.PID, h.Started))
	}
	c := newVMMClient(nil, h.Socket, sv.logger)
	info, err := ping(ctx, c.http)
	if err != nil {
		pidfd.Close()
		return fail(err)
	}
	rel, err := releaseOf(info)
	if err == nil && h.Version != "" && rel.tag != h.Version {
		err = fmt.Errorf("%w: the VMM runs CH %s, the handle says %s", ErrVersionMismatch, rel.tag, h.Version)
	}
	if err != nil {
		pidfd.Close()
		c.http.CloseIdleConnections()
		return fail(err)
	}
	c.rel = rel
	c.noteBuild(info)
	h.Version = rel.tag
	p := &Process{
		handle:      h,
		release:     rel,
		detached:    true,
		h:           c,
		log:         sv.logger,
		stopTimeout: sv.stopTimeout,
		pidfd:       pidfd,
		pidfdNum:    fd,
		done:        make(chan struct{}),
	}
	p.socket, _ = statSocket(h.Socket)
	p.events = newEventHub(sv.logger)
	shutdownRequests.Store(h.Socket, &p.exitFlags)
	readEvents := func() {}
	if h.EventsPath != "" {
		// Only events from now on: what happened before is history.
		readEvents = p.tailEvents(h.EventsPath, fileSize(h.EventsPath), time.Now())
	}
	_, supervised := supervisedChildren.Load(h.PID)
	go p.watchAttached(readEvents, isChild(h.PID) && !supervised)
	sv.logger.Info("attached to cloud-hypervisor", "pid", h.PID, "version", rel.tag, "socket", h.Socket)
	return p, nil
}

// supervisedChildren holds the pids of the children a Process of this
// program reaps; an Attach to one of them leaves the reaping to it. A pid
// goes once its child is reaped: bounded by the VMMs this program
// supervises now.
var supervisedChildren sync.Map // pid → struct{}

// isChild reports whether process pid is a child of this program.
func isChild(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(data)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ')' {
			var state string
			var ppid int
			if _, err := fmt.Sscan(s[i+1:], &state, &ppid); err != nil {
				return false
			}
			return ppid == os.Getpid()
		}
	}
	return false
}

// watchAttached waits until the attached process has exited, reading its
// events meanwhile; a child of this program is reaped.
func (p *Process) watchAttached(readEvents func(), child bool) {
	readDone := make(chan struct{})
	go func() { readEvents(); close(readDone) }()
	var state *os.ProcessState
	detail := ""
	if child {
		// Our own child (we re-exec'd): reap it, with its status.
		if proc, err := os.FindProcess(p.PID()); err == nil {
			if state, err = proc.Wait(); err != nil {
				detail = err.Error()
			}
		}
	} else {
		rc, err := p.pidfd.SyscallConn()
		if err == nil {
			err = rc.Read(func(fd uintptr) bool { return pidExited(int(fd)) })
		}
		if err != nil {
			p.log.Debug("pidfd not pollable; waiting in poll(2)", "pid", p.PID(), "err", err)
			for !pidExited(p.pidfdNum) {
				fds := []unix.PollFd{{Fd: int32(p.pidfdNum), Events: unix.POLLIN}}
				_, _ = unix.Poll(fds, -1)
			}
		}
	}
	p.mu.Lock()
	p.pidfd.Close()
	p.pidfd = nil
	p.mu.Unlock()
	p.stopTail()
	<-readDone
	p.finish(state, detail)
}

// pidExited reports whether the process of pidfd has exited, without
// waiting.
func pidExited(pidfd int) bool {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents != 0
}

func fileSize(path string) int64 {
	var st unix.Stat_t
	if unix.Lstat(path, &st) != nil {
		return 0
	}
	return st.Size
}

// tailEvents returns the reader of the events file at path, from offset,
// for superviseChild or watchAttached; stopTail ends it.
func (p *Process) tailEvents(path string, offset int64, start time.Time) func() {
	p.tail = &tailStop{stop: make(chan struct{})}
	stop := p.tail
	return func() {
		t, err := newFileTail(path, offset, stop)
		if err != nil {
			p.log.Warn("cloud-hypervisor events file unreadable; no events", "path", path, "err", err)
			return
		}
		defer t.close()
		readEvents(t, start, p.events, p.log)
	}
}

// stopTail makes the events file reader read what is left and stop.
func (p *Process) stopTail() {
	if p.tail != nil {
		p.tail.now()
	}
}

// A tailStop ends a fileTail: closing stop wakes a Read that waits for
// more, so the tail needs no goroutine of its own to watch it.
type tailStop struct {
	stop chan struct{}
	once sync.Once
}

// now stops the tail.
func (s *tailStop) now() { s.once.Do(func() { close(s.stop) }) }

// fileTail reads a file that CH appends to, waiting for more at its end
// (woken by the program's inotify watcher), until stopped; then it reads
// what is left and ends.
type fileTail struct {
	f       *os.File
	wake    chan struct{}
	unwatch func()
	stop    <-chan struct{}
}

func newFileTail(path string, offset int64, stop *tailStop) (*fileTail, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrUnsafePath, path)
	}
	t := &fileTail{f: os.NewFile(uintptr(fd), path), wake: make(chan struct{}, 1), stop: stop.stop}
	// The watch comes before the first read, so no write goes unnoticed.
	if t.unwatch, err = fileWatcher.watch(path, t.wake); err != nil {
		t.f.Close()
		return nil, err
	}
	if _, err := t.f.Seek(offset, io.SeekStart); err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

// Read reads what is there; at the end it waits for CH to write more, or
// for stop.
func (t *fileTail) Read(p []byte) (int, error) {
	for {
		n, err := t.f.Read(p)
		if n > 0 || (err != nil && !errors.Is(err, io.EOF)) {
			return n, err
		}
		select {
		case <-t.wake:
		case <-t.stop:
			// Read what is left, then end.
			if n, _ := t.f.Read(p); n > 0 {
				return n, nil
			}
			return 0, io.EOF
		}
	}
}

func (t *fileTail) close() {
	t.unwatch()
	t.f.Close()
}

// fileWatcher is the one inotify instance of this program, shared by the
// tails of every detached or attached VMM's events file: a user's inotify
// instances are few (fs.inotify.max_user_instances, 128 by default, shared
// with all the user's programs), its watches many. It holds one descriptor
// and one goroutine while anything is watched, none otherwise.
var fileWatcher inotifyWatcher

type inotifyWatcher struct {
	mu    sync.Mutex
	f     *os.File                             // nil while nothing is watched
	fd    int                                  // f's descriptor
	wakes map[int32]map[chan struct{}]struct{} // watch descriptor → the tails to wake
}

// watch wakes wake (buffered) whenever the file at path is written to,
// until the returned func is called.
func (w *inotifyWatcher) watch(path string, wake chan struct{}) (func(), error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
		if err != nil {
			return nil, fmt.Errorf("inotify: %w", err)
		}
		w.f, w.fd, w.wakes = os.NewFile(uintptr(fd), "inotify"), fd, map[int32]map[chan struct{}]struct{}{}
		go w.dispatch(w.f)
	}
	wd, err := unix.InotifyAddWatch(w.fd, path, unix.IN_MODIFY)
	if err != nil {
		w.closeIfIdle()
		return nil, fmt.Errorf("inotify %s: %w", path, err)
	}
	id := int32(wd)
	if w.wakes[id] == nil {
		w.wakes[id] = map[chan struct{}]struct{}{}
	}
	w.wakes[id][wake] = struct{}{}
	f := w.f
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.f != f { // cannot happen while wake is registered; be safe
				return
			}
			delete(w.wakes[id], wake)
			if len(w.wakes[id]) == 0 {
				delete(w.wakes, id)
				unix.InotifyRmWatch(w.fd, uint32(id))
			}
			w.closeIfIdle()
		})
	}, nil
}

// closeIfIdle closes the instance when nothing is watched; its dispatch
// goroutine then ends. w.mu is held.
func (w *inotifyWatcher) closeIfIdle() {
	if len(w.wakes) == 0 && w.f != nil {
		w.f.Close()
		w.f, w.wakes = nil, nil
	}
}

// dispatch reads the instance's events and wakes the tails of their
// files, until the instance is closed.
func (w *inotifyWatcher) dispatch(f *os.File) {
	var buf [64 * (unix.SizeofInotifyEvent + unix.NAME_MAX + 1)]byte
	for {
		n, err := f.Read(buf[:])
		if err != nil {
			return
		}
		w.mu.Lock()
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			wd := int32(binary.NativeEndian.Uint32(buf[off:]))
			for wake := range w.wakes[wd] {
				select {
				case wake <- struct{}{}:
				default: // already woken
				}
			}
			off += unix.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(buf[off+12:]))
		}
		w.mu.Unlock()
	}
}
