package chsimtest

import (
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/chsim"
	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
)

// testZeroValues: a field set to its zero value where CH's default is not
// zero (offload_tso defaults to true, from v49.0; cpus.nested to true, from
// v50.2) reaches CH; on a release without the field, it is refused.
func testZeroValues(t *testing.T, version string) {
	v := connect(t, version)
	h, c, rel := v.h, ctx(t), v.h.Release()
	f := newFiles(t)

	cfg := f.config()
	cfg.Net = []api.NetConfig{{ID: ptr("net0")}, {ID: ptr("net1"), OffloadTso: ptr(false)}}
	cfg.Cpus.Nested = ptr(false)
	if !rel.Has("CpusConfig.nested") {
		err := h.CreateVM(c, cfg, nil)
		require.ErrorIs(t, err, core.ErrUnsupportedField, "nested: false on CH %s", version)
		assert.ErrorContains(t, err, "cpus.nested")
		assert.ErrorContains(t, err, "first in CH v50.2")
		cfg.Cpus.Nested = nil
	}
	if !rel.Has("NetConfig.offload_tso") {
		err := h.CreateVM(c, cfg, nil)
		require.ErrorIs(t, err, core.ErrUnsupportedField, "offload_tso: false on CH %s", version)
		assert.ErrorContains(t, err, "net[1].offload_tso")
		assert.ErrorContains(t, err, "first in CH v49.0")
		cfg.Net[1].OffloadTso = nil
	}
	require.NoError(t, h.CreateVM(c, cfg, nil))
	info := requireState(t, h, api.VMStateCreated)

	if rel.Has("CpusConfig.nested") {
		require.NotNil(t, info.Config.Cpus.Nested)
		assert.False(t, *info.Config.Cpus.Nested, "nested: false reached CH")
	} else {
		assert.Nil(t, info.Config.Cpus.Nested)
	}
	require.Len(t, info.Config.Net, 2)
	if rel.Has("NetConfig.offload_tso") {
		require.NotNil(t, info.Config.Net[0].OffloadTso)
		assert.True(t, *info.Config.Net[0].OffloadTso, "CH's default")
		require.NotNil(t, info.Config.Net[1].OffloadTso)
		assert.False(t, *info.Config.Net[1].OffloadTso, "offload_tso: false reached CH")
	} else if tso := info.Config.Net[1].OffloadTso; tso != nil {
		// The v48.0 server has offload_tso (its spec does not): it reports
		// its default.
		assert.True(t, *tso, "CH's default, as nothing was sent")
	}
}

// otherVersion returns a modelled version other than version, preferring
// one registered with core.
func otherVersion(version string) string {
	for _, v := range slices.Backward(chsim.Versions) {
		if v != version {
			if r, err := core.Lookup(v); err == nil && r.Version() == v {
				return v
			}
		}
	}
	if version == chsim.Versions[0] {
		return chsim.Versions[len(chsim.Versions)-1]
	}
	return chsim.Versions[0]
}

// connectAs starts a simulator of version and connects to it (the release
// must be registered: the conformance suite imports every version module).
func connectAs(t *testing.T, version string) *vmm { return connect(t, version) }

// pausedSnapshot creates, boots and pauses a VM of cfg on h and snapshots
// it into a new directory.
func pausedSnapshot(t *testing.T, h core.Hypervisor, cfg *api.VMConfig) string {
	t.Helper()
	c := ctx(t)
	require.NoError(t, h.CreateVM(c, cfg, nil))
	require.NoError(t, h.BootVM(c))
	require.NoError(t, h.PauseVM(c))
	dir := t.TempDir()
	require.NoError(t, h.Snapshot(c, dir))
	return dir
}

func testSnapshotRestore(t *testing.T, version string) {
	f := newFiles(t)
	c := ctx(t)
	src := connect(t, version)
	snap := pausedSnapshot(t, src.h, f.config())

	t.Run("SameVersion", func(t *testing.T) {
		dst := connect(t, version)
		require.NoError(t, dst.h.Restore(c, snap, core.RestoreOptions{}))
		info := requireState(t, dst.h, api.VMStatePaused)
		assert.Equal(t, 256<<20, int(info.Config.Memory.Size))
		require.NoError(t, dst.h.ResumeVM(c))
		requireState(t, dst.h, api.VMStateRunning)

		again := connect(t, version)
		require.NoError(t, again.h.Restore(c, snap, core.RestoreOptions{Resume: true, Prefault: true}))
		requireState(t, again.h, api.VMStateRunning)

		err := again.h.Restore(c, snap, core.RestoreOptions{})
		require.ErrorIs(t, err, core.ErrVMAlreadyCreated, "restore into a VMM that has a VM")
	})
	t.Run("OtherVersion", func(t *testing.T) {
		other := otherVersion(version)
		dst := connectAs(t, other)
		err := dst.h.Restore(c, snap, core.RestoreOptions{})
		require.ErrorIs(t, err, core.ErrVersionMismatch)
		assert.ErrorContains(t, err, "written by CH "+version)
		assert.ErrorContains(t, err, "this VMM runs CH "+other)
		assert.Equal(t, "", dst.srv.State(), "a refused snapshot must not reach CH")

		require.NoError(t, dst.h.Restore(c, snap, core.RestoreOptions{Force: true}))
		requireState(t, dst.h, api.VMStatePaused)
	})
	t.Run("NoMetadata", func(t *testing.T) {
		bare := t.TempDir()
		for _, name := range []string{"config.json", "state.json", "memory-ranges"} {
			b, err := os.ReadFile(snap + "/" + name)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(bare+"/"+name, b, 0o600))
		}
		dst := connect(t, version)
		require.ErrorIs(t, dst.h.Restore(c, bare, core.RestoreOptions{}), core.ErrNoSnapshotMetadata)
		require.NoError(t, dst.h.Restore(c, bare, core.RestoreOptions{Force: true}))
		requireState(t, dst.h, api.VMStatePaused)
	})
}

// tapStandIns opens n files to pass as TAP fds (the simulator only counts
// and closes what it receives).
func tapStandIns(t *testing.T, n int) []*os.File {
	t.Helper()
	fs := make([]*os.File, n)
	for i := range fs {
		f, err := os.Open(os.DevNull)
		require.NoError(t, err)
		t.Cleanup(func() { f.Close() })
		fs[i] = f
	}
	return fs
}

func testFilePassing(t *testing.T, version string) {
	f := newFiles(t)
	c := ctx(t)
	v := connect(t, version)
	h := v.h

	require.NoError(t, h.CreateVM(c, f.config(), nil))
	pci, err := h.AddNet(c, api.NetConfig{ID: ptr("cold")}, tapStandIns(t, 1)...)
	require.NoError(t, err)
	assert.Nil(t, pci, "a cold plug answers no PCI info")
	assert.Equal(t, 1, v.srv.ReceivedFDs())
	require.NoError(t, h.BootVM(c))

	pci, err = h.AddNet(c, api.NetConfig{ID: ptr("tap0"), NumQueues: ptr(4)}, tapStandIns(t, 2)...)
	requireHotPlugged(t, h, pci, err, "tap0")
	assert.Equal(t, 3, v.srv.ReceivedFDs(), "the TAP fds went with SCM_RIGHTS")

	_, err = h.AddNet(c, api.NetConfig{ID: ptr("tap0")}, tapStandIns(t, 1)...)
	requireAPIError(t, err, 500, "Error from API", "The network device could not be added to the VM", "Failed to validate config", "Identifier tap0 is not unique")
	_, err = h.AddNet(c, api.NetConfig{ID: ptr("nil")}, nil)
	require.ErrorIs(t, err, core.ErrBadConfig)

	require.NoError(t, h.PauseVM(c))
	snap := t.TempDir()
	require.NoError(t, h.Snapshot(c, snap))

	dst := connect(t, version)
	require.NoError(t, dst.h.Restore(c, snap, core.RestoreOptions{NetFDs: map[string][]*os.File{
		"tap0": tapStandIns(t, 2),
		"cold": tapStandIns(t, 1),
	}, Resume: true}))
	assert.Equal(t, 3, dst.srv.ReceivedFDs(), "restore passed the new TAP fds")
	requireState(t, dst.h, api.VMStateRunning)
}
