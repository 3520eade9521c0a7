package e2e

import (
	"iter"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
	"github.com/chvmm/chvmm/core/chtest"
	"github.com/chvmm/chvmm/core/chversion"
)

// The main VM of a release's run: one VMM for the lifecycle verbs, resizing,
// hot plug and unplug, NMI, the power button, coredump and the snapshot,
// which the restore then takes to a fresh VMM.

// Sizes of the main VM's resources.
const (
	hotplugMiB   = 128     // memory the main VM can hot-plug (ACPI), its resize target
	diskSize     = 1 << 20 // the raw disk image hot-plugged
	diskResized  = 2 << 20 // its size after ResizeDisk
	pmemSize     = 2 << 20 // the pmem file (CH maps it in 2 MiB steps)
	guestCID     = 3       // the vsock device's guest CID
	mainMaxVCPUs = 2
)

// Ids of the hot-plugged devices.
const (
	diskID  = "disk1"
	pmemID  = "pmem1"
	vsockID = "vsock1"
	netID   = "net1"
)

// mainVM runs the main VM and returns its snapshot (taken with the TAP net
// device plugged, when the host gives TAPs).
func (rr *realRun) mainVM() realSnapshot {
	t, ctx, r, g, rec := rr.t, rr.ctx, rr.r, rr.g, rr.rec
	serial := filepath.Join(rr.dir, "serial.log")
	var a *realVMM
	rec.step("start", func() outcome {
		a = rr.startVMM("main")
		a.events = watchEvents(a.Process)
		return ran()
	})
	var features []string
	rec.step("ping", func() outcome {
		pi, err := a.h.Ping(ctx)
		require.NoError(t, err, "GET /vmm.ping%s", a.where())
		v, err := chversion.Normalize(pi.BuildVersion)
		require.NoError(t, err, "vmm.ping build_version %q%s", pi.BuildVersion, a.where())
		assert.Equal(t, r.Version(), v, "vmm.ping build_version%s", a.where())
		assert.Equal(t, a.PID(), pi.PID, "vmm.ping pid is the VMM's%s", a.where())
		assert.Contains(t, pi.Features, "kvm", "vmm.ping features%s", a.where())
		features = pi.Features
		return ran()
	})

	mem := g.memoryMiB << 20
	rec.step("create", func() outcome {
		cfg := api.DirectBoot{Kernel: g.kernel, Initramfs: g.initramfs, Cmdline: g.cmdline,
			VCPUs: 1, MaxVCPUs: mainMaxVCPUs, MemoryMiB: g.memoryMiB, SerialFile: serial}.Config()
		cfg.Memory.HotplugSize = ptrTo(int64(hotplugMiB << 20)) // vm.resize of the RAM needs room to hot-plug
		require.NoError(t, a.h.CreateVM(ctx, cfg, nil), "PUT /vm.create%s", a.where())
		info := a.info(t, ctx)
		assert.Equal(t, api.VMStateCreated, info.State, "state after vm.create%s", a.where())
		require.NotNil(t, info.Config.Cpus, "vm.info config.cpus%s", a.where())
		assert.Equal(t, 1, info.Config.Cpus.BootVcpus, "boot_vcpus%s", a.where())
		assert.Equal(t, mainMaxVCPUs, info.Config.Cpus.MaxVcpus, "max_vcpus%s", a.where())
		require.NotNil(t, info.Config.Memory, "vm.info config.memory%s", a.where())
		assert.Equal(t, mem, info.Config.Memory.Size, "memory.size%s", a.where())
		return ran()
	})
	rec.step("boot", func() outcome {
		mark := a.events.mark()
		require.NoError(t, a.h.BootVM(ctx), "PUT /vm.boot%s", a.where())
		waitMarker(t, a.Process, serial, g)
		assert.True(t, a.events.wait(ctx, mark, core.EventSourceVM, core.EventBooted, eventWait), "expected the event vm booted; got %v%s", a.events.since(mark), a.where())
		info := a.info(t, ctx)
		assert.Equal(t, api.VMStateRunning, info.State, "state after vm.boot%s", a.where())
		assert.EqualValues(t, mem, ptrValue(info.MemoryActualSize), "memory_actual_size%s", a.where())
		return ran()
	})

	rec.step("resize-vcpus", func() outcome {
		require.NoError(t, a.h.Resize(ctx, api.VMResize{DesiredVcpus: ptrTo(2)}), "PUT /vm.resize desired_vcpus 2%s", a.where())
		info := a.info(t, ctx)
		assert.Equal(t, 2, info.Config.Cpus.BootVcpus, "vm.info boot_vcpus after resizing to 2%s", a.where())
		assert.Contains(t, threadsOf(a.PID()), "vcpu1", "CH starts a thread for the hot-plugged vCPU%s", a.where())
		err := a.h.Resize(ctx, api.VMResize{DesiredVcpus: ptrTo(mainMaxVCPUs + 1)})
		requireRefusal(t, a, err, "Requested vCPUs exceed maximum", "vm.resize beyond max_vcpus")
		assert.Equal(t, 2, a.info(t, ctx).Config.Cpus.BootVcpus, "boot_vcpus after the refused resize%s", a.where())
		return ran()
	})
	grown := mem + hotplugMiB<<20
	rec.step("resize-memory", func() outcome {
		require.NoError(t, a.h.Resize(ctx, api.VMResize{DesiredRAM: &grown}), "PUT /vm.resize desired_ram %d%s", grown, a.where())
		info := a.info(t, ctx)
		assert.Equal(t, grown, info.Config.Memory.Size, "ACPI hot plug: vm.info memory.size is the new size%s", a.where())
		assert.EqualValues(t, grown, ptrValue(info.MemoryActualSize), "memory_actual_size after the hot plug%s", a.where())
		return ran()
	})

	rr.hotplug(a)

	rec.step("reboot", func() outcome {
		rr.rotateSerial(serial)
		mark := a.events.mark()
		require.NoError(t, a.h.RebootVM(ctx), "PUT /vm.reboot%s", a.where())
		assert.True(t, a.events.wait(ctx, mark, core.EventSourceVM, core.EventRebooted, eventWait), "expected the event vm rebooted; got %v%s", a.events.since(mark), a.where())
		waitMarker(t, a.Process, serial, g) // the guest starts over, in a new serial file
		info := a.info(t, ctx)
		assert.Equal(t, api.VMStateRunning, info.State, "state after vm.reboot%s", a.where())
		assert.Equal(t, 2, info.Config.Cpus.BootVcpus, "the resized vCPUs outlive the reboot%s", a.where())
		assert.Equal(t, grown, info.Config.Memory.Size, "the resized memory outlives the reboot%s", a.where())
		for _, id := range []string{diskID, pmemID, vsockID} {
			assert.False(t, inDeviceTree(info, id), "the reboot rebuilt the devices from the config, without removed %s; device tree %v%s", id, deviceIDs(info), a.where())
		}
		if rr.noTAP == "" {
			assert.True(t, inDeviceTree(info, netID), "the TAP net device outlives the reboot; device tree %v%s", deviceIDs(info), a.where())
		}
		return ran()
	})
	rec.step("nmi", func() outcome {
		if !g.pvh {
			require.NoError(t, a.h.NMI(ctx), "PUT /vm.nmi%s", a.where())
			return logged("a Linux guest handles the NMI itself; not checked")
		}
		rr.rotateSerial(serial)
		mark := a.events.mark()
		require.NoError(t, a.h.NMI(ctx), "PUT /vm.nmi%s", a.where())
		// The PVH guest has no NMI gate in its IDT: the NMI triple-faults it
		// and CH resets the VM, as a reboot.
		assert.True(t, a.events.wait(ctx, mark, core.EventSourceVM, core.EventRebooted, eventWait),
			"the PVH guest has no NMI handler: expected it to triple-fault and CH to reset the VM (event vm rebooted); got events %v%s", a.events.since(mark), a.where())
		waitMarker(t, a.Process, serial, g)
		assert.Equal(t, api.VMStateRunning, a.info(t, ctx).State, "state after the NMI%s", a.where())
		return ranWith("the PVH guest has no NMI handler: it triple-faults and CH resets the VM (vm rebooted)")
	})
	rec.step("power-button", func() outcome {
		if !g.pvh {
			return outcome{status: opSkipped, detail: "a Linux guest powers off on the button, which would end the flow"}
		}
		waitCounter(t, a.Process, serial, 0, chtest.GuestCounters)
		last := lastCounter(t, serial, chtest.GuestCounters)
		mark := a.events.mark()
		require.NoError(t, a.h.PowerButton(ctx), "PUT /vm.power-button%s", a.where())
		// The PVH guest has no ACPI: it ignores the button and counts on.
		next := waitCounter(t, a.Process, serial, last+1, chtest.GuestCounters)
		data, _ := os.ReadFile(serial)
		assert.Len(t, slices.Collect(markerLines(data)), 1, "the PVH guest ignores the power button: no restart%s", a.where())
		assert.Equal(t, api.VMStateRunning, a.info(t, ctx).State, "state after the power button%s", a.where())
		assert.NotContains(t, a.events.since(mark), "vm shutdown", "%s", a.where())
		return ranWith("the PVH guest (no ACPI) ignores it and counts on (%d → %d)", last, next)
	})

	snap := realSnapshot{version: r.Version(), dir: filepath.Join(rr.dir, "snapshot"), serial: serial, opts: rr.opts}
	if rr.noTAP == "" {
		snap.netID = netID
	}
	rec.step("pause", func() outcome {
		mark := a.events.mark()
		require.NoError(t, a.h.PauseVM(ctx), "PUT /vm.pause%s", a.where())
		assert.Equal(t, api.VMStatePaused, a.info(t, ctx).State, "state after vm.pause%s", a.where())
		assert.True(t, a.events.wait(ctx, mark, core.EventSourceVM, core.EventPaused, eventWait), "expected the event vm paused; got %v%s", a.events.since(mark), a.where())
		err := a.h.PauseVM(ctx)
		assert.ErrorIs(t, err, core.ErrInvalidState, "pausing a paused VM%s", a.where())
		return ran()
	})
	rec.step("coredump", func() outcome { return rr.coredump(a, features) })
	rec.step("snapshot", func() outcome {
		require.NoError(t, os.Mkdir(snap.dir, 0o700))
		snap.last = lastCounter(t, serial, chtest.GuestCounters)
		require.NoError(t, a.h.Snapshot(ctx, snap.dir), "PUT /vm.snapshot%s", a.where())
		md, err := core.ReadSnapshotMetadata(snap.dir)
		require.NoError(t, err, "the snapshot's chvmm metadata")
		assert.Equal(t, r.Version(), md.Version, "the snapshot records its release")
		for _, f := range []string{"config.json", "state.json", "memory-ranges"} {
			assert.FileExists(t, filepath.Join(snap.dir, f), "CH's snapshot file%s", a.where())
		}
		return ran()
	})
	rec.step("resume", func() outcome {
		require.NoError(t, a.h.ResumeVM(ctx), "PUT /vm.resume%s", a.where())
		assert.Equal(t, api.VMStateRunning, a.info(t, ctx).State, "state after vm.resume%s", a.where())
		waitCounter(t, a.Process, serial, snap.last+1, chtest.GuestCounters) // it runs on
		return ran()
	})
	if rr.noTAP != "" {
		rec.skip("remove-net", rr.noTAP)
	} else {
		rec.step("remove-net", func() outcome {
			require.NoError(t, a.h.RemoveDevice(ctx, netID), "PUT /vm.remove-device %s%s", netID, a.where())
			info := a.info(t, ctx)
			assert.Empty(t, info.Config.Net, "vm.info config.net after removing %s%s", netID, a.where())
			return ran()
		})
	}
	rr.endOfLife(a, serial)
	return snap
}

// hotplug plugs a disk, pmem, vsock and (with TAPs) a TAP net device into
// the running main VM, resizes the disk, reads the counters, and removes
// all but the net device.
func (rr *realRun) hotplug(a *realVMM) {
	t, ctx, r, g, rec := rr.t, rr.ctx, rr.r, rr.g, rr.rec
	disk := filepath.Join(rr.dir, "disk.raw")
	rec.step("add-disk", func() outcome {
		require.NoError(t, os.WriteFile(disk, make([]byte, diskSize), 0o644))
		pci, err := a.h.AddDisk(ctx, api.DiskConfig{ID: ptrTo(diskID), Path: &disk})
		require.NoError(t, err, "PUT /vm.add-disk %s%s", disk, a.where())
		rr.checkPlugged(a, pci, diskID, func(c api.VMConfig) bool {
			return slices.ContainsFunc(c.Disks, func(d api.DiskConfig) bool { return ptrValue(d.ID) == diskID && ptrValue(d.Path) == disk })
		})
		return ran()
	})
	rec.step("resize-disk", func() outcome {
		err := a.h.ResizeDisk(ctx, api.VMResizeDisk{ID: ptrTo(diskID), DesiredSize: ptrTo(int64(diskResized))})
		fi, statErr := os.Stat(disk)
		require.NoError(t, statErr)
		if !r.Has("PUT /vm.resize-disk") {
			require.ErrorIs(t, err, core.ErrUnsupported, "ResizeDisk on a release without vm.resize-disk%s", a.where())
			assert.ErrorContains(t, err, "first in CH v50.2", "the error names the first release that has it")
			assert.EqualValues(t, diskSize, fi.Size(), "the image is untouched")
			return unsupportedAsExpected("%v", err)
		}
		require.NoError(t, err, "PUT /vm.resize-disk %s to %d%s", diskID, diskResized, a.where())
		assert.EqualValues(t, diskResized, fi.Size(), "CH grew the raw image %s", disk)
		return ran()
	})
	pmem := filepath.Join(rr.dir, "pmem.img")
	rec.step("add-pmem", func() outcome {
		require.NoError(t, os.WriteFile(pmem, make([]byte, pmemSize), 0o644))
		pci, err := a.h.AddPmem(ctx, api.PmemConfig{ID: ptrTo(pmemID), File: pmem})
		require.NoError(t, err, "PUT /vm.add-pmem %s%s", pmem, a.where())
		rr.checkPlugged(a, pci, pmemID, func(c api.VMConfig) bool {
			return slices.ContainsFunc(c.Pmem, func(p api.PmemConfig) bool { return ptrValue(p.ID) == pmemID && p.File == pmem })
		})
		return ran()
	})
	vsock := filepath.Join(rr.dir, "vsock.sock")
	rec.step("add-vsock", func() outcome {
		pci, err := a.h.AddVsock(ctx, api.VsockConfig{ID: ptrTo(vsockID), Cid: guestCID, Socket: vsock})
		require.NoError(t, err, "PUT /vm.add-vsock %s%s", vsock, a.where())
		rr.checkPlugged(a, pci, vsockID, func(c api.VMConfig) bool {
			return c.Vsock != nil && ptrValue(c.Vsock.ID) == vsockID && c.Vsock.Cid == guestCID && c.Vsock.Socket == vsock
		})
		fi, err := os.Lstat(vsock)
		require.NoError(t, err, "CH listens on the vsock's unix socket%s", a.where())
		assert.Equal(t, os.ModeSocket, fi.Mode().Type(), "%s is a socket", vsock)
		return ran()
	})
	if rr.noTAP != "" {
		rec.skip("add-net", rr.noTAP)
	} else {
		rec.step("add-net", func() outcome {
			tap, name := newTAP(t, rr.taps)
			pci, err := a.h.AddNet(ctx, api.NetConfig{ID: ptrTo(netID)}, tap)
			require.NoError(t, err, "PUT /vm.add-net with the fd of TAP %s%s", name, a.where())
			rr.checkPlugged(a, pci, netID, func(c api.VMConfig) bool {
				return slices.ContainsFunc(c.Net, func(n api.NetConfig) bool { return ptrValue(n.ID) == netID })
			})
			assert.Contains(t, tapsHeldBy(a.PID()), name, "CH holds the passed TAP's descriptor%s", a.where())
			return ran()
		})
	}
	rec.step("counters", func() outcome {
		counters, err := a.h.VMCounters(ctx)
		require.NoError(t, err, "GET /vm.counters%s", a.where())
		require.Contains(t, counters, diskID, "the disk's counters%s", a.where())
		if g.pvh {
			// The PVH guest has no virtio drivers: the disk served nothing,
			// and CH reports a latency it never measured as u64::MAX.
			assert.Zero(t, counters[diskID]["read_ops"], "read_ops of the idle disk%s", a.where())
			assert.Equal(t, uint64(math.MaxUint64), counters[diskID]["read_latency_min"], "read_latency_min of the idle disk%s", a.where())
		}
		if rr.noTAP == "" {
			assert.Contains(t, counters, netID, "the net device's counters%s", a.where())
		}
		return ran()
	})
	rec.step("remove-device", func() outcome {
		for _, id := range []string{diskID, pmemID, vsockID} {
			require.NoError(t, a.h.RemoveDevice(ctx, id), "PUT /vm.remove-device %s%s", id, a.where())
		}
		info := a.info(t, ctx)
		assert.Empty(t, info.Config.Disks, "vm.info config.disks after the removal%s", a.where())
		assert.Empty(t, info.Config.Pmem, "vm.info config.pmem after the removal%s", a.where())
		assert.Nil(t, info.Config.Vsock, "vm.info config.vsock after the removal%s", a.where())
		if rr.g.pvh {
			// CH drops a device from the config at once, and from the device
			// tree when the guest ejects it (ACPI _EJ0): the PVH guest never
			// does, so the devices stay until the reboot rebuilds the VM.
			for _, id := range []string{diskID, pmemID, vsockID} {
				assert.True(t, inDeviceTree(info, id), "the PVH guest never ejects: expected %s still in the device tree %v%s", id, deviceIDs(info), a.where())
			}
		}
		err := a.h.RemoveDevice(ctx, "no-such-device")
		requireRefusal(t, a, err, "Failed to find device corresponding to the given identifier", "removing an unknown device")
		return ran()
	})
	rr.genericVhostUser(a)
}

// checkPlugged checks a hot plug's answer and that vm.info shows device id
// in its config (inConfig) and device tree, under the answered PCI address.
func (rr *realRun) checkPlugged(a *realVMM, pci *api.PciDeviceInfo, id string, inConfig func(api.VMConfig) bool) {
	t := rr.t
	t.Helper()
	require.NotNil(t, pci, "a hot plug into a running VM answers its PCI device%s", a.where())
	assert.Equal(t, id, pci.ID, "the plugged device's id%s", a.where())
	assert.Regexp(t, `^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`, pci.Bdf, "its PCI address%s", a.where())
	info := a.info(t, rr.ctx)
	assert.True(t, inConfig(info.Config), "vm.info config lists %s: %+v%s", id, info.Config, a.where())
	assert.True(t, inDeviceTree(info, id), "vm.info device tree has %s: %v%s", id, deviceIDs(info), a.where())
	assert.True(t, hasPCINode(info, pci.Bdf, id), "the device tree has a PCI node at %s whose child is %s%s", pci.Bdf, id, a.where())
}

// genericVhostUser: the generic vhost-user device needs a vhost-user backend
// this suite does not run; before CH v52.0, chvmm refuses it.
func (rr *realRun) genericVhostUser(a *realVMM) {
	const op = "add-generic-vhost-user"
	if rr.r.Has("PUT /vm.add-generic-vhost-user") {
		rr.rec.skipQuiet(op, "needs a vhost-user backend; this suite runs none")
		return
	}
	rr.rec.step(op, func() outcome {
		_, err := a.h.AddGenericVhostUser(rr.ctx, api.GenericVhostUserConfig{Socket: filepath.Join(rr.dir, "none.sock")})
		require.ErrorIs(rr.t, err, core.ErrUnsupported, "AddGenericVhostUser on CH %s%s", rr.r.Version(), a.where())
		return unsupportedAsExpected("%v", err)
	})
}

// coredump: vm.coredump exists only in builds with the guest_debug cargo
// feature, which release builds lack (vmm.ping lists a build's features);
// without it the route is absent and CH answers 404 ["Not Found"].
func (rr *realRun) coredump(a *realVMM, features []string) outcome {
	t := rr.t
	path := filepath.Join(rr.dir, "coredump.elf")
	err := a.h.Coredump(rr.ctx, path)
	if slices.Contains(features, "guest_debug") {
		require.NoError(t, err, "PUT /vm.coredump on a build with guest_debug%s", a.where())
		fi, statErr := os.Stat(path)
		require.NoError(t, statErr, "the coredump file")
		assert.NotZero(t, fi.Size(), "the coredump file is empty")
		return ran()
	}
	var apiErr *core.APIError
	require.ErrorAs(t, err, &apiErr, "vm.coredump on a build without guest_debug (features %v): expected CH's refusal%s", features, a.where())
	assert.Equal(t, 404, apiErr.StatusCode, "the build has no vm.coredump route: %v%s", err, a.where())
	assert.Equal(t, []string{"Not Found"}, apiErr.Messages, "%s", a.where())
	assert.ErrorIs(t, err, core.ErrUnknownEndpoint, "%s", a.where())
	assert.NoFileExists(t, path, "no coredump written")
	return unsupportedAsExpected("build features %v lack guest_debug: %v", features, err)
}

// endOfLife shuts the main VM down, boots it again from the config CH
// kept, deletes it and shuts the VMM down.
func (rr *realRun) endOfLife(a *realVMM, serial string) {
	t, ctx, rec := rr.t, rr.ctx, rr.rec
	rec.step("shutdown", func() outcome {
		require.NoError(t, a.h.ShutdownVM(ctx), "PUT /vm.shutdown%s", a.where())
		assert.Equal(t, api.VMStateCreated, a.info(t, ctx).State, "CH keeps the config: state after vm.shutdown%s", a.where())
		rr.rotateSerial(serial)
		require.NoError(t, a.h.BootVM(ctx), "PUT /vm.boot after vm.shutdown%s", a.where())
		waitMarker(t, a.Process, serial, rr.g)
		require.NoError(t, a.h.ShutdownVM(ctx), "PUT /vm.shutdown%s", a.where())
		return ran()
	})
	rec.step("delete", func() outcome {
		require.NoError(t, a.h.DeleteVM(ctx), "PUT /vm.delete%s", a.where())
		_, err := a.h.VMInfo(ctx)
		assert.ErrorIs(t, err, core.ErrVMNotCreated, "vm.info after vm.delete%s", a.where())
		assert.NotErrorIs(t, err, core.ErrUnknownEndpoint, "vm.info is served; the VM is gone%s", a.where())
		assert.NoError(t, a.h.DeleteVM(ctx), "deleting when there is no VM is not an error%s", a.where())
		return ran()
	})
	rec.step("shutdown-vmm", func() outcome {
		require.NoError(t, a.h.ShutdownVMM(ctx), "PUT /vmm.shutdown%s", a.where())
		waitExit(t, a, "after vmm.shutdown")
		exit := a.Wait()
		assert.True(t, exit.State.Success(), "exit status after vmm.shutdown%s", a.where())
		assert.Equal(t, core.ExitRequested, exit.Reason, "ShutdownVMM counts as an exit this program asked for%s", a.where())
		assert.NoFileExists(t, a.SocketPath(), "the API socket is removed when the VMM exits")
		return ran()
	})
}

// notExercised records the operations that need what this suite does not
// run on any host.
func (rr *realRun) notExercised() {
	for _, s := range []struct{ op, reason string }{
		{"add-device", "needs a PCI device bound to vfio-pci"},
		{"add-fs", "needs a virtiofsd backend; this suite runs none"},
		{"add-vdpa", "needs a vhost-vdpa device"},
		{"add-user-device", "needs a vfio-user server"},
	} {
		rr.rec.skipQuiet(s.op, s.reason)
	}
}

// requireRefusal requires err to be CH's answer refusing what (an
// *APIError, status 500) whose messages contain want.
func requireRefusal(t *testing.T, v *realVMM, err error, want, what string) {
	t.Helper()
	var apiErr *core.APIError
	require.ErrorAs(t, err, &apiErr, "%s: expected CH to refuse it%s", what, v.where())
	assert.Equal(t, 500, apiErr.StatusCode, "%s: %v%s", what, err, v.where())
	assert.Contains(t, strings.Join(apiErr.Messages, ": "), want, "%s: CH's reason%s", what, v.where())
}

// waitExit waits until v's process has exited.
func waitExit(t *testing.T, v *realVMM, why string) {
	t.Helper()
	select {
	case <-v.Done():
	case <-time.After(exitWait):
		t.Fatalf("expected the %s VMM to exit %s within %v; it still runs%s", v.role, why, exitWait, v.where())
	}
}

// inDeviceTree reports whether vm.info's device tree has a node id.
func inDeviceTree(info *api.VMInfo, id string) bool {
	if info.DeviceTree == nil {
		return false
	}
	_, ok := (*info.DeviceTree)[id]
	return ok
}

// hasPCINode reports whether the device tree has a node at PCI address bdf
// with child (or itself being) id.
func hasPCINode(info *api.VMInfo, bdf, id string) bool {
	if info.DeviceTree == nil {
		return false
	}
	for key, n := range *info.DeviceTree {
		if ptrValue(n.PciBdf) == bdf && (key == id || slices.Contains(n.Children, id)) {
			return true
		}
	}
	return false
}

// deviceIDs lists the device tree's node ids, sorted, for messages.
func deviceIDs(info *api.VMInfo) []string {
	if info.DeviceTree == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(*info.DeviceTree))
}

// markerLines yields the guest's ready lines in a serial log.
func markerLines(log []byte) iter.Seq[string] {
	return func(yield func(string) bool) {
		for line := range strings.Lines(string(log)) {
			if strings.TrimRight(line, "\r\n") == chtest.GuestReadyMarker && !yield(line) {
				return
			}
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

// ptrValue is *p, or the zero value for nil.
func ptrValue[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
