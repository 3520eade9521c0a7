// Command chsim is a drop-in for the cloud-hypervisor binary as chvmm starts
// it: it serves the simulated CH API (package chsim) of the version baked in
// at build time:
//
//	go build -ldflags "-X main.version=v50.2" -o cloud-hypervisor ./cmd/chsim
//
// It understands --api-socket (<path>, path=<path>, fd=<n>), --version, -v
// (repeatable), --log-file, --event-monitor (path=<p>, fd=<n>) and --seccomp;
// the VM options of CH (--kernel, --cpus, …) are accepted and ignored.
package main

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

	"github.com/chvmm/chvmm/chsim"
)

// version is the CH release the binary reports and simulates; set it with
// -ldflags "-X main.version=vNN.N". Empty means the newest modelled release.
var version string

func main() {
	if version == "" {
		version = chsim.Versions[len(chsim.Versions)-1]
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
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
	opts := []chsim.Option{chsim.WithLogger(logger)}
	if a.eventMonitor != "" {
		w, err := openEventMonitor(a.eventMonitor)
		if err != nil {
			fmt.Fprintf(stderr, "Error parsing --event-monitor: %v\n", err)
			return 1
		}
		defer w.Close()
		opts = append(opts, chsim.WithEventMonitor(w))
	}
	if a.seccomp != "" {
		logger.Info("seccomp is not modelled by the simulator", "seccomp", a.seccomp)
	}
	srv, err := serve(a.apiSocket, opts)
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
	return 0
}

// serve starts the API server on the --api-socket value.
func serve(spec string, opts []chsim.Option) (*chsim.Server, error) {
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
		srv, err := chsim.New(version, opts...)
		if err != nil {
			ul.Close()
			return nil, err
		}
		go func() { _ = srv.Serve(ul) }()
		return srv, nil
	}
	path := strings.TrimPrefix(spec, "path=")
	return chsim.Start(context.Background(), version, path, opts...)
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
