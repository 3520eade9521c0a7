package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/chvmm/chvmm/core"
)

// killStormCycles is how many VMMs TestKillStorm starts and kills.
const killStormCycles = 200

// stormCallTimeout bounds every call of a storm cycle.
const stormCallTimeout = 5 * time.Second

// A stormMode is where in a VMM's life a cycle of TestKillStorm strikes.
type stormMode int

const (
	killBeforeReady stormMode = iota // SIGKILL while StartProcess waits for the API
	killDuringCalls                  // SIGKILL while API calls are in flight
	killDuringStop                   // SIGKILL while Process.Stop shuts it down
	cancelStart                      // the StartProcess context ends at a random moment
	cleanCycle                       // start, calls, stop: nothing goes wrong
	stormModes
)

func (m stormMode) String() string {
	return [...]string{"kill before ready", "kill during calls", "kill during stop", "cancel start", "clean"}[m]
}

// TestKillStorm starts 200 simulator VMMs one after the other and kills
// each at a random moment (before ready, during API calls, during Stop, or
// by cancelling the start). Every error any call returns must be typed (see
// typedError); afterwards no child process (zombie or not), fd, goroutine
// or socket file may be left.
func TestKillStorm(t *testing.T) {
	bin := simBinary(t, simVersion)
	kernel := writeKernel(t, t.TempDir())
	root := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	// One clean cycle first, so that what lives for the whole process (the
	// version cache, HTTP machinery) exists before the baseline.
	s := storm{t: t, bin: bin, kernel: kernel, root: root}
	for _, err := range s.cycle(-1, cleanCycle, rng) {
		require.NoError(t, err, "warm-up cycle")
	}
	before := snapshotResources(t)

	counts := map[stormMode]int{}
	kinds := map[string]int{}
	for i := range killStormCycles {
		mode := stormMode(rng.IntN(int(stormModes)))
		counts[mode]++
		for _, err := range s.cycle(i, mode, rng) {
			kind := errorKind(err)
			kinds[kind]++
			if kind == "" {
				t.Errorf("cycle %d (%v): untyped error %T: %v", i, mode, err, err)
			}
		}
	}
	t.Logf("%d cycles %v; errors by kind %v", killStormCycles, counts, kinds)

	requireNoLeaks(t, before)
	var sockets []string
	require.NoError(t, filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type() == fs.ModeSocket {
			sockets = append(sockets, path)
		}
		return err
	}))
	assert.Empty(t, sockets, "socket files left behind")
}

// storm runs the cycles of TestKillStorm.
type storm struct {
	t                 *testing.T
	bin, kernel, root string
}

// cycle starts one VMM, strikes as mode says, makes sure it is gone and
// reaped, and returns every error the library returned on the way.
func (s *storm) cycle(i int, mode stormMode, rng *rand.Rand) []error {
	dir := filepath.Join(s.root, strconv.Itoa(i+1))
	require.NoError(s.t, os.MkdirAll(dir, 0o755))
	sock := filepath.Join(dir, "api.sock")
	marker := fmt.Sprintf("storm-%d-%d", os.Getpid(), i)
	ctx, cancel := context.WithTimeout(context.Background(), stormCallTimeout)
	defer cancel()
	var errs errList

	var killer sync.WaitGroup
	switch mode {
	case killBeforeReady:
		delay := time.Duration(rng.IntN(25_000)) * time.Microsecond
		killer.Go(func() { killMarked(delay, marker) })
	case cancelStart:
		delay := time.Duration(rng.IntN(25_000)) * time.Microsecond
		killer.Go(func() {
			time.Sleep(delay)
			cancel()
		})
	}
	// --cmdline is a CH option the simulator ignores: it marks the process.
	p, err := core.StartProcess(ctx, simRelease(), dir, sock, simOptions(s.bin, core.WithArgs("--cmdline", marker))...)
	errs.add(err)
	if p == nil {
		killer.Wait()
		require.NoFileExists(s.t, sock, "cycle %d (%v): failed start left its socket", i, mode)
		return errs
	}
	h := p.Hypervisor()
	callCtx, stopCalls := context.WithTimeout(context.Background(), stormCallTimeout)
	defer stopCalls()

	switch mode {
	case killDuringCalls:
		var calls sync.WaitGroup
		calls.Go(func() { errs.add(busyCalls(callCtx, h, s.kernel)) })
		time.Sleep(time.Duration(rng.IntN(5_000)) * time.Microsecond)
		errs.add(p.Kill())
		calls.Wait()
	case killDuringStop:
		var stop sync.WaitGroup
		stop.Go(func() { errs.add(p.Stop(callCtx)) })
		time.Sleep(time.Duration(rng.IntN(3_000)) * time.Microsecond)
		errs.add(p.Kill())
		stop.Wait()
	case cleanCycle:
		errs.add(oneRound(callCtx, h, s.kernel))
	}
	killer.Wait()
	errs.add(p.Stop(callCtx))
	if exit := p.Wait(); mode == cleanCycle && exit.Reason != core.ExitRequested {
		errs.add(fmt.Errorf("a clean cycle's VMM ended %v, not on request", exit))
	}
	require.NoFileExists(s.t, sock, "cycle %d (%v): socket left after the VMM exited", i, mode)
	if mode == cleanCycle {
		require.Empty(s.t, errs, "cycle %d: a clean cycle failed", i)
	}
	return errs
}

// errList collects the non-nil errors of a cycle, from several goroutines.
type errList []error

var errListMu sync.Mutex

func (l *errList) add(err error) {
	if err == nil {
		return
	}
	errListMu.Lock()
	*l = append(*l, err)
	errListMu.Unlock()
}

// busyCalls drives the VM through its life cycle until a call fails (the
// VMM was killed) or ctx ends, and returns that failure.
func busyCalls(ctx context.Context, h core.Hypervisor, kernel string) error {
	for ctx.Err() == nil {
		if err := oneRound(ctx, h, kernel); err != nil {
			return err
		}
	}
	return nil
}

// oneRound creates, boots, inspects, pauses, resumes and deletes a VM.
func oneRound(ctx context.Context, h core.Hypervisor, kernel string) error {
	if _, err := h.Ping(ctx); err != nil {
		return err
	}
	if err := h.CreateVM(ctx, createBootInfoVM(kernel).Config(), nil); err != nil {
		return err
	}
	steps := []func(context.Context) error{h.BootVM, h.PauseVM, h.ResumeVM}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	if _, err := h.VMInfo(ctx); err != nil {
		return err
	}
	if _, err := h.VMCounters(ctx); err != nil {
		return err
	}
	return h.DeleteVM(ctx)
}

// killMarked waits delay, then SIGKILLs the child of this process whose
// command line holds marker, if it runs by then; through a pidfd, so a
// recycled pid is never hit.
func killMarked(delay time.Duration, marker string) {
	time.Sleep(delay)
	pid := markedChild(marker)
	if pid == 0 {
		return
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return // already exited and reaped
	}
	defer unix.Close(fd)
	if markedChild(marker) == pid { // still that process, now pinned by fd
		_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
	}
}

// markedChild returns the pid of the child whose command line holds
// marker, or 0.
func markedChild(marker string) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, ok := procStat(pid); !ok || ppid != self {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.Contains(string(cmdline), marker) {
			return pid
		}
	}
	return 0
}
