package chsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// A Server is one simulated CH VMM process: its API server and its VMM.
type Server struct {
	rel    release
	spec   *apiSpec
	shapes *shapes
	opts   options
	log    *slog.Logger
	start  time.Time
	pid    int

	vmmMu sync.Mutex // serialises API requests, as CH's single VMM thread does
	vmm   *vmm

	events *eventMonitor

	mu       sync.Mutex
	listener *net.UnixListener
	conns    map[*net.UnixConn]struct{}
	lock     *os.File
	closing  bool
	serving  bool

	wg          sync.WaitGroup
	done        chan struct{}
	closeOnce   sync.Once
	receivedFDs atomic.Int64
	exitCode    atomic.Int32
}

// New returns a server for CH version (see Versions; "50", "v50.2", "50.2.0"
// or a constraint core.Lookup accepts are resolved to a modelled release)
// that serves nothing until Serve is called.
func New(version string, opts ...Option) (*Server, error) {
	rel, err := resolveVersion(version)
	if err != nil {
		return nil, err
	}
	spec, err := loadSpec(rel.tag)
	if err != nil {
		return nil, err
	}
	s := &Server{rel: rel, spec: spec, shapes: shapesFor(rel), start: time.Now(), pid: os.Getpid(),
		conns: map[*net.UnixConn]struct{}{}, done: make(chan struct{})}
	for _, o := range opts {
		o(&s.opts)
	}
	if s.opts.buildVersion == "" {
		s.opts.buildVersion = rel.tag
	}
	s.log = s.opts.logger
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.events = newEventMonitor(s.opts.events, s.start)
	s.vmm = newVMM(s)
	return s, nil
}

// Start serves CH version on a new unix socket at socketPath until ctx ends,
// Close is called or a client sends vmm.shutdown. Like CH before v53 it fails
// if socketPath exists; like CH v53 it first takes "<socketPath>.lock" and
// then removes a stale socket.
func Start(ctx context.Context, version, socketPath string, opts ...Option) (*Server, error) {
	s, err := New(version, opts...)
	if err != nil {
		return nil, err
	}
	if s.rel.socketLock() {
		lock, err := acquireSocketLock(socketPath)
		if err != nil {
			return nil, err
		}
		s.lock = lock
		_ = os.Remove(socketPath)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: socketPath, Net: "unix"})
	if err != nil {
		s.releaseLock()
		return nil, fmt.Errorf("Error creating API server socket %s: %w", socketPath, err)
	}
	// Adopted before Start returns, so that a Close right after removes
	// the socket before it returns.
	if err := s.adopt(l); err != nil {
		s.releaseLock()
		return nil, err
	}
	go func() { _ = s.accept(l) }()
	if ctx.Done() != nil {
		go func() {
			select {
			case <-ctx.Done():
				s.Close()
			case <-s.done:
			}
		}()
	}
	return s, nil
}

// Serve accepts API connections on l until the server is closed. It returns
// nil after Close or vmm.shutdown, and an error if it could not serve.
func (s *Server) Serve(l *net.UnixListener) error {
	if err := s.adopt(l); err != nil {
		return err
	}
	return s.accept(l)
}

// adopt makes l the server's listener, which Close closes; it closes l and
// fails if the server is closed or already serving.
func (s *Server) adopt(l *net.UnixListener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || s.serving {
		l.Close()
		if s.serving {
			return errors.New("chsim: Serve called twice")
		}
		return net.ErrClosed
	}
	s.serving = true
	s.listener = l
	s.wg.Add(1)
	return nil
}

// accept serves the connections of the adopted listener l until Close.
func (s *Server) accept(l *net.UnixListener) error {
	defer s.wg.Done()
	s.events.emit("vmm", "starting", nil)
	s.log.Info("Cloud Hypervisor simulator serving", "version", s.rel.tag, "socket", l.Addr().String())
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return nil
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			go s.Close()
			return fmt.Errorf("chsim: accept: %w", err)
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serveConn(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Close stops the server: it closes the listener (removing the socket it
// created) and every connection, waits for them, and closes Done. It is
// safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		if s.listener != nil {
			s.listener.Close()
		}
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
		s.releaseLock()
		s.events.close()
		close(s.done)
	})
	return nil
}

func (s *Server) releaseLock() {
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}

// Done is closed when the server has ended (Close, its context, or
// vmm.shutdown).
func (s *Server) Done() <-chan struct{} { return s.done }

// ExitCode returns the exit status the VMM process ends with once Done is
// closed: 0, as CH exits after vmm.shutdown, a signal or the vCPU failure
// of a boot after a failed one, and 1 after the panic of its VMM thread
// that vm.send-migration without a VM causes before v53.0.
func (s *Server) ExitCode() int { return int(s.exitCode.Load()) }

// Version returns the CH release the server simulates ("v50.2").
func (s *Server) Version() string { return s.rel.tag }

// State returns the VM state as vm.info reports it ("Created", "Running",
// "Paused"), or "" when no VM is created.
func (s *Server) State() string {
	s.vmmMu.Lock()
	defer s.vmmMu.Unlock()
	return s.vmm.stateName()
}

// ReceivedFDs returns how many file descriptors clients passed with
// SCM_RIGHTS on API connections since the server started.
func (s *Server) ReceivedFDs() int { return int(s.receivedFDs.Load()) }

// shutdownSoon ends the server after the current response is written.
func (s *Server) shutdownSoon() { go s.Close() }

// violation reports a spec violation through the hook and the log.
func (s *Server) violation(v Violation) {
	s.log.Warn("spec violation", "kind", v.Kind.String(), "method", v.Method, "path", v.Path, "status", v.Status, "error", v.Err)
	if s.opts.onViolation != nil {
		s.opts.onViolation(v)
	}
}
