package chversion

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseOutput(t *testing.T) {
	tests := []struct {
		out, want, raw string
	}{
		{"cloud-hypervisor v48.0", "v48.0", "cloud-hypervisor v48.0"},
		{"cloud-hypervisor v48.0\n", "v48.0", "cloud-hypervisor v48.0"},
		{"  cloud-hypervisor   v50.2 \r\n", "v50.2", "cloud-hypervisor   v50.2"},
		{"cloud-hypervisor v48.0.0", "v48.0", "cloud-hypervisor v48.0.0"},
		{"cloud-hypervisor 48.0.0", "v48.0", "cloud-hypervisor 48.0.0"},
		{"cloud-hypervisor v48.0-dirty", "v48.0", "cloud-hypervisor v48.0-dirty"},
		{"cloud-hypervisor v48.0-12-g0123abcd", "v48.0", "cloud-hypervisor v48.0-12-g0123abcd"},
		{"cloud-hypervisor v48.0-12-g0123abcd-dirty", "v48.0", "cloud-hypervisor v48.0-12-g0123abcd-dirty"},
		{"cloud-hypervisor v053.01", "v53.1", "cloud-hypervisor v053.01"},
	}
	for _, tc := range tests {
		got, err := ParseOutput(tc.out)
		require.NoError(t, err, "%q", tc.out)
		assert.Equal(t, Info{Version: tc.want, Raw: tc.raw}, got, "%q", tc.out)
	}

	for _, out := range []string{
		"",
		"   \n",
		"garbage",
		"cloud-hypervisor",
		"cloud-hypervisor ",
		"cloud-hypervisor v48",
		"cloud-hypervisor vx.y",
		"cloud-hypervisor v48.0 extra",
		"cloud-hypervisor v48.0+build",
		"cloud-hypervisor v48.0-",
		"cloud-hypervisor v99999999999999999999.0",
		"firecracker v1.7.0",
		"Cloud-Hypervisor v48.0",
		"v48.0",
		"error: unexpected argument '--version'\ncloud-hypervisor v48.0",
		"cloud-hypervisor v48.0\ncloud-hypervisor v49.0",
		"\x00\x01\x02ELF",
	} {
		got, err := ParseOutput(out)
		require.ErrorIs(t, err, ErrBadVersion, "%q", out)
		assert.Empty(t, got.Version, "%q", out)
	}
}

// TestParseOutputMoreLines: from v53.0 CH prints a second line, the
// migration protocol versions (cloud-hypervisor/src/main.rs), and with -v a
// third; the version is the first line's.
func TestParseOutputMoreLines(t *testing.T) {
	for out, want := range map[string]Info{
		"cloud-hypervisor v53.0\nMigration Protocol Versions: 0\n": {Version: "v53.0", Raw: "cloud-hypervisor v53.0", MigrationProtocolVersions: []string{"0"}},
		"cloud-hypervisor v54.1\nMigration Protocol Versions: 0, 1\nEnabled features: [\"kvm\"]\n": {
			Version: "v54.1", Raw: "cloud-hypervisor v54.1", MigrationProtocolVersions: []string{"0", "1"}},
		"cloud-hypervisor v53.0\nMigration Protocol Versions: \n": {Version: "v53.0", Raw: "cloud-hypervisor v53.0", MigrationProtocolVersions: []string{}},
		"cloud-hypervisor v48.0\nwarning: something\n":            {Version: "v48.0", Raw: "cloud-hypervisor v48.0"},
	} {
		got, err := ParseOutput(out)
		require.NoError(t, err, "%q", out)
		assert.Equal(t, want, got, "%q", out)
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"v48.0":              "v48.0",
		"48.0":               "v48.0",
		"48.0.0":             "v48.0",
		"v48.0.0":            "v48.0",
		"v48.0-dirty":        "v48.0",
		"v48.0-12-g0123abcd": "v48.0",
		"v50.2":              "v50.2",
		"v100.10":            "v100.10",
	} {
		got, err := Normalize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "v", "48", "v48", "v48.", "v48.x", "latest", " v48.0", "v48.0 ", "vv48.0", "v48.0.0.0", "v-48.0"} {
		_, err := Normalize(in)
		require.ErrorIs(t, err, ErrBadVersion, "%q", in)
		assert.Contains(t, err.Error(), "not a Cloud Hypervisor version", "%q", in)
	}
}

// writeScript writes an executable shell script with body into a new
// temporary directory.
func writeScript(t *testing.T, body string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cloud-hypervisor")
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\n"+body), mode))
	return path
}

func TestReadBinary(t *testing.T) {
	t.Run("CH binary", func(t *testing.T) {
		path := writeScript(t, "[ \"$1\" = --version ] && echo 'cloud-hypervisor v48.0-3-gdeadbeef'\n", 0o755)
		got, err := ReadBinary(t.Context(), path)
		require.NoError(t, err)
		assert.Equal(t, Info{Version: "v48.0", Raw: "cloud-hypervisor v48.0-3-gdeadbeef"}, got)
	})
	t.Run("stderr is not parsed", func(t *testing.T) {
		path := writeScript(t, "echo 'warning: old kernel' >&2\necho 'cloud-hypervisor v50.2'\n", 0o755)
		got, err := ReadBinary(t.Context(), path)
		require.NoError(t, err)
		assert.Equal(t, "v50.2", got.Version)
	})
	t.Run("not executable", func(t *testing.T) {
		path := writeScript(t, "echo 'cloud-hypervisor v48.0'\n", 0o644)
		_, err := ReadBinary(t.Context(), path)
		require.ErrorIs(t, err, os.ErrPermission)
		assert.Contains(t, err.Error(), path)
		assert.Contains(t, err.Error(), "Cloud Hypervisor binary")
	})
	t.Run("missing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "absent")
		_, err := ReadBinary(t.Context(), path)
		require.ErrorIs(t, err, os.ErrNotExist)
		assert.Contains(t, err.Error(), path)
	})
	t.Run("prints garbage", func(t *testing.T) {
		path := writeScript(t, "echo 'Usage: foo [OPTIONS]'\necho oops >&2\n", 0o755)
		_, err := ReadBinary(t.Context(), path)
		require.ErrorIs(t, err, ErrBadVersion)
		assert.Contains(t, err.Error(), path)
		assert.Contains(t, err.Error(), "Usage: foo")
		assert.Contains(t, err.Error(), "oops")
	})
	t.Run("fails", func(t *testing.T) {
		path := writeScript(t, "echo 'error: unknown flag' >&2\nexit 2\n", 0o755)
		_, err := ReadBinary(t.Context(), path)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "exit status 2")
		assert.Contains(t, err.Error(), "unknown flag")
	})
	t.Run("prints too much", func(t *testing.T) {
		path := writeScript(t, "echo 'cloud-hypervisor v48.0'\nexec yes\n", 0o755)
		start := time.Now()
		_, err := ReadBinary(t.Context(), path)
		require.ErrorIs(t, err, errTooMuchOutput)
		assert.Contains(t, err.Error(), "more than 65536 bytes")
		assert.Less(t, time.Since(start), 5*time.Second)
	})
	t.Run("hangs", func(t *testing.T) {
		path := writeScript(t, "exec sleep 30\n", 0o755)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := ReadBinary(ctx, path)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), "no answer")
		assert.Less(t, time.Since(start), 3*time.Second)
	})
}

// TestReadFileRunsTheOpenFile: ReadFile runs the file it was given, not
// what its path names once another program replaced it.
func TestReadFileRunsTheOpenFile(t *testing.T) {
	path := writeScript(t, "echo 'cloud-hypervisor v48.0'\n", 0o755)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	other := writeScript(t, "echo 'cloud-hypervisor v99.0'\n", 0o755)
	require.NoError(t, os.Rename(other, path))
	got, err := ReadFile(t.Context(), f)
	require.NoError(t, err)
	assert.Equal(t, "v48.0", got.Version)
	byPath, err := ReadBinary(t.Context(), path)
	require.NoError(t, err)
	assert.Equal(t, "v99.0", byPath.Version)
}

var canonicalRE = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`)

func FuzzReadBinary(f *testing.F) {
	for _, s := range []string{
		"cloud-hypervisor v48.0", "cloud-hypervisor v48.0.0\n", "cloud-hypervisor v48.0-dirty",
		"cloud-hypervisor v48.0-12-g0123abcd", "cloud-hypervisor 0048.0010", "cloud-hypervisor",
		"garbage", "", "cloud-hypervisor v9223372036854775807.1", "cloud-hypervisor v1.2\nx",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, out string) {
		got, err := ParseOutput(out)
		if err != nil {
			require.ErrorIs(t, err, ErrBadVersion)
			require.Empty(t, got.Version)
			return
		}
		require.Regexp(t, canonicalRE, got.Version)
		again, err := Normalize(got.Version)
		require.NoError(t, err, got.Version)
		require.Equal(t, got.Version, again)
		reparsed, err := ParseOutput("cloud-hypervisor " + got.Version)
		require.NoError(t, err)
		require.Equal(t, got.Version, reparsed.Version)
	})
}
