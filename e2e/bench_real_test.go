package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
	"github.com/chvmm/chvmm/core/chtest"
	"github.com/chvmm/chvmm/core/driver"
)

// The real-CH benchmarks (make bench-real): each runs, for every release
// whose binary is at $CHVMM_TEST_BINARY_DIR/<version>/<arch>/cloud-hypervisor,
// what chvmm does against real Cloud Hypervisor under KVM with the chtest
// PVH guest, and each has a baseline that does the same work with raw
// exec and net/http, no chvmm code on its timed path:
//
//	BenchmarkRealStartToReady       vs …Baseline  exec, tight connect+ping loop (goal ≤ 1.10)
//	BenchmarkRealBootToGuest        vs …Baseline  vm.create + vm.boot → guest's ready line (≤ 1.05)
//	BenchmarkRealSnapshotPaused     vs …Baseline  vm.pause + vm.snapshot, 256 MiB guest (≤ 1.05)
//	BenchmarkRealRestoreToRunning   vs …Baseline  exec, vm.restore, vm.resume → counter (≤ 1.10)
//	BenchmarkRealConcurrentStart100 vs …Baseline  100 VMMs started, pinged, stopped (≤ 1.2)
//	BenchmarkRealPing               vs …Baseline  keep-alive vmm.ping (≤ 1.05)
//	BenchmarkRealCreateBootInfo     vs …Baseline  create, boot, info, delete (≤ 1.05)
//
// BenchmarkRealStartToReadyEventsBaseline is a reference, not a goal: the
// baseline with CH's event monitor on, as chvmm always runs CH, which
// tells CH's own cost of the monitor from chvmm's.
//
// Every benchmark reports, besides ns/op, med-ns/op: the median of its
// iterations, which e2e/cmd/benchreal (make bench-real) compares. The VMMs
// that the Boot, Snapshot, Ping and CreateBootInfo pairs drive are started
// the same way for both sides (by core.StartProcess, outside the timed
// path), so that those pairs compare the clients alone. Without KVM, on a
// host other than x86_64 (the PVH guest) or without CHVMM_TEST_BINARY_DIR,
// they skip, saying why; a release without its binary skips too. Every VMM
// a benchmark starts is stopped and reaped and its socket removed; each
// release's run ends with a check for leaked fds, goroutines and children.

// Sizes and bounds of the real-CH benchmarks.
const (
	benchGuestMiB    = 128 // the booted and restored guests (CH's smallest hot-plug step)
	benchSnapshotMiB = 256 // the guest SnapshotPaused snapshots
	// benchSerialPoll is how often both sides of a pair read the serial
	// file while they wait for the guest; the same for both.
	benchSerialPoll = 200 * time.Microsecond
	benchWait       = 10 * time.Second // any single wait: a VMM's answer, the guest's line, an exit
	// benchOpTimeout bounds each measured operation (a snapshot of a busy
	// machine's disk, a batch of 100 VMMs), so that a VMM that hangs fails
	// the benchmark instead of stalling it.
	benchOpTimeout = time.Minute
	benchStop      = 10 * time.Second // each step of Process.Stop
	concurrentReal = 100              // VMMs of a ConcurrentStart100 batch
)

// realTarget is one release's binary, what a real-CH benchmark runs.
type realTarget struct {
	r      *core.Release
	bin    string             // the binary, which the baselines exec
	opts   []core.StartOption // chvmm's StartProcess options for it
	dir    string             // the release's temporary directory: sockets, serial files
	kernel string             // the PVH guest
}

// eachRealRelease runs fn as a sub-benchmark per release (b.Run with its
// version), skipping the releases without a binary, and all of them
// without KVM or binaries. It then checks that the run leaked nothing.
func eachRealRelease(b *testing.B, fn func(b *testing.B, rt *realTarget)) {
	chtest.RequiresKVM(b)
	if hostArch() != "x86_64" {
		b.Skipf("the chtest PVH guest the real benchmarks boot is x86_64 only (host %s)", hostArch())
	}
	binDir := os.Getenv(chtest.BinaryDirEnv)
	if binDir == "" {
		b.Skipf("the real benchmarks exec each release's binary in their baselines: set %s (make bench-real BINARY_DIR=dir) to a directory holding <version>/%s/%s",
			chtest.BinaryDirEnv, hostArch(), driver.BinaryName)
	}
	kernel := writeKernel(b, b.TempDir())
	for _, r := range releases {
		b.Run(r.Version(), func(b *testing.B) {
			bin := filepath.Join(binDir, r.Version(), hostArch(), driver.BinaryName)
			if _, err := os.Stat(bin); errors.Is(err, fs.ErrNotExist) {
				b.Skipf("no binary: %s does not exist", bin)
			}
			chtest.RequiresBinary(b, r.Version()) // fails for a binary of another version
			rt := &realTarget{r: r, bin: bin, kernel: kernel, dir: b.TempDir()}
			rt.opts = trustedOptions(b, rt)
			before := snapshotResources(b)
			b.Cleanup(func() { requireNoLeaks(b, before) }) // runs last: after every VMM's stop
			fn(b, rt)
		})
	}
}

// trustedOptions returns chvmm's options for rt's binary: WithBinary, with
// the path trust check on when the binary's path passes it (as
// ../shared/ch-bin does), else off, logged. The probe start also caches
// the binary's version check, as any warm start finds it.
func trustedOptions(b *testing.B, rt *realTarget) []core.StartOption {
	b.Helper()
	opts := []core.StartOption{core.WithBinary(rt.bin), core.WithStopTimeout(benchStop)}
	sock := filepath.Join(rt.dir, "probe.sock")
	ctx, cancel := context.WithTimeout(b.Context(), benchWait)
	defer cancel()
	p, err := core.StartProcess(ctx, rt.r, rt.dir, sock, opts...)
	if errors.Is(err, core.ErrUntrustedPath) {
		b.Logf("the path trust check is off for these runs: %v", err)
		opts = append(opts, core.WithoutPathTrustCheck())
		p, err = core.StartProcess(ctx, rt.r, rt.dir, sock, opts...)
	}
	if err != nil {
		b.Fatalf("StartProcess CH %s (%s): %v", rt.r.Version(), rt.bin, err)
	}
	if err := p.Stop(ctx); err != nil {
		b.Fatalf("stopping the probe VMM: %v", err)
	}
	return opts
}

// startVMM starts a VMM of rt with chvmm outside the timed path, stopped
// when the benchmark ends.
func (rt *realTarget) startVMM(b *testing.B, name string) *core.Process {
	b.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), benchWait)
	defer cancel()
	p, err := core.StartProcess(ctx, rt.r, rt.dir, filepath.Join(rt.dir, name+".sock"), rt.opts...)
	if err != nil {
		b.Fatalf("StartProcess CH %s: %v", rt.r.Version(), err)
	}
	b.Cleanup(func() { stopChvmm(b, p) })
	return p
}

// opContext bounds one measured operation (benchOpTimeout).
func opContext(b *testing.B) (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.Context(), benchOpTimeout)
}

// stopChvmm stops a VMM chvmm started; it must go.
func stopChvmm(b *testing.B, p *core.Process) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*benchStop)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		b.Errorf("stopping CH %s pid %d: %v", p.Release(), p.PID(), err)
	}
}

// samples times the measured part of each iteration of a b.Loop loop, and
// reports their median as med-ns/op (ns/op is their mean).
type samples struct {
	b  *testing.B
	d  []time.Duration
	t0 time.Time
}

func newSamples(b *testing.B) *samples {
	b.ReportAllocs()
	return &samples{b: b}
}

// untimed runs f with the benchmark timer stopped.
func (s *samples) untimed(f func()) {
	s.b.StopTimer()
	f()
	s.b.StartTimer()
}

// start marks the start of an iteration's measured part.
func (s *samples) start() { s.t0 = time.Now() }

// stop ends it; what follows in the iteration must be untimed.
func (s *samples) stop() { s.d = append(s.d, time.Since(s.t0)) }

// report reports the median (of the middle two for an even count); call
// it after the loop.
func (s *samples) report() {
	if len(s.d) == 0 {
		return
	}
	d := slices.Clone(s.d)
	slices.Sort(d)
	med := d[len(d)/2]
	if len(d)%2 == 0 {
		med = (d[len(d)/2-1] + med) / 2
	}
	s.b.ReportMetric(float64(med.Nanoseconds()), "med-ns/op")
}

// measure times f in each round of the benchmark loop, after one untimed
// warm-up round.
func measure(b *testing.B, f func()) {
	b.Helper()
	measureCycle(b, nil, f, nil)
}

// measureCycle times timed in each round of the benchmark loop; before and
// after (nil: nothing) run untimed around it. One whole round runs first,
// untimed, so that neither side of a pair measures a cold first run.
func measureCycle(b *testing.B, before, timed, after func()) {
	b.Helper()
	untimed := func(s *samples, f func()) {
		if f != nil {
			s.untimed(f)
		}
	}
	for _, f := range []func(){before, timed, after} {
		if f != nil {
			f()
		}
	}
	s := newSamples(b)
	for b.Loop() {
		untimed(s, before)
		s.start()
		timed()
		s.stop()
		untimed(s, after)
	}
	s.report()
}

// ---- the raw side: exec and net/http, no chvmm code ----

// rawVMM is a VMM a baseline started itself: exec of the binary with
// --api-socket <path>, its output discarded.
type rawVMM struct {
	cmd    *exec.Cmd
	sock   string
	client *http.Client // keep-alive
}

// execVMM starts bin serving its API on sock, with extra arguments; it
// does not wait for it.
func execVMM(bin, sock string, extra []*os.File, args ...string) (*rawVMM, error) {
	cmd := exec.Command(bin, append([]string{"--api-socket", sock}, args...)...)
	cmd.ExtraFiles = extra
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("exec %s: %w", bin, err)
	}
	return &rawVMM{cmd: cmd, sock: sock, client: rawUnixClient(sock, true)}, nil
}

// rawPingRequest is GET /vmm.ping as the tight loop writes it.
var rawPingRequest = []byte("GET /api/v1/vmm.ping HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\r\n")

// spinPing is the tightest readiness check a launcher can write: connect
// until the socket accepts, then ping on that connection; again on any
// failure until ctx ends.
func spinPing(ctx context.Context, sock string) error {
	var last error
	for ctx.Err() == nil {
		c, err := net.Dial("unix", sock)
		if err != nil {
			last = err
			continue
		}
		last = pingOn(c)
		c.Close()
		if last == nil {
			return nil
		}
	}
	return fmt.Errorf("no answer to vmm.ping on %s: %w (last: %w)", sock, ctx.Err(), last)
}

// pingOn sends vmm.ping on c and decodes the answer as rawGetPing does.
func pingOn(c net.Conn) error {
	if _, err := c.Write(rawPingRequest); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	return readPing(resp)
}

// rawPut is PUT path with a JSON body (nil: none) on client; any answer
// but a 2xx is an error.
func rawPut(ctx context.Context, client *http.Client, path string, body []byte) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, driver.BaseURL+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("PUT %s: HTTP %d: %s", path, resp.StatusCode, data)
	}
	return nil
}

// rawVMState is GET /vm.info's state, decoded as a bare client would.
func rawVMState(ctx context.Context, client *http.Client) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, driver.BaseURL+"/vm.info", nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /vm.info: HTTP %d: %s", resp.StatusCode, data)
	}
	var info struct {
		State string `json:"state"`
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return "", err
	}
	return info.State, nil
}

// rawVMConfig is the VM config the baselines send: what
// api.DirectBoot.Config() describes, as a bare client would write it.
type rawVMConfig struct {
	Payload struct {
		Kernel  string `json:"kernel"`
		Cmdline string `json:"cmdline"`
	} `json:"payload"`
	Cpus struct {
		BootVcpus int `json:"boot_vcpus"`
		MaxVcpus  int `json:"max_vcpus"`
	} `json:"cpus"`
	Memory struct {
		Size int64 `json:"size"`
	} `json:"memory"`
	Console struct {
		Mode string `json:"mode"`
	} `json:"console"`
	Serial struct {
		Mode string `json:"mode"`
		File string `json:"file,omitempty"`
	} `json:"serial"`
}

func newRawVMConfig(kernel, serial string, memMiB int64) *rawVMConfig {
	var c rawVMConfig
	c.Payload.Kernel, c.Payload.Cmdline = kernel, "console=ttyS0"
	c.Cpus.BootVcpus, c.Cpus.MaxVcpus = 1, 1
	c.Memory.Size = memMiB << 20
	c.Console.Mode = "Off"
	c.Serial.Mode = "Null"
	if serial != "" {
		c.Serial.Mode, c.Serial.File = "File", serial
	}
	return &c
}

// benchVMConfig is the same VM for chvmm.
func benchVMConfig(kernel, serial string, memMiB int64) *api.VMConfig {
	return api.DirectBoot{Kernel: kernel, Cmdline: "console=ttyS0", VCPUs: 1, MemoryMiB: memMiB, SerialFile: serial}.Config()
}

// rawCreate is PUT /vm.create of cfg, marshalled as a bare client does on
// each call.
func rawCreate(ctx context.Context, client *http.Client, cfg *rawVMConfig) error {
	body, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	return rawPut(ctx, client, "/vm.create", body)
}

// stop ends a baseline's VMM outside the timed path: vmm.shutdown, then
// SIGKILL if it has not exited within benchStop; its socket is removed.
func (v *rawVMM) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), benchStop)
	defer cancel()
	err := v.shutdown(ctx)
	v.client.CloseIdleConnections()
	if rerr := os.Remove(v.sock); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}

// shutdown is PUT /vmm.shutdown and the wait for the exit (the
// connection may drop as CH exits: that is success), SIGKILL when ctx
// ends first.
func (v *rawVMM) shutdown(ctx context.Context) error {
	err := rawPut(ctx, v.client, "/vmm.shutdown", nil)
	if err != nil && connectionDropped(err) {
		err = nil
	}
	exited := make(chan error, 1)
	go func() { exited <- v.cmd.Wait() }()
	select {
	case werr := <-exited:
		return errors.Join(err, werr)
	case <-ctx.Done():
		_ = v.cmd.Process.Kill()
		<-exited
		return errors.Join(err, fmt.Errorf("CH pid %d did not exit after vmm.shutdown: killed", v.cmd.Process.Pid))
	}
}

// kill ends a baseline's VMM at once (a failed iteration).
func (v *rawVMM) kill() {
	_ = v.cmd.Process.Kill()
	_ = v.cmd.Wait()
	v.client.CloseIdleConnections()
	_ = os.Remove(v.sock)
}

// connectionDropped reports a connection that ended under a request.
func connectionDropped(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// ---- the guest ----

// waitGuest polls the serial file every benchSerialPoll until ok accepts
// its content, failing after benchWait or when exited closes.
func waitGuest(serial string, exited <-chan struct{}, what string, ok func([]byte) bool) error {
	deadline := time.Now().Add(benchWait)
	for {
		data, err := os.ReadFile(serial)
		if err == nil && ok(data) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no %s in %s within %v (%d bytes: %q)", what, serial, benchWait, len(data), tailBytes(data, 200))
		}
		select {
		case <-exited:
			return fmt.Errorf("the VMM exited while waiting for %s in %s", what, serial)
		case <-time.After(benchSerialPoll):
		}
	}
}

// guestReady accepts the PVH guest's ready line.
func guestReady(data []byte) bool { return chtest.GuestReady(data) }

// guestCounted accepts a restored guest's first counter line (a restored
// guest goes on counting without printing its ready line again).
func guestCounted(data []byte) bool { return len(restoredCounters(data)) > 0 }

// removeSerial removes the serial file, so that CH opens a new, empty one.
func removeSerial(b *testing.B, serial string) {
	if err := os.Remove(serial); err != nil && !errors.Is(err, fs.ErrNotExist) {
		b.Fatal(err)
	}
}

// ---- StartToReady ----

// BenchmarkRealStartToReady is core.StartProcess until the first ping is
// answered; the Stop is not timed.
func BenchmarkRealStartToReady(b *testing.B) {
	eachRealRelease(b, func(b *testing.B, rt *realTarget) {
		sock := filepath.Join(rt.dir, "api.sock")
		ctx := b.Context()
		start := func() *core.Process {
			p, err := core.StartProcess(ctx, rt.r, rt.dir, sock, rt.opts...)
			if err != nil {
				b.Fatal(err)
			}
			return p
		}
		var p *core.Process
		measureCycle(b, nil, func() { p = start() }, func() { stopChvmm(b, p) })
	})
}

// BenchmarkRealStartToReadyBaseline is exec of the same binary with
// --api-socket <path> and a tight connect+ping loop until it answers.
func BenchmarkRealStartToReadyBaseline(b *testing.B) {
	benchExecToReady(b, false)
}

// BenchmarkRealStartToReadyEventsBaseline is the baseline with CH's event
// monitor on (--event-monitor fd=3, a pipe), as chvmm always runs CH: a
// reference that shows what the monitor costs CH itself.
func BenchmarkRealStartToReadyEventsBaseline(b *testing.B) {
	benchExecToReady(b, true)
}

func benchExecToReady(b *testing.B, events bool) {
	eachRealRelease(b, func(b *testing.B, rt *realTarget) {
		sock := filepath.Join(rt.dir, "api.sock")
		start := func() *rawVMM {
			var extra []*os.File
			var args []string
			if events {
				r, w, err := os.Pipe()
				if err != nil {
					b.Fatal(err)
				}
				go func() { _, _ = io.Copy(io.Discard, r); r.Close() }() // until CH exits
				defer w.Close()
				extra, args = []*os.File{w}, []string{"--event-monitor", "fd=3"}
			}
			v, err := execVMM(rt.bin, sock, extra, args...)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(b.Context(), benchWait)
			defer cancel()
			if err := spinPing(ctx, sock); err != nil {
				v.kill()
				b.Fatal(err)
			}
			return v
		}
		stop := func(v *rawVMM) {
			if err := v.stop(); err != nil {
				b.Fatal(err)
			}
		}
		var v *rawVMM
		measureCycle(b, nil, func() { v = start() }, func() { stop(v) })
	})
}

// ---- BootToGuest ----

// BenchmarkRealBootToGuest is Hypervisor.CreateVM and BootVM until the
// guest's ready line is in its serial file; deleting the VM is not timed.
func BenchmarkRealBootToGuest(b *testing.B) {
	eachRealRelease(b, func(b *testing.B, rt *realTarget) {
		p := rt.startVMM(b, "boot")
		h := p.Hypervisor()
		serial := filepath.Join(rt.dir, "serial.log")
		cfg := benchVMConfig(rt.kernel, serial, benchGuestMiB)
		boot := func() {
			ctx, cancel := opContext(b)
			defer cancel()
			if err := h.CreateVM(ctx, cfg, nil); err != nil {
				b.Fatal(err)
			}
			if err := h.BootVM(ctx); err != nil {
				b.Fatal(err)
			}
			if err := waitGuest(serial, p.Done(), "ready line", guestReady); err != nil {
				b.Fatal(err)
			}
		}
		reset := func() {
			ctx, cancel := opContext(b)
			defer cancel()
			if err := h.DeleteVM(ctx); err != nil {
				b.Fatal(err)
			}
			removeSerial(b, serial)
		}
		measureCycle(b, nil, boot, reset)
	})
}

// BenchmarkRealBootToGuestBaseline is vm.create and vm.boot with bare
// net/http (keep-alive) on a VMM started the same way.
func BenchmarkRealBootToGuestBaseline(b *testing.B) {
	eachRealRelease(b, func(b *testing.B, rt *realTarget) {
		p := rt.startVMM(b, "boot")
		client := rawUnixClient(p.SocketPath(), true)
		defer client.CloseIdleConnections()
		serial := filepath.Join(rt.dir, "serial.log")
		cfg := newRawVMConfig(rt.kernel, serial, benchGuestMiB)
		boot := func() {
			ctx, cancel := opContext(b)
			defer cancel()
			if err := rawCreate(ctx, client, cfg); err != nil {
				b.Fatal(err)
			}
			if err := rawPut(ctx, client, "/vm.boot", nil); err != nil {
				b.Fatal(err)
			}
			if err := waitGuest(serial, p.Done(), "ready line", guestReady); err != nil {
				b.Fatal(err)
			}
		}
		reset := func() {
			ctx, cancel := opContext(b)
			defer cancel()
			if err := rawPut(ctx, client, "/vm.delete", nil); err != nil {
				b.Fatal(err)
			}
			removeSerial(b, serial)
		}
		measureCycle(b, nil, boot, reset)
	})
}

// ---- SnapshotPaused ----

// bootedGuest starts a VMM with chvmm and boots a guest of memMiB on it,
// outside the timed path; it returns the VMM and the serial file.
func (rt *realTarget) bootedGuest(b *testing.B, name string, memMiB int64) (*core.Process, string) {
	b.Helper()
	p := rt.startVMM(b, name)
	serial := filepath.Join(rt.dir, name+"-serial.log")
	ctx, cancel := opContext(b)
	defer cancel()
	if err := p.Hypervisor().CreateVM(ctx, benchVMConfig(rt.kernel, serial, memMiB), nil); err != nil {
		b.Fatal(err)
	}
	if err := p.Hypervisor().BootVM(ctx); err != nil {
		b.Fatal(err)
	}
	if err := waitGuest(serial, p.Done(), "ready line", guestReady); err != nil {
		b.Fatal(err)
	}
	return p, serial
}

// snapshotIteration runs a SnapshotPaused loop: a fresh directory for
// each snapshot, which is removed, and the VM resumed, untimed.
func snapshotIteration(b *testing.B, rt *realTarget, snap func(dir string), resume func()) {
	root := filepath.Join(rt.dir, "snapshots")
	if err := os.Mkdir(root, 0o700); err != nil {
		b.Fatal(err)
	}
	n := 0
	fresh := func() string {
		n++
		dir := filepath.Join(root, strconv.Itoa(n))
		if err := os.Mkdir(dir, 0o700); err != nil {
			b.Fatal(err)
		}
		return dir
	}
	reset := func(dir string) {
		resume()
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
	}
	var dir string
	measureCycle(b, func() { dir = fresh() }, func() { snap(dir) }, func() { reset(dir) })
}

// BenchmarkRealSnapshotPaused is Hypervisor.PauseVM and Snapshot of a
// running 256 MiB guest (which also writes chvmm's metadata file, synced);
// resuming and removing the snapshot are not timed.
func BenchmarkRealSnapshotPaused(b *testing.B) {
	eachRealRelease(b, func(b *testing.B, rt *realTarget) {
		p, _ := rt.bootedGuest(b, "snap", benchSnapshotMiB)
		h := p.Hypervisor()
		snapshotIteration(b, rt, func(dir string) {
			ctx, cancel := opContext(b)
			defer cancel()
			if err := h.PauseVM(ctx); err != nil {
				b.Fatal(err)
			}
			if err := h.Snapshot(ctx, dir); err != nil {
				b.Fatal(err)
			}
		}, func() {
			ctx, cancel := opContext(b)
			defer cancel()
			if err := h.ResumeVM(ctx); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// BenchmarkRealSnapshotPausedBaseline is vm.pause and vm.snapshot with bare
// net/http on a VMM and guest set up the same way.
func BenchmarkRealSnapshotPausedBaseline(b *testing.B) {
	eachRealRelease(b, func(b *testing.B, rt *realTarget) {
		p, _ := rt.bootedGuest(b, "snap", benchSnapshotMiB)
		client := rawUnixClient(p.SocketPath(), true)
		defer client.CloseIdleConnections()
		snapshotIteration(b, rt, func(dir string) {
			ctx, cancel := opContext(b)
			defer cancel()
			if err := rawPut(ctx, client, "/vm.pause", nil); err != nil {
				b.Fatal(err)
			}
			body, err := json.Marshal(map[string]string{"destination_url": "file://" + dir})
			if err != nil {
				b.Fatal(err)
			}
			if err := rawPut(ctx, client, "/vm.snapshot", body); err != nil {
				b.Fatal(err)
			}
		}, func() {
			ctx, cancel := opContext(b)
			defer cancel()
			if err := rawPut(ctx, client, "/vm.resume", nil); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// ---- RestoreToRunning ----

// restoreSource is a snapshot of a counting guest, which every iteration
// restores in a fresh VMM.
type restoreSource struct {
	dir    string // the snapshot
	serial string // the serial file its config names
	// busy are the RTC seconds (0–59) the guest compared against when it
	// was paused: a restore in such a second would wait up to a second
	// for the RTC to change before the guest counts (see avoidBusySecond).
	busy [2]int
}

// newRestoreSource boots a guest with chvmm, waits for its first counter,
// pauses it and snapshots it (with chvmm's metadata, which
// RestoreProcess reads and CH ignores), all outside the timed path.
func newRestoreSource(b *testing.B, rt *realTarget) *restoreSource {
	b.Helper()
	p, serial := rt.bootedGuest(b, "source", benchGuestMiB)
	h := p.Hypervisor()
	ctx, cancel := opContext(b)
	defer cancel()
	if err := waitGuest(serial, p.Done(), "counter", func(data []byte) bool { return len(chtest.GuestCounters(data)) > 0 }); err != nil {
		b.Fatal(err)
	}
	if err := h.PauseVM(ctx); err != nil {
		b.Fatal(err)
	}
	paused := time.Now().UTC().Second()
	src := &restoreSource{dir: filepath.Join(rt.dir, "restore-snapshot"), serial: serial, busy: [2]int{paused, (paused + 59) % 60}}
	if err := os.Mkdir(src.dir, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := h.Snapshot(ctx, src.dir); err != nil {
		b.Fatal(err)
	}
	stopChvmm(b, p)
	return src
}

// avoidBusySecond waits, untimed, until the RTC second is none the paused
// guest compared against, now and for the next half second. The guest
// prints its next counter once the RTC seconds differ from the value it
// read after its last counter: in such a second, a restored guest would
// wait for the next one, whoever restored it.
func (src *restoreSource) avoidBusySecond() {
	for {
		now, soon := time.Now().UTC().Second(), time.Now().Add(500*time.Millisecond).UTC().Second()
		if !slices.Contains(src.busy[:], now) && !slices.Contains(src.busy[:], soon) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// restoreIteration runs a RestoreToRunning loop.
func restoreIteration(b *testing.B, src *restoreSource, restore func() (stop func())) {
	prepare := func() {
		removeSerial(b, src.serial) // the restored VM opens the path its config names
		src.avoidBusySecond()
	}
	var stop func()
	measureCycle(b, prepare, func() { stop = restore() }, func() { stop() })
}

// BenchmarkRealRestoreToRunning is core.RestoreProcess with Resume until
// the restored guest prints its next counter; stopping the VMM is not
// timed.
func BenchmarkRealRestoreToRunning(b *testing.B) {
	eachRealRelease(b, func(b *testing.B, rt *realTarget) {
		src := newRestoreSource(b, rt)
		sock := filepath.Join(rt.dir, "restored.sock")
		restoreIteration(b, src, func() func() {
			ctx, cancel := opContext(b)
			defer cancel()
			p, err := core.RestoreProcess(ctx, rt.dir, src.dir, sock, core.RestoreOptions{Resume: true}, rt.opts...)
			if err != nil {
				b.Fatal(err)
			}
			if err := waitGuest(src.serial, p.Done(), "counter after the restore", guestCounted); err != nil {
				stopChvmm(b, p)
				b.Fatal(err)
			}
			return func() { stopChvmm(b, p) }
		})
	})
}

// BenchmarkRealRestoreToRunningBaseline is exec of the same binary, the
// tight connect+ping loop, then vm.restore and vm.resume with bare
// net/http (on releases whose RestoreConfig has resume, v52.0 on, resume
// in vm.restore, as chvmm does), until the guest's next counter.
func BenchmarkRealRestoreToRunningBaseline(b *testing.B) {
	eachRealRelease(b, func(b *testing.B, rt *realTarget) {
		src := newRestoreSource(b, rt)
		sock := filepath.Join(rt.dir, "restored.sock")
		serverResumes := rt.r.Has("RestoreConfig.resume") // untimed: what the body says
		restoreIteration(b, src, func() func() {
			v, err := execVMM(rt.bin, sock, nil)
			if err != nil {
				b.Fatal(err)
			}
			fail := func(err error) { v.kill(); b.Fatal(err) }
			rctx, cancel := opContext(b)
			defer cancel()
			if err := spinPing(rctx, sock); err != nil {
				fail(err)
			}
			cfg := map[string]any{"source_url": "file://" + src.dir}
			if serverResumes {
				cfg["resume"] = true
			}
			body, err := json.Marshal(cfg)
			if err != nil {
				fail(err)
			}
			if err := rawPut(rctx, v.client, "/vm.restore", body); err != nil {
				fail(err)
			}
			if !serverResumes {
				if err := rawPut(rctx, v.client, "/vm.resume", nil); err != nil {
					fail(err)
				}
			}
			if err := waitGuest(src.serial, nil, "counter after the restore", guestCounted); err != nil {
				fail(err)
			}
			return func() {
				if err := v.stop(); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// ---- ConcurrentStart100 ----

// concurrentBatch runs one batch: one, for each of concurrentReal
// directories, at once; it fails the benchmark on any failure.
func concurrentBatch(b *testing.B, dirs []string, one func(dir string) error) {
	errs := make([]error, len(dirs))
	var wg sync.WaitGroup
	for i, dir := range dirs {
		wg.Go(func() { errs[i] = one(dir) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatalf("batch of %d VMMs: %v", len(dirs), err)
	}
}

// concurrentDirs creates the batch's directories: one socket each.
func concurrentDirs(b *testing.B, rt *realTarget) []string {
	dirs := make([]string, concurrentReal)
	for i := range dirs {
		dirs[i] = filepath.Join(rt.dir, strconv.Itoa(i))
		if err := os.Mkdir(dirs[i], 0o755); err != nil {
			b.Fatal(err)
		}
	}
	return dirs
}

// timeConcurrentBatches times concurrentBatch of one in each round of the
// benchmark loop. No warm-up batch: trustedOptions' probe has warmed the
// binary.
func timeConcurrentBatches(b *testing.B, dirs []string, one func(dir string) error) {
	s := newSamples(b)
	for b.Loop() {
		s.start()
		concurrentBatch(b, dirs, one)
		s.stop()
	}
	s.report()
}

// BenchmarkRealConcurrentStart100 starts 100 VMMs concurrently with
// core.StartProcess, pings each (Hypervisor.Ping) and stops it
// (Process.Stop); one op is a batch, all timed, none may fail.
func BenchmarkRealConcurrentStart100(b *testing.B) {
	eachRealRelease(b, func(b *testing.B, rt *realTarget) {
		dirs := concurrentDirs(b, rt)
		one := func(dir string) error {
			ctx, cancel := opContext(b)
			defer cancel()
			p, err := core.StartProcess(ctx, rt.r, dir, filepath.Join(dir, "api.sock"), rt.opts...)
			if err != nil {
				return err
			}
			_, err = p.Hypervisor().Ping(ctx)
			if err != nil {
				err = fmt.Errorf("ping: %w", err)
			}
			if serr := p.Stop(ctx); serr != nil {
				err = errors.Join(err, fmt.Errorf("stop: %w", serr))
			}
			return err
		}
		timeConcurrentBatches(b, dirs, one)
	})
}

// BenchmarkRealConcurrentStart100Baseline is the same batch with 100
// baselines: exec, the tight connect+ping loop, a keep-alive vmm.ping with
// bare net/http, vmm.shutdown and the wait for the exit.
func BenchmarkRealConcurrentStart100Baseline(b *testing.B) {
	eachRealRelease(b, func(b *testing.B, rt *realTarget) {
		dirs := concurrentDirs(b, rt)
		one := func(dir string) error {
			v, err := execVMM(rt.bin, filepath.Join(dir, "api.sock"), nil)
			if err != nil {
				return err
			}
			rctx, cancel := opContext(b)
			defer cancel()
			if err := spinPing(rctx, v.sock); err != nil {
				v.kill()
				return err
			}
			if err := rawGetPing(rctx, v.client); err != nil {
				v.kill()
				return fmt.Errorf("ping: %w", err)
			}
			return v.stop()
		}
		timeConcurrentBatches(b, dirs, one)
	})
}

// ---- Ping, CreateBootInfo ----

// BenchmarkRealPing is Hypervisor.Ping (keep-alive) on a real VMM.
func BenchmarkRealPing(b *testing.B) {
	eachRealRelease(b, func(b *testing.B, rt *realTarget) {
		h := rt.startVMM(b, "ping").Hypervisor()
		ctx := b.Context()
		ping := func() {
			if _, err := h.Ping(ctx); err != nil {
				b.Fatal(err)
			}
		}
		measure(b, ping)
	})
}

// BenchmarkRealPingBaseline is GET /vmm.ping with bare net/http,
// keep-alive, decoding the same answer, on a VMM started the same way.
func BenchmarkRealPingBaseline(b *testing.B) {
	eachRealRelease(b, func(b *testing.B, rt *realTarget) {
		client := rawUnixClient(rt.startVMM(b, "ping").SocketPath(), true)
		defer client.CloseIdleConnections()
		ctx := b.Context()
		ping := func() {
			if err := rawGetPing(ctx, client); err != nil {
				b.Fatal(err)
			}
		}
		measure(b, ping)
	})
}

// BenchmarkRealCreateBootInfo is vm.create, vm.boot, vm.info (the VM must
// be running) and vm.delete through core.Hypervisor, all timed.
func BenchmarkRealCreateBootInfo(b *testing.B) {
	eachRealRelease(b, func(b *testing.B, rt *realTarget) {
		h := rt.startVMM(b, "cbi").Hypervisor()
		cfg := benchVMConfig(rt.kernel, "", benchGuestMiB)
		cycle := func() {
			ctx, cancel := opContext(b)
			defer cancel()
			if err := createBootInfoDelete(ctx, h, cfg); err != nil {
				b.Fatal(err)
			}
		}
		measure(b, cycle)
	})
}

// BenchmarkRealCreateBootInfoBaseline is the same four calls with bare
// net/http, keep-alive, on a VMM started the same way.
func BenchmarkRealCreateBootInfoBaseline(b *testing.B) {
	eachRealRelease(b, func(b *testing.B, rt *realTarget) {
		client := rawUnixClient(rt.startVMM(b, "cbi").SocketPath(), true)
		defer client.CloseIdleConnections()
		cfg := newRawVMConfig(rt.kernel, "", benchGuestMiB)
		cycle := func() {
			ctx, cancel := opContext(b)
			defer cancel()
			if err := rawCreate(ctx, client, cfg); err != nil {
				b.Fatal(err)
			}
			if err := rawPut(ctx, client, "/vm.boot", nil); err != nil {
				b.Fatal(err)
			}
			state, err := rawVMState(ctx, client)
			if err != nil {
				b.Fatal(err)
			}
			if state != "Running" {
				b.Fatalf("VM state %q after vm.boot, want Running", state)
			}
			if err := rawPut(ctx, client, "/vm.delete", nil); err != nil {
				b.Fatal(err)
			}
		}
		measure(b, cycle)
	})
}
