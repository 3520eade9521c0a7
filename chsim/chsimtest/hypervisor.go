package chsimtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/chsim"
	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
)

// TestHypervisor is the conformance suite of core.Hypervisor for CH version:
// it drives every operation through core's version-neutral API against
// simulators of that version (in process, and as a child process started by
// core.StartProcess), and checks what the release's spec and the real
// server's behaviour say. version must be registered with core (its version
// module imported); each version module's generated test calls it with its
// own Version. A version chsim does not model is skipped.
func TestHypervisor(t *testing.T, version string) {
	if !slices.Contains(chsim.Versions, version) {
		t.Skipf("chsim does not model CH %s (it models %s); add the release to chsim to run the conformance suite", version, strings.Join(chsim.Versions, ", "))
	}
	rel, err := core.Lookup(version)
	require.NoError(t, err, "CH %s is not registered: import its version module", version)
	require.Equal(t, version, rel.Version(), "core.Lookup(%q) found another release", version)

	t.Run("Lifecycle", func(t *testing.T) { t.Parallel(); testLifecycle(t, version) })
	t.Run("Errors", func(t *testing.T) { t.Parallel(); testErrors(t, version) })
	t.Run("VersionedOperations", func(t *testing.T) { t.Parallel(); testVersionedOperations(t, version) })
	t.Run("UnsupportedFields", func(t *testing.T) { t.Parallel(); testUnsupportedFields(t, version) })
	t.Run("RoundTripEveryField", func(t *testing.T) { t.Parallel(); testRoundTripEveryField(t, version) })
	t.Run("ZeroValuesReachCH", func(t *testing.T) { t.Parallel(); testZeroValues(t, version) })
	t.Run("SnapshotRestore", func(t *testing.T) { t.Parallel(); testSnapshotRestore(t, version) })
	t.Run("FilePassing", func(t *testing.T) { t.Parallel(); testFilePassing(t, version) })
	t.Run("Process", func(t *testing.T) { t.Parallel(); testProcess(t, version) })
}

// vmm is one in-process simulator and the Hypervisor talking to it.
type vmm struct {
	h      core.Hypervisor
	srv    *chsim.Server
	socket string
}

// connect starts a simulator of version and connects to it with
// core.Connect, as a program would.
func connect(t *testing.T, version string, opts ...chsim.Option) *vmm {
	t.Helper()
	socket, srv := Start(t, version, opts...)
	h, err := core.Connect(ctx(t), socket)
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	require.Equal(t, version, h.Release().Version())
	return &vmm{h: h, srv: srv, socket: socket}
}

// ctx is the test's context, bounded so that a hung call fails the test.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// files are the files a VM of the suite uses, all of which exist.
type files struct {
	kernel, serial, disk string
}

func newFiles(t *testing.T) files {
	t.Helper()
	dir := t.TempDir()
	f := files{
		kernel: filepath.Join(dir, "vmlinux"),
		serial: filepath.Join(dir, "serial.log"),
		disk:   filepath.Join(dir, "disk.img"),
	}
	require.NoError(t, os.WriteFile(f.kernel, []byte("\x7fELF kernel stand-in"), 0o644))
	require.NoError(t, os.WriteFile(f.disk, make([]byte, 1<<20), 0o644))
	return f
}

// config is the suite's VM: DirectBoot, 1 vCPU (max 2), 256 MiB, a disk,
// serial to a file.
func (f files) config() *api.VMConfig {
	return api.DirectBoot{
		Kernel:     f.kernel,
		Cmdline:    "console=ttyS0 reboot=k panic=1",
		VCPUs:      1,
		MaxVCPUs:   2,
		MemoryMiB:  256,
		SerialFile: f.serial,
		Disks:      []string{f.disk},
	}.Config()
}

// requireState asserts the VM's state as vm.info reports it.
func requireState(t *testing.T, h core.Hypervisor, want api.VMState) *api.VMInfo {
	t.Helper()
	info, err := h.VMInfo(ctx(t))
	require.NoError(t, err)
	require.Equal(t, want, info.State)
	return info
}

// requireAPIError asserts err is an *core.APIError with exactly msgs.
func requireAPIError(t *testing.T, err error, status int, msgs ...string) *core.APIError {
	t.Helper()
	var ae *core.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, status, ae.StatusCode)
	assert.Equal(t, msgs, ae.Messages)
	return ae
}

// assertSubset asserts that every member set in want (JSON) has the same
// value in got: what the client sent is what CH reports back.
func assertSubset(t *testing.T, want, got any, path string) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !assert.True(t, ok, "%s: CH reports %v, want an object", path, got) {
			return
		}
		for k, v := range w {
			assertSubset(t, v, g[k], path+"."+k)
		}
	case []any:
		g, ok := got.([]any)
		if !assert.True(t, ok, "%s: CH reports %v, want a list", path, got) || !assert.Len(t, g, len(w), path) {
			return
		}
		for i := range w {
			assertSubset(t, w[i], g[i], fmt.Sprintf("%s[%d]", path, i))
		}
	default:
		assert.Equal(t, want, got, path)
	}
}

// asJSON returns v marshalled and decoded as generic JSON.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out any
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

var bdfPattern = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`)

// requireHotPlugged asserts a hot-plug answer and that the device is in
// the VM's device tree.
func requireHotPlugged(t *testing.T, h core.Hypervisor, info *api.PciDeviceInfo, err error, idPrefix string) string {
	t.Helper()
	require.NoError(t, err)
	require.NotNil(t, info, "a hot plug into a running VM answers its PCI info")
	assert.True(t, strings.HasPrefix(info.ID, idPrefix), "device id %q, want prefix %q", info.ID, idPrefix)
	assert.Regexp(t, bdfPattern, info.Bdf)
	vm, err := h.VMInfo(ctx(t))
	require.NoError(t, err)
	require.NotNil(t, vm.DeviceTree)
	assert.Contains(t, *vm.DeviceTree, info.ID)
	return info.ID
}

func ptr[T any](v T) *T { return &v }

func testLifecycle(t *testing.T, version string) {
	v := connect(t, version)
	h, c := v.h, ctx(t)
	f := newFiles(t)
	cfg := f.config()
	cfg.Net = []api.NetConfig{{ID: ptr("net0"), Mac: ptr("12:34:56:78:9a:bc"), Mtu: ptr(1400), NumQueues: ptr(2), QueueSize: ptr(256)}}
	cfg.Memory.Shared = ptr(true)
	cfg.Rng = &api.RngConfig{Src: "/dev/urandom"}

	ping, err := h.Ping(c)
	require.NoError(t, err)
	assert.Equal(t, version, ping.BuildVersion)

	require.NoError(t, h.CreateVM(c, cfg, nil))
	info := requireState(t, h, api.VMStateCreated)
	assertSubset(t, asJSON(t, cfg), asJSON(t, info.Config), "config")
	require.NotNil(t, info.MemoryActualSize)
	assert.EqualValues(t, 256<<20, *info.MemoryActualSize)

	require.NoError(t, h.BootVM(c))
	info = requireState(t, h, api.VMStateRunning)
	assertSubset(t, asJSON(t, cfg.Payload), asJSON(t, info.Config.Payload), "config.payload")
	require.Len(t, info.Config.Disks, 1)
	require.NotNil(t, info.Config.Disks[0].ID, "CH names the disk at boot")
	diskID := *info.Config.Disks[0].ID

	counters, err := h.VMCounters(c)
	require.NoError(t, err)
	assert.Contains(t, counters, diskID)
	assert.Contains(t, counters, "net0")

	// vCPUs: up to max_vcpus works, above is CH's CPU manager error.
	require.NoError(t, h.Resize(c, api.VMResize{DesiredVcpus: ptr(2)}))
	info = requireState(t, h, api.VMStateRunning)
	assert.Equal(t, 2, info.Config.Cpus.BootVcpus)
	err = h.Resize(c, api.VMResize{DesiredVcpus: ptr(3)})
	requireAPIError(t, err, 500, "Error from API", "The VM could not be resized", "Error from CPU manager", "Requested vCPUs exceed maximum")

	// Hot plug and unplug.
	disk2 := filepath.Join(t.TempDir(), "disk2.img")
	require.NoError(t, os.WriteFile(disk2, make([]byte, 4096), 0o644))
	pci, err := h.AddDisk(c, api.DiskConfig{Path: &disk2, Readonly: ptr(true)})
	disk2ID := requireHotPlugged(t, h, pci, err, "_disk")
	pci, err = h.AddNet(c, api.NetConfig{ID: ptr("net1"), Tap: ptr("tap1")})
	assert.Equal(t, "net1", requireHotPlugged(t, h, pci, err, "net1"))
	require.NoError(t, h.RemoveDevice(c, disk2ID))
	info = requireState(t, h, api.VMStateRunning)
	assert.Len(t, info.Config.Disks, 1)
	// CH asks the guest to eject the device, and drops it from the device
	// tree once the guest has; no guest runs (as with a guest without ACPI
	// hot plug, such as the real-CH suite's PVH guest), so it stays, and
	// removing it again asks again.
	assert.Contains(t, *info.DeviceTree, disk2ID)
	require.NoError(t, h.RemoveDevice(c, disk2ID))
	err = h.RemoveDevice(c, "no-such-device")
	unknown := "Failed to find device corresponding to the given identifier"
	if version >= "v53.0" {
		unknown += ": no-such-device"
	}
	requireAPIError(t, err, 500, "Error from API", "The device could not be removed from the VM", "Error from device manager", unknown)

	// Pause, snapshot, resume.
	require.NoError(t, h.PauseVM(c))
	requireState(t, h, api.VMStatePaused)
	snap := t.TempDir()
	require.NoError(t, h.Snapshot(c, snap))
	md, err := core.ReadSnapshotMetadata(snap)
	require.NoError(t, err)
	assert.Equal(t, version, md.Version)
	assert.Equal(t, v.h.Release().Arch(), md.Arch)
	assert.WithinDuration(t, time.Now(), md.Created, time.Minute)
	raw, err := os.ReadFile(filepath.Join(snap, "chvmm-snapshot.json"))
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"ch_version": "`+version+`"`)
	assert.FileExists(t, filepath.Join(snap, "config.json"), "CH's own snapshot files are there too")
	require.NoError(t, h.ResumeVM(c))
	requireState(t, h, api.VMStateRunning)

	require.NoError(t, h.RebootVM(c))
	requireState(t, h, api.VMStateRunning)
	require.NoError(t, h.ShutdownVM(c))
	info = requireState(t, h, api.VMStateCreated)
	assert.Equal(t, 2, info.Config.Cpus.BootVcpus, "a shut-down VM keeps its config")
	require.NoError(t, h.BootVM(c))
	requireState(t, h, api.VMStateRunning)
	require.NoError(t, h.PowerButton(c))
	require.NoError(t, h.NMI(c))

	require.NoError(t, h.DeleteVM(c))
	_, err = h.VMInfo(c)
	require.ErrorIs(t, err, core.ErrVMNotCreated)
	require.NoError(t, h.DeleteVM(c), "deleting without a VM is not an error")
	require.NoError(t, h.ShutdownVMM(c))
	select {
	case <-v.srv.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the VMM did not exit after ShutdownVMM")
	}
}

func testErrors(t *testing.T, version string) {
	h, c := connect(t, version).h, ctx(t)
	f := newFiles(t)

	err := h.BootVM(c)
	require.ErrorIs(t, err, core.ErrVMNotCreated)
	var ae *core.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, []string{"Error from API", "The VM could not boot", "VM config is missing"}, ae.Messages)
	_, err = h.VMInfo(c)
	require.ErrorIs(t, err, core.ErrVMNotCreated)

	require.ErrorIs(t, h.CreateVM(c, nil, nil), core.ErrBadConfig)
	require.NoError(t, h.CreateVM(c, f.config(), nil))
	err = h.CreateVM(c, f.config(), nil)
	require.ErrorIs(t, err, core.ErrVMAlreadyCreated)
	requireAPIError(t, err, 500, "Error from API", "The VM could not be created", "VM is already created")

	for name, op := range map[string]func(context.Context) error{
		"pause": h.PauseVM, "resume": h.ResumeVM, "shutdown": h.ShutdownVM, "power-button": h.PowerButton,
	} {
		assert.ErrorIs(t, op(c), core.ErrInvalidState, "%s of a created VM", name)
	}
	require.NoError(t, h.BootVM(c))
	if version >= "v53.0" {
		// "The VM could not boot", "VM is already created".
		assert.ErrorIs(t, h.BootVM(c), core.ErrVMAlreadyCreated, "booting a running VM")
	} else {
		// "invalid VM state transition: Running to Running".
		assert.ErrorIs(t, h.BootVM(c), core.ErrInvalidState, "booting a running VM")
	}
	assert.ErrorIs(t, h.ResumeVM(c), core.ErrInvalidState, "resuming a running VM")
	err = h.Snapshot(c, t.TempDir())
	assert.ErrorContains(t, err, "Trying to snapshot while VM is running")
	require.NoError(t, h.PauseVM(c))
	assert.ErrorIs(t, h.PauseVM(c), core.ErrInvalidState, "pausing a paused VM")
	assert.ErrorIs(t, h.Snapshot(c, filepath.Join(t.TempDir(), "absent")), os.ErrNotExist)
}

func testVersionedOperations(t *testing.T, version string) {
	v := connect(t, version)
	h, c := v.h, ctx(t)
	rel := h.Release()
	f := newFiles(t)
	cfg := f.config()
	cfg.Disks[0].ID = ptr("root")
	require.NoError(t, h.CreateVM(c, cfg, nil))
	require.NoError(t, h.BootVM(c))

	t.Run("ResizeDisk", func(t *testing.T) {
		err := h.ResizeDisk(c, api.VMResizeDisk{ID: ptr("root"), DesiredSize: ptr(int64(2 << 20))})
		if !rel.Has("PUT /vm.resize-disk") {
			require.ErrorIs(t, err, core.ErrUnsupported)
			assert.ErrorContains(t, err, "first in CH v50.2")
			assert.Less(t, version, "v50.2")
			return
		}
		require.NoError(t, err)
		fi, err := os.Stat(f.disk)
		require.NoError(t, err)
		assert.EqualValues(t, 2<<20, fi.Size(), "the disk image grew")
	})
	t.Run("NMI", func(t *testing.T) {
		// Every server routes vm.nmi (the v48–v52 specs' vmm.nmi is a 404,
		// as chsim answers it).
		assert.True(t, rel.Has("PUT /vm.nmi"))
		assert.False(t, rel.Has("PUT /vmm.nmi"))
		require.NoError(t, h.NMI(c))
	})
	t.Run("AddGenericVhostUser", func(t *testing.T) {
		if !rel.Has("PUT /vm.add-generic-vhost-user") {
			_, err := h.AddGenericVhostUser(c, api.GenericVhostUserConfig{Socket: "/run/gvu.sock", QueueSizes: []uint16{256}})
			require.ErrorIs(t, err, core.ErrUnsupported)
			assert.ErrorContains(t, err, "first in CH v52.0")
			return
		}
		// Every release with the route reads queue_sizes and device_type
		// (v52.0's spec names them queue_size and virtio_id: apigen's
		// fix-ups rename them).
		require.True(t, rel.Has("GenericVhostUserConfig.queue_sizes"))
		gvu := api.GenericVhostUserConfig{Socket: "/run/gvu.sock", QueueSizes: []uint16{256}, DeviceType: 26}
		_, err := h.AddGenericVhostUser(c, gvu)
		requireAPIError(t, err, 500, "Error from API", "The generic vhost-user device could not be added to the VM",
			"Failed to validate config", "Using vhost-user requires using shared memory or huge pages")
		w := connect(t, version)
		cfg := f.config()
		cfg.Memory.Shared = ptr(true)
		require.NoError(t, w.h.CreateVM(c, cfg, nil))
		require.NoError(t, w.h.BootVM(c))
		pci, err := w.h.AddGenericVhostUser(c, gvu)
		requireHotPlugged(t, w.h, pci, err, "_generic_vhost_user")
	})
	t.Run("Coredump", func(t *testing.T) {
		// Only CH builds with the guest_debug feature serve vm.coredump.
		w := connect(t, version, chsim.WithGuestDebug())
		require.NoError(t, w.h.CreateVM(c, f.config(), nil))
		require.NoError(t, w.h.BootVM(c))
		require.NoError(t, w.h.PauseVM(c))
		dump := filepath.Join(t.TempDir(), "core")
		require.NoError(t, w.h.Coredump(c, dump))
		assert.FileExists(t, dump)
	})
}
