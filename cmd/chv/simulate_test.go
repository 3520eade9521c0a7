package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core/chversion"
)

// TestSimulatorScript: the simulator script survives odd paths, replaces
// a stale script or an older chv's symlink, and answers --version when run
// through its descriptor, as core runs it.
func TestSimulatorScript(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	odd := filepath.Join(d, "it's here")
	require.NoError(t, os.Mkdir(odd, 0o755))
	self := filepath.Join(odd, "chv")
	require.NoError(t, os.WriteFile(self, []byte(readFile(t, chvBin)), 0o755))
	data := filepath.Join(d, "data dir")
	script := filepath.Join(data, "simulator", simulatorPrefix+"v52.0")
	require.NoError(t, os.MkdirAll(filepath.Dir(script), 0o755))
	require.NoError(t, os.Symlink(chvBin, script), "what chv wrote before")

	start := func(bin string) processJSON {
		t.Helper()
		var proc processJSON
		sock := filepath.Join(d, "vm.sock")
		r := runAs(t, bin, d, nil, "start", "--simulate", "--detach", "--json", "--version", "v52.0", "--socket", sock, "--data-dir", data)
		require.Equal(t, 0, r.code, "%s", r)
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &proc))
		ok(t, d, "shutdown-vmm", "--socket", sock)
		return proc
	}
	proc := start(self)
	assert.Equal(t, script, proc.Binary)
	fi, err := os.Lstat(script)
	require.NoError(t, err)
	assert.True(t, fi.Mode().IsRegular(), "the symlink is replaced by a script")
	assert.Contains(t, readFile(t, script), `'`+d+`/it'\''s here/chv' __chv-simulator 'v52.0' "$@"`)

	start(chvBin)
	assert.Contains(t, readFile(t, script), "'"+chvBin+"' ", "a stale script is rewritten")

	f, err := os.Open(script)
	require.NoError(t, err)
	defer f.Close()
	info, err := chversion.ReadFile(context.Background(), f)
	require.NoError(t, err)
	assert.Equal(t, "v52.0", info.Version)
}
