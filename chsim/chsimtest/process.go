package chsimtest

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
)

// eventLog collects a Process's events until its channel closes.
type eventLog struct {
	mu    sync.Mutex
	names []string
	done  chan struct{}
}

func collectEvents(p *core.Process) *eventLog {
	l := &eventLog{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for e := range p.Events() {
			l.mu.Lock()
			l.names = append(l.names, e.Source+":"+e.Name)
			l.mu.Unlock()
		}
	}()
	return l
}

// waitFor waits until the log holds every one of names, or a while.
func (l *eventLog) waitFor(t *testing.T, names ...string) {
	t.Helper()
	assert.Eventually(t, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, n := range names {
			if !contains(l.names, n) {
				return false
			}
		}
		return true
	}, 5*time.Second, 10*time.Millisecond, "events %v", names)
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// stop stops p and asserts the VMM exited cleanly (status 0), on request.
func stop(t *testing.T, p *core.Process) {
	t.Helper()
	require.NoError(t, p.Stop(ctx(t)))
	exit := p.Wait()
	assert.Equal(t, core.ExitRequested, exit.Reason)
	assert.True(t, exit.State.Success(), "%v", exit)
}

// testProcess runs the lifecycle against cmd/chsim built as a CH binary of
// version, started by core.StartProcess, then restores its snapshot with
// core.RestoreProcess.
func testProcess(t *testing.T, version string) {
	bin := Build(t, version)
	c := ctx(t)
	f := newFiles(t)
	dir := t.TempDir()
	options := []core.StartOption{core.WithBinary(bin), core.WithoutKVMCheck()}
	rel, err := core.Lookup(version)
	require.NoError(t, err)

	p, err := core.StartProcess(c, rel, filepath.Join(dir, "data"), filepath.Join(dir, "first.sock"), options...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Kill(); _ = p.Wait() })
	events := collectEvents(p)
	assert.Same(t, rel, p.Release())
	h := p.Hypervisor()
	require.Equal(t, version, h.Release().Version())

	ping, err := h.Ping(c)
	require.NoError(t, err)
	assert.Equal(t, p.PID(), ping.PID)
	require.NoError(t, h.CreateVM(c, f.config(), nil))
	require.NoError(t, h.BootVM(c))
	requireState(t, h, api.VMStateRunning)
	require.NoError(t, h.Resize(c, api.VMResize{DesiredVcpus: ptr(2)}))
	pci, err := h.AddNet(c, api.NetConfig{ID: ptr("tap0")}, tapStandIns(t, 1)...)
	requireHotPlugged(t, h, pci, err, "tap0")
	require.NoError(t, h.PauseVM(c))
	snap := t.TempDir()
	require.NoError(t, h.Snapshot(c, snap))
	require.NoError(t, h.ResumeVM(c))
	require.NoError(t, h.RebootVM(c))
	require.NoError(t, h.ShutdownVM(c))
	requireState(t, h, api.VMStateCreated)
	events.waitFor(t, "vmm:starting", "vm:booted", "vm:resized", "vm:paused", "vm:snapshotted", "vm:resumed", "vm:shutdown")

	stop(t, p)
	select {
	case <-events.done:
	case <-time.After(5 * time.Second):
		t.Error("the events channel did not close when the VMM exited")
	}

	t.Run("CrashLooksLikeCleanExit", func(t *testing.T) {
		// Real CH v48.0–v52.0: a boot after a boot that failed (missing
		// kernel) answers 204, then a vCPU fails and the VMM exits with
		// status 0. Its status cannot tell that from a clean shutdown; the
		// exit record can. (v53.0 refuses the second boot: "VM is already
		// created".)
		q, err := core.StartProcess(c, rel, filepath.Join(dir, "data"), filepath.Join(dir, "crash.sock"), options...)
		require.NoError(t, err)
		t.Cleanup(func() { _ = q.Kill(); _ = q.Wait() })
		hq := q.Hypervisor()
		cfg := f.config()
		cfg.Payload.Kernel = ptr(filepath.Join(dir, "no-such-vmlinux"))
		require.NoError(t, hq.CreateVM(c, cfg, nil))
		var ae *core.APIError
		require.ErrorAs(t, hq.BootVM(c), &ae)
		if version >= "v53.0" {
			require.ErrorIs(t, hq.BootVM(c), core.ErrVMAlreadyCreated, "CH %s refuses the second boot", version)
			_, err := hq.Ping(c)
			require.NoError(t, err, "and keeps running")
			return
		}
		require.NoError(t, hq.BootVM(c), "CH answers 204 to the second boot")
		select {
		case <-q.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the VMM did not exit after the second boot")
		}
		exit := q.Wait()
		assert.True(t, exit.State.Success(), "exit status 0, as if clean")
		assert.Equal(t, core.ExitCrashed, exit.Reason, "nobody asked it to exit: the VM is lost (%v)", exit)
		assert.Equal(t, core.ExitRequested, p.Wait().Reason, "the first VMM was stopped on request")
	})

	t.Run("RestoreProcess", func(t *testing.T) {
		md, err := core.ReadSnapshotMetadata(snap)
		require.NoError(t, err)
		require.Equal(t, version, md.Version)
		q, err := core.RestoreProcess(c, filepath.Join(dir, "data"), snap, filepath.Join(dir, "restored.sock"), core.RestoreOptions{}, options...)
		require.NoError(t, err)
		t.Cleanup(func() { _ = q.Kill(); _ = q.Wait() })
		assert.Same(t, rel, q.Release())
		hq := q.Hypervisor()
		info := requireState(t, hq, api.VMStatePaused)
		assert.Equal(t, 2, info.Config.Cpus.BootVcpus, "the snapshot's config")
		require.NoError(t, hq.ResumeVM(c))
		requireState(t, hq, api.VMStateRunning)
		stop(t, q)

		r, err := core.RestoreProcess(c, filepath.Join(dir, "data"), snap, filepath.Join(dir, "resumed.sock"),
			core.RestoreOptions{Resume: true}, options...)
		require.NoError(t, err)
		t.Cleanup(func() { _ = r.Kill(); _ = r.Wait() })
		requireState(t, r.Hypervisor(), api.VMStateRunning)
		stop(t, r)
	})
}
