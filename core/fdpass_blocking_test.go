package core

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestDupFilesKeepsCallerFilesNonBlocking: passing a file to CH must not
// switch it to blocking mode, as (*os.File).Fd would, or its deadlines stop
// working for the caller who keeps it.
func TestDupFilesKeepsCallerFilesNonBlocking(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()

	fds, err := dupFiles([]*os.File{r, w})
	require.NoError(t, err)
	require.Len(t, fds, 2)
	for _, fd := range fds {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		require.NoError(t, err)
		assert.NotZero(t, flags&unix.FD_CLOEXEC, "duplicates are close-on-exec")
	}
	closeFDs(fds)

	// The caller's pipe still honours a read deadline.
	require.NoError(t, r.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err = r.Read(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)

	_, err = dupFiles([]*os.File{r, nil})
	require.ErrorIs(t, err, ErrBadConfig)
}
