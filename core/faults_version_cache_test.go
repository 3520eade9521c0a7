package core

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core/chversion"
	"github.com/chvmm/chvmm/core/driver"
)

// countingCH writes to path a CH stand-in that answers --version as version
// and appends a line to runs each time it runs.
func countingCH(t *testing.T, path, runs, version string) {
	t.Helper()
	script := "#!/bin/sh\necho run >> '" + runs + "'\necho 'cloud-hypervisor " + version + "'\n"
	tmp := path + ".new"
	require.NoError(t, os.WriteFile(tmp, []byte(script), 0o755))
	require.NoError(t, os.Rename(tmp, path))
}

// cachedVersion is binaryVersions.get of the file at path.
func cachedVersion(t *testing.T, path string) (chversion.Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return chversion.Info{}, err
	}
	defer f.Close()
	return binaryVersions.get(t.Context(), f)
}

func runCount(t *testing.T, runs string) int {
	t.Helper()
	data, err := os.ReadFile(runs)
	if os.IsNotExist(err) {
		return 0
	}
	require.NoError(t, err)
	return strings.Count(string(data), "run\n")
}

// TestBinaryVersionCache: StartProcess reads a binary's --version once per
// file, also under concurrent starts, and again when the file is replaced
// or rewritten in place.
func TestBinaryVersionCache(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, driver.BinaryName)
	runs := filepath.Join(dir, "runs")
	countingCH(t, bin, runs, "v61.0")

	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			bv, err := cachedVersion(t, bin)
			assert.NoError(t, err)
			assert.Equal(t, "v61.0", bv.Version)
		})
	}
	wg.Wait()
	assert.Equal(t, 1, runCount(t, runs), "20 concurrent starts ran --version")

	// Replaced by another file: read again.
	countingCH(t, bin, runs, "v62.0")
	bv, err := cachedVersion(t, bin)
	require.NoError(t, err)
	assert.Equal(t, "v62.0", bv.Version)
	assert.Equal(t, 2, runCount(t, runs))

	// Rewritten in place (same inode, same size): read again.
	data, err := os.ReadFile(bin)
	require.NoError(t, err)
	time.Sleep(10 * time.Millisecond) // a visibly newer mtime/ctime on coarse clocks
	require.NoError(t, os.WriteFile(bin, []byte(strings.Replace(string(data), "v62.0", "v63.0", 1)), 0o755))
	bv, err = cachedVersion(t, bin)
	require.NoError(t, err)
	assert.Equal(t, "v63.0", bv.Version)
	assert.Equal(t, 3, runCount(t, runs))

	// A failure is not remembered.
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\necho nonsense\n"), 0o755))
	_, err = cachedVersion(t, bin)
	require.ErrorIs(t, err, ErrBadVersion)
	countingCH(t, bin, runs, "v64.0")
	bv, err = cachedVersion(t, bin)
	require.NoError(t, err)
	assert.Equal(t, "v64.0", bv.Version)
}
