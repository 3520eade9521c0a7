package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// flockContext takes an exclusive flock(2) on fd, waiting for its holder
// (another process, maybe another user's) no longer than ctx allows. The
// wait polls with a growing pause (1 ms to 50 ms): flock has no deadline.
// what names the lock in errors.
func flockContext(ctx context.Context, fd int, what string) error {
	pause := time.Millisecond
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case !errors.Is(err, unix.EWOULDBLOCK):
			return fmt.Errorf("lock %s: %w", what, err)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for the lock %s, which another process holds: %w", what, ctx.Err())
		case <-t.C:
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// pathLocks serialises the goroutines of this process that work on the
// same path. Entries are dropped when nobody holds or waits for them (also
// when a waiter's ctx ends), so the map is bounded by the paths locked or
// waited for at the moment, not by the paths ever locked.
type pathLocks struct {
	mu sync.Mutex
	m  map[string]*pathLock
}

type pathLock struct {
	ch    chan struct{} // holds a token while locked
	users int
}

// lock takes the lock of path, waiting no longer than ctx allows, and
// returns its unlock.
func (l *pathLocks) lock(ctx context.Context, path string) (func(), error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*pathLock{}
	}
	pl := l.m[path]
	if pl == nil {
		pl = &pathLock{ch: make(chan struct{}, 1)}
		l.m[path] = pl
	}
	pl.users++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		if pl.users--; pl.users == 0 {
			delete(l.m, path)
		}
		l.mu.Unlock()
	}
	select {
	case pl.ch <- struct{}{}:
		return func() { <-pl.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// len returns how many paths have an entry (for tests).
func (l *pathLocks) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
