package conformance

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/chsim"
	"github.com/chvmm/chvmm/chsim/chsimtest"
	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
	_ "github.com/chvmm/chvmm/versions/v48"
	_ "github.com/chvmm/chvmm/versions/v49"
	_ "github.com/chvmm/chvmm/versions/v50"
	_ "github.com/chvmm/chvmm/versions/v51"
	_ "github.com/chvmm/chvmm/versions/v52"
	_ "github.com/chvmm/chvmm/versions/v53"
)

// TestHypervisor runs the conformance suite of core.Hypervisor on every
// embedded release, against its simulator.
func TestHypervisor(t *testing.T) {
	require.Len(t, core.Releases(), len(chsim.Versions), "every modelled release is registered")
	for _, v := range chsim.Versions {
		t.Run(v, func(t *testing.T) { chsimtest.TestHypervisor(t, v) })
	}
}

// startSim starts cmd/chsim built as CH version's binary, through
// StartProcess.
func startSim(t *testing.T, version string, opts ...core.StartOption) *core.Process {
	t.Helper()
	rel, err := core.Lookup(version)
	require.NoError(t, err)
	dir := t.TempDir()
	opts = append([]core.StartOption{core.WithBinary(chsimtest.Build(t, version)), core.WithoutKVMCheck()}, opts...)
	p, err := core.StartProcess(t.Context(), rel, filepath.Join(dir, "data"), filepath.Join(dir, "api.sock"), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Kill(); p.Wait() })
	return p
}

// snapshotIn starts CH version, snapshots a paused VM into a new directory
// and stops the VMM.
func snapshotIn(t *testing.T, version string) string {
	t.Helper()
	c := t.Context()
	p := startSim(t, version)
	h := p.Hypervisor()
	kernel := filepath.Join(t.TempDir(), "vmlinux") // CH refuses to boot without a payload
	require.NoError(t, os.WriteFile(kernel, []byte("kernel"), 0o600))
	require.NoError(t, h.CreateVM(c, api.DirectBoot{Kernel: kernel, MemoryMiB: 128}.Config(), nil))
	require.NoError(t, h.BootVM(c))
	require.NoError(t, h.PauseVM(c))
	snap := filepath.Join(t.TempDir(), "snap")
	require.NoError(t, os.Mkdir(snap, 0o755))
	require.NoError(t, h.Snapshot(c, snap))
	require.NoError(t, p.Stop(c))
	return snap
}

// TestRestoreProcessPicksTheSnapshotsRelease: with every release
// registered, RestoreProcess starts the one that wrote the snapshot, as the
// VMM reported it; a snapshot of another point release of a registered
// major restores on that major's release; one of an unregistered major is
// refused, naming the module to import.
func TestRestoreProcessPicksTheSnapshotsRelease(t *testing.T) {
	c := t.Context()
	for _, v := range []string{"v49.0", "v51.2"} {
		t.Run(v, func(t *testing.T) {
			snap := snapshotIn(t, v)
			md, err := core.ReadSnapshotMetadata(snap)
			require.NoError(t, err)
			assert.Equal(t, v, md.Version)
			assert.Equal(t, v, md.Build, "the VMM's own build_version")
			dir := t.TempDir()
			p, err := core.RestoreProcess(c, filepath.Join(dir, "data"), snap, filepath.Join(dir, "api.sock"),
				core.RestoreOptions{Resume: true}, core.WithBinary(chsimtest.Build(t, v)), core.WithoutKVMCheck())
			require.NoError(t, err)
			t.Cleanup(func() { _ = p.Kill(); p.Wait() })
			assert.Equal(t, v, p.Release().Version())
			info, err := p.Hypervisor().VMInfo(c)
			require.NoError(t, err)
			assert.Equal(t, api.VMStateRunning, info.State, "resumed once: by the server from v52, by chvmm before")
			assert.EqualValues(t, 128<<20, info.Config.Memory.Size)
			require.NoError(t, p.Stop(c))
		})
	}

	t.Run("same major, another point release", func(t *testing.T) {
		// A snapshot v50.1 wrote (a program built with an older
		// versions/v50) restores on the registered v50.2.
		snap := snapshotIn(t, "v50.2")
		md := []byte(`{"ch_version": "v50.1", "ch_build": "v50.1", "arch": "` + arch() + `", "created": "2026-01-02T03:04:05Z"}`)
		require.NoError(t, os.WriteFile(filepath.Join(snap, "chvmm-snapshot.json"), md, 0o600))
		dir := t.TempDir()
		p, err := core.RestoreProcess(c, filepath.Join(dir, "data"), snap, filepath.Join(dir, "api.sock"),
			core.RestoreOptions{}, core.WithBinary(chsimtest.Build(t, "v50.2")), core.WithoutKVMCheck())
		require.NoError(t, err)
		t.Cleanup(func() { _ = p.Kill(); p.Wait() })
		assert.Equal(t, "v50.2", p.Release().Version())
		info, err := p.Hypervisor().VMInfo(c)
		require.NoError(t, err)
		assert.Equal(t, api.VMStatePaused, info.State)
	})

	t.Run("another major", func(t *testing.T) {
		snap := snapshotIn(t, "v49.0")
		p := startSim(t, "v51.2")
		err := p.Hypervisor().Restore(c, snap, core.RestoreOptions{})
		require.ErrorIs(t, err, core.ErrVersionMismatch, "CH restores only within a major")
		_, err = p.Hypervisor().VMInfo(c)
		require.ErrorIs(t, err, core.ErrVMNotCreated, "nothing was restored")
	})

	t.Run("unregistered major", func(t *testing.T) {
		snap := snapshotIn(t, "v49.0")
		md := []byte(`{"ch_version": "v47.0", "arch": "` + arch() + `", "created": "2026-01-02T03:04:05Z"}`)
		require.NoError(t, os.WriteFile(filepath.Join(snap, "chvmm-snapshot.json"), md, 0o600))
		dir := t.TempDir()
		sock := filepath.Join(dir, "api.sock")
		_, err := core.RestoreProcess(c, filepath.Join(dir, "data"), snap, sock, core.RestoreOptions{}, core.WithoutKVMCheck())
		require.ErrorIs(t, err, core.ErrUnknownVersion)
		assert.ErrorContains(t, err, "needs CH v47.0")
		assert.ErrorContains(t, err, `import _ "github.com/chvmm/chvmm/versions/v47"`)
		assert.NoFileExists(t, sock, "no VMM was started")
	})
}
