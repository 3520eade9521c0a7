package chsimtest_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/chsim/chsimtest"
	"github.com/chvmm/chvmm/core"
)

// TestStartAndBuild uses the simulator both ways, as the README's section
// "The simulator" shows: in process (Start), and built as a
// cloud-hypervisor binary that StartProcess runs without KVM (Build).
func TestStartAndBuild(t *testing.T) {
	ctx := t.Context()

	socket, srv := chsimtest.Start(t, "v50.2") // in process; spec violations fail t
	bin := chsimtest.Build(t, "v50.2")         // cmd/chsim as a cloud-hypervisor binary
	rel, _ := core.Lookup("v50.2")
	proc, err := core.StartProcess(ctx, rel, t.TempDir(), filepath.Join(t.TempDir(), "vm.sock"),
		core.WithBinary(bin), core.WithoutKVMCheck())
	require.NoError(t, err)

	assert.Equal(t, "v50.2", srv.Version())
	h, err := core.Connect(ctx, socket)
	require.NoError(t, err)
	defer h.Close()
	assert.Equal(t, "v50.2", h.Release().Version())

	info, err := proc.Hypervisor().Ping(ctx)
	require.NoError(t, err)
	assert.Equal(t, "v50.2", info.BuildVersion)
	assert.Equal(t, proc.PID(), info.PID)
	require.NoError(t, proc.Stop(ctx))
	assert.Equal(t, core.ExitRequested, proc.Wait().Reason)
}
