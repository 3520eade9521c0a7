package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core/driver"
)

// fakeBinary is a shell script that answers --version as CH release tag does.
func fakeBinary(tag, extra string) string {
	return "#!/bin/sh\n# fake cloud-hypervisor " + extra + "\necho \"cloud-hypervisor " + tag + "\"\n"
}

// newBinariesRoot returns a repository root with version module v48 locked
// to release v48.0 (the spec is not needed to fetch binaries).
func newBinariesRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	writeTestFile(t, filepath.Join(root, versionsDir, "v48", specLockFile), string(specLock{Tag: "v48.0", SHA256: fileSHA256(nil)}.bytes()))
	return root
}

func binaryPath(root, arch string) string {
	return filepath.Join(root, versionsDir, "v48", binariesDir, arch, driver.BinaryName)
}

func readLock(t *testing.T, root string) binariesLock {
	t.Helper()
	l, err := readBinariesLock(filepath.Join(root, versionsDir, "v48"))
	require.NoError(t, err)
	return l
}

func TestBinariesFromDirLocksThenVerifies(t *testing.T) {
	root := newBinariesRoot(t)
	from := t.TempDir()
	for _, arch := range []string{"x86_64", "aarch64"} {
		writeTestFile(t, filepath.Join(from, "v48.0", arch, driver.BinaryName), fakeBinary("v48.0", arch))
	}
	args := []string{"binaries", "-root", root, "-from", from, "v48"}

	require.NoError(t, run(t.Context(), args))
	lock := readLock(t, root)
	for _, arch := range []string{"x86_64", "aarch64"} {
		want := fileSHA256([]byte(fakeBinary("v48.0", arch)))
		assert.Equal(t, want, lock[arch], arch)
		fi, err := os.Stat(binaryPath(root, arch))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o755), fi.Mode().Perm())
	}
	lockFile := filepath.Join(root, versionsDir, "v48", binariesLockFile)
	before, err := os.ReadFile(lockFile)
	require.NoError(t, err)

	// Same binaries again: verified, lock unchanged.
	require.NoError(t, run(t.Context(), args))
	after, err := os.ReadFile(lockFile)
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after))

	// A different binary under the same tag: refused, naming both sums.
	changed := fakeBinary("v48.0", "rebuilt")
	writeTestFile(t, filepath.Join(from, "v48.0", hostArch(), driver.BinaryName), changed)
	err = run(t.Context(), args)
	require.ErrorIs(t, err, errBinaryMismatch)
	assert.Contains(t, err.Error(), fileSHA256([]byte(changed)))
	assert.Contains(t, err.Error(), lock[hostArch()])
	kept, err := os.ReadFile(binaryPath(root, hostArch()))
	require.NoError(t, err)
	assert.Equal(t, fakeBinary("v48.0", hostArch()), string(kept), "a refused binary replaces nothing")
	assert.Equal(t, lock, readLock(t, root))
	assertNoTempFiles(t, root)
}

func TestBinariesRefuseTheWrongVersion(t *testing.T) {
	root := newBinariesRoot(t)
	from := t.TempDir()
	writeTestFile(t, filepath.Join(from, "v48.0", hostArch(), driver.BinaryName), fakeBinary("v49.0", ""))
	err := run(t.Context(), []string{"binaries", "-root", root, "-from", from, "-arch", hostArch(), "v48"})
	require.ErrorIs(t, err, errBinaryVersion)
	assert.Contains(t, err.Error(), "cloud-hypervisor v49.0")
	_, statErr := os.Stat(binaryPath(root, hostArch()))
	assert.ErrorIs(t, statErr, os.ErrNotExist)
	assert.Empty(t, readLock(t, root), "a refused binary is not locked")
	assertNoTempFiles(t, root)
}

func TestBinariesFromDirNeedsAtLeastOne(t *testing.T) {
	root := newBinariesRoot(t)
	err := run(t.Context(), []string{"binaries", "-root", root, "-from", t.TempDir(), "v48"})
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), "no Cloud Hypervisor v48.0 binary found")
}

func TestBinariesDownload(t *testing.T) {
	assets := map[string]string{
		"/releases/v48.0/cloud-hypervisor-static":         fakeBinary("v48.0", "x86_64"),
		"/releases/v48.0/cloud-hypervisor-static-aarch64": fakeBinary("v48.0", "aarch64"),
	}
	var requested []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requested = append(requested, r.URL.Path)
		body, ok := assets[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	root := newBinariesRoot(t)
	args := []string{"binaries", "-root", root, "-base-url", srv.URL + "/releases/"}

	require.NoError(t, run(t.Context(), args))
	assert.ElementsMatch(t, []string{"/releases/v48.0/cloud-hypervisor-static", "/releases/v48.0/cloud-hypervisor-static-aarch64"}, requested)
	lock := readLock(t, root)
	for _, arch := range []string{"x86_64", "aarch64"} {
		b, err := os.ReadFile(binaryPath(root, arch))
		require.NoError(t, err)
		assert.Equal(t, fakeBinary("v48.0", arch), string(b))
		assert.Equal(t, fileSHA256(b), lock[arch])
	}

	// Upstream serving another file under the same tag is refused.
	assets["/releases/v48.0/cloud-hypervisor-static-aarch64"] = fakeBinary("v48.0", "tampered")
	err := run(t.Context(), args)
	require.ErrorIs(t, err, errBinaryMismatch)

	// A missing asset is an error when downloading.
	delete(assets, "/releases/v48.0/cloud-hypervisor-static-aarch64")
	err = run(t.Context(), append(args[:len(args):len(args)], "-arch", "aarch64"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "404")
	assertNoTempFiles(t, root)
}

func TestBinariesLockFormat(t *testing.T) {
	dir := t.TempDir()
	l := binariesLock{"x86_64": fileSHA256([]byte("x")), "aarch64": fileSHA256([]byte("a"))}
	writeTestFile(t, filepath.Join(dir, binariesLockFile), string(l.bytes("v48.0")))
	got, err := readBinariesLock(dir)
	require.NoError(t, err)
	assert.Equal(t, l, got)
	lines := strings.Split(strings.TrimSpace(string(l.bytes("v48.0"))), "\n")
	assert.True(t, strings.HasPrefix(lines[len(lines)-2], "aarch64"+" "), "arches are sorted")

	writeTestFile(t, filepath.Join(dir, binariesLockFile), "x86_64 nothex\n")
	_, err = readBinariesLock(dir)
	assert.ErrorContains(t, err, "want \"<arch> <hex sha256>\"")
}

// assertNoTempFiles fails if a temporary file is left anywhere under root.
func assertNoTempFiles(t *testing.T, root string) {
	t.Helper()
	for path := range readTree(t, root) {
		assert.False(t, strings.Contains(filepath.Base(path), ".tmp-"), "left behind: %s", path)
	}
}
