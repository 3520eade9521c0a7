package chsim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

// Main runs the simulator as the cloud-hypervisor binary of version would
// run with the command-line arguments args (without the program name), and
// returns its exit status: it understands --api-socket (<path>, path=<path>,
// fd=<n>), --version, -v (repeatable), --log-file, --event-monitor
// (path=<p>, fd=<n>) and --seccomp, accepts and ignores CH's VM options
// (--kernel, --cpus, …), reports other arguments as CH's parser does (exit
// status 2), and serves until vmm.shutdown, SIGTERM or SIGINT. cmd/chsim and
// chv's --simulate are thin wrappers around it.
func Main(version string, args []string, stdout, stderr io.Writer) int {
	a, err := parseArgs(args)
	if err != nil {
		fmt.Fprint(stderr, usageError(err))
		return 2
	}
	if a.version {
		fmt.Fprintf(stdout, "cloud-hypervisor %s\n", version)
		return 0
	}
	logOut := stderr
	if a.logFile != "" {
		f, err := os.Create(a.logFile)
		if err != nil {
			fmt.Fprintf(stderr, "Error creating log file %s: %v\n", a.logFile, err)
			return 1
		}
		defer f.Close()
		logOut = f
	}
	level := slog.LevelWarn
	switch {
	case a.verbosity == 1:
		level = slog.LevelInfo
	case a.verbosity >= 2:
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))
	if len(a.ignored) > 0 {
		logger.Info("options the simulator ignores", "args", a.ignored)
	}
	opts := []Option{WithLogger(logger)}
	if a.eventMonitor != "" {
		w, err := openEventMonitor(a.eventMonitor)
		if err != nil {
			fmt.Fprintf(stderr, "Error parsing --event-monitor: %v\n", err)
			return 1
		}
		defer w.Close()
		opts = append(opts, WithEventMonitor(w))
	}
	if a.seccomp != "" {
		logger.Info("seccomp is not modelled by the simulator", "seccomp", a.seccomp)
	}
	srv, err := serveCommand(version, a.apiSocket, opts)
	if err != nil {
		fmt.Fprintf(stderr, "Error starting the VMM: %v\n", err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	select {
	case s := <-sig:
		logger.Info("received signal, shutting down", "signal", s.String())
		srv.Close()
	case <-srv.Done():
	}
	return srv.ExitCode()
}

// serveCommand starts the API server of version on the --api-socket value.
func serveCommand(version, spec string, opts []Option) (*Server, error) {
	if spec == "" {
		spec = fmt.Sprintf("/run/user/%d/cloud-hypervisor.%d", os.Getuid(), os.Getpid())
	}
	if fdStr, ok := strings.CutPrefix(spec, "fd="); ok {
		fd, err := strconv.Atoi(fdStr)
		if err != nil || fd < 0 {
			return nil, fmt.Errorf("--api-socket fd=%s: not a file descriptor number", fdStr)
		}
		f := os.NewFile(uintptr(fd), "api-socket")
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("--api-socket fd=%d: %w", fd, err)
		}
		ul, ok := l.(*net.UnixListener)
		if !ok {
			l.Close()
			return nil, fmt.Errorf("--api-socket fd=%d is not a listening unix socket", fd)
		}
		srv, err := New(version, opts...)
		if err != nil {
			ul.Close()
			return nil, err
		}
		if err := srv.adopt(ul); err != nil {
			return nil, err
		}
		go func() { _ = srv.accept(ul) }()
		return srv, nil
	}
	path := strings.TrimPrefix(spec, "path=")
	return Start(context.Background(), version, path, opts...)
}

// openEventMonitor opens the --event-monitor destination.
func openEventMonitor(spec string) (*os.File, error) {
	if fdStr, ok := strings.CutPrefix(spec, "fd="); ok {
		fd, err := strconv.Atoi(fdStr)
		if err != nil || fd < 0 {
			return nil, fmt.Errorf("fd=%s: not a file descriptor number", fdStr)
		}
		return os.NewFile(uintptr(fd), "event-monitor"), nil
	}
	path, ok := strings.CutPrefix(spec, "path=")
	if !ok {
		return nil, fmt.Errorf("%q: want path=<path> or fd=<n>", spec)
	}
	return os.Create(path)
}
