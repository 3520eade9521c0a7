package core

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"

	goversion "github.com/hashicorp/go-version"
)

// StartProcess starts a Cloud Hypervisor VMM serving its API on socketPath
// and returns once the API answers a ping.
//
// version is an exact version ("v50.2") or a constraint (">= 49, < 52"),
// resolved with [Lookup]; the release's embedded binary is extracted under
// dataDir if needed ([GetBinaryPath]). [WithBinary] or the CHVMM_BINARY
// environment variable ([EnvBinary]) names a binary to run instead; its
// version (read with --version, once per file: the answer is remembered
// while the file keeps its inode, size and times) must then satisfy
// version, unless version is "" or "latest".
//
// Before anything starts, StartProcess checks /dev/kvm (ErrKVMUnavailable;
// skip with [WithoutKVMCheck]) and the socket path: one over 107 bytes is
// ErrSocketPathTooLong, one a process listens on is ErrSocketInUse, and a
// stale socket file is removed. The library binds the socket itself (mode
// 0600) and hands it to CH as --api-socket fd=3, so readiness is a single
// ping that completes as soon as CH serves it, with no polling. A VMM that
// exits before that is reported at once as a [*StartError] (ErrExitedEarly)
// with its exit status and the end of its output; one that does not answer
// within the start timeout (WithStartTimeout, default 5 s) is killed
// (ErrNotReady).
//
// The VMM gets an empty environment (add variables with [WithEnv]). Its
// standard output and error are appended to {socket dir}/logs/{socket name}.log ([DefaultLogPath])
// unless [WithOutput] or [WithOutputPath] say otherwise.
//
// Unless [WithDetached] is given, the VMM is bound to ctx, as with
// exec.CommandContext: when ctx ends, the VMM is killed. In every case the
// process is reaped by the returned Process (see Wait), and the socket file
// is removed when the VMM exits.
func StartProcess(ctx context.Context, dataDir, version, socketPath string, options ...ProcessOption) (*Process, error) {
	cfg := defaultProcessConfig()
	for _, o := range options {
		o(&cfg)
	}
	if cfg.events && cfg.eventMonitor != "" {
		return nil, errors.New("starting cloud-hypervisor: WithEvents and WithEventMonitor both set; CH takes one --event-monitor")
	}
	if err := checkSocketPath(socketPath); err != nil {
		return nil, err
	}
	if !cfg.skipKVMCheck {
		if err := CheckKVM(); err != nil {
			return nil, err
		}
	}
	if err := clearStaleSocket(socketPath); err != nil {
		return nil, err
	}
	binary, binVersion, release, err := resolveBinary(ctx, &cfg, dataDir, version)
	if err != nil {
		return nil, err
	}
	p, err := launch(ctx, &cfg, binary, socketPath)
	if err != nil {
		return nil, err
	}
	p.version, p.release = binVersion, release
	if err := p.waitReady(ctx, cfg.startTimeout); err != nil {
		return nil, err
	}
	if p.client, err = newClient(release, p.http); err != nil {
		p.kill()
		return nil, fmt.Errorf("starting cloud-hypervisor %s: %w", binVersion, err)
	}
	p.log.Info("cloud-hypervisor ready", "pid", p.pid, "version", p.version, "socket", socketPath, "binary", binary)
	return p, nil
}

// resolveBinary finds the binary to run, its version and its registered
// release (nil for an unregistered version of an explicit binary).
func resolveBinary(ctx context.Context, cfg *processConfig, dataDir, version string) (string, string, *Release, error) {
	binary := cfg.binary
	if binary == "" {
		binary = os.Getenv(EnvBinary)
	}
	if binary == "" {
		rel, err := Lookup(version)
		if err != nil {
			return "", "", nil, fmt.Errorf("starting cloud-hypervisor: %w", err)
		}
		path, err := rel.BinaryPathContext(ctx, dataDir, HostArch())
		if err != nil {
			return "", "", nil, fmt.Errorf("starting cloud-hypervisor %s: %w", rel.Version, err)
		}
		return path, rel.Version, rel, nil
	}
	bv, err := binaryVersions.get(ctx, binary)
	if err != nil {
		return "", "", nil, fmt.Errorf("starting cloud-hypervisor: %w", err)
	}
	if version != "" && version != "latest" {
		match, err := matcher(version)
		if err != nil {
			return "", "", nil, err
		}
		v, err := goversion.NewVersion(bv.Version)
		if err != nil || !match(v) {
			return "", "", nil, fmt.Errorf("%w: %s is %s, which does not satisfy %q", ErrVersionMismatch, binary, bv.Raw, version)
		}
	}
	rel, err := Lookup(bv.Version)
	if err != nil {
		cfg.logger.Warn("cloud-hypervisor binary of an unregistered version: no typed client", "binary", binary, "version", bv.Version, "err", err)
		rel = nil
	}
	return binary, bv.Version, rel, nil
}

// launch binds the socket, starts the binary and returns the Process, not
// yet ready.
func launch(ctx context.Context, cfg *processConfig, binary, socketPath string) (*Process, error) {
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
	extra := []*os.File{listener} // fd 3
	var evRead, evWrite *os.File
	eventFD := 0
	if cfg.events {
		if evRead, evWrite, err = os.Pipe(); err != nil {
			removeSocket(socketPath, sock)
			return nil, fmt.Errorf("starting cloud-hypervisor: event pipe: %w", err)
		}
		defer evWrite.Close()
		extra = append(extra, evWrite)
		eventFD = 3 + len(extra) - 1
	}
	args := cfg.chArgs(eventFD)
	exitRequested := new(atomic.Bool)
	newCmd := func() *exec.Cmd {
		var cmd *exec.Cmd
		if cfg.detached {
			cmd = exec.Command(binary, args...)
		} else {
			cmd = exec.CommandContext(ctx, binary, args...)
			cmd.Cancel = func() error {
				exitRequested.Store(true)
				return cmd.Process.Kill()
			}
		}
		cmd.Env = append([]string{}, cfg.env...) // never nil: nil inherits ours
		cmd.Stdout, cmd.Stderr = out.writer, out.writer
		cmd.ExtraFiles = extra
		cmd.WaitDelay = time.Second
		attr := &syscall.SysProcAttr{Setsid: cfg.detached}
		if c := cfg.credential; c != nil {
			attr.Credential = &syscall.Credential{Uid: c.uid, Gid: c.gid, Groups: c.groups}
		}
		cmd.SysProcAttr = attr
		return cmd
	}
	cmd, err := startRetryingTextBusy(newCmd)
	if err != nil {
		if evRead != nil {
			evRead.Close()
		}
		removeSocket(socketPath, sock)
		return nil, fmt.Errorf("starting cloud-hypervisor %s: %w", binary, err)
	}
	p := &Process{
		pid:           cmd.Process.Pid,
		socketPath:    socketPath,
		socket:        sock,
		binary:        binary,
		logPath:       out.logPath,
		detached:      cfg.detached,
		started:       time.Now(),
		http:          NewHTTPClient(socketPath),
		log:           cfg.logger,
		stopTimeout:   cfg.stopTimeout,
		exitRequested: exitRequested,
		cmd:           cmd,
		done:          make(chan struct{}),
		events:        closedEvents(),
		output:        out,
	}
	if evRead != nil {
		events := make(chan Event, eventBuffer)
		p.events = events
		go func() {
			defer evRead.Close()
			readEvents(evRead, p.started, events, p.log)
		}()
	}
	go p.reap()
	return p, nil
}

// startRetryingTextBusy starts a command, retrying briefly while the binary
// is still open for writing in a child another goroutine forked but has not
// exec'd yet (golang.org/issue/22315), as may happen just after extraction.
func startRetryingTextBusy(newCmd func() *exec.Cmd) (*exec.Cmd, error) {
	var err error
	for i := 1; i <= 50; i++ {
		cmd := newCmd()
		if err = cmd.Start(); err == nil {
			return cmd, nil
		}
		if !errors.Is(err, syscall.ETXTBSY) {
			return nil, err
		}
		time.Sleep(time.Duration(i) * time.Millisecond)
	}
	return nil, err
}

// waitReady returns once the VMM answers a ping. On failure it kills the VMM,
// waits until it is reaped, and returns why.
func (p *Process) waitReady(ctx context.Context, timeout time.Duration) error {
	readyCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pinged := make(chan error, 1)
	go func() {
		info, err := Ping(readyCtx, p.http)
		p.features = info.Features // read after pinged is received
		if err == nil && info.BuildVersion != "" {
			if v, nerr := NormalizeVersion(info.BuildVersion); nerr == nil && v != p.version && p.version != "" {
				p.log.Warn("cloud-hypervisor reports another version than its binary", "binary_version", p.version, "api_version", v)
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
		return p.startError(ErrExitedEarly, p.waitErr)
	case readyCtx.Err() != nil:
		p.kill()
		return p.startError(ErrNotReady, fmt.Errorf("no answer to vmm.ping within %v", timeout))
	case connectionDropped(err):
		// The socket closed under the ping: CH is exiting; get its status.
		t := time.NewTimer(exitGrace)
		defer t.Stop()
		select {
		case <-p.done:
			return p.startError(ErrExitedEarly, p.waitErr)
		case <-t.C:
		}
	}
	p.kill()
	return p.startError(ErrNotReady, err)
}

// kill ends a process that failed to start, waits until it is reaped (its
// socket is then removed) and its output is complete.
func (p *Process) kill() {
	_ = p.signal(syscall.SIGKILL)
	<-p.done
}

// startError describes a failed start; the process has exited.
func (p *Process) startError(reason, err error) *StartError {
	code := -1
	if p.state != nil {
		code = p.state.ExitCode()
	}
	return &StartError{Reason: reason, ExitCode: code, Output: p.output.Tail(), Err: err}
}
