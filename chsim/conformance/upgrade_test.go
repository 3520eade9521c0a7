package conformance

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
)

// TestUpgradeMatrix moves a VM from every release to every later one (15
// pairs): created, booted and shut down on the older release, its config as
// the older release reports it (vm.info, every default filled in)
// converted with Release.Convert, then created and booted on the newer
// one. The simulators answer as the real servers do (they replay their
// recorded answers), so what they accept, the real ones do; the real-CH
// suite runs the same moves on the real binaries.
func TestUpgradeMatrix(t *testing.T) {
	rels := core.Releases()
	dir := t.TempDir()
	kernel := filepath.Join(dir, "vmlinux")
	require.NoError(t, os.WriteFile(kernel, []byte("kernel"), 0o644))
	disk := filepath.Join(dir, "disk.raw")
	require.NoError(t, os.WriteFile(disk, make([]byte, 1<<20), 0o644))
	pairs := 0
	for i, from := range rels {
		for _, to := range rels[i+1:] {
			pairs++
			t.Run(from.Version()+"→"+to.Version(), func(t *testing.T) {
				t.Parallel()
				c := t.Context()
				old := startSim(t, from.Version())
				cfg := api.DirectBoot{Kernel: kernel, Cmdline: "console=ttyS0", VCPUs: 1, MaxVCPUs: 2, MemoryMiB: 128,
					SerialFile: filepath.Join(t.TempDir(), "serial"), Disks: []string{disk}}.Config()
				require.NoError(t, old.Hypervisor().CreateVM(c, cfg, nil))
				require.NoError(t, old.Hypervisor().BootVM(c))
				require.NoError(t, old.Hypervisor().ShutdownVM(c))
				info, err := old.Hypervisor().VMInfo(c)
				require.NoError(t, err)
				require.NoError(t, old.Stop(c))

				// What the README's upgrade path did before Convert: the
				// config as it is fails on v52+ (serial.iommu).
				next := startSim(t, to.Version())
				if err := next.Hypervisor().CreateVM(c, &info.Config, nil); err == nil {
					require.NoError(t, next.Hypervisor().DeleteVM(c))
				} else {
					assert.ErrorIs(t, err, core.ErrUnsupportedField)
				}

				moved, changes, err := to.Convert(&info.Config, from)
				require.NoError(t, err, "converting %s's config for %s", from, to)
				for _, ch := range changes {
					t.Logf("%s → %s: %v", from, to, ch)
				}
				h := next.Hypervisor()
				require.NoError(t, h.CreateVM(c, moved, nil))
				require.NoError(t, h.BootVM(c))
				got, err := h.VMInfo(c)
				require.NoError(t, err)
				assert.Equal(t, api.VMStateRunning, got.State)
				assert.Equal(t, info.Config.Memory.Size, got.Config.Memory.Size, "the same VM")
				assert.Equal(t, *info.Config.Disks[0].Path, *got.Config.Disks[0].Path)
				if to.Has("DiskConfig.image_type") && !from.Has("DiskConfig.image_type") {
					require.NotNil(t, got.Config.Disks[0].ImageType)
					assert.Equal(t, api.ImageTypeRaw, *got.Config.Disks[0].ImageType, "explicit from v50.1 on")
				}
			})
		}
	}
	assert.Equal(t, len(rels)*(len(rels)-1)/2, pairs)
	assert.Equal(t, 15, pairs, "six releases")
}

// arch is CH's name of this machine's architecture.
func arch() string { return core.Releases()[0].Arch() }
