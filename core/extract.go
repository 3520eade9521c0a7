package core

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/chvmm/chvmm/core/driver"
)

// Layout of extracted binaries below a data directory:
// {dataDir}/system/binaries/{version}/{arch}/cloud-hypervisor.
const (
	// binaryMode is the mode of an extracted binary, set explicitly (not
	// through the umask).
	binaryMode = 0o755
	// dirMode is the mode of every directory chvmm creates below the data
	// directory, set explicitly.
	dirMode = 0o755
	// lockName is the lock file, in the binary's directory, that processes
	// extracting the same binary serialise on with flock(2).
	lockName = "." + driver.BinaryName + ".lock"
	// tempPrefix starts the name of the temporary file an extraction writes
	// before renaming it into place; leftovers of a crash are removed.
	tempPrefix = "." + driver.BinaryName + ".tmp-"
)

// binaryDirs returns the directories, below the data directory, that hold
// the binary of version for arch; chvmm creates them and follows no symlink
// among them.
func binaryDirs(version, arch string) []string {
	return []string{"system", "binaries", version, arch}
}

// BinaryPath returns the path of the release's CH binary for this build's
// architecture, {dataDir}/system/binaries/{version}/{arch}/cloud-hypervisor,
// extracting the embedded binary there first if it is missing or differs
// from it. ctx bounds the version check of a freshly extracted binary. A
// build without the binary is an error matching ErrNoBinary.
//
// Every directory from / down to the binary must be changeable only by
// root and this program's user (an error matching ErrUntrustedPath names
// the one that is not); StartProcess has WithoutPathTrustCheck for setups
// that need otherwise.
//
// Extraction is:
//   - atomic: the binary is written to a temporary file in its directory,
//     fsynced, renamed into place and the directory fsynced, so the final
//     path never holds a partial file; temporary files a crash left behind
//     are removed;
//   - verified: an existing file whose SHA-256 differs from the embedded
//     binary is replaced, and the binary for the host architecture must
//     report the release's version (ErrVersionMismatch otherwise);
//   - safe under concurrency: goroutines and processes extracting the same
//     binary serialise on an flock(2)ed lock file; a replaced file is
//     replaced by rename, never rewritten in place, so a VMM executing it
//     keeps running;
//   - symlink-safe: a symlink at the binary's path or at a directory chvmm
//     creates below dataDir (system, binaries, {version}, {arch}) is refused
//     with an error matching ErrUnsafePath; dataDir itself may be a symlink.
//
// Once a binary is extracted or verified, later calls in the process only
// Lstat it and compare its identity (device, inode, size, mode, times) with
// what was verified; they hash it again only if it changed.
func (r *Release) BinaryPath(ctx context.Context, dataDir string) (string, error) {
	return r.binaryPath(ctx, dataDir, true)
}

// binaryPath is BinaryPath; trust says whether to check the path's chain
// (see checkTrusted).
func (r *Release) binaryPath(ctx context.Context, dataDir string, trust bool) (string, error) {
	if dataDir == "" {
		return "", fmt.Errorf("extract CH %s: empty data directory: %w; pass the directory chvmm keeps its files in (for example /var/lib/chvmm)", r.tag, fs.ErrInvalid)
	}
	p, err := r.payload()
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(dataDir) {
		if dataDir, err = filepath.Abs(dataDir); err != nil {
			return "", fmt.Errorf("extract CH %s: data directory: %w", r.tag, err)
		}
	}
	path := filepath.Join(append(append([]string{dataDir}, binaryDirs(r.tag, p.arch)...), driver.BinaryName)...)
	if verifiedBinaries.current(path, p) {
		// Warm: one walk from / to the binary, which checks the data
		// directory's chain on its way (and every symlink in it, as the
		// walk of dataDir alone would); walking dataDir first as well
		// would stat the same components twice.
		if trust {
			if err := checkTrusted(path); err != nil {
				return "", fmt.Errorf("extract CH %s: %w", r.tag, err)
			}
		}
		return path, nil
	}
	if trust {
		// Before anything is created: the data directory's own chain.
		if err := checkTrusted(dataDir); err != nil {
			return "", fmt.Errorf("extract CH %s: %w", r.tag, err)
		}
	}
	unlock, err := extractLocks.lock(ctx, path)
	if err != nil {
		return "", fmt.Errorf("extract CH %s: %w", r.tag, err)
	}
	defer unlock()
	if verifiedBinaries.current(path, p) { // another goroutine just did it
		return path, nil
	}
	id, err := extractBinary(ctx, dataDir, p, trust)
	if err != nil {
		return "", err
	}
	verifiedBinaries.store(path, p, id)
	return path, nil
}

// verifiedBinaries remembers, per binary path, which file this process last
// verified there, so that the warm path is one Lstat. It holds at most
// maxVerifiedPaths paths ({dataDir}/system/binaries/{version}/{arch}/…: one
// per data directory and release a program uses); beyond that, it forgets
// one, whose next use hashes its binary again.
var verifiedBinaries verifiedCache

// maxVerifiedPaths bounds verifiedBinaries.
const maxVerifiedPaths = 64

type verifiedCache struct {
	mu sync.Mutex
	m  map[string]verifiedFile // path → what was verified there
}

type verifiedFile struct {
	p  *payload
	id fileID
}

func (c *verifiedCache) load(path string) (verifiedFile, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	vf, ok := c.m[path]
	return vf, ok
}

// current reports whether path still is the file verified for p.
func (c *verifiedCache) current(path string, p *payload) bool {
	vf, ok := c.load(path)
	return ok && vf.p == p && sameFile(path, vf.id)
}

func (c *verifiedCache) store(path string, p *payload, id fileID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]verifiedFile{}
	}
	if _, ok := c.m[path]; !ok {
		for k := range c.m {
			if len(c.m) < maxVerifiedPaths {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[path] = verifiedFile{p: p, id: id}
}

func (c *verifiedCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}

// matches reports whether id is the file verified at path.
func (c *verifiedCache) matches(path string, id fileID) bool {
	vf, ok := c.load(path)
	return ok && vf.id == id
}

func (c *verifiedCache) forget(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, path)
}

// len returns how many paths are remembered (for tests).
func (c *verifiedCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// extractLocks serialises the goroutines of this process that extract the
// same path, so that only one of them waits for the file lock.
var extractLocks pathLocks

// openBinary returns the release's extracted binary (see BinaryPath), open
// for reading: the file that was verified, which StartProcess runs through
// its descriptor. A file replaced after the check is verified again.
func (r *Release) openBinary(ctx context.Context, dataDir string, trust bool) (*os.File, error) {
	for range 2 {
		path, err := r.binaryPath(ctx, dataDir, trust)
		if err != nil {
			return nil, err
		}
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err == nil && verifiedBinaries.matches(path, idOf(&st)) {
			return os.NewFile(uintptr(fd), path), nil
		}
		unix.Close(fd)
		verifiedBinaries.forget(path) // replaced between the check and the open: check again
	}
	return nil, fmt.Errorf("%w: the extracted CH %s binary below %s keeps changing under chvmm; another program writes there", ErrUnsafePath, r.tag, dataDir)
}
