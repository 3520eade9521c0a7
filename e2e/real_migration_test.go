package e2e

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
	"github.com/chvmm/chvmm/core/chtest"
)

// A release's run after the main VM: its snapshot restored in a fresh VMM,
// then a VM with a memory zone resized and migrated to another VMM.

const (
	zoneID         = "zone0"
	zoneHotplugMiB = 128 // the zone's virtio-mem region
	zoneGrowMiB    = 64  // what ResizeZone adds
	migrationWait  = 30 * time.Second
	listenerWait   = 5 * time.Second // the receiver's migration socket appearing
)

// restore restores the main VM's snapshot with core.RestoreProcess, with a
// new TAP for its net device, and checks that the guest continues.
func (rr *realRun) restore(snap realSnapshot) {
	t, ctx, rec := rr.t, rr.ctx, rr.rec
	var (
		v       *realVMM
		tapName string
	)
	rec.step("restore", func() outcome {
		opts := core.RestoreOptions{Resume: true}
		if snap.netID != "" {
			var tap *os.File
			tap, tapName = newTAP(t, rr.taps)
			opts.NetFDs = map[string][]*os.File{snap.netID: {tap}}
		}
		rr.rotateSerial(snap.serial) // the restored VM writes to the path its config names
		sock := filepath.Join(rr.dir, "restored.sock")
		p, err := core.RestoreProcess(ctx, rr.dataDir, snap.dir, sock, opts, slices.Clone(rr.opts)...)
		require.NoError(t, err, "RestoreProcess of %s (VMM log %s)", snap.dir, defaultLogPath(sock))
		v = adoptVMM(t, p, rr.r, "restored")
		first := waitCounter(t, p, snap.serial, snap.last+1, restoredCounters)
		data, _ := os.ReadFile(snap.serial)
		assert.False(t, chtest.GuestReady(data), "the restored guest continues; it did not boot again%s", v.where())
		assert.LessOrEqual(t, first, snap.last+2, "the restored counter continues from %d%s", snap.last, v.where())
		info := v.info(t, ctx)
		assert.Equal(t, api.VMStateRunning, info.State, "state after restoring with Resume%s", v.where())
		return ranWith("counter %d before the snapshot, %d first after the restore", snap.last, first)
	})
	if snap.netID == "" {
		rec.skip("restore-net-fds", rr.noTAP)
	} else {
		rec.step("restore-net-fds", func() outcome {
			info := v.info(t, ctx)
			assert.True(t, slices.ContainsFunc(info.Config.Net, func(n api.NetConfig) bool { return ptrValue(n.ID) == snap.netID }),
				"the restored config has %s: %+v%s", snap.netID, info.Config.Net, v.where())
			assert.Contains(t, tapsHeldBy(v.PID()), tapName, "the restored VMM uses the new TAP given in NetFDs%s", v.where())
			// Without new fds, CH refuses: the snapshot's fd numbers mean
			// nothing in another process.
			q := rr.startVMM("refusing")
			err := q.h.Restore(ctx, snap.dir, core.RestoreOptions{})
			requireRefusal(t, q, err, "Net id "+snap.netID+" is associated with FDs and is required",
				"restoring a snapshot whose "+snap.netID+" has TAP fds without new ones")
			_, err = q.h.VMInfo(ctx)
			assert.ErrorIs(t, err, core.ErrVMNotCreated, "nothing was restored%s", q.where())
			require.NoError(t, q.Stop(ctx), "stopping the refusing VMM%s", q.where())
			return ran()
		})
	}
	if v != nil {
		require.NoError(t, v.Stop(ctx), "stopping the restored VMM%s", v.where())
	}
}

// zonesAndMigration boots a VM whose memory is a user-defined zone with a
// virtio-mem region, resizes the zone, then migrates the VM to a second VMM
// over a unix socket.
func (rr *realRun) zonesAndMigration() {
	t, ctx, r, g, rec := rr.t, rr.ctx, rr.r, rr.g, rr.rec
	serial := filepath.Join(rr.dir, "zones-serial.log")
	boot := g.memoryMiB << 20
	grown := boot + zoneGrowMiB<<20
	var z *realVMM
	rec.step("resize-zone", func() outcome {
		z = rr.startVMM("zones")
		cfg := api.DirectBoot{Kernel: g.kernel, Initramfs: g.initramfs, Cmdline: g.cmdline, VCPUs: 1, SerialFile: serial}.Config()
		cfg.Memory = &api.MemoryConfig{Size: 0, HotplugMethod: ptrTo("VirtioMem"),
			Zones: []api.MemoryZoneConfig{{ID: zoneID, Size: boot, HotplugSize: ptrTo(int64(zoneHotplugMiB << 20))}}}
		require.NoError(t, z.h.CreateVM(ctx, cfg, nil), "PUT /vm.create with memory zone %s%s", zoneID, z.where())
		require.NoError(t, z.h.BootVM(ctx), "PUT /vm.boot%s", z.where())
		waitMarker(t, z.Process, serial, g)
		require.NoError(t, z.h.ResizeZone(ctx, api.VMResizeZone{ID: ptrTo(zoneID), DesiredRAM: &grown}), "PUT /vm.resize-zone %s to %d%s", zoneID, grown, z.where())
		info := z.info(t, ctx)
		require.Len(t, info.Config.Memory.Zones, 1, "vm.info memory.zones%s", z.where())
		assert.EqualValues(t, zoneGrowMiB<<20, ptrValue(info.Config.Memory.Zones[0].HotpluggedSize), "the zone's hotplugged_size after vm.resize-zone%s", z.where())
		// memory_actual_size: before v52.0 CH counts what was asked of
		// virtio-mem; from v52.0 what the guest plugged, and the PVH guest
		// has no virtio-mem driver.
		wantActual, why := grown, "CH before v52.0 counts the requested virtio-mem size"
		if r.Version() >= "v52.0" {
			wantActual, why = boot, "from v52.0 CH counts the virtio-mem memory the guest plugged"
		}
		if g.pvh {
			assert.EqualValues(t, wantActual, ptrValue(info.MemoryActualSize), "memory_actual_size: %s%s", why, z.where())
		}
		// A VM with user-defined zones resizes by zone only.
		err := z.h.Resize(ctx, api.VMResize{DesiredRAM: &grown})
		requireRefusal(t, z, err, "user defined memory regions", "vm.resize of the RAM of a VM with memory zones")
		return ranWith("memory_actual_size %d: %s", ptrValue(info.MemoryActualSize), why)
	})

	listener := filepath.Join(rr.dir, "migration.sock")
	var (
		m      *realVMM
		recv   *asyncErr
		last   int
		timing string
	)
	rec.step("send-migration", func() outcome {
		m = rr.startVMM("receiver")
		recvCtx, cancel := context.WithCancel(ctx)
		recv = goAsync(func() error {
			return m.h.ReceiveMigration(recvCtx, api.ReceiveMigrationData{ReceiverURL: "unix:" + listener})
		})
		t.Cleanup(func() { cancel(); <-recv.done })
		waitListener(t, m, listener, recv)

		waitCounter(t, z.Process, serial, 0, chtest.GuestCounters)
		last = lastCounter(t, serial, chtest.GuestCounters)
		rr.rotateSerial(serial) // the receiver creates the serial file its config names anew
		sent := time.Now()
		require.NoError(t, z.h.SendMigration(ctx, api.SendMigrationData{DestinationURL: "unix:" + listener}), "PUT /vm.send-migration to unix:%s%s", listener, z.where())
		answered := time.Since(sent)
		select {
		case <-recv.done:
		case <-time.After(migrationWait):
			t.Fatalf("expected the receiver's vm.receive-migration to end within %v of the send; it still waits%s", migrationWait, m.where())
		}
		received := time.Since(sent)
		// CH ends the sender's VMM itself once its VM has moved.
		waitExit(t, z, "after sending its VM")
		exit := z.Wait()
		assert.True(t, exit.State.Success(), "exit status of the sender's VMM after the migration%s", z.where())
		assert.Equal(t, core.ExitRequested, exit.Reason, "the VM moved: not a lost VM (%v)%s", exit, z.where())
		timing = "vm.send-migration answered after " + answered.Round(time.Millisecond).String() + ", the receive ended after " + received.Round(time.Millisecond).String()
		return ranWith("%s; the sender's VMM then exited: %v", timing, exit)
	})
	rec.step("receive-migration", func() outcome {
		require.NoError(t, recv.err, "vm.receive-migration on unix:%s%s", listener, m.where())
		info := m.info(t, ctx)
		assert.Equal(t, api.VMStateRunning, info.State, "the migrated VM runs on the receiver%s", m.where())
		require.Len(t, info.Config.Memory.Zones, 1, "the receiver's memory.zones%s", m.where())
		assert.EqualValues(t, zoneGrowMiB<<20, ptrValue(info.Config.Memory.Zones[0].HotpluggedSize), "the resized zone moved with the VM%s", m.where())
		first := waitCounter(t, m.Process, serial, last+1, restoredCounters)
		data, _ := os.ReadFile(serial)
		assert.False(t, chtest.GuestReady(data), "the migrated guest continues; it did not boot again%s", m.where())
		return ranWith("guest counter %d on the sender, %d first on the receiver", last, first)
	})
}

// asyncErr is the result of a call running in its own goroutine.
type asyncErr struct {
	done chan struct{}
	err  error
}

func goAsync(fn func() error) *asyncErr {
	a := &asyncErr{done: make(chan struct{})}
	go func() {
		defer close(a.done)
		a.err = fn()
	}()
	return a
}

// waitListener waits until the receiving VMM listens on its migration
// socket (vm.receive-migration blocks until the migration ends).
func waitListener(t *testing.T, m *realVMM, path string, recv *asyncErr) {
	t.Helper()
	deadline := time.Now().Add(listenerWait)
	for {
		fi, err := os.Lstat(path)
		if err == nil && fi.Mode().Type() == os.ModeSocket {
			return
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the migration socket %s: %v", path, err)
		}
		select {
		case <-recv.done:
			t.Fatalf("vm.receive-migration on unix:%s ended before a sender came: %v%s", path, recv.err, m.where())
		case <-time.After(serialPoll):
		}
		if time.Now().After(deadline) {
			t.Fatalf("expected the receiver to listen on %s within %v; it does not%s", path, listenerWait, m.where())
		}
	}
}
