package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Errors of starting and supervising a VMM process.
var (
	// ErrExitedEarly: the VMM exited before its API answered. The
	// [*StartError] carries its exit status and the end of its output.
	ErrExitedEarly = errors.New("Cloud Hypervisor exited before its API was ready")
	// ErrNotReady: the VMM's API did not answer a ping in time (see
	// WithStartTimeout), or answered it wrongly; the VMM was killed.
	ErrNotReady = errors.New("Cloud Hypervisor API did not become ready")
	// ErrNotRunning: Attach found no process with that pid.
	ErrNotRunning = errors.New("no such Cloud Hypervisor process")
)

// exitGrace bounds how long StartProcess waits for the exit status of a VMM
// whose API socket closed during start.
const exitGrace = 2 * time.Second

// A StartError is a VMM that failed to start: it exited early
// (Reason ErrExitedEarly) or its API never answered (Reason ErrNotReady).
// errors.Is matches Reason and Err.
type StartError struct {
	// Reason is ErrExitedEarly or ErrNotReady.
	Reason error
	// ExitCode is the VMM's exit status, or -1 when a signal ended it.
	ExitCode int
	// Output is the end (at most 4 KiB) of what the VMM wrote to its
	// standard output and error; empty when it went to a caller's *os.File.
	Output string
	// Err is the underlying failure: the exit (*exec.ExitError) or the
	// failed ping.
	Err error
}

// Error says what happened and quotes the VMM's last output.
func (e *StartError) Error() string {
	var b strings.Builder
	b.WriteString("starting cloud-hypervisor: ")
	b.WriteString(e.Reason.Error())
	if e.Err != nil {
		fmt.Fprintf(&b, " (%v)", e.Err)
	}
	if out := strings.TrimSpace(e.Output); out != "" {
		fmt.Fprintf(&b, "; its output ends with:\n%s", out)
	}
	return b.String()
}

// Unwrap returns Reason and Err.
func (e *StartError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Err}
}

// A Process is a running Cloud Hypervisor VMM: one started by
// [StartProcess] or taken back by [Attach]. Its methods are safe for
// concurrent use.
type Process struct {
	pid         int
	socketPath  string
	socket      socketID
	version     string
	release     *Release
	binary      string
	logPath     string
	detached    bool
	started     time.Time
	http        *http.Client
	client      any
	events      <-chan Event
	log         *slog.Logger
	stopTimeout time.Duration
	features    []string // the build's features, from the first vmm.ping
	// exitRequested: this program asked the VMM to exit (see ExitRequested).
	exitRequested *atomic.Bool

	cmd      *exec.Cmd      // nil when attached
	mu       sync.Mutex     // guards pidfd
	pidfd    *os.File       // attached: the process, for waiting; nil once exited
	pidfdNum int            // its descriptor, for signals
	output   *processOutput // nil when attached

	done    chan struct{} // closed once the process has exited and is reaped
	waitErr error         // set before done closes
	state   *os.ProcessState
}

// PID returns the VMM's process id.
func (p *Process) PID() int { return p.pid }

// SocketPath returns the path of the VMM's API socket.
func (p *Process) SocketPath() string { return p.socketPath }

// Version returns the CH version the VMM runs ("v48.0").
func (p *Process) Version() string { return p.version }

// Release returns the registered release of the VMM's version, or nil when
// that version is not registered (a binary given with WithBinary or
// CHVMM_BINARY may be of any version).
func (p *Process) Release() *Release { return p.release }

// Binary returns the path of the binary the VMM runs ("" when attached).
func (p *Process) Binary() string { return p.binary }

// LogPath returns the file the VMM's output goes to, or "" when it goes to a
// writer given with WithOutput or the process was attached.
func (p *Process) LogPath() string { return p.logPath }

// Detached reports whether the VMM outlives this program (WithDetached, or
// attached).
func (p *Process) Detached() bool { return p.detached }

// HTTPClient returns the client of the VMM's API socket (see NewHTTPClient).
func (p *Process) HTTPClient() *http.Client { return p.http }

// Client returns the typed client of the VMM's release, such as
// *v48.ClientWithResponses, or nil when its version is not registered. Use
// [ClientAs] to get it as its type.
func (p *Process) Client() any { return p.client }

// Ping asks the VMM for its version and pid (GET /vmm.ping).
func (p *Process) Ping(ctx context.Context) (PingInfo, error) { return Ping(ctx, p.http) }

// Events returns the VMM's events (see WithEvents). The channel closes when
// the VMM exits. Without WithEvents, and for an attached process, it is
// closed at once.
func (p *Process) Events() <-chan Event { return p.events }

// Done returns a channel that is closed when the VMM has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitRequested reports whether this program asked the VMM to exit: with
// Stop, Kill, ShutdownVMM through [Process.Hypervisor], or by ending the
// context given to StartProcess (when not detached). A VMM that exits while
// ExitRequested is false ended by itself, and supervisors should treat its
// VM as lost: CH exits with status 0 when a vCPU fails, so a nil from Wait
// does not tell a clean shutdown from a crash.
func (p *Process) ExitRequested() bool { return p.exitRequested.Load() }

// Wait waits for the VMM to exit and returns nil when it exited with status
// 0, or the *exec.ExitError that says how it ended. For an attached process,
// which is not a child of this program, the exit status cannot be known:
// Wait returns nil once it has ended.
func (p *Process) Wait() error {
	<-p.done
	return p.waitErr
}

// ExitCode returns the VMM's exit status: -1 while it runs, when a signal
// ended it, or when it was attached.
func (p *Process) ExitCode() int {
	select {
	case <-p.done:
		if p.state != nil {
			return p.state.ExitCode()
		}
	default:
	}
	return -1
}

// ProcessState returns how the VMM ended: nil while it runs and for an
// attached process.
func (p *Process) ProcessState() *os.ProcessState {
	select {
	case <-p.done:
		return p.state
	default:
		return nil
	}
}

// Kill sends SIGKILL to the VMM and returns without waiting (see Wait). It
// is not an error if the VMM has already exited.
func (p *Process) Kill() error { return p.signal(syscall.SIGKILL) }

// Stop ends the VMM and waits until it has exited: it asks for a graceful
// vmm.shutdown, then sends SIGTERM, then SIGKILL, waiting up to the stop
// timeout (WithStopTimeout, default 5 s) after each of the first two. When
// ctx ends, Stop stops waiting: it sends SIGTERM and then SIGKILL at once. It returns nil once the VMM is gone
// (also when it was already); Wait then gives its exit status.
func (p *Process) Stop(ctx context.Context) error {
	if p.exited() {
		return nil
	}
	p.exitRequested.Store(true)
	sctx, cancel := context.WithTimeout(ctx, p.stopTimeout)
	err := ShutdownVMM(sctx, p.http)
	if err == nil && p.waitExit(sctx, p.stopTimeout) {
		cancel()
		return nil
	}
	cancel()
	if err != nil {
		p.log.Warn("cloud-hypervisor graceful shutdown failed; sending SIGTERM", "pid", p.pid, "err", err)
	} else {
		p.log.Warn("cloud-hypervisor did not exit after vmm.shutdown; sending SIGTERM", "pid", p.pid)
	}
	if err := p.signal(syscall.SIGTERM); err != nil {
		return err
	}
	if p.waitExit(ctx, p.stopTimeout) {
		return nil
	}
	p.log.Warn("cloud-hypervisor did not exit after SIGTERM; sending SIGKILL", "pid", p.pid)
	if err := p.signal(syscall.SIGKILL); err != nil {
		return err
	}
	if p.waitExit(context.Background(), p.stopTimeout) {
		return nil
	}
	return fmt.Errorf("cloud-hypervisor pid %d did not exit %v after SIGKILL (stuck in the kernel?)", p.pid, p.stopTimeout)
}

// waitExit waits up to d (and until ctx ends) for the process to exit.
func (p *Process) waitExit(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	return p.exited()
}

func (p *Process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the VMM; a process that has already exited is not an
// error.
func (p *Process) signal(sig syscall.Signal) error {
	if p.exited() {
		return nil
	}
	p.exitRequested.Store(true)
	var err error
	if p.cmd != nil {
		err = p.cmd.Process.Signal(sig)
	} else {
		p.mu.Lock()
		if p.pidfd != nil {
			err = unix.PidfdSendSignal(p.pidfdNum, sig, nil, 0)
		}
		p.mu.Unlock()
	}
	if err == nil || errors.Is(err, os.ErrProcessDone) || errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return fmt.Errorf("signal %v to cloud-hypervisor pid %d: %w", sig, p.pid, err)
}

// reap owns the child's Wait: it records how the process ended, cleans up
// and closes done.
func (p *Process) reap() {
	err := p.cmd.Wait()
	p.waitErr = err
	p.state = p.cmd.ProcessState
	p.cleanup()
	p.log.Info("cloud-hypervisor exited", "pid", p.pid, "status", p.state.String())
	close(p.done)
}

// cleanup releases what the process held once it has exited: its socket
// file (if it is still the one made for it) and idle connections.
func (p *Process) cleanup() {
	if p.socket != (socketID{}) {
		removeSocket(p.socketPath, p.socket)
	}
	p.http.CloseIdleConnections()
}

// closedEvents is the Events channel of a process without event monitor.
func closedEvents() <-chan Event {
	ch := make(chan Event)
	close(ch)
	return ch
}
