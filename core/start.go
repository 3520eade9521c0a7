package core

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// exitGrace bounds how long StartProcess waits for the exit status of a VMM
// whose API socket closed during start.
const exitGrace = 2 * time.Second

// StartProcess starts a VMM of release rel serving its API on socketPath,
// and returns once the API answers a ping. ctx bounds the start only: the
// VMM then runs until [Process.Stop], [Process.Kill], its own exit, or the
// end of a lifetime given with [WithLifetime].
//
// The release's embedded binary is extracted under dataDir if needed
// ([Release.BinaryPath]); [WithBinary] runs another file. Either way the
// VMM runs exactly the file that was verified (through its descriptor),
// whatever its path names by then.
//
// Before anything starts, StartProcess checks /dev/kvm (ErrKVMUnavailable;
// skip with [WithoutKVMCheck]) and the socket path: one over 107 bytes is
// ErrSocketPathTooLong, one a process listens on is ErrSocketInUse (also
// for all but one of several concurrent starts on one path), and a stale
// socket file is removed. The socket's directory must exist (StartProcess
// creates no directory above the socket; a missing one is an error matching
// fs.ErrNotExist); it, and the log directory and files, must be root's or
// this user's ([ErrUntrustedPath]). The
// library binds the socket itself, made 0600 (fchmod) before it is bound,
// so no other user can connect to it at any moment, and hands it to CH as
// --api-socket fd=3, so readiness is a single ping that completes as soon
// as CH serves it, with no polling. A VMM that exits before that is
// reported at once as a [*StartError] (ErrExitedEarly) with its exit status and the end of its
// output; one that does not answer within the start timeout
// (WithStartTimeout, default 5 s) is killed (ErrNotReady).
//
// The VMM gets an empty environment (add variables with [WithEnv]). Its
// standard output and error are appended to {socket dir}/logs/{socket
// name}.log (mode 0600, its directory 0700) unless [WithOutput] or
// [WithOutputPath] say otherwise. CH's event monitor is always on: see
// [Process.Events]. Unless [WithDetached] is given, the VMM dies with this
// program. In every case the process is reaped by the returned Process
// (see Wait), and the socket file is removed when the VMM exits.
func StartProcess(ctx context.Context, rel *Release, dataDir, socketPath string, options ...StartOption) (*Process, error) {
	cfg := defaultStartConfig()
	for _, o := range options {
		o.applyStart(&cfg)
	}
	if err := cfg.err; err != nil {
		return nil, fmt.Errorf("starting cloud-hypervisor: %w", err)
	}
	if rel == nil {
		return nil, fmt.Errorf("starting cloud-hypervisor: release is nil: %w; pass a registered release (core.Lookup, or v53.Release)", ErrBadConfig)
	}
	if err := checkSocketPath(socketPath); err != nil {
		return nil, err
	}
	if !cfg.trustAnyPath {
		if err := checkSocketDir(socketPath); err != nil {
			return nil, fmt.Errorf("starting cloud-hypervisor: %w", err)
		}
	}
	if !cfg.skipKVMCheck {
		if err := CheckKVM(); err != nil {
			return nil, err
		}
	}
	bin, err := openBinary(ctx, &cfg, rel, dataDir)
	if err != nil {
		return nil, err
	}
	defer bin.Close()
	if testHookBinaryVerified != nil {
		testHookBinaryVerified(bin.Name())
	}
	// One start at a time per socket path, in this process and across
	// processes: the others find the winner's live socket.
	unlock, err := lockSocketPath(ctx, socketPath)
	if err != nil {
		return nil, err
	}
	p, err := launch(&cfg, rel, bin, socketPath)
	unlock()
	if err != nil {
		return nil, err
	}
	if err := p.waitReady(ctx, cfg.startTimeout); err != nil {
		return nil, err
	}
	if cfg.lifetime != nil {
		stop := context.AfterFunc(cfg.lifetime, func() { _ = p.Kill() })
		go func() { <-p.done; stop() }()
	}
	p.log.Info("cloud-hypervisor ready", "pid", p.PID(), "version", rel.tag, "socket", socketPath, "binary", bin.Name())
	for _, a := range rel.Advisories() {
		p.log.Warn("cloud-hypervisor release has a known "+string(a.Kind)+" problem", "version", rel.tag, "advisory", a.ID, "fixed_in", a.FixedIn, "summary", a.Summary)
	}
	return p, nil
}

// testHookBinaryVerified, when set by a test, runs between the check of
// the binary and its execution, with the path that was checked.
var testHookBinaryVerified func(path string)

// openBinary opens the binary to run, checked: the release's embedded one,
// extracted and verified, or the one of WithBinary, whose version must be
// the release's.
func openBinary(ctx context.Context, cfg *startConfig, rel *Release, dataDir string) (*os.File, error) {
	if cfg.binary == "" {
		f, err := rel.openBinary(ctx, dataDir, !cfg.trustAnyPath)
		if err != nil {
			return nil, fmt.Errorf("starting cloud-hypervisor %s: %w", rel.tag, err)
		}
		return f, nil
	}
	if !cfg.trustAnyPath {
		if err := checkTrusted(cfg.binary); err != nil {
			return nil, fmt.Errorf("starting cloud-hypervisor: %w", err)
		}
	}
	f, err := os.Open(cfg.binary)
	if err != nil {
		return nil, fmt.Errorf("starting cloud-hypervisor: %w", err)
	}
	v, err := binaryVersions.get(ctx, f)
	if err == nil && v.Version != rel.tag {
		err = fmt.Errorf("%w: %s is %s, not CH %s", ErrVersionMismatch, cfg.binary, v.Raw, rel.tag)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("starting cloud-hypervisor: %w", err)
	}
	return f, nil
}

// startLocks serialises this process's starts on one socket path.
var startLocks pathLocks

// lockSocketPath takes the start lock of socketPath: this process's, then
// the lock file .{name}.chvmm-lock beside the socket (0600, never through a
// symlink) that other processes take too. It clears a stale socket and
// refuses a live one (ErrSocketInUse) while holding the lock.
func lockSocketPath(ctx context.Context, socketPath string) (unlock func(), err error) {
	local, err := startLocks.lock(ctx, socketPath)
	if err != nil {
		return nil, fmt.Errorf("starting cloud-hypervisor on %s: %w", socketPath, err)
	}
	fail := func(err error) (func(), error) { local(); return nil, err }
	dir, name := filepath.Split(socketPath)
	lockPath := filepath.Join(dir, "."+name+".chvmm-lock")
	fd, err := unix.Open(lockPath, unix.O_RDONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o600)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return fail(fmt.Errorf("%w: %s is a symlink; remove it", ErrUnsafePath, lockPath))
		}
		if errors.Is(err, unix.ENOENT) {
			return fail(fmt.Errorf("starting cloud-hypervisor: the socket's directory %s does not exist; create it (owned by this user, not writable by others): %w", filepath.Dir(socketPath), &os.PathError{Op: "open", Path: lockPath, Err: err}))
		}
		return fail(fmt.Errorf("starting cloud-hypervisor: lock file: %w", &os.PathError{Op: "open", Path: lockPath, Err: err}))
	}
	if err := flockContext(ctx, fd, lockPath); err != nil {
		unix.Close(fd)
		return fail(fmt.Errorf("starting cloud-hypervisor: %w", err))
	}
	if err := clearStaleSocket(socketPath); err != nil {
		unix.Close(fd)
		return fail(err)
	}
	return func() { unix.Close(fd); local() }, nil
}

// launch binds the socket, starts the binary and returns the Process, not
// yet ready.
func launch(cfg *startConfig, rel *Release, bin *os.File, socketPath string) (*Process, error) {
	out, err := openOutput(cfg, socketPath)
	if err != nil {
		return nil, fmt.Errorf("starting cloud-hypervisor: %w", err)
	}
	defer out.closeParentCopy()
	listener, sock, err := listenAPISocket(socketPath)
	if err != nil {
		return nil, err
	}
	defer listener.Close()
	fail := func(err error) (*Process, error) {
		removeSocket(socketPath, sock)
		return nil, err
	}
	// Events: through a pipe, read until CH exits, or, for a VMM that
	// outlives this program, into a file beside its log.
	var evRead, evWrite *os.File
	eventsPath := ""
	if cfg.detached {
		if out.logPath == "" {
			return fail(fmt.Errorf("starting cloud-hypervisor: a detached VMM writes its output to a file: %w", ErrBadConfig))
		}
		eventsPath = eventsPathFor(out.logPath)
		if evWrite, err = openPrivateFile(eventsPath, !cfg.trustAnyPath); err != nil {
			return fail(fmt.Errorf("starting cloud-hypervisor: events file: %w", err))
		}
	} else if evRead, evWrite, err = os.Pipe(); err != nil {
		return fail(fmt.Errorf("starting cloud-hypervisor: event pipe: %w", err))
	}
	defer evWrite.Close()
	evOffset := int64(0)
	if cfg.detached {
		if fi, err := evWrite.Stat(); err == nil {
			evOffset = fi.Size()
		}
	}
	extra := []*os.File{listener, evWrite, bin} // fds 3, 4, 5
	cmd := &exec.Cmd{
		Path: "/proc/self/fd/" + strconv.Itoa(3+len(extra)-1),
		// argv[0] is the binary's own name, as if run by path (a multi-call
		// binary may dispatch on it).
		Args:        append([]string{filepath.Base(bin.Name()), "--api-socket", "fd=3", "--event-monitor", "fd=4"}, cfg.args...),
		Env:         append([]string{}, cfg.env...), // never nil: nil inherits ours
		Stdout:      out.writer,
		Stderr:      out.writer,
		ExtraFiles:  extra,
		WaitDelay:   time.Second,
		SysProcAttr: sysProcAttr(cfg),
	}
	if err := spawn(cmd); err != nil {
		if evRead != nil {
			evRead.Close()
		}
		return fail(fmt.Errorf("starting cloud-hypervisor %s (%s): %w", rel.tag, bin.Name(), err))
	}
	started := time.Now()
	logPath := out.logPath
	p := &Process{
		handle: Handle{PID: cmd.Process.Pid, Socket: socketPath, Version: rel.tag, LogPath: logPath, LogOffset: out.offset,
			EventsPath: eventsPath, Started: started, StartTicks: procStartTicks(cmd.Process.Pid)},
		release:     rel,
		socket:      sock,
		detached:    cfg.detached,
		log:         cfg.logger,
		stopTimeout: cfg.stopTimeout,
		cmd:         cmd,
		output:      out,
		done:        make(chan struct{}),
	}
	p.events = newEventHub(cfg.logger)
	p.h = newVMMClient(rel, socketPath, cfg.logger)
	shutdownRequests.Store(socketPath, &p.exitFlags)
	supervisedChildren.Store(p.PID(), struct{}{})
	if evRead != nil {
		go p.superviseChild(func() { readEvents(evRead, started, p.events, p.log); evRead.Close() })
	} else {
		go p.superviseChild(p.tailEvents(eventsPath, evOffset, started))
	}
	return p, nil
}

// sysProcAttr is how the VMM process is set up: as the credential says;
// detached in its own session, else in its own process group (a terminal's
// Ctrl-C reaches only this program) and killed when this program dies.
func sysProcAttr(cfg *startConfig) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{}
	if cfg.detached {
		attr.Setsid = true
	} else {
		attr.Setpgid = true
		attr.Pdeathsig = syscall.SIGKILL
	}
	if c := cfg.credential; c != nil {
		attr.Credential = &syscall.Credential{Uid: c.uid, Gid: c.gid, Groups: c.groups}
	}
	return attr
}

// spawnRequests go to the spawner, one OS thread locked for the life of
// the program that forks every VMM: Pdeathsig fires when the thread that
// forked the child exits (golang.org/issue/27505), so that thread must be
// one that never exits.
var spawnRequests = sync.OnceValue(func() chan spawnRequest {
	ch := make(chan spawnRequest)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread lives as long as the program
		for r := range ch {
			r.done <- startRetryingTextBusy(r.cmd)
		}
	}()
	return ch
})

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// spawn starts cmd on the spawner thread.
func spawn(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	spawnRequests() <- spawnRequest{cmd: cmd, done: done}
	return <-done
}

// startRetryingTextBusy starts cmd, retrying briefly while the binary is
// still open for writing in a child another goroutine forked but has not
// exec'd yet (golang.org/issue/22315), as may happen just after extraction.
func startRetryingTextBusy(cmd *exec.Cmd) error {
	var err error
	for i := 1; i <= 50; i++ {
		if err = cmd.Start(); !errors.Is(err, syscall.ETXTBSY) {
			return err
		}
		cmd.Process, cmd.ProcessState = nil, nil
		time.Sleep(time.Duration(i) * time.Millisecond)
	}
	return err
}

// superviseChild owns the child: it runs readEvents until the event stream
// ends (CH exited, or a detached VMM's file reader stopped), reaps the
// process and records how it ended.
func (p *Process) superviseChild(readEvents func()) {
	if p.detached {
		// The events file does not end: read it until the process is
		// reaped, then once more.
		readDone := make(chan struct{})
		go func() { readEvents(); close(readDone) }()
		err := p.cmd.Wait()
		supervisedChildren.Delete(p.PID())
		p.stopTail()
		<-readDone
		p.finish(p.cmd.ProcessState, waitDetail(err))
		return
	}
	readEvents()
	err := p.cmd.Wait()
	supervisedChildren.Delete(p.PID())
	p.finish(p.cmd.ProcessState, waitDetail(err))
}

// waitDetail keeps what cmd.Wait said beyond the exit status.
func waitDetail(err error) string {
	var ee *exec.ExitError
	if err == nil || errors.As(err, &ee) {
		return ""
	}
	return err.Error()
}

// waitReady returns once the VMM answers a ping, on a connection of its
// own that it then closes (an idle VMM holds no connection of this
// program). On failure it kills the VMM, waits until it is reaped, and
// returns why.
func (p *Process) waitReady(ctx context.Context, timeout time.Duration) error {
	readyCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pinged := make(chan error, 1)
	go func() {
		info, err := readyPing(readyCtx, p.handle.Socket)
		if err == nil {
			p.h.noteBuild(info)
			if v, nerr := pingVersion(info); nerr == nil && v != p.release.tag {
				p.log.Warn("cloud-hypervisor reports another version than its binary", "binary_version", p.release.tag, "api_version", v)
			}
		}
		pinged <- err
	}()
	var err error
	select {
	case err = <-pinged:
		if err == nil {
			return nil
		}
	case <-p.done:
		cancel()
		err = <-pinged
	}
	// The ping failed, or the VMM exited. Why?
	switch {
	case ctx.Err() != nil:
		p.kill()
		return fmt.Errorf("starting cloud-hypervisor: %w", ctx.Err())
	case p.exited():
		return p.startError(ErrExitedEarly, p.exit)
	case readyCtx.Err() != nil:
		p.kill()
		return p.startError(ErrNotReady, fmt.Errorf("no answer to vmm.ping within %v", timeout))
	case connectionDropped(err):
		// The socket closed under the ping: CH is exiting; get its status.
		t := time.NewTimer(exitGrace)
		defer t.Stop()
		select {
		case <-p.done:
			return p.startError(ErrExitedEarly, p.exit)
		case <-t.C:
		}
	}
	p.kill()
	return p.startError(ErrNotReady, err)
}

// readyPingRequest is the readiness ping as it goes on the wire.
const readyPingRequest = "GET /api/v1/vmm.ping HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nConnection: close\r\n\r\n"

// readyPing is the readiness ping: GET /vmm.ping on a connection of its
// own, closed after the answer, its errors those of the API transport (a
// non-2xx answer is an *APIError; a connection that drops matches
// ErrVMMUnreachable and the cause, EOF or ECONNRESET, which waitReady
// takes for an exiting VMM).
//
// It writes the request and reads the answer on the calling goroutine,
// not through an http.Transport: a transport dials, writes and reads on
// goroutines of its own and hands the answer back, a few goroutine
// switches that cost tens of microseconds on a busy machine on the path
// of every start (BenchmarkStartSteps/ready-ping-up). The socket is
// already listening (StartProcess bound it), so the connect succeeds at
// once and the request waits in the socket until CH accepts it.
func readyPing(ctx context.Context, socket string) (PingInfo, error) {
	const op = "GET /vmm.ping"
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return PingInfo{}, fmt.Errorf("%s: connect to Cloud Hypervisor API socket %s (is the VMM running?): %w: %w", op, socket, ErrVMMUnreachable, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if _, err := io.WriteString(conn, readyPingRequest); err != nil {
		return PingInfo{}, connError(ctx, fmt.Errorf("%s: sending the request: %w", op, err))
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return PingInfo{}, connError(ctx, fmt.Errorf("%s: reading the answer: %w", op, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody+1))
		if err != nil {
			return PingInfo{}, connError(ctx, fmt.Errorf("%s: HTTP %d, reading the error body: %w", op, resp.StatusCode, err))
		}
		truncated := len(body) > maxErrorBody
		if truncated {
			body = body[:maxErrorBody]
		}
		return PingInfo{}, newAPIError(op, resp.StatusCode, body, truncated)
	}
	info, err := decodePing(resp.Body)
	if err != nil {
		return PingInfo{}, connError(ctx, err)
	}
	return info, nil
}

// kill ends a process that failed to start, waits until it is reaped (its
// socket is then removed) and its output is complete.
func (p *Process) kill() {
	_ = p.signal(syscall.SIGKILL)
	<-p.done
}

// startError describes a failed start; the process has exited. cause is
// the failed ping, or the Exit.
func (p *Process) startError(reason error, cause any) *StartError {
	code := -1
	if st := p.exit.State; st != nil {
		code = st.ExitCode()
	}
	var err error
	switch c := cause.(type) {
	case error:
		err = c
	case Exit:
		if c.State != nil {
			err = &exec.ExitError{ProcessState: c.State}
		}
	}
	return &StartError{Reason: reason, ExitCode: code, Output: p.output.Tail(), Err: err}
}

// procStartTicks returns the start time of process pid, in clock ticks
// since boot (/proc/pid/stat field 22), which tells it from a later process
// that reuses its pid; 0 when unknown.
func procStartTicks(pid int) uint64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, starttime field 22.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(fields[19], 10, 64)
	return v
}
