package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chvmm/chvmm/core"
)

// The cost of supervision (issue 13): what one supervisor program pays, per
// VMM, for VMMs it started with core.StartProcess and that sit idle. The
// VMMs are real child processes, the simulator built as a cloud-hypervisor
// binary, so that what the supervisor keeps per child (the goroutine that
// reaps it, the event pipe, the pidfd, the keep-alive pool of its
// Hypervisor) is what is counted. The counts are taken in this process:
//
//   - goroutines: runtime.NumGoroutine;
//   - fds: the entries of /proc/self/fd;
//   - heap: runtime.MemStats.HeapAlloc (live bytes) after two GCs, with
//     HeapInuse and StackInuse reported beside it;
//   - threads: the entries of /proc/self/task (reported, not bounded);
//
// each as the difference from a baseline taken before the VMMs started,
// divided by their number.
//
// TestSupervisionCost (make test) runs supervisionTestVMMs of them and
// fails when an idle VMM costs more than the bounds below;
// BenchmarkSupervisionCost (make bench-supervision) runs 1,000 and soaks
// them idle for 60 s, failing if anything grows.

// Bounds per idle VMM.
const (
	maxGoroutinesPerVMM = 2
	maxFDsPerVMM        = 3
	maxHeapPerVMM       = 32 << 10
)

// supervisionTestVMMs is how many VMMs TestSupervisionCost supervises.
const supervisionTestVMMs = 50

// startParallelism is how many StartProcess calls run at once.
const startParallelism = 16

// idleSettle bounds the wait for the VMMs' keep-alive pools to close their
// idle connections (core closes them after 1 s idle); idleStable is how
// long the counts must stay put to be taken as idle.
const (
	idleSettle = 15 * time.Second
	idleStable = 1500 * time.Millisecond
)

// supervisionEnv keeps each simulator child (a Go program) to one P, so
// that 1,000 of them fit this machine's memory and threads. It changes
// nothing in the supervisor.
var supervisionEnv = core.WithEnv("GOMAXPROCS=1")

// usage is what this process holds at one moment.
type usage struct {
	goroutines, fds, threads         int
	heapAlloc, heapInuse, stackInuse uint64
}

// measureUsage returns what this process holds now, after two GCs (the
// second frees what the first's finalizers released).
func measureUsage(tb testing.TB) usage {
	tb.Helper()
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		tb.Fatal(err)
	}
	return usage{
		goroutines: runtime.NumGoroutine(),
		fds:        countFDs(tb),
		threads:    len(tasks),
		heapAlloc:  ms.HeapAlloc,
		heapInuse:  ms.HeapInuse,
		stackInuse: ms.StackInuse,
	}
}

// perVMM is a usage above a baseline, divided among n VMMs.
type perVMM struct {
	n                                int
	goroutines, fds, threads         float64
	heapAlloc, heapInuse, stackInuse float64 // bytes
}

func costOf(now, base usage, n int) perVMM {
	d := func(a, b int) float64 { return float64(a-b) / float64(n) }
	du := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	return perVMM{
		n:          n,
		goroutines: d(now.goroutines, base.goroutines),
		fds:        d(now.fds, base.fds),
		threads:    d(now.threads, base.threads),
		heapAlloc:  du(now.heapAlloc, base.heapAlloc),
		heapInuse:  du(now.heapInuse, base.heapInuse),
		stackInuse: du(now.stackInuse, base.stackInuse),
	}
}

func (c perVMM) String() string {
	return fmt.Sprintf("%.2f goroutines, %.2f fds, %.0f B heap (HeapAlloc; HeapInuse %.0f B, stacks %.0f B), %.2f threads per VMM (%d VMMs)",
		c.goroutines, c.fds, c.heapAlloc, c.heapInuse, c.stackInuse, c.threads, c.n)
}

// exceeds says which per-VMM bound of an idle VMM c exceeds, or "". The
// heap is HeapAlloc: live bytes, not the spans they happen to share.
func (c perVMM) exceeds() string {
	var over []string
	if c.goroutines > maxGoroutinesPerVMM {
		over = append(over, fmt.Sprintf("%.2f goroutines > %d", c.goroutines, maxGoroutinesPerVMM))
	}
	if c.fds > maxFDsPerVMM {
		over = append(over, fmt.Sprintf("%.2f fds > %d", c.fds, maxFDsPerVMM))
	}
	if c.heapAlloc >= maxHeapPerVMM {
		over = append(over, fmt.Sprintf("%.0f B heap ≥ %d", c.heapAlloc, maxHeapPerVMM))
	}
	return strings.Join(over, ", ")
}

// fleet is a set of supervised simulator VMMs.
type fleet struct {
	procs []*core.Process
}

// startFleet starts n simulator VMMs with sockets in root, each pinged once
// through its Hypervisor (so that its keep-alive pool holds a connection).
// On failure it stops those that started.
func startFleet(tb testing.TB, bin, root string, n int, more ...core.StartOption) *fleet {
	tb.Helper()
	ctx := context.Background()
	f := &fleet{procs: make([]*core.Process, n)}
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range startParallelism {
		wg.Go(func() {
			for i := range next {
				sock := filepath.Join(root, "vm"+strconv.Itoa(i)+".sock")
				p, err := core.StartProcess(ctx, simRelease(), root, sock, simOptions(bin, append([]core.StartOption{supervisionEnv}, more...)...)...)
				if err != nil {
					errs[i] = err
					continue
				}
				f.procs[i] = p
				if _, err := p.Hypervisor().Ping(ctx); err != nil {
					errs[i] = fmt.Errorf("ping VMM %d: %w", i, err)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		f.stop()
		tb.Fatalf("starting %d VMMs: %v", n, err)
	}
	return f
}

// ping pings every VMM once.
func (f *fleet) ping(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	for i, p := range f.procs {
		if _, err := p.Hypervisor().Ping(ctx); err != nil {
			tb.Fatalf("ping VMM %d: %v", i, err)
		}
	}
}

// stop stops every VMM at once and returns how long that took.
func (f *fleet) stop() (time.Duration, error) {
	ctx := context.Background()
	errs := make([]error, len(f.procs))
	start := time.Now()
	var wg sync.WaitGroup
	for i, p := range f.procs {
		if p == nil {
			continue
		}
		wg.Go(func() {
			if err := p.Stop(ctx); err != nil {
				errs[i] = fmt.Errorf("stop VMM %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	for i, p := range f.procs {
		if p == nil {
			continue
		}
		if r := p.Wait().Reason; r != core.ExitRequested && errs[i] == nil {
			errs[i] = fmt.Errorf("VMM %d ended %v, want %v", i, r, core.ExitRequested)
		}
	}
	f.procs = nil
	return took, errors.Join(errs...)
}

// settleIdle waits until the VMMs' keep-alive pools have let their
// connections go (core closes a connection after 1 s idle): until the
// goroutines and fds of this process have not changed for idleStable, or
// idleSettle has passed. It returns the cost then.
func settleIdle(tb testing.TB, base usage, n int) perVMM {
	tb.Helper()
	return settle(tb, base, n, idleStable)
}

// settle waits until the goroutines and fds of this process have not
// changed for stable (at most idleSettle) and returns the cost then.
func settle(tb testing.TB, base usage, n int, stable time.Duration) perVMM {
	tb.Helper()
	deadline := time.Now().Add(idleSettle)
	last := measureUsage(tb)
	since := time.Now()
	for time.Now().Before(deadline) && time.Since(since) < stable {
		time.Sleep(100 * time.Millisecond)
		now := measureUsage(tb)
		if now.goroutines != last.goroutines || now.fds != last.fds {
			since = time.Now()
		}
		last = now
	}
	return costOf(last, base, n)
}

// warmUpSupervisor starts and stops one VMM, so that what the first start creates
// once per process (the spawner thread, the binary's version) is in the
// baseline.
func warmUpSupervisor(tb testing.TB, bin, root string) {
	tb.Helper()
	f := startFleet(tb, bin, root, 1)
	if _, err := f.stop(); err != nil {
		tb.Fatal(err)
	}
}

// TestSupervisionCost supervises supervisionTestVMMs simulator VMMs, each
// pinged once, and fails when one idle VMM costs this process more than 2
// goroutines, 3 fds or 32 KiB of heap (counts, not timings); while its
// keep-alive pool still holds the connection it may cost net/http's
// connection goroutines too, but no more fds. Stopping them all must leave
// nothing behind. The detached VMMs (WithDetached) and those taken back
// with Attach, whose events come from a file, are held to the same bounds
// per VMM, on top of what the program pays once for any number of them (one
// inotify instance, of which a user has only 128 by default, and its
// goroutine): a pilot detached VMM is running when the baseline is taken.
func TestSupervisionCost(t *testing.T) {
	bin := simBinary(t, simVersion)
	root := t.TempDir()
	warmUpSupervisor(t, bin, root)

	t.Run("child", func(t *testing.T) {
		before := snapshotResources(t)
		base := measureUsage(t)
		f := startFleet(t, bin, root, supervisionTestVMMs)
		t.Cleanup(func() { _, _ = f.stop() })
		checkIdleCost(t, f, base, supervisionTestVMMs, false)
		took, err := f.stop()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("Stop of all %d: %v", supervisionTestVMMs, took)
		requireNoLeaks(t, before)
	})

	const detached = 16
	t.Run("detached", func(t *testing.T) {
		before := snapshotResources(t)
		pilot := startFleet(t, bin, t.TempDir(), 1, core.WithDetached())
		t.Cleanup(func() { _, _ = pilot.stop() })
		pilot.procs[0].Hypervisor().Close()
		settle(t, measureUsage(t), 1, idleStable) // the pilot's closed connection's goroutines end
		base := measureUsage(t)
		f := startFleet(t, bin, root, detached, core.WithDetached())
		t.Cleanup(func() { _, _ = f.stop() })
		checkIdleCost(t, f, base, detached, true)
		if n := countInotify(t); n != 1 {
			t.Errorf("%d detached VMMs hold %d inotify instances, want 1 for the program", detached+1, n)
		}

		// The same VMMs, taken back by Attach: what the attached Processes
		// cost on top.
		base = measureUsage(t)
		attached := &fleet{}
		for _, p := range f.procs {
			a, err := core.Attach(t.Context(), p.Handle())
			if err != nil {
				t.Fatal(err)
			}
			attached.procs = append(attached.procs, a)
		}
		t.Log("attached:")
		checkIdleCost(t, attached, base, detached, true)

		if _, err := f.stop(); err != nil {
			t.Fatal(err)
		}
		for _, a := range attached.procs {
			<-a.Done()
		}
		if _, err := pilot.stop(); err != nil {
			t.Fatal(err)
		}
		requireNoLeaks(t, before)
	})
}

// checkIdleCost pings f's VMMs, checks the fds of a VMM whose pool holds
// the connection, lets them idle and checks the bounds of an idle VMM.
// closeIdle closes the pools' connections (Hypervisor.Close) rather than
// waiting for them to expire (which TestSupervisionCost/child checks).
func checkIdleCost(t *testing.T, f *fleet, base usage, n int, closeIdle bool) {
	t.Helper()
	f.ping(t)
	used := costOf(measureUsage(t), base, n)
	t.Logf("just used: %v", used)
	if used.fds > maxFDsPerVMM+1 {
		t.Errorf("a VMM whose pool holds a connection costs %.2f fds, want ≤ %d", used.fds, maxFDsPerVMM+1)
	}
	var idle perVMM
	if closeIdle {
		for _, p := range f.procs {
			if err := p.Hypervisor().Close(); err != nil {
				t.Fatal(err)
			}
		}
		idle = settle(t, base, n, 200*time.Millisecond)
	} else {
		idle = settleIdle(t, base, n)
	}
	t.Logf("idle: %v", idle)
	if over := idle.exceeds(); over != "" {
		t.Errorf("an idle supervised VMM costs too much: %s", over)
	}
}

// BenchmarkSupervisionCost is the cost of supervision at scale: it starts
// CHVMM_SUPERVISION_VMMS (1,000) simulator VMMs from this process, pings
// each once, lets them idle, soaks them idle for CHVMM_SUPERVISION_SOAK
// (60 s) sampling every supervisionSampleEvery, pings them all again and
// lets them idle once more, then stops them all at once. It reports per
// VMM the goroutines, fds, heap (HeapAlloc, HeapInuse), stacks and threads
// of an idle VMM and of one whose pool holds a connection, and the time of
// the start and of the Stop of all. It fails when an idle VMM exceeds the
// bounds of TestSupervisionCost, when anything grows over the soak or
// after the second use, or when the Stops leave anything behind.
//
// make bench-supervision runs it; make bench skips it (it needs the
// CHVMM_BENCH_SUPERVISION variable), as it takes minutes.
func BenchmarkSupervisionCost(b *testing.B) {
	if os.Getenv("CHVMM_BENCH_SUPERVISION") == "" {
		b.Skip("minutes long; run it with make bench-supervision (CHVMM_BENCH_SUPERVISION=1)")
	}
	n := envInt(b, "CHVMM_SUPERVISION_VMMS", 1000)
	soak := envDuration(b, "CHVMM_SUPERVISION_SOAK", 60*time.Second)
	bin := simBinary(b, simVersion)
	for b.Loop() {
		superviseAtScale(b, bin, n, soak)
	}
}

// supervisionSampleEvery is how often the soak samples.
const supervisionSampleEvery = 5 * time.Second

// soakHeapSlack is how much the heap may differ between two idle samples
// of the same VMMs, per VMM: the runtime's own bookkeeping moves by a few
// bytes; a per-VMM leak of anything (a buffer, an event, a timer) exceeds
// it.
const soakHeapSlack = 64

func superviseAtScale(b *testing.B, bin string, n int, soak time.Duration) {
	root := b.TempDir()
	warmUpSupervisor(b, bin, root)
	before := snapshotResources(b)
	base := measureUsage(b)

	started := time.Now()
	f := startFleet(b, bin, root, n)
	startAll := time.Since(started)
	defer func() { _, _ = f.stop() }()
	f.ping(b)
	used := costOf(measureUsage(b), base, n)
	idle := settleIdle(b, base, n)
	b.Logf("%d VMMs started in %v", n, startAll.Round(time.Millisecond))
	b.Logf("just used: %v", used)
	b.Logf("idle:      %v", idle)
	if over := idle.exceeds(); over != "" {
		b.Errorf("an idle supervised VMM costs too much: %s", over)
	}

	// The soak: nothing may grow while the VMMs sit idle.
	grew := func(when string, c perVMM) {
		if c.goroutines > idle.goroutines || c.fds > idle.fds || c.heapAlloc > idle.heapAlloc+soakHeapSlack {
			b.Errorf("%s, the VMMs cost more than when idle at first: %v, was %v", when, c, idle)
		}
	}
	peak := idle
	end := time.Now().Add(soak)
	for time.Now().Before(end) {
		time.Sleep(min(supervisionSampleEvery, time.Until(end)))
		c := costOf(measureUsage(b), base, n)
		grew(fmt.Sprintf("%v into the soak", soak-time.Until(end).Round(time.Second)), c)
		peak.goroutines, peak.fds = max(peak.goroutines, c.goroutines), max(peak.fds, c.fds)
		peak.heapAlloc, peak.heapInuse = max(peak.heapAlloc, c.heapAlloc), max(peak.heapInuse, c.heapInuse)
	}
	b.Logf("soak of %v, peak: %v", soak, peak)

	// Used again and idle again: the pools and event readers are back
	// where they were.
	f.ping(b)
	again := settleIdle(b, base, n)
	b.Logf("used again, idle: %v", again)
	grew("after a second use", again)

	stopAll, err := f.stop()
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("Stop of all %d at once: %v", n, stopAll.Round(time.Millisecond))
	requireNoLeaks(b, before)
	after := costOf(measureUsage(b), base, n)
	b.Logf("after the Stops: %v", after)

	b.ReportMetric(idle.goroutines, "goroutines/vmm")
	b.ReportMetric(idle.fds, "fds/vmm")
	b.ReportMetric(idle.heapAlloc, "heap-B/vmm")
	b.ReportMetric(idle.heapInuse, "heapinuse-B/vmm")
	b.ReportMetric(idle.stackInuse, "stack-B/vmm")
	b.ReportMetric(idle.threads, "threads/vmm")
	b.ReportMetric(used.goroutines, "used-goroutines/vmm")
	b.ReportMetric(used.fds, "used-fds/vmm")
	b.ReportMetric(used.heapAlloc, "used-heap-B/vmm")
	b.ReportMetric(float64(peak.heapAlloc-idle.heapAlloc), "soak-heap-growth-B/vmm")
	b.ReportMetric(float64(startAll.Milliseconds()), "start-all-ms")
	b.ReportMetric(float64(stopAll.Milliseconds()), "stop-all-ms")
}

// envInt is the positive integer in variable name, or def.
func envInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// envDuration is the duration in variable name ("60s"), or def.
func envDuration(tb testing.TB, name string, def time.Duration) time.Duration {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		tb.Fatalf("%s=%q: want a duration such as 60s", name, v)
	}
	return d
}

// countInotify counts this process's inotify instances.
func countInotify(tb testing.TB) int {
	tb.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == "anon_inode:inotify" {
			n++
		}
	}
	return n
}
