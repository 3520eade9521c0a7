package core

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// defaultLogPath returns the file a VMM serving socketPath writes its
// output to by default: {socket dir}/logs/{socket name}.log, the socket's
// file name without its extension (/run/chvmm/vm1.sock →
// /run/chvmm/logs/vm1.log). One file per VMM, so VMMs sharing a socket
// directory never interleave. Its events, for a detached VMM, go beside it
// as vm1.events.
func defaultLogPath(socketPath string) string {
	name := filepath.Base(socketPath)
	if ext := filepath.Ext(name); ext != "" && ext != name {
		name = strings.TrimSuffix(name, ext)
	}
	return filepath.Join(filepath.Dir(socketPath), "logs", name+".log")
}

// eventsPathFor returns the events file beside log file path.
func eventsPathFor(logPath string) string {
	return strings.TrimSuffix(logPath, ".log") + ".events"
}

// processOutput is where a VMM's standard output and error go, and how to
// read the tail of what it wrote since start.
type processOutput struct {
	file    *os.File // handed to CH; the parent closes its copy after start
	writer  io.Writer
	logPath string
	offset  int64       // size of logPath at start
	tail    *tailBuffer // when output goes through a pipe
}

// openOutput prepares the output of a VMM serving socketPath.
func openOutput(cfg *startConfig, socketPath string) (*processOutput, error) {
	if cfg.output != nil {
		if f, ok := cfg.output.(*os.File); ok {
			return &processOutput{writer: f}, nil
		}
		if cfg.detached {
			return nil, fmt.Errorf("WithOutput(%T) cannot serve a detached VMM, which outlives this program: give an *os.File or use WithOutputPath: %w", cfg.output, ErrBadConfig)
		}
		t := &tailBuffer{max: outputTail}
		return &processOutput{writer: io.MultiWriter(cfg.output, t), tail: t}, nil
	}
	path := cfg.outputPath
	if path == "" {
		path = defaultLogPath(socketPath)
	}
	f, err := openPrivateFile(path, !cfg.trustAnyPath)
	if err != nil {
		return nil, fmt.Errorf("VMM log file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("VMM log file: %w", err)
	}
	return &processOutput{file: f, writer: f, logPath: path, offset: fi.Size()}, nil
}

// outputTail is how much of CH's output a StartError carries.
const outputTail = 4 << 10

// openPrivateFile opens the file at path for appending, creating it (0600)
// and its directory (0700) if missing: guest console output and CH's
// events are private. It follows no symlink in the last two components,
// never blocks (a FIFO planted there is refused), and accepts only a
// regular file; an existing directory keeps its mode. With trust, the
// directory and an existing file must pass checkWritable, and a file of
// this user's that others can read becomes 0600.
func openPrivateFile(path string, trust bool) (*os.File, error) {
	dir, name := filepath.Dir(path), filepath.Base(path)
	if err := unix.Mkdir(dir, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		if !errors.Is(err, unix.ENOENT) {
			return nil, &os.PathError{Op: "mkdir", Path: dir, Err: err}
		}
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return nil, err
		}
		if err := unix.Mkdir(dir, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, &os.PathError{Op: "mkdir", Path: dir, Err: err}
		}
	}
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return nil, fmt.Errorf("%w: %s is a symlink or not a directory; chvmm follows no symlink to the files it writes as root: remove it", ErrUnsafePath, dir)
		}
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(dfd)
	if trust {
		var st unix.Stat_t
		if err := unix.Fstat(dfd, &st); err != nil {
			return nil, &os.PathError{Op: "fstat", Path: dir, Err: err}
		}
		if err := checkWritable(dir, &st); err != nil {
			return nil, err
		}
	}
	fd, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		switch {
		case errors.Is(err, unix.ELOOP):
			return nil, fmt.Errorf("%w: %s is a symlink; remove it or pass another path", ErrUnsafePath, path)
		case errors.Is(err, unix.ENXIO): // a FIFO without reader, or a device
			return nil, fmt.Errorf("%w: %s is not a regular file; remove it or pass another path", ErrUnsafePath, path)
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: %s is not a regular file (mode %#o); remove it or pass another path", ErrUnsafePath, path, st.Mode)
	}
	if trust {
		if err := checkWritable(path, &st); err != nil {
			unix.Close(fd)
			return nil, err
		}
		if st.Mode&0o077 != 0 && st.Uid == uint32(os.Geteuid()) {
			if err := unix.Fchmod(fd, 0o600); err != nil {
				unix.Close(fd)
				return nil, &os.PathError{Op: "fchmod", Path: path, Err: err}
			}
		}
	}
	// Writes to a regular file never block: back to blocking mode, which CH
	// expects of its standard output.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// readLogTail returns the last outputTail bytes of the log file at path
// from offset on, or "" when it cannot be read.
func readLogTail(path string, offset int64) string {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	from := max(offset, fi.Size()-outputTail)
	if from > fi.Size() { // truncated meanwhile
		from = max(0, fi.Size()-outputTail)
	}
	buf := make([]byte, fi.Size()-from)
	n, _ := f.ReadAt(buf, from)
	return string(buf[:n])
}

// closeParentCopy closes the log file once CH has its own descriptor.
func (o *processOutput) closeParentCopy() {
	if o.file != nil {
		o.file.Close()
		o.file = nil
	}
}

// Tail returns the last few KiB the VMM wrote since it started, when that
// can be known (not for an *os.File given with WithOutput).
func (o *processOutput) Tail() string {
	if o.tail != nil {
		return o.tail.String()
	}
	if o.logPath == "" {
		return ""
	}
	return readLogTail(o.logPath, o.offset)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
