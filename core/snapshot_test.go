package core

import (
	"bytes"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeMetadata(t *testing.T, dir, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, snapshotMetadataFile), []byte(content), 0o644))
}

func TestReadSnapshotMetadata(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadSnapshotMetadata(dir)
	require.ErrorIs(t, err, ErrNoSnapshotMetadata)
	assert.ErrorContains(t, err, dir)

	writeMetadata(t, dir, `{"ch_version": "50.2", "arch": "x86_64", "created": "2026-01-02T03:04:05Z"}`)
	md, err := ReadSnapshotMetadata(dir)
	require.NoError(t, err)
	assert.Equal(t, "v50.2", md.Version, "normalised")
	assert.Equal(t, "x86_64", md.Arch)
	assert.Equal(t, 2026, md.Created.Year())

	for name, content := range map[string]string{
		"malformed":   `{"ch_version": `,
		"no version":  `{"arch": "x86_64"}`,
		"bad version": `{"ch_version": "latest-ish", "arch": "x86_64"}`,
	} {
		writeMetadata(t, dir, content)
		_, err := ReadSnapshotMetadata(dir)
		require.Error(t, err, name)
		assert.NotErrorIs(t, err, ErrNoSnapshotMetadata, name)
		assert.ErrorContains(t, err, snapshotMetadataFile, name)
	}
}

func TestCheckSnapshotRelease(t *testing.T) {
	r := testRelease("v50.2", nil)
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	require.ErrorIs(t, checkSnapshotRelease(dir, r, false, log), ErrNoSnapshotMetadata)
	require.NoError(t, checkSnapshotRelease(dir, r, true, log), "Force restores a snapshot without metadata")

	writeMetadata(t, dir, `{"ch_version": "v50.2", "arch": "`+hostArch()+`"}`)
	require.NoError(t, checkSnapshotRelease(dir, r, false, log))

	// Same major, another point release: CH's promise holds; a notice.
	var notice bytes.Buffer
	writeMetadata(t, dir, `{"ch_version": "v50.0", "ch_build": "v50.0-dirty", "arch": "`+hostArch()+`"}`)
	require.NoError(t, checkSnapshotRelease(dir, r, false, slog.New(slog.NewTextHandler(&notice, nil))))
	assert.Contains(t, notice.String(), "another point release")
	assert.Contains(t, notice.String(), "v50.0-dirty")

	writeMetadata(t, dir, `{"ch_version": "v49.0", "arch": "`+hostArch()+`"}`)
	err := checkSnapshotRelease(dir, r, false, log)
	require.ErrorIs(t, err, ErrVersionMismatch)
	assert.ErrorContains(t, err, "written by CH v49.0, this VMM runs CH v50.2")
	assert.ErrorContains(t, err, "starts a v49 release")
	require.NoError(t, checkSnapshotRelease(dir, r, true, log))

	other := "aarch64"
	if hostArch() == other {
		other = "x86_64"
	}
	writeMetadata(t, dir, `{"ch_version": "v50.2", "arch": "`+other+`"}`)
	err = checkSnapshotRelease(dir, r, true, log)
	require.ErrorIs(t, err, ErrArchMismatch, "Force does not cross architectures")
	assert.NotErrorIs(t, err, ErrVersionMismatch)
	assert.ErrorContains(t, err, "taken on "+other)
}

// TestReadSnapshotMetadataIsBounded: metadata that is a symlink (to
// /dev/zero), a FIFO or a huge file is refused at once, not read forever.
func TestReadSnapshotMetadataIsBounded(t *testing.T) {
	for name, plant := range map[string]func(path string) error{
		"symlink to /dev/zero": func(path string) error { return os.Symlink("/dev/zero", path) },
		"FIFO":                 func(path string) error { return syscall.Mkfifo(path, 0o600) },
		"huge": func(path string) error {
			return os.WriteFile(path, bytes.Repeat([]byte(" "), maxMetadataSize+1), 0o600)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, plant(filepath.Join(dir, snapshotMetadataFile)))
			done := make(chan error, 1)
			go func() { _, err := ReadSnapshotMetadata(dir); done <- err }()
			select {
			case err := <-done:
				require.Error(t, err)
				assert.NotErrorIs(t, err, ErrNoSnapshotMetadata)
			case <-time.After(3 * time.Second):
				t.Fatal("ReadSnapshotMetadata blocked")
			}
		})
	}
}

func TestSnapshotDir(t *testing.T) {
	_, err := snapshotDir("")
	require.ErrorIs(t, err, ErrBadConfig)
	_, err = snapshotDir(filepath.Join(t.TempDir(), "absent"))
	require.ErrorIs(t, err, os.ErrNotExist)
	file := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err = snapshotDir(file)
	require.ErrorIs(t, err, ErrBadConfig)

	t.Chdir(t.TempDir())
	require.NoError(t, os.Mkdir("snap", 0o755))
	abs, err := snapshotDir("snap")
	require.NoError(t, err)
	assert.True(t, filepath.IsAbs(abs))
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	require.NoError(t, writeFileAtomic(p, []byte("one"), 0o640))
	require.NoError(t, writeFileAtomic(p, []byte("two"), 0o640))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "two", string(b))
	fi, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file is left")
}

func TestRestoreProcessNeedsMetadataAndRegisteredRelease(t *testing.T) {
	dir := t.TempDir()
	_, err := RestoreProcess(t.Context(), t.TempDir(), dir, filepath.Join(t.TempDir(), "s.sock"), RestoreOptions{})
	require.ErrorIs(t, err, ErrNoSnapshotMetadata)

	writeMetadata(t, dir, `{"ch_version": "v77.3", "arch": "`+hostArch()+`"}`)
	_, err = RestoreProcess(t.Context(), t.TempDir(), dir, filepath.Join(t.TempDir(), "s.sock"), RestoreOptions{})
	require.ErrorIs(t, err, ErrUnknownVersion)
	assert.ErrorContains(t, err, `import _ "github.com/chvmm/chvmm/versions/v77"`)
}

// TestFailedSnapshotLeavesNoOldMetadata: a snapshot that fails in a
// directory holding an older snapshot leaves no metadata vouching for files
// CH may have half replaced.
func TestFailedSnapshotLeavesNoOldMetadata(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, snapshotMetadataFile)
	require.NoError(t, os.WriteFile(md, []byte(`{"ch_version":"v48.0","arch":"x86_64"}`), 0o644))

	socket, _ := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/vmm.ping" {
			_, _ = w.Write([]byte(`{"build_version":"v50.2","version":"50.2.0","pid":1}`))
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`["Error from API","The VM could not be snapshotted","Cannot snapshot VM"]`))
	}))
	h := newVMMClient(testRelease("v50.2", nil), socket, nil)
	err := h.Snapshot(t.Context(), dir)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.NoFileExists(t, md)
}
