//go:build linux

package core

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chvmm/chvmm/core/chtest"
	"github.com/chvmm/chvmm/core/driver"
)

// BenchmarkStartSteps times each step of StartProcess on its own, for the
// StartToReady breakdown (README, Performance): the checks before the
// exec, the exec, and the readiness ping. The steps that run CH need a
// real binary: the newest release under $CHVMM_TEST_BINARY_DIR (make
// bench-real sets it); without one they skip. Each sub-benchmark reports
// med-ns/op, the median of its iterations, besides ns/op.
func BenchmarkStartSteps(b *testing.B) {
	bin, binReason := newestRealBinary()
	needBinary := func(b *testing.B) {
		if bin == "" {
			b.Skip(binReason)
		}
	}
	dir := b.TempDir()
	sock := filepath.Join(dir, "api.sock")
	ctx := b.Context()

	b.Run("kvm-check", func(b *testing.B) {
		chtest.RequiresKVM(b)
		timed(b, func() {
			if err := CheckKVM(); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("trust-check", func(b *testing.B) { // WithBinary's path, every start
		needBinary(b)
		if err := checkTrusted(bin); err != nil {
			b.Skipf("%s does not pass the path trust check: %v", bin, err)
		}
		timed(b, func() { _ = checkTrusted(bin) })
	})
	b.Run("binary-path-warm", func(b *testing.B) { // an embedded binary, extracted before
		r := testRelease("v96.0", benchPayload("v96.0"))
		dataDir := b.TempDir()
		if err := checkTrusted(dataDir); err != nil {
			b.Skipf("the temporary directory is not trusted: %v", err)
		}
		f, err := r.openBinary(ctx, dataDir, true)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
		timed(b, func() {
			f, err := r.openBinary(ctx, dataDir, true)
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		})
	})
	b.Run("open-version-cached", func(b *testing.B) { // WithBinary: open, fstat, cached --version
		needBinary(b)
		open := func() {
			f, err := os.Open(bin)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := binaryVersions.get(ctx, f); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		open()
		timed(b, open)
	})
	b.Run("socket-lock", func(b *testing.B) {
		timed(b, func() {
			unlock, err := lockSocketPath(ctx, sock)
			if err != nil {
				b.Fatal(err)
			}
			unlock()
		})
	})
	b.Run("log-file", func(b *testing.B) {
		cfg := defaultStartConfig()
		timed(b, func() {
			out, err := openOutput(&cfg, sock)
			if err != nil {
				b.Fatal(err)
			}
			out.closeParentCopy()
		})
	})
	b.Run("listen-fchmod-bind", func(b *testing.B) {
		timed(b, func() {
			f, id, err := listenAPISocket(sock)
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
			removeSocket(sock, id)
		})
	})
	b.Run("event-pipe", func(b *testing.B) {
		timed(b, func() {
			r, w, err := os.Pipe()
			if err != nil {
				b.Fatal(err)
			}
			r.Close()
			w.Close()
		})
	})
	// The exec: from the verified descriptor, on the spawner thread, as
	// StartProcess does; then the same command started from the calling
	// goroutine, which tells what the spawner's two thread hand-offs cost.
	spawnBench := func(b *testing.B, viaSpawner bool) {
		needBinary(b)
		f, err := os.Open(bin)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		cfg := defaultStartConfig()
		var pid int
		s := newStepSamples(b)
		for b.Loop() {
			cmd := &exec.Cmd{
				Path: "/proc/self/fd/3", Args: []string{driver.BinaryName, "--api-socket", sock},
				Env: []string{}, ExtraFiles: []*os.File{f}, SysProcAttr: sysProcAttr(&cfg),
			}
			s.start()
			if viaSpawner {
				err = spawn(cmd)
			} else {
				err = cmd.Start()
			}
			s.stop()
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			pid = cmd.Process.Pid
			if viaSpawner {
				t0 := time.Now()
				_ = procStartTicks(pid)
				s.extra = append(s.extra, time.Since(t0))
			}
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			_ = os.Remove(sock)
			b.StartTimer()
		}
		s.report()
		if viaSpawner {
			b.ReportMetric(float64(median(s.extra).Nanoseconds()), "proc-stat-ns/op")
		}
	}
	b.Run("exec-spawner", func(b *testing.B) { spawnBench(b, true) })
	b.Run("exec-direct", func(b *testing.B) { spawnBench(b, false) })
	// The readiness ping against a VMM that is up: what the ping itself
	// costs once CH answers (a connection of its own, then closed).
	b.Run("ready-ping-up", func(b *testing.B) {
		needBinary(b)
		chtest.RequiresKVM(b)
		r := testRelease(releaseOfBinary(b, bin), nil)
		p, err := StartProcess(ctx, r, dir, sock, WithBinary(bin), WithoutPathTrustCheck())
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = p.Kill(); p.Wait() }()
		timed(b, func() {
			if _, err := readyPing(ctx, sock); err != nil {
				b.Fatal(err)
			}
		})
	})
	// All of it: StartProcess until ready, Stop untimed.
	b.Run("start-to-ready", func(b *testing.B) {
		needBinary(b)
		chtest.RequiresKVM(b)
		r := testRelease(releaseOfBinary(b, bin), nil)
		opts := []StartOption{WithBinary(bin)}
		if checkTrusted(bin) != nil {
			opts = append(opts, WithoutPathTrustCheck())
		}
		s := newStepSamples(b)
		for b.Loop() {
			s.start()
			p, err := StartProcess(ctx, r, dir, sock, opts...)
			s.stop()
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := p.Stop(ctx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		s.report()
	})
}

// newestRealBinary is the newest release's binary under
// $CHVMM_TEST_BINARY_DIR, or "" and why there is none.
func newestRealBinary() (string, string) {
	dir := os.Getenv(chtest.BinaryDirEnv)
	if dir == "" {
		return "", "needs a real CH binary: set " + chtest.BinaryDirEnv
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err.Error()
	}
	var found []string
	for _, e := range entries {
		path := filepath.Join(dir, e.Name(), hostArch(), driver.BinaryName)
		if _, err := parseReleaseVersion(e.Name()); err == nil {
			if _, err := os.Stat(path); err == nil {
				found = append(found, e.Name())
			}
		}
	}
	if len(found) == 0 {
		return "", "no " + driver.BinaryName + " below " + dir
	}
	slices.SortFunc(found, func(a, b string) int {
		va, _ := parseReleaseVersion(a)
		vb, _ := parseReleaseVersion(b)
		return va.Compare(vb)
	})
	return filepath.Join(dir, found[len(found)-1], hostArch(), driver.BinaryName), ""
}

// releaseOfBinary is the release tag a real binary reports.
func releaseOfBinary(b *testing.B, bin string) string {
	f, err := os.Open(bin)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	v, err := binaryVersions.get(b.Context(), f)
	if err != nil {
		b.Fatal(err)
	}
	return v.Version
}

// stepSamples records the timed part of each iteration.
type stepSamples struct {
	b     *testing.B
	d     []time.Duration
	extra []time.Duration
	t0    time.Time
}

func newStepSamples(b *testing.B) *stepSamples { return &stepSamples{b: b} }
func (s *stepSamples) start()                  { s.t0 = time.Now() }
func (s *stepSamples) stop()                   { s.d = append(s.d, time.Since(s.t0)) }
func (s *stepSamples) report() {
	if len(s.d) > 0 {
		s.b.ReportMetric(float64(median(s.d).Nanoseconds()), "med-ns/op")
	}
}

// timed runs f in a b.Loop loop and reports its median.
func timed(b *testing.B, f func()) {
	s := newStepSamples(b)
	for b.Loop() {
		s.start()
		f()
		s.stop()
	}
	s.report()
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
