package e2e

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/chtest"
)

// The real-CH suite (make test-real): every registered release whose binary
// is available (embedded for this arch, or at
// $CHVMM_TEST_BINARY_DIR/<version>/cloud-hypervisor) boots a guest under
// KVM, is snapshotted, and is restored. Without KVM or binaries every test
// skips, saying why.
//
// The guest is the chtest PVH kernel (x86_64), or, when
// CHVMM_TEST_KERNEL (and CHVMM_TEST_INITRAMFS) name them, a Linux kernel
// with an initramfs whose /init prints the same protocol on ttyS0 (see
// make test-assets): the line CHVMM-GUEST-READY, then a counter per second.

// Environment variables of the real-CH suite.
const (
	// EnvTestKernel names a kernel (bzImage or vmlinux) to boot instead of
	// the chtest PVH guest.
	envTestKernel = "CHVMM_TEST_KERNEL"
	// EnvTestInitramfs names the initramfs booted with CHVMM_TEST_KERNEL.
	envTestInitramfs = "CHVMM_TEST_INITRAMFS"
)

// Deadlines of the real-CH suite.
const (
	realTestTimeout = 2 * time.Minute       // one version's whole flow
	pvhMarkerWait   = 10 * time.Second      // PVH guest: boot to marker (it takes milliseconds)
	linuxMarkerWait = 60 * time.Second      // Linux guest: boot to marker
	counterWait     = 10 * time.Second      // next counter line (one a second)
	serialPoll      = 20 * time.Millisecond // serial file polling interval
	realStopTimeout = 10 * time.Second      // each step of Process.Stop
)

// guest is what the real-CH suite boots.
type guest struct {
	kernel, initramfs, cmdline string
	markerWait                 time.Duration
}

// testGuest returns the guest to boot, skipping when there is none for
// this host.
func testGuest(t *testing.T) guest {
	t.Helper()
	if kernel := os.Getenv(envTestKernel); kernel != "" {
		initramfs := os.Getenv(envTestInitramfs)
		require.FileExists(t, kernel, "%s", envTestKernel)
		if initramfs == "" {
			t.Fatalf("%s is set but %s is not: the suite needs the initramfs of make test-assets, whose /init prints %s", envTestKernel, envTestInitramfs, chtest.GuestReadyMarker)
		}
		require.FileExists(t, initramfs, "%s", envTestInitramfs)
		return guest{kernel: kernel, initramfs: initramfs, cmdline: "console=ttyS0 quiet", markerWait: linuxMarkerWait}
	}
	if core.HostArch() != core.ArchX86_64 {
		t.Skipf("the chtest PVH guest is x86_64 only (host %s); set %s and %s (make test-assets)", core.HostArch(), envTestKernel, envTestInitramfs)
	}
	kernel := filepath.Join(t.TempDir(), "pvh-guest")
	require.NoError(t, chtest.WritePVHKernel(kernel))
	return guest{kernel: kernel, cmdline: "console=ttyS0", markerWait: pvhMarkerWait}
}

// realBinary returns the StartProcess options that run release r's real
// binary: the embedded one when this build has it for the host arch, else
// $CHVMM_TEST_BINARY_DIR/<version>/cloud-hypervisor; it skips when there is
// neither.
func realBinary(t *testing.T, r *core.Release) []core.ProcessOption {
	t.Helper()
	if r.HasBinary(core.HostArch()) {
		return nil
	}
	return []core.ProcessOption{core.WithBinary(chtest.RequiresBinary(t, r.Version))}
}

// realSnapshot is a snapshot a version's run left, for the cross-version
// restore check.
type realSnapshot struct {
	version string
	dir     string
	opts    []core.ProcessOption
}

// TestRealCH runs the whole life of a VM on every version present: start,
// create, boot, guest marker, info, counters, pause, snapshot, resume,
// shutdown, VMM shutdown; then restore from the snapshot in a fresh VMM,
// where the guest's counter continues; and a snapshot is refused by a VMM of
// another version.
func TestRealCH(t *testing.T) {
	chtest.RequiresKVM(t)
	g := testGuest(t)
	var (
		mu        sync.Mutex
		ran       []string
		snapshots []realSnapshot
	)
	// Snapshots outlive the subtest that takes them: the cross-release
	// check below restores them.
	snapRoot := t.TempDir()
	for _, r := range core.Releases() {
		t.Run(r.Version, func(t *testing.T) {
			opts := realBinary(t, r)
			snap := filepath.Join(snapRoot, r.Version)
			require.NoError(t, os.Mkdir(snap, 0o700))
			runRealVersion(t, r, g, opts, snap)
			mu.Lock()
			ran = append(ran, r.Version)
			snapshots = append(snapshots, realSnapshot{version: r.Version, dir: snap, opts: opts})
			mu.Unlock()
		})
	}
	t.Logf("versions run: %v", ran)
	t.Run("restore refused on another version", func(t *testing.T) {
		if len(snapshots) == 0 {
			t.Skip("no version ran to the snapshot")
		}
		restoreOnOtherVersion(t, snapshots)
	})
}

// runRealVersion is TestRealCH for release r; it snapshots into snap.
func runRealVersion(t *testing.T, r *core.Release, g guest, binOpts []core.ProcessOption, snap string) {
	ctx, cancel := context.WithTimeout(t.Context(), realTestTimeout)
	defer cancel()
	dataDir := t.TempDir()
	dir := t.TempDir()
	opts := append([]core.ProcessOption{core.WithStopTimeout(realStopTimeout)}, binOpts...)

	started := time.Now()
	p, err := core.StartProcess(ctx, dataDir, r.Version, filepath.Join(dir, "api.sock"), opts...)
	require.NoError(t, err)
	readyAfter := time.Since(started)
	stopOnCleanup(t, p)
	h := p.Hypervisor()
	require.NotNil(t, h, "no Hypervisor for %s", p.Version())
	require.Equal(t, r.Version, h.Release().Version)

	serial := filepath.Join(dir, "serial.log")
	cfg := core.DirectBoot{Kernel: g.kernel, Initramfs: g.initramfs, Cmdline: g.cmdline, VCPUs: 1, MemoryMiB: 256, SerialFile: serial}.Config()
	require.NoError(t, h.CreateVM(ctx, cfg))
	booted := time.Now()
	require.NoError(t, h.BootVM(ctx))
	waitSerial(t, p, serial, g.markerWait, "the guest's "+chtest.GuestReadyMarker+" line", chtest.GuestReady)
	markerAfter := time.Since(booted)
	t.Logf("CH %s (%s): StartProcess to ready %v, boot to marker %v", r.Version, p.Binary(), readyAfter, markerAfter)

	info, err := h.VMInfo(ctx)
	require.NoError(t, err)
	assert.Equal(t, core.VMStateRunning, info.State)
	_, err = h.VMCounters(ctx)
	require.NoError(t, err)
	counters := waitCounter(t, p, serial, 1, chtest.GuestCounters) // the guest counts

	require.NoError(t, h.PauseVM(ctx))
	info, err = h.VMInfo(ctx)
	require.NoError(t, err)
	assert.Equal(t, core.VMStatePaused, info.State)
	lastBeforeSnapshot := lastCounter(t, serial, chtest.GuestCounters)
	require.GreaterOrEqual(t, lastBeforeSnapshot, counters)
	require.NoError(t, h.Snapshot(ctx, snap))
	md, err := core.ReadSnapshotMetadata(snap)
	require.NoError(t, err)
	assert.Equal(t, r.Version, md.Version)

	require.NoError(t, h.ResumeVM(ctx))
	waitCounter(t, p, serial, lastBeforeSnapshot+1, chtest.GuestCounters) // it runs on
	require.NoError(t, h.ShutdownVM(ctx))
	require.NoError(t, p.Stop(ctx))
	require.NoError(t, p.Wait(), "the VMM exits 0 after vmm.shutdown")

	// Restore in a fresh VMM: the counter continues from the snapshot. The
	// restored VM writes to the same serial path; keep the first log apart.
	require.NoError(t, os.Rename(serial, serial+".first"))
	restoreDir := t.TempDir()
	rp, err := core.RestoreProcess(ctx, dataDir, snap, filepath.Join(restoreDir, "api.sock"),
		append(opts, core.WithRestoreOptions(core.RestoreOptions{Resume: true}))...)
	require.NoError(t, err)
	stopOnCleanup(t, rp)
	require.Equal(t, r.Version, rp.Version())
	restored := func(log []byte) []int { return restoredCounters(log) }
	first := waitCounter(t, rp, serial, lastBeforeSnapshot+1, restored)
	data, _ := os.ReadFile(serial)
	assert.False(t, chtest.GuestReady(data), "the restored guest booted again instead of continuing")
	assert.LessOrEqual(t, first, lastBeforeSnapshot+2, "the restored counter continues from %d", lastBeforeSnapshot)
	info, err = rp.Hypervisor().VMInfo(ctx)
	require.NoError(t, err)
	assert.Equal(t, core.VMStateRunning, info.State)
	require.NoError(t, rp.Stop(ctx))
}

// restoreOnOtherVersion checks that a VMM refuses a snapshot another CH
// release wrote: a real one when two versions ran, else one whose metadata
// claims another release.
func restoreOnOtherVersion(t *testing.T, snapshots []realSnapshot) {
	ctx, cancel := context.WithTimeout(t.Context(), realTestTimeout)
	defer cancel()
	target := snapshots[len(snapshots)-1]
	snap := snapshots[0].dir
	if len(snapshots) == 1 {
		// One version only: a copy of its snapshot's metadata claiming
		// another release.
		other := core.Releases()[0].Version
		if other == target.version {
			other = core.Releases()[len(core.Releases())-1].Version
		}
		snap = t.TempDir()
		md, err := core.ReadSnapshotMetadata(target.dir)
		require.NoError(t, err)
		data, err := os.ReadFile(filepath.Join(target.dir, core.SnapshotMetadataFile))
		require.NoError(t, err)
		data = bytes.Replace(data, []byte(strconv.Quote(md.Version)), []byte(strconv.Quote(other)), 1)
		require.NoError(t, os.WriteFile(filepath.Join(snap, core.SnapshotMetadataFile), data, 0o644))
	}
	dir := t.TempDir()
	rel, err := core.Lookup(target.version)
	require.NoError(t, err)
	p, err := core.StartProcess(ctx, t.TempDir(), rel.Version, filepath.Join(dir, "api.sock"), target.opts...)
	require.NoError(t, err)
	stopOnCleanup(t, p)
	err = p.Hypervisor().Restore(ctx, snap, core.RestoreOptions{})
	require.ErrorIs(t, err, core.ErrVersionMismatch)
	info, err := p.Hypervisor().VMInfo(ctx)
	require.ErrorIs(t, err, core.ErrVMNotCreated, "nothing was restored (%v)", info)
}

// stopOnCleanup stops p when the test ends, if it still runs.
func stopOnCleanup(t *testing.T, p *core.Process) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*realStopTimeout)
		defer cancel()
		if err := p.Stop(ctx); err != nil {
			t.Errorf("stopping CH pid %d: %v", p.PID(), err)
		}
	})
}

// waitSerial polls the serial file until ok accepts its content, failing
// the test after wait or when the VMM exits. what says what it waited for.
func waitSerial(t *testing.T, p *core.Process, serial string, wait time.Duration, what string, ok func([]byte) bool) []byte {
	t.Helper()
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(serialPoll)
	defer tick.Stop()
	for {
		data, err := os.ReadFile(serial)
		if err == nil && ok(data) {
			return data
		}
		if time.Now().After(deadline) {
			if errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("did not see %s within %v: the serial file %s does not exist (the VMM never opened it; a simulator has no guest); VMM log %s",
					what, wait, serial, p.LogPath())
			}
			t.Fatalf("did not see %s within %v in %s; it holds %d bytes, ending %q; VMM log %s", what, wait, serial, len(data), tailBytes(data, 300), p.LogPath())
		}
		select {
		case <-tick.C:
		case <-p.Done():
			t.Fatalf("the VMM exited (%v) while waiting for %s; VMM log %s", p.ProcessState(), what, p.LogPath())
		}
	}
}

// waitCounter waits until the guest printed a counter ≥ atLeast, and
// returns the first such value.
func waitCounter(t *testing.T, p *core.Process, serial string, atLeast int, parse func([]byte) []int) int {
	t.Helper()
	found := -1
	waitSerial(t, p, serial, counterWait, "a guest counter ≥ "+strconv.Itoa(atLeast), func(data []byte) bool {
		for _, c := range parse(data) {
			if c >= atLeast {
				found = c
				return true
			}
		}
		return false
	})
	return found
}

// lastCounter returns the last counter in the serial file.
func lastCounter(t *testing.T, serial string, parse func([]byte) []int) int {
	t.Helper()
	data, err := os.ReadFile(serial)
	require.NoError(t, err)
	cs := parse(data)
	require.NotEmpty(t, cs, "no counter in %s", serial)
	return cs[len(cs)-1]
}

// restoredCounters parses the serial output of a restored guest, which
// continues counting without printing the marker again.
func restoredCounters(log []byte) []int {
	if chtest.GuestReady(log) {
		return chtest.GuestCounters(log)
	}
	return chtest.GuestCounters(append([]byte(chtest.GuestReadyMarker+"\n"), log...))
}

func tailBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
