package core

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrUntrustedPath: a directory (or file) on the way to a binary chvmm
// would execute could be changed by a user other than root and the one
// this program runs as: it is owned by another user, or writable by its
// group or by everyone (a sticky /tmp-like directory too). That user could
// swap the binary between its check and its execution. The error names the
// component and how to fix it. As sshd's StrictModes and sudo, chvmm
// refuses such a path; [WithoutPathTrustCheck] turns the check off.
var ErrUntrustedPath = errors.New("path could be changed by another user")

// maxSymlinks bounds the symlinks checkTrusted follows, as the kernel does.
const maxSymlinks = 40

// checkTrusted returns nil when every component of path, from / down (and
// through every symlink on the way, which must be owned by a trusted user
// too), is owned by root or this program's effective user and writable by
// no one else. A component that does not exist ends the check there (what
// is below it, chvmm creates).
func checkTrusted(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	euid := uint32(os.Geteuid())
	pending := strings.Split(strings.TrimPrefix(abs, "/"), "/")
	cur := "/"
	if err := trustedComponent(cur, euid, path); err != nil {
		return err
	}
	for links := 0; len(pending) > 0; {
		name := pending[0]
		pending = pending[1:]
		if name == "" || name == "." {
			continue
		}
		if name == ".." {
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, name)
		var st unix.Stat_t
		if err := unix.Lstat(next, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil
			}
			return &os.PathError{Op: "lstat", Path: next, Err: err}
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			if links++; links > maxSymlinks {
				return fmt.Errorf("%s: too many symlinks", path)
			}
			if st.Uid != 0 && st.Uid != euid {
				return untrusted(next, path, fmt.Sprintf("is a symlink owned by uid %d", st.Uid))
			}
			target, err := os.Readlink(next)
			if err != nil {
				return err
			}
			pending = append(strings.Split(target, "/"), pending...)
			if filepath.IsAbs(target) {
				cur = "/"
			}
			continue
		}
		if err := trustedStat(next, &st, euid, path); err != nil {
			return err
		}
		cur = next
	}
	return nil
}

// trustedComponent stats dir and checks it (see trustedStat).
func trustedComponent(dir string, euid uint32, path string) error {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	return trustedStat(dir, &st, euid, path)
}

// trustedStat checks that component (of path) is owned by root or euid and
// not writable by its group or others.
func trustedStat(component string, st *unix.Stat_t, euid uint32, path string) error {
	switch {
	case st.Uid != 0 && st.Uid != euid:
		return untrusted(component, path, fmt.Sprintf("is owned by uid %d", st.Uid))
	case st.Mode&0o022 != 0:
		what := "group-writable"
		if st.Mode&0o002 != 0 {
			what = "world-writable"
		}
		if st.Mode&unix.S_ISVTX != 0 {
			what += " (sticky)"
		}
		return untrusted(component, path, fmt.Sprintf("is %s (mode %04o)", what, st.Mode&0o7777))
	}
	return nil
}

func untrusted(component, path, why string) error {
	return fmt.Errorf("%w: %s, on the way to %s, %s: another user could swap what chvmm executes; "+
		"use a path that only root and this user can change (for example /var/lib/chvmm; chown root and chmod go-w %s), "+
		"or pass core.WithoutPathTrustCheck() if you know why this one is safe", ErrUntrustedPath, component, path, why, component)
}

// checkWritable checks a directory chvmm writes into, or a file it
// appends to, for a VMM: the socket's directory (the socket, its lock file),
// the log directory, the log and events files. Only root and this user may
// own it, and a directory may be writable by no one else: another user who
// could create or change files there could read the guest's console, hold
// the start lock, or forge the events and log lines that decide how a VMM
// ended (Exit). WithoutPathTrustCheck turns the check off.
func checkWritable(path string, st *unix.Stat_t) error {
	euid := uint32(os.Geteuid())
	why := ""
	switch {
	case st.Uid != 0 && st.Uid != euid:
		why = fmt.Sprintf("is owned by uid %d", st.Uid)
	case st.Mode&unix.S_IFMT == unix.S_IFDIR && st.Mode&0o022 != 0:
		why = fmt.Sprintf("is writable by others (mode %04o)", st.Mode&0o7777)
	default:
		return nil
	}
	return fmt.Errorf("%w: %s, where chvmm keeps a VMM's socket, lock, log or events, %s: another user could read the guest's console or forge how the VMM ended; "+
		"use a directory only root and this user can change (chown it, chmod go-w), or pass core.WithoutPathTrustCheck() if you know why this one is safe", ErrUntrustedPath, path, why)
}

// checkSocketDir checks the directory of the API socket path (see
// checkWritable); a missing one is left to the bind to report.
func checkSocketDir(socketPath string) error {
	dir := filepath.Dir(socketPath)
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	return checkWritable(dir, &st)
}
