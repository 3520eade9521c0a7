package core

import (
	"context"
	"sync"

	"golang.org/x/sys/unix"
)

// binaryVersions remembers what `--version` printed for each binary
// StartProcess ran, so that starting a VMM from the same file again (or many
// at once) runs `--version` once, not once per start. An entry holds while
// the file at the path (followed, as exec follows it) keeps its identity:
// device, inode, mode, size, mtime and ctime; replacing or rewriting the
// binary runs `--version` again.
var binaryVersions versionCache

type versionCache struct {
	locks pathLocks
	m     sync.Map // path → cachedVersion
}

type cachedVersion struct {
	id fileID
	bv BinaryVersion
}

// get returns the version of the binary at path: the cached one if the file
// is unchanged, else what ParseVersion reads. Concurrent callers for one
// path wait for a single `--version`. Failures are not cached.
func (c *versionCache) get(ctx context.Context, path string) (BinaryVersion, error) {
	if bv, ok := c.lookup(path); ok {
		return bv, nil
	}
	mu := c.locks.forPath(path)
	mu.Lock()
	defer mu.Unlock()
	if bv, ok := c.lookup(path); ok { // another goroutine just ran it
		return bv, nil
	}
	var before unix.Stat_t
	statErr := unix.Stat(path, &before)
	bv, err := ParseVersion(ctx, path)
	if err != nil {
		return bv, err
	}
	var after unix.Stat_t
	if statErr == nil && unix.Stat(path, &after) == nil && idOf(&before) == idOf(&after) {
		c.m.Store(path, cachedVersion{id: idOf(&after), bv: bv})
	}
	return bv, nil
}

// lookup returns the cached version of path if the file is unchanged.
func (c *versionCache) lookup(path string) (BinaryVersion, bool) {
	v, ok := c.m.Load(path)
	if !ok {
		return BinaryVersion{}, false
	}
	cv := v.(cachedVersion)
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil || idOf(&st) != cv.id {
		return BinaryVersion{}, false
	}
	return cv.bv, true
}
