package chsim_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/chsim"
	"github.com/chvmm/chvmm/chsim/chsimtest"
	"github.com/chvmm/chvmm/core"
)

// e2eVersions are registered, in this test binary, as releases that embed
// cmd/chsim built for them as their cloud-hypervisor binary, as a version
// module embeds the real one.
var e2eVersions = []string{"v49.0", "v51.2"}

var registerOnce sync.Once

// registerE2EReleases builds the simulator for each of e2eVersions and
// registers a release holding it, with the endpoints of its spec.
func registerE2EReleases(t *testing.T) {
	t.Helper()
	registerOnce.Do(func() {
		for _, v := range e2eVersions {
			bin, err := os.ReadFile(chsimtest.Build(t, v))
			require.NoError(t, err)
			core.Register(&core.Release{
				Version:   v,
				Binaries:  fstest.MapFS{core.HostArch() + "/" + core.BinaryName: {Data: bin, Mode: 0o755}},
				Endpoints: specEndpoints(t, v),
			})
		}
	})
	for _, v := range e2eVersions {
		r, err := core.Lookup(v)
		require.NoError(t, err, "registering the test releases failed earlier")
		require.True(t, r.HasBinary(core.HostArch()))
	}
}

// specEndpoints lists the operations of version's spec.
func specEndpoints(t *testing.T, version string) []core.Endpoint {
	t.Helper()
	src, err := chsim.Spec(version)
	require.NoError(t, err)
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(src, &doc))
	var eps []core.Endpoint
	for path, ops := range doc.Paths {
		for m := range ops {
			if m := strings.ToUpper(m); m == http.MethodGet || m == http.MethodPut {
				eps = append(eps, core.Endpoint{Method: m, Path: path})
			}
		}
	}
	slices.SortFunc(eps, func(a, b core.Endpoint) int { return strings.Compare(a.Path+a.Method, b.Path+b.Method) })
	return eps
}

// TestExtractStartLifecycle: StartProcess without WithBinary extracts the
// registered release's embedded binary, starts it, and the VM goes through
// its lifecycle through core.Hypervisor.
func TestExtractStartLifecycle(t *testing.T) {
	registerE2EReleases(t)
	c := t.Context()
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")

	p, err := core.StartProcess(c, dataDir, "v51.2", filepath.Join(dir, "api.sock"), core.WithoutKVMCheck())
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Kill(); _ = p.Wait() })
	want, err := core.GetBinaryPath(dataDir, "v51.2")
	require.NoError(t, err)
	assert.Equal(t, want, p.Binary(), "the embedded binary was extracted and run")
	assert.Equal(t, filepath.Join(dataDir, "system", "binaries", "v51.2", core.HostArch(), core.BinaryName), p.Binary())
	assert.Equal(t, "v51.2", p.Version())

	ping, err := p.Ping(c)
	require.NoError(t, err)
	assert.Equal(t, "v51.2", ping.BuildVersion)
	assert.Equal(t, p.PID(), ping.PID)

	h := p.Hypervisor()
	require.NotNil(t, h)
	kernel := filepath.Join(dir, "vmlinux")
	require.NoError(t, os.WriteFile(kernel, []byte("kernel"), 0o644))
	require.NoError(t, h.CreateVM(c, core.DirectBoot{Kernel: kernel, MaxVCPUs: 2}.Config()))
	require.NoError(t, h.BootVM(c))
	require.NoError(t, h.Resize(c, core.VMResize{DesiredVcpus: ptr(2)}))
	require.NoError(t, h.PauseVM(c))
	require.NoError(t, h.ResumeVM(c))
	info, err := h.VMInfo(c)
	require.NoError(t, err)
	assert.Equal(t, core.VMStateRunning, info.State)
	require.NoError(t, h.ShutdownVM(c))
	require.NoError(t, h.DeleteVM(c))

	require.NoError(t, p.Stop(c))
	require.NoError(t, p.Wait())
	assert.Equal(t, 0, p.ExitCode())
}

// snapshotIn starts CH version (extracted), snapshots a paused VM into a
// new directory and stops the VMM.
func snapshotIn(t *testing.T, version string) string {
	t.Helper()
	c := t.Context()
	dir := t.TempDir()
	p, err := core.StartProcess(c, filepath.Join(dir, "data"), version, filepath.Join(dir, "api.sock"), core.WithoutKVMCheck())
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Kill(); _ = p.Wait() })
	h := p.Hypervisor()
	kernel := filepath.Join(dir, "vmlinux") // CH refuses to boot without a payload
	require.NoError(t, os.WriteFile(kernel, []byte("kernel"), 0o600))
	require.NoError(t, h.CreateVM(c, core.DirectBoot{Kernel: kernel, MemoryMiB: 128}.Config()))
	require.NoError(t, h.BootVM(c))
	require.NoError(t, h.PauseVM(c))
	snap := filepath.Join(dir, "snap")
	require.NoError(t, os.Mkdir(snap, 0o755))
	require.NoError(t, h.Snapshot(c, snap))
	require.NoError(t, p.Stop(c))
	return snap
}

// TestRestoreProcessPicksTheSnapshotsRelease: with several releases
// registered, RestoreProcess starts the one that wrote the snapshot, and
// refuses a snapshot of a release that is not registered, naming the module
// to import.
func TestRestoreProcessPicksTheSnapshotsRelease(t *testing.T) {
	registerE2EReleases(t)
	c := t.Context()
	for _, v := range []string{"v49.0", "v51.2"} {
		t.Run(v, func(t *testing.T) {
			snap := snapshotIn(t, v)
			dir := t.TempDir()
			p, err := core.RestoreProcess(c, filepath.Join(dir, "data"), snap, filepath.Join(dir, "api.sock"),
				core.WithoutKVMCheck(), core.WithRestoreOptions(core.RestoreOptions{Resume: true}))
			require.NoError(t, err)
			t.Cleanup(func() { _ = p.Kill(); _ = p.Wait() })
			assert.Equal(t, v, p.Version())
			ping, err := p.Ping(c)
			require.NoError(t, err)
			assert.Equal(t, v, ping.BuildVersion)
			info, err := p.Hypervisor().VMInfo(c)
			require.NoError(t, err)
			assert.Equal(t, core.VMStateRunning, info.State)
			assert.EqualValues(t, 128<<20, info.Config.Memory.Size)
			require.NoError(t, p.Stop(c))
		})
	}

	t.Run("Unregistered", func(t *testing.T) {
		snap := snapshotIn(t, "v49.0")
		md := []byte(`{"ch_version": "v48.0", "arch": "` + core.HostArch() + `", "created": "2026-01-02T03:04:05Z"}`)
		require.NoError(t, os.WriteFile(filepath.Join(snap, core.SnapshotMetadataFile), md, 0o644))
		dir := t.TempDir()
		sock := filepath.Join(dir, "api.sock")
		_, err := core.RestoreProcess(c, filepath.Join(dir, "data"), snap, sock, core.WithoutKVMCheck())
		require.ErrorIs(t, err, core.ErrUnknownVersion)
		assert.ErrorContains(t, err, "needs CH v48.0")
		assert.ErrorContains(t, err, `import _ "github.com/chvmm/chvmm/versions/v48"`)
		assert.NoFileExists(t, sock, "no VMM was started")
	})
}

func ptr[T any](v T) *T { return &v }
