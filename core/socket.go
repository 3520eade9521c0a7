package core

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"
)

// Errors about the API socket of a VMM.
var (
	// ErrSocketPathTooLong: the socket path does not fit a unix socket
	// address (at most MaxSocketPathLen bytes). Use a shorter directory.
	ErrSocketPathTooLong = errors.New("API socket path too long")
	// ErrSocketInUse: something already listens on the socket path (another
	// VMM?). Stop it or pick another path.
	ErrSocketInUse = errors.New("API socket already in use")
)

// MaxSocketPathLen is the longest unix socket path Linux accepts: sun_path
// holds 108 bytes including the terminating NUL.
const MaxSocketPathLen = 107

// staleProbeTimeout bounds the connect that tells a live socket from a stale
// one.
const staleProbeTimeout = time.Second

// checkSocketPath rejects a path that cannot be a unix socket address.
func checkSocketPath(path string) error {
	if path == "" {
		return fmt.Errorf("%w: API socket path is empty", ErrUnsafePath)
	}
	if len(path) > MaxSocketPathLen {
		return fmt.Errorf("%w: %q is %d bytes, a unix socket path holds at most %d; use a shorter directory",
			ErrSocketPathTooLong, path, len(path), MaxSocketPathLen)
	}
	return nil
}

// clearStaleSocket makes path free for a new socket: a socket file nobody
// listens on is removed; a live one is ErrSocketInUse; anything that is not a
// socket is left alone and is an error matching ErrUnsafePath.
func clearStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("API socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%w: API socket path %s exists and is not a socket (%s); remove it or pick another path", ErrUnsafePath, path, fi.Mode().Type())
	}
	c, err := net.DialTimeout("unix", path, staleProbeTimeout)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w: %s answers connections; stop the VMM using it or pick another path", ErrSocketInUse, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("API socket %s: probing it: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing stale API socket %s: %w", path, err)
	}
	return nil
}

// socketID identifies one socket file, so that cleanup removes only the
// socket it made and not one that replaced it.
type socketID struct{ dev, ino uint64 }

func statSocket(path string) (socketID, bool) {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != fs.ModeSocket {
		return socketID{}, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return socketID{}, false
	}
	return socketID{dev: uint64(st.Dev), ino: st.Ino}, true
}

// removeSocket removes path if it still is the socket id.
func removeSocket(path string, id socketID) {
	if cur, ok := statSocket(path); ok && cur == id {
		_ = os.Remove(path)
	}
}

// listenAPISocket binds and listens on path (mode 0600) and returns the
// listening socket as a file to hand to CH, with the socket's identity. The
// caller closes the file once CH holds its copy. Connections made from then
// on wait in the backlog until CH accepts them.
func listenAPISocket(path string) (*os.File, socketID, error) {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, socketID{}, fmt.Errorf("listening on API socket %s: %w", path, err)
	}
	l.SetUnlinkOnClose(false) // CH serves it after we close our copy
	fail := func(err error) (*os.File, socketID, error) {
		l.Close()
		_ = os.Remove(path)
		return nil, socketID{}, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fail(fmt.Errorf("API socket %s: chmod 0600: %w", path, err))
	}
	id, ok := statSocket(path)
	if !ok {
		return fail(fmt.Errorf("API socket %s vanished after bind", path))
	}
	f, err := l.File() // a blocking duplicate, for CH
	l.Close()
	if err != nil {
		_ = os.Remove(path)
		return nil, socketID{}, fmt.Errorf("API socket %s: %w", path, err)
	}
	return f, id, nil
}
