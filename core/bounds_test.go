//go:build linux

package core

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core/api"
	"github.com/chvmm/chvmm/core/chversion"
)

// The package-level maps of core that could grow with the binaries, paths,
// sockets, pids or types a long-running supervisor meets are bounded; each
// test here drives one with far more distinct keys than its bound.

// syncMapLen counts the entries of m.
func syncMapLen(m *sync.Map) int {
	n := 0
	m.Range(func(any, any) bool { n++; return true })
	return n
}

// TestPathLocksBounded: 10,000 distinct paths locked and unlocked, and
// waiters that give up, leave no entry behind.
func TestPathLocksBounded(t *testing.T) {
	var l pathLocks
	ctx := t.Context()
	for i := range 10_000 {
		unlock, err := l.lock(ctx, fmt.Sprintf("/run/chvmm/vm%d.sock", i))
		require.NoError(t, err)
		if i == 0 {
			assert.Equal(t, 1, l.len(), "a held lock has its entry")
		}
		unlock()
	}
	assert.Equal(t, 0, l.len(), "entries after 10,000 paths were locked and released")

	// A held lock with waiters: the entry stays while any of them is there.
	unlock, err := l.lock(ctx, "/run/chvmm/busy.sock")
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 10 {
		wctx, cancel := context.WithCancel(ctx)
		cancel() // gives up at once
		wg.Go(func() {
			_, err := l.lock(wctx, "/run/chvmm/busy.sock")
			assert.ErrorIs(t, err, context.Canceled)
		})
	}
	wg.Wait()
	assert.Equal(t, 1, l.len())
	unlock()
	assert.Equal(t, 0, l.len(), "entries after the holder released and the waiters gave up")
}

// TestVersionCacheBounded: binaryVersions keeps at most maxCachedVersions
// files, whatever number it has seen, and always the one just stored.
func TestVersionCacheBounded(t *testing.T) {
	var c versionCache
	for i := range 10_000 {
		id := fileID{dev: 1, ino: uint64(i)}
		c.store(id, chversion.Info{Version: "v53.0"})
		_, ok := c.lookup(id)
		require.True(t, ok, "the version just stored")
	}
	assert.LessOrEqual(t, c.len(), maxCachedVersions)
	assert.Equal(t, maxCachedVersions, c.len())

	// Through get, with real binaries: more files than the bound.
	var real versionCache
	dir := t.TempDir()
	for i := range maxCachedVersions + 8 {
		path := filepath.Join(dir, fmt.Sprint(i))
		require.NoError(t, os.WriteFile(path, chScript("v53.0"), 0o755))
		f, err := os.Open(path)
		require.NoError(t, err)
		v, err := real.get(t.Context(), f)
		f.Close()
		require.NoError(t, err)
		require.Equal(t, "v53.0", v.Version)
	}
	assert.Equal(t, maxCachedVersions, real.len())
	assert.Equal(t, 0, real.locks.len(), "locks of finished version checks")
}

// TestVerifiedCacheBounded: verifiedBinaries keeps at most
// maxVerifiedPaths paths, from stores and from extractions into more data
// directories than that.
func TestVerifiedCacheBounded(t *testing.T) {
	var c verifiedCache
	p := &payload{}
	for i := range 10_000 {
		path := fmt.Sprintf("/var/lib/chvmm%d/system/binaries/v53.0/x86_64/cloud-hypervisor", i)
		c.store(path, p, fileID{ino: uint64(i)})
		require.True(t, c.matches(path, fileID{ino: uint64(i)}), "the path just stored")
	}
	assert.Equal(t, maxVerifiedPaths, c.len())

	resetExtractCache()
	t.Cleanup(resetExtractCache)
	r := testRelease("v92.0", chScript("v92.0"))
	root := t.TempDir()
	for i := range maxVerifiedPaths + 8 {
		_, err := r.BinaryPath(t.Context(), filepath.Join(root, fmt.Sprint(i)))
		require.NoError(t, err)
	}
	assert.Equal(t, maxVerifiedPaths, verifiedBinaries.len())
	assert.Equal(t, 0, extractLocks.len(), "locks of finished extractions")
}

// TestPayloadsBoundedByReleases: payloads has one entry per Release, not
// per data directory or call.
func TestPayloadsBoundedByReleases(t *testing.T) {
	resetExtractCache()
	t.Cleanup(resetExtractCache)
	rs := []*Release{testRelease("v91.0", chScript("v91.0")), testRelease("v91.1", chScript("v91.1")), testRelease("v91.2", nil)}
	root := t.TempDir()
	for i := range 30 {
		r := rs[i%len(rs)]
		_, _ = r.BinaryPath(t.Context(), filepath.Join(root, fmt.Sprint(i)))
		_, _ = r.payload()
	}
	assert.Equal(t, len(rs), syncMapLen(&payloads))
}

// structTypes adds to seen every struct type reachable from t through
// fields, pointers, slices, arrays and maps.
func structTypes(t reflect.Type, seen map[reflect.Type]bool) {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		structTypes(t.Elem(), seen)
	case reflect.Map:
		structTypes(t.Key(), seen)
		structTypes(t.Elem(), seen)
	case reflect.Struct:
		if seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			structTypes(t.Field(i).Type, seen)
		}
	}
}

// TestFieldCacheBoundedByTypes: checking 10,000 distinct request bodies
// adds no entry beyond the struct types of core's API.
func TestFieldCacheBoundedByTypes(t *testing.T) {
	seen := map[reflect.Type]bool{}
	for _, ct := range coreTypes {
		structTypes(ct, seen)
	}
	r := testRelease("v90.0", nil)
	for i := range 10_000 {
		cfg := api.DirectBoot{Kernel: fmt.Sprintf("/vm/%d/vmlinux", i), Cmdline: "console=ttyS0", VCPUs: 1 + i%4, MemoryMiB: int64(256 + i)}.Config()
		disk, tap, extra := fmt.Sprintf("/vm/%d/disk.img", i), fmt.Sprintf("tap%d", i), fmt.Sprintf("/vm/%d/extra.img", i)
		cfg.Disks = []api.DiskConfig{{Path: &disk}}
		cfg.Net = []api.NetConfig{{Tap: &tap}}
		_, err := r.encodeBody("VmConfig", &cfg, nil)
		require.NoError(t, err)
		_, err = r.encodeBody("DiskConfig", &api.DiskConfig{Path: &extra}, nil)
		require.NoError(t, err)
	}
	n := syncMapLen(&fieldCache)
	assert.Positive(t, n)
	for k := range fieldCache.Range {
		assert.True(t, seen[k.(reflect.Type)], "fieldCache holds %v, not a type of core's API", k)
	}
	assert.LessOrEqual(t, n, len(seen))
}

// TestSupervisionMapsEmptyAfterExit: shutdownRequests and
// supervisedChildren hold an entry per VMM while it runs, and none once it
// has exited, started or attached; the start locks are gone too.
func TestSupervisionMapsEmptyAfterExit(t *testing.T) {
	const n = 20
	procs := make([]*Process, n)
	for i := range n {
		var opts []StartOption
		if i%2 == 1 {
			opts = append(opts, WithDetached())
		}
		p, err := startFake(t, t.Context(), opts...)
		require.NoError(t, err)
		procs[i] = p
	}
	attached, err := Attach(t.Context(), procs[1].Handle())
	require.NoError(t, err)
	assert.Equal(t, n, syncMapLen(&shutdownRequests), "one per socket")
	assert.Equal(t, n, syncMapLen(&supervisedChildren), "one per child")
	for _, p := range procs {
		require.NoError(t, p.Stop(t.Context()))
	}
	<-attached.Done()
	assert.Equal(t, 0, syncMapLen(&shutdownRequests))
	assert.Equal(t, 0, syncMapLen(&supervisedChildren))
	assert.Equal(t, 0, startLocks.len())
	assert.Equal(t, 0, binaryVersions.locks.len())
}
