package core

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/chvmm/chvmm/core/driver"
)

// fileID identifies a file's content as far as Lstat can tell: a write in
// place changes its size, mtime or ctime; a replacement changes its inode.
type fileID struct {
	dev, ino     uint64
	mode         uint32
	size         int64
	mtime, ctime unix.Timespec
}

func idOf(st *unix.Stat_t) fileID {
	return fileID{dev: st.Dev, ino: st.Ino, mode: st.Mode, size: st.Size, mtime: st.Mtim, ctime: st.Ctim}
}

// sameFile reports whether path (not followed if a symlink) still is id.
func sameFile(path string, id fileID) bool {
	var st unix.Stat_t
	return unix.Lstat(path, &st) == nil && idOf(&st) == id
}

// extractBinary makes the binary of p below dataDir a verified copy
// of p, under the lock file of its directory, and returns its identity.
func extractBinary(ctx context.Context, dataDir string, p *payload, trust bool) (fileID, error) {
	d, err := openDataDir(dataDir)
	if err != nil {
		return fileID{}, err
	}
	// Directories created here are not fsynced in their parents: crash
	// safety does not need it (a directory lost in a crash only means
	// extracting again; the binary is never seen half written), journaling
	// file systems commit them in order with the binary's directory anyway,
	// and each fsync costs a device cache flush (about 0.5 ms apiece, which
	// made cold extraction twice the cost of the copy itself).
	for _, name := range binaryDirs(p.r.tag, p.arch) {
		child, err := d.mkdirOpen(name, trust)
		d.close()
		if err != nil {
			return fileID{}, err
		}
		d = child
	}
	defer d.close()

	return d.extractLocked(ctx, p, trust)
}

// extractLocked makes the binary in d a verified copy of p, under d's lock.
func (d *safeDir) extractLocked(ctx context.Context, p *payload, trust bool) (fileID, error) {
	unlock, err := d.lock(ctx)
	if errors.Is(err, errNotWritable) {
		// A read-only data directory is fine if the binary is there already.
		if id, ok, verr := d.verifyBinary(ctx, p, trust); verr != nil || ok {
			return id, verr
		}
	}
	if err != nil {
		return fileID{}, err
	}
	defer unlock()

	if err := d.removeTemps(); err != nil {
		return fileID{}, err
	}
	if id, ok, err := d.verifyBinary(ctx, p, trust); err != nil || ok {
		return id, err
	}
	return d.writeBinary(ctx, p)
}

// errNotWritable marks an extraction that failed because the data directory
// cannot be written.
var errNotWritable = errors.New("data directory not writable")

// A safeDir is a directory opened without following symlinks.
type safeDir struct {
	f    *os.File
	fd   int
	path string
}

func newSafeDir(fd int, path string) *safeDir {
	return &safeDir{f: os.NewFile(uintptr(fd), path), fd: fd, path: path}
}

func (d *safeDir) close() { d.f.Close() }

func (d *safeDir) join(name string) string { return filepath.Join(d.path, name) }

// openDataDir opens, creating it if missing, the data directory; it may be
// a symlink.
func openDataDir(dataDir string) (*safeDir, error) {
	if err := os.MkdirAll(dataDir, dirMode); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w; pass a directory this user can write", dataDir, err)
	}
	fd, err := unix.Open(dataDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open data directory %s: %w", dataDir, &os.PathError{Op: "open", Path: dataDir, Err: err})
	}
	return newSafeDir(fd, dataDir), nil
}

// mkdirOpen creates (mode 0755) or opens the subdirectory name, refusing a
// symlink or non-directory there, and, when trust, an existing one another
// user could change. An existing directory keeps its mode.
func (d *safeDir) mkdirOpen(name string, trust bool) (*safeDir, error) {
	path := d.join(name)
	created := false
	switch err := unix.Mkdirat(d.fd, name, dirMode); {
	case err == nil:
		created = true
	case errors.Is(err, unix.EEXIST):
	default:
		return nil, writeError("create directory", path, err)
	}
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return nil, d.unsafePath(name, "a directory chvmm creates")
		}
		return nil, fmt.Errorf("open directory %s: %w", path, &os.PathError{Op: "open", Path: path, Err: err})
	}
	child := newSafeDir(fd, path)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		child.close()
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if created && st.Mode&0o7777 != dirMode {
		// Set explicitly: mkdir applied the umask.
		if err := unix.Fchmod(fd, dirMode); err != nil {
			child.close()
			return nil, fmt.Errorf("chmod %s: %w", path, err)
		}
	}
	if trust && !created {
		if err := trustedStat(path, &st, uint32(os.Geteuid()), path); err != nil {
			child.close()
			return nil, err
		}
	}
	return child, nil
}

// unsafePath describes what is at name instead of what chvmm expects.
func (d *safeDir) unsafePath(name, want string) error {
	path := d.join(name)
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
		target, _ := readlinkat(d.fd, name)
		return fmt.Errorf("%w: %s is a symlink (to %q), where chvmm expects %s; chvmm follows no symlink below the data directory: remove it (rm %s) and retry",
			ErrUnsafePath, path, target, want, path)
	}
	return fmt.Errorf("%w: %s is not %s (file mode %#o); move it away and retry", ErrUnsafePath, path, want, st.Mode)
}

func readlinkat(dirfd int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// lock takes the lock file of the directory, waiting for other processes
// and goroutines that hold it. An unwritable directory is an error matching
// errNotWritable.
func (d *safeDir) lock(ctx context.Context) (unlock func(), err error) {
	fd, err := unix.Openat(d.fd, lockName, unix.O_RDONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o600)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, d.unsafePath(lockName, "chvmm's lock file")
		}
		return nil, writeError("create lock file", d.join(lockName), err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, d.unsafePath(lockName, "chvmm's lock file (a regular file)")
	}
	if err := flockContext(ctx, fd, d.join(lockName)); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return func() { unix.Close(fd) }, nil // closing the last fd unlocks
}

// removeTemps removes the temporary files of crashed extractions. Called
// under the lock, so no extraction is writing one.
func (d *safeDir) removeTemps() error {
	if _, err := d.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read directory %s: %w", d.path, err)
	}
	names, err := d.f.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("read directory %s: %w", d.path, err)
	}
	for _, name := range names {
		if strings.HasPrefix(name, tempPrefix) {
			if err := unix.Unlinkat(d.fd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
				return writeError("remove leftover temporary file", d.join(name), err)
			}
		}
	}
	return nil
}

// verifyBinary reports whether the directory holds p's binary, byte for
// byte, with mode 0755 (which it sets, without rewriting the file). A
// missing or different file is not an error; a symlink or non-regular file
// is.
func (d *safeDir) verifyBinary(ctx context.Context, p *payload, trust bool) (fileID, bool, error) {
	path := d.join(driver.BinaryName)
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, driver.BinaryName, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fileID{}, false, nil
		}
		return fileID{}, false, fmt.Errorf("stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fileID{}, false, d.unsafePath(driver.BinaryName, "the Cloud Hypervisor binary chvmm extracts")
	}
	if st.Size != p.size {
		return fileID{}, false, nil
	}
	// O_NONBLOCK: a FIFO swapped in after the Fstatat must not block us.
	fd, err := unix.Openat(d.fd, driver.BinaryName, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return fileID{}, false, d.unsafePath(driver.BinaryName, "the Cloud Hypervisor binary chvmm extracts")
		}
		return fileID{}, false, fmt.Errorf("open %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != p.size {
		return fileID{}, false, err
	}
	h := sha256.New()
	p.fileHashes.Add(1)
	if _, err := io.Copy(h, f); err != nil {
		return fileID{}, false, fmt.Errorf("read %s: %w", path, err)
	}
	var sum [sha256.Size]byte
	if h.Sum(sum[:0]); sum != p.digest {
		return fileID{}, false, nil
	}
	if trust && st.Uid != 0 && st.Uid != uint32(os.Geteuid()) {
		// Its owner could rewrite it in place after the check.
		return fileID{}, false, trustedStat(path, &st, uint32(os.Geteuid()), path)
	}
	if st.Mode&0o7777 != binaryMode {
		// chmod does not write the file: safe while a VMM executes it.
		if err := unix.Fchmod(fd, binaryMode); err != nil {
			return fileID{}, false, writeError("chmod", path, err)
		}
		if err := unix.Fstat(fd, &st); err != nil {
			return fileID{}, false, fmt.Errorf("stat %s: %w", path, err)
		}
	}
	if err := p.checkVersion(ctx, f, path); err != nil {
		return fileID{}, false, err
	}
	return idOf(&st), true, nil
}

// writeBinary writes p to a temporary file, checks its version and renames
// it over the binary's path: a file a VMM executes is replaced (unlinked),
// never written.
func (d *safeDir) writeBinary(ctx context.Context, p *payload) (fileID, error) {
	path := d.join(driver.BinaryName)
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := tempPrefix + hex.EncodeToString(rnd[:])
	tmpPath := d.join(tmp)
	fd, err := unix.Openat(d.fd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fileID{}, writeError("create", tmpPath, err)
	}
	f := os.NewFile(uintptr(fd), tmpPath)
	renamed := false
	defer func() {
		f.Close()
		if !renamed {
			unix.Unlinkat(d.fd, tmp, 0)
		}
	}()
	p.writes.Add(1)
	if err := p.copyTo(f); err != nil {
		return fileID{}, writeError("write", tmpPath, err)
	}
	if err := unix.Fchmod(fd, binaryMode); err != nil {
		return fileID{}, writeError("chmod", tmpPath, err)
	}
	var tst unix.Stat_t
	if err := unix.Fstat(fd, &tst); err != nil {
		return fileID{}, fmt.Errorf("stat %s: %w", tmpPath, err)
	}
	// Close before running it: an fd open for writing makes exec fail with
	// ETXTBSY (chversion retries for copies that forked children hold).
	if err := f.Close(); err != nil {
		return fileID{}, writeError("close", tmpPath, err)
	}
	if err := d.syncWhileChecking(ctx, p, tmp, tst.Ino, path); err != nil {
		return fileID{}, err
	}
	if err := unix.Renameat(d.fd, tmp, d.fd, driver.BinaryName); err != nil {
		return fileID{}, writeError("rename "+tmpPath+" to", path, err)
	}
	renamed = true
	if err := unix.Fsync(d.fd); err != nil {
		return fileID{}, fmt.Errorf("fsync %s: %w", d.path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, driver.BinaryName, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fileID{}, fmt.Errorf("stat %s: %w", path, err)
	}
	if st.Ino != tst.Ino || st.Dev != tst.Dev {
		return fileID{}, fmt.Errorf("%w: %s was replaced by another program while chvmm extracted it; retry", ErrUnsafePath, path)
	}
	return idOf(&st), nil
}

// syncWhileChecking fsyncs the temporary file tmp (inode ino), through a
// read-only fd, while it checks its version: both take milliseconds, and
// exec refuses a file open for writing.
func (d *safeDir) syncWhileChecking(ctx context.Context, p *payload, tmp string, ino uint64, shownAs string) error {
	tmpPath := d.join(tmp)
	fd, err := unix.Openat(d.fd, tmp, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", tmpPath, err)
	}
	f := os.NewFile(uintptr(fd), tmpPath) // owns fd: one close, by f
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Ino != ino {
		return fmt.Errorf("%w: %s was replaced by another program while chvmm extracted it; retry", ErrUnsafePath, tmpPath)
	}
	synced := make(chan error, 1)
	go func() { synced <- unix.Fsync(fd) }()
	verr := p.checkVersion(ctx, f, shownAs)
	if err := <-synced; err != nil {
		return writeError("fsync", tmpPath, err)
	}
	return verr
}

// copyTo writes the embedded binary to w.
func (p *payload) copyTo(w io.Writer) error {
	src, err := p.r.d.Binary.Open(driver.BinaryName)
	if err != nil {
		return err
	}
	defer src.Close()
	// writerOnly hides *os.File's ReadFrom, which would copy through a
	// 32 KiB buffer for a source that is no file. 256 KiB stays in cache
	// and needs few syscalls: measured fastest (as fast as writing a []byte
	// at once; 1 MiB takes 30 % longer, 4 MiB twice as long).
	n, err := io.CopyBuffer(writerOnly{w}, src, make([]byte, 256<<10))
	if err == nil && n != p.size {
		err = fmt.Errorf("the embedded binary has %d bytes, it had %d", n, p.size)
	}
	return err
}

type writerOnly struct{ io.Writer }

// writeError wraps err, from op on path, saying what to do if the data
// directory is not writable; such an error also matches errNotWritable.
func writeError(op, path string, err error) error {
	perr := &os.PathError{Op: op, Path: path, Err: err}
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EROFS) {
		return fmt.Errorf("%w: %w; make the data directory writable by this user or pass another one", errNotWritable, perr)
	}
	return perr
}
