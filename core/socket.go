package core

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Errors about the API socket of a VMM.
var (
	// ErrSocketPathTooLong: the socket path does not fit a unix socket
	// address (at most maxSocketPathLen bytes). Use a shorter directory.
	ErrSocketPathTooLong = errors.New("API socket path too long")
	// ErrSocketInUse: something already listens on the socket path (another
	// VMM?). Stop it or pick another path.
	ErrSocketInUse = errors.New("API socket already in use")
)

// maxSocketPathLen is the longest unix socket path Linux accepts: sun_path
// holds 108 bytes including the terminating NUL.
const maxSocketPathLen = 107

// staleProbeTimeout bounds the connect that tells a live socket from a stale
// one.
const staleProbeTimeout = time.Second

// checkSocketPath rejects a path that cannot be a unix socket address.
func checkSocketPath(path string) error {
	if path == "" {
		return fmt.Errorf("%w: API socket path is empty", ErrUnsafePath)
	}
	if len(path) > maxSocketPathLen {
		return fmt.Errorf("%w: %q is %d bytes, a unix socket path holds at most %d; use a shorter directory",
			ErrSocketPathTooLong, path, len(path), maxSocketPathLen)
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
// caller closes the file once CH holds its copy; connections made from then
// on wait in the backlog until CH accepts them.
//
// No other user can connect at any moment, whatever the umask: the socket's
// mode is set to 0600 before bind(2) creates its file (which then applies
// the umask to 0600), so no chmod by path follows. bind fails rather than
// replace anything at path (ErrSocketInUse).
func listenAPISocket(path string) (*os.File, socketID, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, socketID{}, fmt.Errorf("API socket %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	fail := func(err error) (*os.File, socketID, error) {
		f.Close()
		return nil, socketID{}, err
	}
	if err := unix.Fchmod(fd, 0o600); err != nil {
		return fail(fmt.Errorf("API socket %s: fchmod 0600: %w", path, err))
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		if errors.Is(err, unix.EADDRINUSE) {
			return fail(fmt.Errorf("%w: %s appeared while the socket was bound; stop what uses it or pick another path", ErrSocketInUse, path))
		}
		return fail(fmt.Errorf("listening on API socket %s: %w", path, err))
	}
	id, ok := statSocket(path)
	if !ok {
		return fail(fmt.Errorf("API socket %s vanished after bind", path))
	}
	if err := unix.Listen(fd, 128); err != nil {
		removeSocket(path, id)
		return fail(fmt.Errorf("listening on API socket %s: %w", path, err))
	}
	return f, id, nil
}

// socketServer returns the pid of the process that holds the listening
// socket bound at path: the one that answers on it. It reads the socket's
// inode from /proc/net/unix and finds the process whose descriptors include
// it. want, when not 0, is the only process checked. The kernel tells,
// not the server: a server cannot claim another process's pid. (The
// socket's SO_PEERCRED would name the process that called listen(2), which
// for a VMM chvmm started is chvmm itself.)
func socketServer(path string, want int) (int, error) {
	inodes, err := listeningInodes(path)
	if err != nil {
		return 0, err
	}
	if len(inodes) > 1 {
		// A server whose socket file was removed still listens under the
		// path: ask the kernel which socket the path's file is bound to.
		inode, err := boundListener(path, inodes)
		if err != nil {
			return 0, fmt.Errorf("%w: %d listening sockets are bound at %s (a removed socket file's server still runs) and the kernel did not tell which the path reaches: %v", ErrNotRunning, len(inodes), path, err)
		}
		inodes = []uint64{inode}
	}
	links := map[string]bool{}
	for _, inode := range inodes {
		links["socket:["+strconv.FormatUint(inode, 10)+"]"] = true
	}
	holds := func(pid int) bool {
		dir := "/proc/" + strconv.Itoa(pid) + "/fd"
		entries, err := os.ReadDir(dir)
		if err != nil {
			return false
		}
		for _, e := range entries {
			if target, err := os.Readlink(dir + "/" + e.Name()); err == nil && links[target] {
				return true
			}
		}
		return false
	}
	self := os.Getpid()
	switch {
	case want == self:
		return 0, fmt.Errorf("%w: pid %d is this program, not a VMM it can supervise", ErrNotRunning, want)
	case want != 0:
		if !holds(want) {
			return 0, fmt.Errorf("%w: pid %d does not serve %s", ErrNotRunning, want, path)
		}
		return want, nil
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var found []int
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if holds(pid) {
			found = append(found, pid)
		}
	}
	switch len(found) {
	case 0:
		if holds(self) {
			return 0, fmt.Errorf("%w: %s is served by this program, not by a VMM it can supervise", ErrNotRunning, path)
		}
		return 0, fmt.Errorf("%w: no process this user can see serves %s", ErrNotRunning, path)
	case 1:
		return found[0], nil
	}
	return 0, fmt.Errorf("%w: several processes hold the socket %s (%v); give the Handle's PID", ErrNotRunning, path, found)
}

// listeningInodes returns the socket inodes of the listening unix sockets
// bound at path, from /proc/net/unix: one, unless the socket file of
// another was removed while its server still runs.
func listeningInodes(path string) ([]uint64, error) {
	data, err := readSmallFile("/proc/net/unix", 64<<20)
	if err != nil {
		return nil, fmt.Errorf("reading /proc/net/unix: %w", err)
	}
	var inodes []uint64
	const acceptCon = 0x10000 // __SO_ACCEPTCON: a listening socket
	for _, line := range strings.Split(string(data), "\n")[1:] {
		// Num RefCount Protocol Flags Type St Inode Path
		fields := strings.Fields(line)
		if len(fields) < 8 || strings.Join(fields[7:], " ") != path {
			continue
		}
		flags, err1 := strconv.ParseUint(fields[3], 16, 32)
		inode, err2 := strconv.ParseUint(fields[6], 10, 64)
		if err1 == nil && err2 == nil && flags&acceptCon != 0 {
			inodes = append(inodes, inode)
		}
	}
	if len(inodes) == 0 {
		return nil, fmt.Errorf("no process listens on %s: %w", path, ErrVMMUnreachable)
	}
	return inodes, nil
}

// boundListener returns which of the listening unix sockets inodes is bound
// to the file at path now, the one a connection to path reaches: the
// kernel's sock_diag (NETLINK_SOCK_DIAG, UDIAG_SHOW_VFS) names the file
// each listening unix socket is bound to.
func boundListener(path string, inodes []uint64) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, fmt.Errorf("sock_diag: %w", err)
	}
	defer unix.Close(fd)
	const (
		udiagShowVFS = 0x2 // UDIAG_SHOW_VFS
		unixDiagVFS  = 1   // UNIX_DIAG_VFS, the attribute (UNIX_DIAG_NAME is 0)
		tcpListen    = 10  // TCP_LISTEN, the state of a listening socket
		reqLen       = 24  // struct unix_diag_req
		msgLen       = 16  // struct unix_diag_msg
		nlmsgHdrLen  = unix.SizeofNlMsghdr
	)
	req := make([]byte, nlmsgHdrLen+reqLen)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], 1) // sequence
	b := req[nlmsgHdrLen:]
	b[0] = unix.AF_UNIX
	ne.PutUint32(b[4:], 1<<tcpListen)
	ne.PutUint32(b[12:], udiagShowVFS)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("sock_diag: %w", err)
	}
	want := map[uint64]bool{}
	for _, i := range inodes {
		want[i] = true
	}
	// st_dev is the kernel's device number in its user-space encoding.
	found, buf := uint64(0), make([]byte, 64<<10)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return 0, fmt.Errorf("sock_diag: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return 0, fmt.Errorf("sock_diag: %w", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				if found == 0 {
					return 0, fmt.Errorf("no listening socket is bound to %s's file", path)
				}
				return found, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if code := int32(ne.Uint32(m.Data)); code < 0 {
						return 0, fmt.Errorf("sock_diag: %w", syscall.Errno(-code))
					}
				}
				return 0, fmt.Errorf("sock_diag: an error answer")
			}
			if len(m.Data) < msgLen || !want[uint64(ne.Uint32(m.Data[4:]))] {
				continue
			}
			sockIno := uint64(ne.Uint32(m.Data[4:]))
			for a := m.Data[msgLen:]; len(a) >= 4; {
				l, typ := int(ne.Uint16(a)), ne.Uint16(a[2:])
				if l < 4 || l > len(a) {
					break
				}
				if typ == unixDiagVFS && l >= 12 {
					ino, kdev := uint64(ne.Uint32(a[4:])), uint64(ne.Uint32(a[8:]))
					major, minor := kdev>>20, kdev&0xfffff
					dev := minor&0xff | major<<8 | (minor&^0xff)<<12
					if ino == st.Ino&0xffffffff && dev == st.Dev {
						found = sockIno
					}
				}
				a = a[min(len(a), (l+3)&^3):]
			}
		}
	}
}
