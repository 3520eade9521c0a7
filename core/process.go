package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chvmm/chvmm/core/api"
	"golang.org/x/sys/unix"
)

// Errors of starting and supervising a VMM process.
var (
	// ErrExitedEarly: the VMM exited before its API was ready. The
	// [*StartError] carries its exit status and the end of its output.
	ErrExitedEarly = errors.New("Cloud Hypervisor exited before its API was ready")
	// ErrNotReady: the VMM's API did not answer a ping in time (see
	// WithStartTimeout), or answered it wrongly; the VMM was killed.
	ErrNotReady = errors.New("Cloud Hypervisor API did not become ready")
	// ErrNotRunning: Attach found no such process, or another process
	// than the Handle names.
	ErrNotRunning = errors.New("no such Cloud Hypervisor process")
)

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
// [StartProcess] or [RestoreProcess], or taken back by [Attach]. Its
// methods are safe for concurrent use.
type Process struct {
	handle      Handle
	release     *Release
	socket      socketID
	detached    bool
	h           *vmmClient
	log         *slog.Logger
	stopTimeout time.Duration
	events      *eventHub
	// requested: this program asked the VMM to exit (see ExitRequested);
	// migrated: it sent the VM away (vm.send-migration answered 2xx).
	exitFlags

	cmd      *exec.Cmd      // nil when attached
	pidfd    *os.File       // attached: the process, for signals; nil once exited
	pidfdNum int            // its descriptor (Fd would make it blocking)
	mu       sync.Mutex     // guards pidfd
	output   *processOutput // nil when attached
	tail     *tailStop      // stops the reader of the events file

	done chan struct{} // closed once the process has exited and is reaped
	exit Exit          // set before done closes
}

// PID returns the VMM's process id.
func (p *Process) PID() int { return p.handle.PID }

// SocketPath returns the path of the VMM's API socket.
func (p *Process) SocketPath() string { return p.handle.Socket }

// Release returns the CH release the VMM runs.
func (p *Process) Release() *Release { return p.release }

// LogPath returns the file the VMM's output goes to, or "" when it goes to a
// writer given with WithOutput.
func (p *Process) LogPath() string { return p.handle.LogPath }

// Handle returns what [Attach] needs to take the VMM back, from this
// program after a restart or from another one.
func (p *Process) Handle() Handle { return p.handle }

// Hypervisor returns the version-neutral API of the VMM. Its Close closes
// idle connections only; the VMM keeps running.
func (p *Process) Hypervisor() Hypervisor { return p.h }

// Events returns the VMM's events, from CH's event monitor, which chvmm
// always turns on, from its start (for an attached VMM: from Attach). The
// channel holds 64 events; read it promptly, further ones are dropped. It
// closes when the VMM has exited.
func (p *Process) Events() <-chan Event { return p.events.events() }

// Done returns a channel that is closed when the VMM has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the VMM to exit and returns how and why it ended. A VMM
// whose Exit.Reason is not ExitRequested or ExitGuestShutdown ended by
// itself: treat its VM as lost.
func (p *Process) Wait() Exit {
	<-p.done
	return p.exit
}

// Kill sends SIGKILL to the VMM and returns without waiting (see Wait). It
// is not an error if the VMM has already exited.
func (p *Process) Kill() error { return p.signal(syscall.SIGKILL) }

// Stop ends the VMM and waits until it has exited: it asks for a graceful
// vmm.shutdown, then sends SIGTERM, then SIGKILL, waiting up to the stop
// timeout (WithStopTimeout, default 5 s) after each of the first two. When
// ctx ends, Stop stops waiting: it sends SIGTERM and then SIGKILL at once,
// and then waits up to the stop timeout for the kernel to end the process.
// It returns nil once the VMM is gone (also when it was already); Wait
// then tells how it ended.
func (p *Process) Stop(ctx context.Context) error {
	if p.exited() {
		return nil
	}
	p.requested.Store(true)
	sctx, cancel := context.WithTimeout(ctx, p.stopTimeout)
	err := p.h.ShutdownVMM(sctx)
	if err == nil && p.waitExit(sctx, p.stopTimeout) {
		cancel()
		return nil
	}
	cancel()
	if err != nil {
		p.log.Warn("cloud-hypervisor graceful shutdown failed; sending SIGTERM", "pid", p.PID(), "err", err)
	} else {
		p.log.Warn("cloud-hypervisor did not exit after vmm.shutdown; sending SIGTERM", "pid", p.PID())
	}
	if err := p.signal(syscall.SIGTERM); err != nil {
		return err
	}
	if p.waitExit(ctx, p.stopTimeout) {
		return nil
	}
	p.log.Warn("cloud-hypervisor did not exit after SIGTERM; sending SIGKILL", "pid", p.PID())
	if err := p.signal(syscall.SIGKILL); err != nil {
		return err
	}
	if p.waitExit(context.Background(), p.stopTimeout) {
		return nil
	}
	return fmt.Errorf("cloud-hypervisor pid %d did not exit %v after SIGKILL (stuck in the kernel?)", p.PID(), p.stopTimeout)
}

// ShutdownGuest asks the guest to power off, as a person pressing the
// power button would (ACPI), and waits up to grace for it to do so; a
// guest that powers off ends the VMM (ExitGuestShutdown). If it has not
// within grace (or it ignores the button, or ctx ends first), ShutdownGuest
// falls back to vm.shutdown (bounded by the stop timeout, also when ctx
// has ended): the VM is stopped, CH keeps its config, and the VMM stays.
// poweredOff reports which happened. A VMM that crashes or is killed
// meanwhile is an error matching ErrVMMUnreachable that says how it ended.
func (p *Process) ShutdownGuest(ctx context.Context, grace time.Duration) (poweredOff bool, err error) {
	if err := p.h.PowerButton(ctx); err != nil {
		return false, err
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return p.poweredOff()
	case <-t.C:
	case <-ctx.Done():
	}
	p.log.Info("the guest did not power off after the power button; shutting the VM down", "pid", p.PID(), "grace", grace)
	// The fallback runs even when ctx has ended, bounded by the stop
	// timeout.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.stopTimeout)
	defer cancel()
	err = p.h.ShutdownVM(sctx)
	if err != nil && p.exited() {
		return p.poweredOff() // it did, or crashed, just then
	}
	return false, err
}

// poweredOff is ShutdownGuest's answer once the VMM has exited: true if
// the guest powered off; a VMM that crashed or was killed meanwhile is an
// error that says so.
func (p *Process) poweredOff() (bool, error) {
	if exit := p.Wait(); exit.Reason != ExitGuestShutdown {
		return false, fmt.Errorf("shutting the guest down: %w", p.exitedError())
	}
	return true, nil
}

// WaitEvent waits for the first event of the VMM from now on that match
// accepts, and returns it. It fails when ctx ends or the VMM exits first.
func (p *Process) WaitEvent(ctx context.Context, match func(Event) bool) (Event, error) {
	w, ok := p.events.wait(match)
	if !ok {
		return Event{}, p.exitedError()
	}
	defer p.events.cancel(w)
	select {
	case e := <-w.found:
		return e, nil
	case <-p.done:
		select {
		case e := <-w.found:
			return e, nil
		default:
		}
		return Event{}, p.exitedError()
	case <-ctx.Done():
		return Event{}, fmt.Errorf("waiting for an event of cloud-hypervisor pid %d: %w", p.PID(), ctx.Err())
	}
}

// WaitState waits until the VM is in state want, as vm.info reports it,
// checking again at each of the VMM's events, and at least every
// second for the changes CH reports no event of (vm.create). It fails when
// ctx ends or the VMM exits first.
func (p *Process) WaitState(ctx context.Context, want api.VMState) error {
	for {
		// Listen before asking, so that no change slips between the two.
		w, ok := p.events.wait(func(Event) bool { return true })
		if !ok {
			return p.exitedError()
		}
		info, err := p.h.VMInfo(ctx)
		switch {
		case err == nil && info.State == want:
			p.events.cancel(w)
			return nil
		case err != nil && !errors.Is(err, ErrVMNotCreated):
			p.events.cancel(w)
			return err
		}
		t := time.NewTimer(stateRecheck)
		select {
		case <-w.found:
		case <-t.C:
			p.events.cancel(w)
		case <-p.done:
			t.Stop()
			p.events.cancel(w)
			return p.exitedError()
		case <-ctx.Done():
			t.Stop()
			p.events.cancel(w)
			return fmt.Errorf("waiting for the VM of cloud-hypervisor pid %d to be %s: %w", p.PID(), want, ctx.Err())
		}
		t.Stop()
	}
}

// stateRecheck is how often WaitState asks again without an event.
const stateRecheck = time.Second

// exitedError says that the VMM has exited, and how.
func (p *Process) exitedError() error {
	<-p.done
	return fmt.Errorf("cloud-hypervisor pid %d exited (%v): %w", p.PID(), p.exit, ErrVMMUnreachable)
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
// error. Any signal this program sends makes the exit a requested one.
func (p *Process) signal(sig syscall.Signal) error {
	if p.exited() {
		return nil
	}
	p.requested.Store(true)
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
	return fmt.Errorf("signal %v to cloud-hypervisor pid %d: %w", sig, p.PID(), err)
}

// finish records how the process ended (state is nil when unknown),
// cleans up and closes done.
func (p *Process) finish(state *os.ProcessState, detail string) {
	output := ""
	if p.output != nil {
		output = p.output.Tail()
	} else if p.handle.LogPath != "" {
		output = readLogTail(p.handle.LogPath, p.handle.LogOffset)
	}
	p.exit = classifyExit(state, p.requested.Load(), p.events.sawShutdown(), output)
	if p.exit.Reason != ExitRequested && p.migrated.Load() && state != nil && state.Success() {
		// CH ends the sender's VMM once its VM has moved.
		p.exit.Reason, p.exit.Detail = ExitRequested, "its VM moved to another VMM (vm.send-migration)"
	}
	if p.exit.Detail == "" {
		p.exit.Detail = detail
	}
	p.events.close()
	shutdownRequests.CompareAndDelete(p.handle.Socket, &p.exitFlags)
	if p.socket != (socketID{}) {
		removeSocket(p.handle.Socket, p.socket)
	}
	p.h.http.CloseIdleConnections()
	level := slog.LevelInfo
	if r := p.exit.Reason; r == ExitCrashed || r == ExitKilled {
		level = slog.LevelWarn
	}
	p.log.Log(context.Background(), level, "cloud-hypervisor exited", "pid", p.PID(), "exit", p.exit.String())
	close(p.done)
}

// exitFlags record what this program asked of a supervised VMM that ends
// it.
type exitFlags struct {
	requested atomic.Bool // an exit: Stop, Kill, vmm.shutdown, the lifetime's end
	migrated  atomic.Bool // its VM sent away: vm.send-migration succeeded
}

// shutdownRequests maps the socket path of each supervised VMM to its
// Process's exitFlags: a vmm.shutdown or vm.send-migration sent through
// chvmm's transport to that socket, by any Hypervisor or typed client,
// marks the exit that follows as requested. Entries go when their VMM
// exits (Process.finish, before Done closes): bounded by the VMMs this
// program supervises now.
var shutdownRequests sync.Map // socket path → *exitFlags

// markShutdownRequested is called by the transport before it sends
// vmm.shutdown to socket.
func markShutdownRequested(socket string) {
	if v, ok := shutdownRequests.Load(socket); ok {
		v.(*exitFlags).requested.Store(true)
	}
}

// markMigrated is called by the transport when vm.send-migration to socket
// succeeded. (From v53.0 CH answers before the migration ends; if it then
// fails, the VMM keeps running, and a later exit of its own still counts
// as requested: the one case chvmm cannot tell.)
func markMigrated(socket string) {
	if v, ok := shutdownRequests.Load(socket); ok {
		v.(*exitFlags).migrated.Store(true)
	}
}
