package chsim

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// acquireSocketLock takes the exclusive open-file-description lock on
// "<socket>.lock" that CH v53+ holds while it serves the socket. The file
// stays behind when the server ends, as with CH.
func acquireSocketLock(socketPath string) (*os.File, error) {
	f, err := os.OpenFile(socketPath+".lock", os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("Error creating API server socket: %w", err)
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 0}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		f.Close()
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("API socket %s is in use by another Cloud Hypervisor instance: %w", socketPath, ErrSocketInUse)
		}
		return nil, fmt.Errorf("lock %s.lock: %w", socketPath, err)
	}
	return f, nil
}

// ErrSocketInUse: another server (CH v53+ or a simulator of it) holds the
// lock of the requested API socket.
var ErrSocketInUse = errors.New("API socket in use")
