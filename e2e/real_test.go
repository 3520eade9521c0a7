package e2e

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
	"github.com/chvmm/chvmm/core/chtest"
	"github.com/chvmm/chvmm/core/driver"
)

// The real-CH suite (make test-real): every registered release whose binary
// is available (embedded for this arch, or at
// $CHVMM_TEST_BINARY_DIR/<version>/<arch>/cloud-hypervisor) runs every
// core.Hypervisor operation this host can run against a guest under KVM
// (real_vm_test.go, real_migration_test.go), and snapshots of each release
// are restored on the others (real_cross_test.go). Without KVM or binaries
// every test skips, saying why; without root the TAP steps skip. The suite
// logs each release's time and operations, and a summary table of every
// operation on every release (real_report_test.go).
//
// The guest is the chtest PVH kernel (x86_64), or, when
// CHVMM_TEST_KERNEL (and CHVMM_TEST_INITRAMFS) name them, a Linux kernel
// with an initramfs whose /init prints the same protocol on ttyS0 (see
// make test-assets): the line CHVMM-GUEST-READY, then a counter per second.
// What the guest does with an NMI, the power button or a device removal is
// the PVH guest's; those checks skip for a Linux guest.

// Environment variables of the real-CH suite.
const (
	// EnvTestKernel names a kernel (bzImage or vmlinux) to boot instead of
	// the chtest PVH guest.
	envTestKernel = "CHVMM_TEST_KERNEL"
	// EnvTestInitramfs names the initramfs booted with CHVMM_TEST_KERNEL.
	envTestInitramfs = "CHVMM_TEST_INITRAMFS"
)

// Deadlines and bounds of the real-CH suite.
const (
	realTestTimeout = 2 * time.Minute       // one release's whole flow
	pvhMarkerWait   = 10 * time.Second      // PVH guest: boot to marker (it takes milliseconds)
	linuxMarkerWait = 60 * time.Second      // Linux guest: boot to marker
	counterWait     = 10 * time.Second      // next counter line (one a second)
	eventWait       = 10 * time.Second      // a CH event after the request that causes it
	exitWait        = 10 * time.Second      // a VMM's exit after the request that ends it
	serialPoll      = 20 * time.Millisecond // serial file polling interval
	realStopTimeout = 10 * time.Second      // each step of Process.Stop
	// realParallel bounds how many releases run at once: CI has 2 cores,
	// and each release runs up to two VMMs with a guest at a time.
	realParallel = 2
)

// guest is what the real-CH suite boots.
type guest struct {
	kernel, initramfs, cmdline string
	markerWait                 time.Duration
	// pvh: the chtest PVH guest, whose reaction to NMIs, ACPI events and
	// device removal the suite knows.
	pvh bool
	// memoryMiB is the boot memory of the suite's VMs.
	memoryMiB int64
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
		return guest{kernel: kernel, initramfs: initramfs, cmdline: "console=ttyS0 quiet", markerWait: linuxMarkerWait, memoryMiB: 512}
	}
	if hostArch() != "x86_64" {
		t.Skipf("the chtest PVH guest is x86_64 only (host %s); set %s and %s (make test-assets)", hostArch(), envTestKernel, envTestInitramfs)
	}
	kernel := filepath.Join(t.TempDir(), "pvh-guest")
	require.NoError(t, chtest.WritePVHKernel(kernel))
	// 128 MiB: CH hot-plugs memory (ACPI) and sizes virtio-mem zones in
	// 128 MiB steps; the guest itself needs a few KiB.
	return guest{kernel: kernel, cmdline: "console=ttyS0", markerWait: pvhMarkerWait, pvh: true, memoryMiB: 128}
}

// realBinary returns the StartProcess options that run release r's real
// binary: the embedded one when this build has it for the host arch, else
// $CHVMM_TEST_BINARY_DIR/<version>/<arch>/cloud-hypervisor. When there is
// neither it returns why, and the release is skipped.
func realBinary(t *testing.T, r *core.Release) ([]core.StartOption, string) {
	t.Helper()
	if r.HasBinary() {
		return nil, ""
	}
	dir := os.Getenv(chtest.BinaryDirEnv)
	if dir == "" {
		return nil, fmt.Sprintf("no embedded %s binary (make binaries) and %s is unset", hostArch(), chtest.BinaryDirEnv)
	}
	path := filepath.Join(dir, r.Version(), hostArch(), driver.BinaryName)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, "no binary: " + path + " does not exist"
	}
	// RequiresBinary fails the test for a binary that is there but broken.
	// CI's copy of the binaries may lie below a world-writable directory;
	// the path trust check is core's own tests' matter, not CH's.
	return []core.StartOption{core.WithBinary(chtest.RequiresBinary(t, r.Version())), core.WithoutPathTrustCheck()}, ""
}

// realSnapshot is a snapshot a release's run left, for the cross-release
// restores.
type realSnapshot struct {
	version string
	dir     string // the snapshot
	serial  string // the serial file its VM config names
	netID   string // its net device backed by TAP fds, or ""
	opts    []core.StartOption
	last    int // the guest's last counter before the snapshot
}

// TestRealCH runs every core.Hypervisor operation this host can run on every
// release present (see the file comment), then the cross-release restores,
// and logs the summary table.
func TestRealCH(t *testing.T) {
	chtest.RequiresKVM(t)
	g := testGuest(t)
	// Everything a release's run leaves for the cross-release checks (its
	// snapshot, the serial file its VM config names) lives under root, which
	// outlives the release's subtest. Short paths: unix sockets go there too.
	root := t.TempDir()
	noTAP := tapUnavailable()
	if noTAP != "" {
		t.Logf("no TAP devices: %s; the net steps skip", noTAP)
	}
	rep := newSuiteReport(releaseVersions())
	var (
		mu        sync.Mutex
		snapshots []realSnapshot
	)
	sem := make(chan struct{}, realParallel)
	began := time.Now()
	t.Run("releases", func(t *testing.T) {
		for _, r := range core.Releases() {
			t.Run(r.Version(), func(t *testing.T) {
				t.Parallel()
				sem <- struct{}{}
				defer func() { <-sem }()
				opts, reason := realBinary(t, r)
				if reason != "" {
					rep.skipRelease(r.Version(), reason)
					t.Skip(reason)
				}
				dir := filepath.Join(root, r.Version())
				require.NoError(t, os.Mkdir(dir, 0o755))
				rr := &realRun{
					t: t, r: r, g: g, dir: dir, dataDir: filepath.Join(root, "data"),
					opts:  append([]core.StartOption{core.WithStopTimeout(realStopTimeout)}, opts...),
					noTAP: noTAP, taps: watchTAPs(t),
					rec: recorder{t: t, release: r.Version(), rep: rep},
				}
				ctx, cancel := context.WithTimeout(t.Context(), realTestTimeout)
				defer cancel()
				rr.ctx = ctx
				started := time.Now()
				defer func() { rr.rec.finish(time.Since(started)) }()
				snap := rr.run()
				mu.Lock()
				snapshots = append(snapshots, snap)
				mu.Unlock()
			})
		}
	})
	slices.SortFunc(snapshots, func(a, b realSnapshot) int {
		return slices.Index(releaseVersions(), a.version) - slices.Index(releaseVersions(), b.version)
	})
	t.Run("cross-release", func(t *testing.T) {
		if len(snapshots) == 0 {
			t.Skip("no release ran to its snapshot")
		}
		crossRelease(t, rep, snapshots, noTAP, sem)
	})
	t.Logf("real-CH suite: %v for %d releases; summary:\n%s", time.Since(began).Round(time.Millisecond), len(snapshots), rep.table())
}

// realRun is one release's run of the suite.
type realRun struct {
	t       *testing.T
	ctx     context.Context
	r       *core.Release
	g       guest
	dir     string // this release's files; outlives t
	dataDir string
	opts    []core.StartOption // StartProcess options of every VMM
	noTAP   string             // why there are no TAP devices, or ""
	taps    *tapWatch
	rec     recorder
	rotated int // serial files set aside so far
}

// run runs the release's flows, sequentially: each has its own VMMs.
func (rr *realRun) run() realSnapshot {
	snap := rr.mainVM()
	rr.restore(snap)
	rr.zonesAndMigration()
	rr.notExercised()
	return snap
}

// realVMM is a VMM the suite started, for failure messages that say which.
type realVMM struct {
	*core.Process
	h      core.Hypervisor
	role   string
	events *eventLog // its Process.Events, kept
}

// where says which VMM, for failure messages: release, role, pid, log.
func (v *realVMM) where() string {
	return fmt.Sprintf(" [CH %s, %s VMM pid %d, VMM log %s]", v.Release(), v.role, v.PID(), v.LogPath())
}

// startVMM starts a VMM of the release on {dir}/{role}.sock, stopped and
// reaped when the test ends.
func (rr *realRun) startVMM(role string, more ...core.StartOption) *realVMM {
	rr.t.Helper()
	sock := filepath.Join(rr.dir, role+".sock")
	p, err := core.StartProcess(rr.ctx, rr.r, rr.dataDir, sock, append(slices.Clone(rr.opts), more...)...)
	require.NoError(rr.t, err, "StartProcess CH %s as the %s VMM on %s (its log: %s)", rr.r.Version(), role, sock, defaultLogPath(sock))
	return adoptVMM(rr.t, p, rr.r, role)
}

// adoptVMM wraps a started process, and stops it when t ends.
func adoptVMM(t *testing.T, p *core.Process, r *core.Release, role string) *realVMM {
	t.Helper()
	v := &realVMM{Process: p, h: p.Hypervisor(), role: role}
	stopOnCleanup(t, v)
	require.NotNil(t, v.h, "no Hypervisor for CH %s%s", p.Release(), v.where())
	require.Equal(t, r.Version(), v.h.Release().Version(), "the VMM's release%s", v.where())
	return v
}

// exited reports whether the VMM has exited.
func (v *realVMM) exited() bool {
	select {
	case <-v.Done():
		return true
	default:
		return false
	}
}

// info is VMInfo, which must succeed.
func (v *realVMM) info(t *testing.T, ctx context.Context) *api.VMInfo {
	t.Helper()
	info, err := v.h.VMInfo(ctx)
	require.NoError(t, err, "GET /vm.info: expected the VM's info%s", v.where())
	return info
}

// stopOnCleanup stops v when the test ends, if it still runs, and logs the
// end of its log if the test failed (its file goes with the test's
// temporary directory).
func stopOnCleanup(t *testing.T, v *realVMM) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*realStopTimeout)
		defer cancel()
		if err := v.Stop(ctx); err != nil {
			t.Errorf("stopping the %s VMM: expected it gone, got %v%s", v.role, err, v.where())
		}
		if t.Failed() && v.LogPath() != "" {
			data, _ := os.ReadFile(v.LogPath())
			t.Logf("the %s VMM (CH %s, pid %d) ended (%v); its log %s ends with:\n%s", v.role, v.Release(), v.PID(), v.Wait(), v.LogPath(), tailBytes(data, 2000))
		}
	})
}

// rotateSerial moves the serial file aside, so that the next guest output
// (a reboot, a restore, a migration: CH creates the file anew) starts an
// empty file; the moved file keeps what CH's old descriptor still writes.
func (rr *realRun) rotateSerial(serial string) {
	rr.t.Helper()
	rr.rotated++
	err := os.Rename(serial, serial+"."+strconv.Itoa(rr.rotated))
	if !errors.Is(err, fs.ErrNotExist) {
		require.NoError(rr.t, err, "setting the serial file %s aside", serial)
	}
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
				t.Fatalf("expected %s within %v: the serial file %s does not exist (the VMM never opened it); VMM log %s",
					what, wait, serial, p.LogPath())
			}
			t.Fatalf("expected %s within %v in %s; it holds %d bytes, ending %q; VMM log %s", what, wait, serial, len(data), tailBytes(data, 300), p.LogPath())
		}
		select {
		case <-tick.C:
		case <-p.Done():
			t.Fatalf("the VMM exited (%v) while the test expected %s in %s; VMM log %s", p.Wait(), what, serial, p.LogPath())
		}
	}
}

// waitMarker waits for the guest's ready line: a fresh boot.
func waitMarker(t *testing.T, p *core.Process, serial string, g guest) {
	t.Helper()
	waitSerial(t, p, serial, g.markerWait, "the guest's "+chtest.GuestReadyMarker+" line", chtest.GuestReady)
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

// lastCounter returns the last counter in the serial file, -1 if none yet.
func lastCounter(t *testing.T, serial string, parse func([]byte) []int) int {
	t.Helper()
	data, err := os.ReadFile(serial)
	require.NoError(t, err, "reading the serial file")
	cs := parse(data)
	if len(cs) == 0 {
		return -1
	}
	return cs[len(cs)-1]
}

// restoredCounters parses the serial output of a restored or migrated
// guest, which continues counting without printing the marker again.
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
