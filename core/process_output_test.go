package core

import (
	"os"
	"path/filepath"
	"syscall"
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
		assert.Equal(t, want, defaultLogPath(socket), socket)
	}
}

func TestOpenLogRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	require.NoError(t, os.WriteFile(target, []byte("keep"), 0o600))
	link := filepath.Join(dir, "logs", "vm.log")
	require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o755))
	require.NoError(t, os.Symlink(target, link))

	_, err := openPrivateFile(link)
	require.ErrorIs(t, err, ErrUnsafePath)
	assert.Contains(t, err.Error(), "is a symlink")
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, "keep", string(got), "the symlink's target is untouched")

	// An existing regular log is appended to.
	plain := filepath.Join(dir, "logs", "plain.log")
	require.NoError(t, os.WriteFile(plain, []byte("a"), 0o644))
	fifo := filepath.Join(dir, "logs", "fifo.log")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	_, err = openPrivateFile(fifo)
	require.ErrorIs(t, err, ErrUnsafePath, "a FIFO is refused, without blocking")
	dirLink := filepath.Join(dir, "linked")
	require.NoError(t, os.Symlink(t.TempDir(), dirLink))
	_, err = openPrivateFile(filepath.Join(dirLink, "vm.log"))
	require.ErrorIs(t, err, ErrUnsafePath, "a symlinked directory is refused")
	f, err := openPrivateFile(plain)
	require.NoError(t, err)
	_, err = f.WriteString("b")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	got, err = os.ReadFile(plain)
	require.NoError(t, err)
	assert.Equal(t, "ab", string(got))
}
