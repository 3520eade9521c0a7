package core

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeMetadata(t *testing.T, dir, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, SnapshotMetadataFile), []byte(content), 0o644))
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
		assert.ErrorContains(t, err, SnapshotMetadataFile, name)
	}
}

func TestCheckSnapshotRelease(t *testing.T) {
	r := &Release{Version: "v50.2"}
	dir := t.TempDir()
	require.ErrorIs(t, checkSnapshotRelease(dir, r, false), ErrNoSnapshotMetadata)
	require.NoError(t, checkSnapshotRelease(dir, r, true), "Force restores a snapshot without metadata")

	writeMetadata(t, dir, `{"ch_version": "v50.2", "arch": "`+HostArch()+`"}`)
	require.NoError(t, checkSnapshotRelease(dir, r, false))

	writeMetadata(t, dir, `{"ch_version": "v49.0", "arch": "`+HostArch()+`"}`)
	err := checkSnapshotRelease(dir, r, false)
	require.ErrorIs(t, err, ErrVersionMismatch)
	assert.ErrorContains(t, err, "written by CH v49.0, this VMM runs CH v50.2")
	require.NoError(t, checkSnapshotRelease(dir, r, true))

	other := "aarch64"
	if HostArch() == other {
		other = "x86_64"
	}
	writeMetadata(t, dir, `{"ch_version": "v50.2", "arch": "`+other+`"}`)
	err = checkSnapshotRelease(dir, r, true)
	require.ErrorIs(t, err, ErrVersionMismatch, "Force does not cross architectures")
	assert.ErrorContains(t, err, "taken on "+other)
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
	_, err := RestoreProcess(t.Context(), t.TempDir(), dir, filepath.Join(t.TempDir(), "s.sock"))
	require.ErrorIs(t, err, ErrNoSnapshotMetadata)

	writeMetadata(t, dir, `{"ch_version": "v77.3", "arch": "`+HostArch()+`"}`)
	_, err = RestoreProcess(t.Context(), t.TempDir(), dir, filepath.Join(t.TempDir(), "s.sock"))
	require.ErrorIs(t, err, ErrUnknownVersion)
	assert.ErrorContains(t, err, `import _ "github.com/chvmm/chvmm/versions/v77"`)
}

// TestFailedSnapshotLeavesNoOldMetadata: a snapshot that fails in a
// directory holding an older snapshot leaves no metadata vouching for files
// CH may have half replaced.
func TestFailedSnapshotLeavesNoOldMetadata(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, SnapshotMetadataFile)
	require.NoError(t, os.WriteFile(md, []byte(`{"ch_version":"v48.0","arch":"x86_64"}`), 0o644))

	socket, _ := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`["Error from API","The VM could not be snapshotted","Cannot snapshot VM"]`))
	}))
	h := NewHypervisor(&Release{Version: "v50.2", Endpoints: []Endpoint{{Method: http.MethodPut, Path: "/vm.snapshot"}}}, socket)
	err := h.Snapshot(t.Context(), dir)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.NoFileExists(t, md)
}
