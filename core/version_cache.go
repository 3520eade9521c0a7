package core

import (
	"context"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/chvmm/chvmm/core/chversion"
)

// binaryVersions remembers what `--version` printed for the binaries given
// with WithBinary, so that starting many VMMs from one file runs
// `--version` once, not once per start. An entry is keyed by the file's
// identity (device, inode, mode, size, mtime, ctime) as fstat(2) of the
// open file tells it: replacing or rewriting the binary runs `--version`
// again. It holds at most maxCachedVersions entries (beyond that it forgets
// one, whose next start runs `--version` again); its locks, one per file
// being checked, go when the check ends.
var binaryVersions versionCache

// maxCachedVersions bounds binaryVersions.
const maxCachedVersions = 64

type versionCache struct {
	locks pathLocks
	mu    sync.Mutex
	m     map[fileID]chversion.Info
}

// get returns the version of the binary open as f: the cached one, else
// what `--version` of exactly that file prints. Concurrent callers for one
// file wait for a single `--version`. Failures are not cached.
func (c *versionCache) get(ctx context.Context, f *os.File) (chversion.Info, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return chversion.Info{}, &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	id := idOf(&st)
	if v, ok := c.lookup(id); ok {
		return v, nil
	}
	unlock, err := c.locks.lock(ctx, fmt.Sprint(id))
	if err != nil {
		return chversion.Info{}, err
	}
	defer unlock()
	if v, ok := c.lookup(id); ok { // another goroutine just ran it
		return v, nil
	}
	v, err := chversion.ReadFile(ctx, f)
	if err != nil {
		return v, err
	}
	c.store(id, v)
	return v, nil
}

// store remembers v for the file id, forgetting another file's version if
// the cache is full.
func (c *versionCache) store(id fileID, v chversion.Info) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[fileID]chversion.Info{}
	}
	if _, ok := c.m[id]; !ok {
		for k := range c.m {
			if len(c.m) < maxCachedVersions {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[id] = v
}

// len returns how many files' versions are remembered (for tests).
func (c *versionCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

func (c *versionCache) lookup(id fileID) (chversion.Info, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[id]
	return v, ok
}
