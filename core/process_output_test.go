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

	_, err := openPrivateFile(link, true)
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
	_, err = openPrivateFile(fifo, true)
	require.ErrorIs(t, err, ErrUnsafePath, "a FIFO is refused, without blocking")
	dirLink := filepath.Join(dir, "linked")
	require.NoError(t, os.Symlink(t.TempDir(), dirLink))
	_, err = openPrivateFile(filepath.Join(dirLink, "vm.log"), true)
	require.ErrorIs(t, err, ErrUnsafePath, "a symlinked directory is refused")
	f, err := openPrivateFile(plain, true)
	require.NoError(t, err)
	_, err = f.WriteString("b")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	got, err = os.ReadFile(plain)
	require.NoError(t, err)
	assert.Equal(t, "ab", string(got))
}

// TestVMMFilesOnlyThisUserCanChange: the socket's directory, the log
// directory and the log and events files that another user could change are
// refused (they could read the guest's console or forge how the VMM ended);
// a log file of this user's that others can read becomes 0600.
func TestVMMFilesOnlyThisUserCanChange(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give files to another user")
	}
	// The fake CH, copied where the path trust check passes.
	bin := filepath.Join(shortTempDir(t), "cloud-hypervisor")
	data, err := os.ReadFile(testBinary(t))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, data, 0o755))
	start := func(dir string) (*Process, error) {
		return startFakeAt(t, t.Context(), filepath.Join(dir, "api.sock"), WithBinary(bin), WithDetached(), withPathTrustCheck())
	}
	const nobody = 65534
	for name, plant := range map[string]func(dir string){
		"socket dir writable by others": func(dir string) { require.NoError(t, os.Chmod(dir, 0o777)) },
		"log dir of another user": func(dir string) {
			require.NoError(t, os.Mkdir(filepath.Join(dir, "logs"), 0o700))
			require.NoError(t, os.Chown(filepath.Join(dir, "logs"), nobody, nobody))
		},
		"log dir writable by others": func(dir string) {
			require.NoError(t, os.Mkdir(filepath.Join(dir, "logs"), 0o700))
			require.NoError(t, os.Chmod(filepath.Join(dir, "logs"), 0o777))
		},
		"log file of another user": func(dir string) {
			require.NoError(t, os.Mkdir(filepath.Join(dir, "logs"), 0o700))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "logs", "api.log"), nil, 0o600))
			require.NoError(t, os.Chown(filepath.Join(dir, "logs", "api.log"), nobody, nobody))
		},
		"events file of another user": func(dir string) {
			require.NoError(t, os.Mkdir(filepath.Join(dir, "logs"), 0o700))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "logs", "api.events"), nil, 0o600))
			require.NoError(t, os.Chown(filepath.Join(dir, "logs", "api.events"), nobody, nobody))
		},
	} {
		dir := shortTempDir(t)
		plant(dir)
		_, err := start(dir)
		require.ErrorIs(t, err, ErrUntrustedPath, name)
		assert.ErrorContains(t, err, "could read the guest's console or forge how the VMM ended", name)
	}

	dir := shortTempDir(t)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "logs"), 0o700))
	log := filepath.Join(dir, "logs", "api.log")
	require.NoError(t, os.WriteFile(log, []byte("earlier\n"), 0o644))
	require.NoError(t, os.Chmod(log, 0o666))
	p, err := start(dir)
	require.NoError(t, err)
	fi, err := os.Stat(log)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the console log is private")
	require.NoError(t, p.Stop(t.Context()))
}

// withPathTrustCheck undoes the WithoutPathTrustCheck startFakeAt gives.
func withPathTrustCheck() StartOption {
	return startOption(func(c *startConfig) { c.trustAnyPath = false })
}
