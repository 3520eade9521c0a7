package core

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultLogPathIsPerSocket(t *testing.T) {
	for socket, want := range map[string]string{
		"/run/chvmm/vm1.sock": "/run/chvmm/logs/vm1.log",
		"/run/chvmm/vm2.sock": "/run/chvmm/logs/vm2.log",
		"/run/chvmm/api":      "/run/chvmm/logs/api.log",
		"/run/chvmm/.sock":    "/run/chvmm/logs/.sock.log",
		"/run/a.b/vm.1.sock":  "/run/a.b/logs/vm.1.log",
	} {
		assert.Equal(t, want, DefaultLogPath(socket), socket)
	}
}

func TestOpenLogRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	require.NoError(t, os.WriteFile(target, []byte("keep"), 0o600))
	link := filepath.Join(dir, "logs", "vm.log")
	require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o755))
	require.NoError(t, os.Symlink(target, link))

	_, err := openLog(link)
	require.ErrorIs(t, err, ErrUnsafePath)
	assert.Contains(t, err.Error(), "is a symlink")
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, "keep", string(got), "the symlink's target is untouched")

	// An existing regular log is appended to.
	plain := filepath.Join(dir, "logs", "plain.log")
	require.NoError(t, os.WriteFile(plain, []byte("a"), 0o644))
	f, err := openLog(plain)
	require.NoError(t, err)
	_, err = f.WriteString("b")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	got, err = os.ReadFile(plain)
	require.NoError(t, err)
	assert.Equal(t, "ab", string(got))
}
