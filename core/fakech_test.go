package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as a tiny fake cloud-hypervisor: run with
// --version or --api-socket (never among go test's own flags), it acts as one
// instead of running the tests. Tests start it with WithBinary(testBinary(t)).
//
// It understands CH's --api-socket (fd=N, path=P or P), -v…, --log-file,
// --event-monitor (fd=N or path=P) and --seccomp, refuses any other flag as
// CH does (exit 2), and takes these test-only flags:
//
//	--fake-exit-now          print a message and exit 3 at once
//	--fake-delay D           sleep D before serving the API
//	--fake-pidfile P         write its pid to P first
//	--fake-ignore-shutdown   answer vmm.shutdown but keep running; ignore SIGTERM
//	--fake-hang-vm-shutdown  never answer vm.shutdown
//	--fake-print-env         print its environment, sorted, at start
//	--fake-button B          what vm.power-button does: "poweroff" (the guest
//	                         powers off: events vm deleted, vmm shutdown, exit
//	                         0), "vcpu-error" (CH's log line of a failed vCPU,
//	                         the same events, exit 0), "exit-now" (exit 0 without
//	                         events), else nothing
//
// It serves GET /api/v1/vmm.ping, PUT /api/v1/vmm.shutdown (exit 0),
// PUT /api/v1/vm.boot (events booting, booted, virtio-device activated),
// PUT /api/v1/vm.pause (event paused), PUT /api/v1/vm.create (no event, as
// CH), GET /api/v1/vm.info (state) and
// PUT /api/v1/vm.power-button.

// fakeCHVersion is what the fake says it is; registered by
// registerFakeRelease.
const fakeCHVersion = "v89.0"

func TestMain(m *testing.M) {
	if isFakeCH(os.Args[1:]) {
		// syscall.Exit, not os.Exit: under -race, os.Exit sleeps 1 s.
		syscall.Exit(runFakeCH(os.Args[1:]))
	}
	os.Exit(runTests(m))
}

// runTests runs the tests with their temporary directories (t.TempDir) in
// a directory only this user can change, below the user's cache
// directory: /tmp is world-writable, and core refuses to extract below it
// (ErrUntrustedPath).
func runTests(m *testing.M) int {
	base, err := os.UserCacheDir()
	if err == nil {
		err = os.MkdirAll(base, 0o700)
	}
	var dir string
	if err == nil {
		dir, err = os.MkdirTemp(base, "cc")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "core tests: no trusted temporary directory:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	os.Setenv("TMPDIR", dir)
	return m.Run()
}

func isFakeCH(args []string) bool {
	for _, a := range args {
		if a == "--version" || a == "--api-socket" {
			return true
		}
	}
	return false
}

// fakeVMM is the state of a running fake CH.
type fakeVMM struct {
	events *os.File
	start  time.Time
}

func runFakeCH(args []string) int {
	var (
		apiSocket, eventMonitor, pidfile string
		delay                            time.Duration
		exitNow, ignoreShutdown, env     bool
		hangVMShutdown                   bool
		button                           string
	)
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() string {
			if i+1 >= len(args) {
				fmt.Fprintf(os.Stderr, "error: a value is required for '%s' but none was supplied\n", a)
				os.Exit(2)
			}
			i++
			return args[i]
		}
		switch {
		case a == "--version":
			fmt.Println("cloud-hypervisor " + fakeCHVersion)
			return 0
		case a == "--api-socket":
			apiSocket = next()
		case a == "--event-monitor":
			eventMonitor = next()
		case a == "--log-file", a == "--seccomp":
			next()
		case strings.HasPrefix(a, "-v") && strings.Trim(a[1:], "v") == "":
		case a == "--fake-exit-now":
			exitNow = true
		case a == "--fake-delay":
			d, err := time.ParseDuration(next())
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			delay = d
		case a == "--fake-pidfile":
			pidfile = next()
		case a == "--fake-ignore-shutdown":
			ignoreShutdown = true
		case a == "--fake-hang-vm-shutdown":
			hangVMShutdown = true
		case a == "--fake-print-env":
			env = true
		case a == "--fake-button":
			button = next()
		default:
			fmt.Fprintf(os.Stderr, "error: unexpected argument '%s' found\n\nUsage: cloud-hypervisor [OPTIONS]\n", a)
			return 2
		}
	}
	fmt.Println("fake cloud-hypervisor starting")
	if pidfile != "" {
		_ = os.WriteFile(pidfile, []byte(strconv.Itoa(os.Getpid())), 0o644)
	}
	if env {
		vars := os.Environ()
		sort.Strings(vars)
		fmt.Println("env: " + strings.Join(vars, " "))
	}
	if exitNow {
		fmt.Fprintln(os.Stderr, "fake cloud-hypervisor: exiting at once as asked")
		return 3
	}
	if ignoreShutdown {
		signal.Ignore(syscall.SIGTERM)
	}
	f := &fakeVMM{start: time.Now()}
	if eventMonitor != "" {
		if f.events = openSpec(eventMonitor); f.events == nil {
			return 1
		}
	}
	f.event("vmm", "starting", nil)
	l, err := listenSpec(apiSocket)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake cloud-hypervisor: --api-socket:", err)
		return 1
	}
	time.Sleep(delay)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/vmm.ping", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(PingInfo{BuildVersion: fakeCHVersion, Version: "89.0.0", PID: os.Getpid(), Features: []string{"kvm"}})
	})
	var state atomic.Value
	state.Store("Created")
	mux.HandleFunc("PUT /api/v1/vm.boot", func(w http.ResponseWriter, _ *http.Request) {
		f.event("vm", "booting", nil)
		f.event("virtio-device", "activated", map[string]string{"id": "_disk0"})
		state.Store("Running")
		f.event("vm", "booted", nil)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT /api/v1/vm.pause", func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(20 * time.Millisecond) // CH takes a moment
		state.Store("Paused")
		f.event("vm", "paused", nil)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT /api/v1/vm.shutdown", func(w http.ResponseWriter, _ *http.Request) {
		if hangVMShutdown {
			select {} // CH's API thread is stuck
		}
		state.Store("Created")
		f.event("vm", "shutdown", nil)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT /api/v1/vm.create", func(w http.ResponseWriter, _ *http.Request) {
		state.Store("Created") // as CH: no event
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /api/v1/vm.info", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintf(w, `{"config":{"payload":{}},"state":%q}`, state.Load())
	})
	mux.HandleFunc("PUT /api/v1/vm.send-migration", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		w.(http.Flusher).Flush()
		go func() { time.Sleep(30 * time.Millisecond); syscall.Exit(0) }() // the VM moved: CH ends the sender
	})
	mux.HandleFunc("PUT /api/v1/vm.power-button", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		w.(http.Flusher).Flush()
		go func() {
			time.Sleep(30 * time.Millisecond) // the guest takes a moment
			switch button {
			case "vcpu-error":
				fmt.Fprintln(os.Stderr, "cloud-hypervisor: 41.002s: <vcpu0> ERROR:vmm/src/cpu.rs:1210 -- VCPU generated error: VcpuRun(Unexpected exit reason)")
				fallthrough
			case "poweroff":
				f.event("vm", "deleted", nil)
				f.event("vmm", "shutdown", nil)
				syscall.Exit(0)
			case "exit-now":
				syscall.Exit(0)
			}
		}()
	})
	mux.HandleFunc("PUT /api/v1/vmm.shutdown", func(w http.ResponseWriter, _ *http.Request) {
		if ignoreShutdown {
			w.WriteHeader(http.StatusOK)
			return
		}
		f.event("vmm", "shutdown", nil)
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		syscall.Exit(0)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`["Not Found"]`))
	})
	err = http.Serve(l, mux)
	fmt.Fprintln(os.Stderr, "fake cloud-hypervisor: serve:", err)
	return 1
}

// listenSpec opens CH's --api-socket: fd=N, path=P or P.
func listenSpec(spec string) (net.Listener, error) {
	if fd, ok := strings.CutPrefix(spec, "fd="); ok {
		n, err := strconv.Atoi(fd)
		if err != nil {
			return nil, err
		}
		f := os.NewFile(uintptr(n), "api-socket")
		defer f.Close()
		return net.FileListener(f)
	}
	path := strings.TrimPrefix(spec, "path=")
	if path == "" {
		return nil, errors.New("empty path")
	}
	return net.Listen("unix", path)
}

// openSpec opens CH's --event-monitor: fd=N or path=P.
func openSpec(spec string) *os.File {
	if fd, ok := strings.CutPrefix(spec, "fd="); ok {
		n, err := strconv.Atoi(fd)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fake cloud-hypervisor: --event-monitor:", err)
			return nil
		}
		return os.NewFile(uintptr(n), "event-monitor")
	}
	f, err := os.OpenFile(strings.TrimPrefix(spec, "path="), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake cloud-hypervisor: --event-monitor:", err)
		return nil
	}
	return f
}

// event writes an event the way CH does: pretty-printed JSON, then a blank
// line; timestamp is a serde Duration since start.
func (f *fakeVMM) event(source, name string, props map[string]string) {
	if f.events == nil {
		return
	}
	d := time.Since(f.start)
	ev := map[string]any{
		"timestamp":  map[string]any{"secs": int64(d / time.Second), "nanos": int64(d % time.Second)},
		"source":     source,
		"event":      name,
		"properties": props,
	}
	b, _ := json.MarshalIndent(ev, "", "  ")
	_, _ = f.events.Write(append(b, '\n', '\n'))
}
