package core

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
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
	lockName = "." + BinaryName + ".lock"
	// tempPrefix starts the name of the temporary file an extraction writes
	// before renaming it into place; leftovers of a crash are removed.
	tempPrefix = "." + BinaryName + ".tmp-"
)

// binaryDirs returns the directories, below the data directory, that hold
// the binary of version for arch; chvmm creates them and follows no symlink
// among them.
func binaryDirs(version, arch string) []string {
	return []string{"system", "binaries", version, arch}
}

// GetBinaryPath returns the path of the CH binary of the release Lookup(version)
// finds (an exact version such as "v50.2" or a constraint such as ">= 49")
// for the host architecture, below dataDir, extracting it first if needed.
//
// See [Release.BinaryPath] for what extraction guarantees.
func GetBinaryPath(dataDir, version string) (string, error) {
	r, err := Lookup(version)
	if err != nil {
		return "", err
	}
	return r.BinaryPath(dataDir, HostArch())
}

// BinaryPath returns the path of the release's CH binary for arch
// ("x86_64" or "aarch64"),
// {dataDir}/system/binaries/{version}/{arch}/cloud-hypervisor, extracting the
// embedded binary there first if it is missing or differs from it. It is
// BinaryPathContext with context.Background().
func (r *Release) BinaryPath(dataDir, arch string) (string, error) {
	return r.BinaryPathContext(context.Background(), dataDir, arch)
}

// BinaryPathContext is [Release.BinaryPath]; ctx bounds the version check of
// a freshly extracted binary.
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
func (r *Release) BinaryPathContext(ctx context.Context, dataDir, arch string) (string, error) {
	if dataDir == "" {
		return "", fmt.Errorf("extract CH %s: empty data directory: %w; pass the directory chvmm keeps its files in (for example /var/lib/chvmm)", r.Version, fs.ErrInvalid)
	}
	p, err := r.payload(arch)
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(dataDir) {
		if dataDir, err = filepath.Abs(dataDir); err != nil {
			return "", fmt.Errorf("extract CH %s: data directory: %w", r.Version, err)
		}
	}
	path := filepath.Join(append(append([]string{dataDir}, binaryDirs(r.Version, arch)...), BinaryName)...)
	if verifiedBinaries.current(path, p) {
		return path, nil
	}
	mu := extractLocks.forPath(path)
	mu.Lock()
	defer mu.Unlock()
	if verifiedBinaries.current(path, p) { // another goroutine just did it
		return path, nil
	}
	id, err := extractBinary(ctx, dataDir, p)
	if err != nil {
		return "", err
	}
	verifiedBinaries.store(path, p, id)
	return path, nil
}

// verifiedBinaries remembers, per binary path, which file this process last
// verified there, so that the warm path is one Lstat.
var verifiedBinaries verifiedCache

type verifiedCache struct{ m sync.Map } // path → verifiedFile

type verifiedFile struct {
	p  *payload
	id fileID
}

// current reports whether path still is the file verified for p.
func (c *verifiedCache) current(path string, p *payload) bool {
	v, ok := c.m.Load(path)
	if !ok {
		return false
	}
	vf := v.(verifiedFile)
	return vf.p == p && sameFile(path, vf.id)
}

func (c *verifiedCache) store(path string, p *payload, id fileID) {
	c.m.Store(path, verifiedFile{p: p, id: id})
}

func (c *verifiedCache) clear() { c.m.Clear() }

// extractLocks serialises the goroutines of this process that extract the
// same path, so that only one of them waits for the file lock.
var extractLocks pathLocks

type pathLocks struct{ m sync.Map } // path → *sync.Mutex

func (l *pathLocks) forPath(path string) *sync.Mutex {
	if mu, ok := l.m.Load(path); ok {
		return mu.(*sync.Mutex)
	}
	mu, _ := l.m.LoadOrStore(path, new(sync.Mutex))
	return mu.(*sync.Mutex)
}
