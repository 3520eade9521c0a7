package core

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// DefaultLogDir is the directory, beside the API socket, of the VMMs' logs:
// by default a VMM's standard output and error are appended to
// [DefaultLogPath].
const DefaultLogDir = "logs"

// DefaultLogPath returns the file a VMM serving socketPath writes its output
// to by default: {socket dir}/logs/{socket name}.log, the socket's file name
// without its extension (/run/chvmm/vm1.sock → /run/chvmm/logs/vm1.log). One
// file per VMM, so VMMs sharing a socket directory never interleave.
func DefaultLogPath(socketPath string) string {
	name := filepath.Base(socketPath)
	if ext := filepath.Ext(name); ext != "" && ext != name {
		name = strings.TrimSuffix(name, ext)
	}
	return filepath.Join(filepath.Dir(socketPath), DefaultLogDir, name+".log")
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
func openOutput(cfg *processConfig, socketPath string) (*processOutput, error) {
	if cfg.output != nil {
		if f, ok := cfg.output.(*os.File); ok {
			return &processOutput{writer: f}, nil
		}
		if cfg.detached {
			return nil, fmt.Errorf("WithOutput(%T) cannot serve a detached VMM, which outlives this program: give an *os.File or use WithOutputPath", cfg.output)
		}
		t := &tailBuffer{max: outputTail}
		return &processOutput{writer: io.MultiWriter(cfg.output, t), tail: t}, nil
	}
	path := cfg.outputPath
	if path == "" {
		path = DefaultLogPath(socketPath)
	}
	f, err := openLog(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("VMM log file: %w", err)
	}
	return &processOutput{file: f, writer: f, logPath: path, offset: fi.Size()}, nil
}

// openLog opens the log file at path for appending. A directory or file it
// creates gets mode 0755 or 0644 whatever the umask.
func openLog(path string) (*os.File, error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("VMM log directory: %w", err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, fmt.Errorf("VMM log directory: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND|syscall.O_NOFOLLOW, 0o644)
	if err == nil {
		if err := f.Chmod(0o644); err != nil {
			f.Close()
			return nil, fmt.Errorf("VMM log file: %w", err)
		}
		return f, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("VMM log file: %w", err)
	}
	// An existing log is appended to, never through a symlink: a socket
	// directory writable by others must not let them aim root's writes.
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("VMM log file %s is a symlink; remove it or pass WithOutputPath: %w", path, ErrUnsafePath)
	}
	if err != nil {
		return nil, fmt.Errorf("VMM log file: %w", err)
	}
	return f, nil
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
	f, err := os.Open(o.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	from := max(o.offset, fi.Size()-outputTail)
	if from > fi.Size() { // truncated meanwhile
		from = max(0, fi.Size()-outputTail)
	}
	buf := make([]byte, fi.Size()-from)
	n, _ := f.ReadAt(buf, from)
	return string(buf[:n])
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
