package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
	"github.com/chvmm/chvmm/core/chtest"
)

// TestRealUpgradeMatrix moves a VM from every release present to every
// later one, on the real binaries: the guest boots on the older release
// (with a raw disk), is shut down, and its config, as the older release
// reports it, converted with Release.Convert, creates and boots the VM on
// the newer release, where the guest boots again.
func TestRealUpgradeMatrix(t *testing.T) {
	chtest.RequiresKVM(t)
	g := testGuest(t)
	type present struct {
		r    *core.Release
		opts []core.StartOption
	}
	var rels []present
	for _, r := range core.Releases() {
		opts, reason := realBinary(t, r)
		if reason != "" {
			t.Logf("CH %s: %s", r, reason)
			continue
		}
		rels = append(rels, present{r, append(opts, core.WithStopTimeout(realStopTimeout))})
	}
	if len(rels) < 2 {
		t.Skipf("needs two releases' binaries; %d present", len(rels))
	}
	root := t.TempDir()
	sem := make(chan struct{}, realParallel)
	pairs := 0
	t.Run("pairs", func(t *testing.T) {
		for i, from := range rels {
			for _, to := range rels[i+1:] {
				pairs++
				t.Run(from.r.Version()+"→"+to.r.Version(), func(t *testing.T) {
					t.Parallel()
					sem <- struct{}{}
					defer func() { <-sem }()
					ctx, cancel := context.WithTimeout(t.Context(), realTestTimeout)
					defer cancel()
					dir, err := os.MkdirTemp(root, "m")
					require.NoError(t, err)
					serial := filepath.Join(dir, "serial.log")
					disk := filepath.Join(dir, "disk.raw") // CH locks it: one per pair
					require.NoError(t, os.WriteFile(disk, make([]byte, 1<<20), 0o600))
					start := func(p present, name string) *core.Process {
						sock := filepath.Join(dir, name+".sock")
						proc, err := core.StartProcess(ctx, p.r, filepath.Join(root, "data"), sock, p.opts...)
						require.NoError(t, err, "StartProcess CH %s (log %s)", p.r, defaultLogPath(sock))
						t.Cleanup(func() { _ = proc.Stop(context.Background()) })
						return proc
					}

					old := start(from, "old")
					cfg := api.DirectBoot{Kernel: g.kernel, Initramfs: g.initramfs, Cmdline: g.cmdline, VCPUs: 1, MaxVCPUs: 2,
						MemoryMiB: g.memoryMiB, SerialFile: serial, Disks: []string{disk}}.Config()
					require.NoError(t, old.Hypervisor().CreateVM(ctx, cfg, nil))
					require.NoError(t, old.Hypervisor().BootVM(ctx))
					waitMarker(t, old, serial, g)
					require.NoError(t, old.Hypervisor().ShutdownVM(ctx))
					info, err := old.Hypervisor().VMInfo(ctx)
					require.NoError(t, err)
					require.NoError(t, old.Stop(ctx))
					require.NoError(t, os.Rename(serial, serial+".old"))

					moved, changes, err := to.r.Convert(&info.Config, from.r)
					require.NoError(t, err, "converting the config CH %s reports for CH %s", from.r, to.r)
					for _, c := range changes {
						t.Logf("%s → %s: %v", from.r, to.r, c)
					}
					next := start(to, "new")
					h := next.Hypervisor()
					require.NoError(t, h.CreateVM(ctx, moved, nil), "creating the converted VM on CH %s (log %s)", to.r, next.LogPath())
					require.NoError(t, h.BootVM(ctx))
					waitMarker(t, next, serial, g)
					got, err := h.VMInfo(ctx)
					require.NoError(t, err)
					assert.Equal(t, api.VMStateRunning, got.State)
					assert.Equal(t, info.Config.Memory.Size, got.Config.Memory.Size)
					require.NoError(t, next.Stop(ctx))
				})
			}
		}
	})
	t.Logf("%d release pairs moved (of %d releases present)", pairs, len(rels))
}
