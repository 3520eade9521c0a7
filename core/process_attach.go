package core

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Attach takes back a VMM that runs on its own, typically one started with
// WithDetached before this program restarted. It checks that process pid is
// alive and that the VMM answering on socketPath is that process (its ping
// reports pid), and returns a Process for it. Only ProcessOptions about the
// supervision apply (WithLogger, WithStopTimeout).
//
// The VMM is not a child of this program: Wait learns of its end through a
// pidfd, not its exit status (Wait returns nil, ExitCode -1), and Events is
// closed. An unregistered version is not an error (Client is then nil).
func Attach(ctx context.Context, pid int, socketPath string, options ...ProcessOption) (*Process, error) {
	cfg := defaultProcessConfig()
	for _, o := range options {
		o(&cfg)
	}
	if err := checkSocketPath(socketPath); err != nil {
		return nil, err
	}
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil, fmt.Errorf("attaching to cloud-hypervisor pid %d: %w", pid, ErrNotRunning)
		}
		return nil, fmt.Errorf("attaching to cloud-hypervisor pid %d: pidfd_open: %w", pid, err)
	}
	// Non-blocking, so the runtime poller waits on it (readable once the
	// process has exited) without holding a thread.
	pidfd := os.NewFile(uintptr(fd), fmt.Sprintf("pidfd:%d", pid))
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultConnectTimeout)
		defer cancel()
	}
	hc := NewHTTPClient(socketPath)
	fail := func(err error) (*Process, error) {
		hc.CloseIdleConnections()
		pidfd.Close()
		return nil, fmt.Errorf("attaching to cloud-hypervisor pid %d at %s: %w", pid, socketPath, err)
	}
	info, err := Ping(ctx, hc)
	if err != nil {
		return fail(err)
	}
	if info.PID != pid {
		return fail(fmt.Errorf("the socket is served by pid %d, not %d", info.PID, pid))
	}
	version, _ := pingVersion(info)
	rel, err := releaseOf(info)
	if err != nil {
		cfg.logger.Warn("attached cloud-hypervisor of an unregistered version: no typed client", "pid", pid, "err", err)
		rel = nil
	}
	sock, _ := statSocket(socketPath)
	p := &Process{
		pid:           pid,
		socketPath:    socketPath,
		socket:        sock,
		version:       version,
		release:       rel,
		detached:      true,
		started:       time.Now(),
		http:          hc,
		log:           cfg.logger,
		stopTimeout:   cfg.stopTimeout,
		features:      info.Features,
		exitRequested: new(atomic.Bool),
		pidfd:         pidfd,
		pidfdNum:      fd,
		done:          make(chan struct{}),
		events:        closedEvents(),
	}
	if p.client, err = newClient(rel, hc); err != nil {
		return fail(err)
	}
	go p.watchPidfd()
	cfg.logger.Info("attached to cloud-hypervisor", "pid", pid, "version", version, "socket", socketPath)
	return p, nil
}

// watchPidfd waits, in the runtime poller, until the attached process has
// exited, then cleans up and closes done.
func (p *Process) watchPidfd() {
	defer close(p.done)
	defer p.cleanup()
	defer func() {
		p.mu.Lock()
		p.pidfd.Close()
		p.pidfd = nil
		p.mu.Unlock()
	}()
	rc, err := p.pidfd.SyscallConn()
	if err == nil {
		err = rc.Read(func(fd uintptr) bool { return pidExited(int(fd)) })
	}
	if err != nil {
		// Not pollable after all (unexpected): block a thread instead.
		p.log.Debug("pidfd not pollable; waiting in poll(2)", "pid", p.pid, "err", err)
		for !pidExited(p.pidfdNum) {
			fds := []unix.PollFd{{Fd: int32(p.pidfdNum), Events: unix.POLLIN}}
			_, _ = unix.Poll(fds, -1)
		}
	}
	p.log.Info("attached cloud-hypervisor exited", "pid", p.pid)
}

// pidExited reports whether the process of pidfd has exited, without
// waiting.
func pidExited(pidfd int) bool {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents != 0
}
