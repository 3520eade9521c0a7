package core

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// callWithFiles is call for a request that carries open files to CH: CH reads
// file descriptors sent with SCM_RIGHTS along with the request on the API
// connection (TAP devices for vm.add-net, new TAPs for vm.restore), as
// ch-remote and libvirt send them. The generated clients cannot, so this
// writes the request, whose JSON body is body, itself, on a connection of
// its own.
func (c *vmmClient) callWithFiles(ctx context.Context, method, path string, body []byte, files []*os.File, out any) error {
	op := method + " " + path
	if err := c.rel.supports(method, path); err != nil {
		return err
	}
	if len(body) > maxRequestBodySize {
		return fmt.Errorf("%s: request body of %d bytes not sent: Cloud Hypervisor accepts at most %d: %w", op, len(body), maxRequestBodySize, ErrRequestTooLarge)
	}
	fds, err := dupFiles(files)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer closeFDs(fds)

	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return fmt.Errorf("%s: connect to Cloud Hypervisor API socket %s (is the VMM running?): %w: %w", op, c.socket, ErrVMMUnreachable, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var req bytes.Buffer
	fmt.Fprintf(&req, "%s /api/v1%s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", method, path, len(body))
	req.Write(body)
	uc := conn.(*net.UnixConn)
	n, _, err := uc.WriteMsgUnix(req.Bytes(), syscall.UnixRights(fds...), nil)
	if err == nil && n < req.Len() {
		_, err = uc.Write(req.Bytes()[n:])
	}
	if err != nil {
		return connError(ctx, fmt.Errorf("%s: sending the request with %d file descriptors: %w", op, len(files), err))
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return connError(ctx, fmt.Errorf("%s: reading the answer: %w", op, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody+1))
		truncated := len(body) > maxErrorBody
		if truncated {
			body = body[:maxErrorBody]
		}
		return newAPIError(op, resp.StatusCode, body, truncated)
	}
	return decodeAnswer(op, resp, out)
}

// connError explains err, a failure on the request's connection: it also
// wraps ctx's error when ctx ended (the connection was closed because of
// it), or ErrVMMUnreachable when the VMM closed the connection (it exited),
// as the transport does.
func connError(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %w", err, ctx.Err())
	case connectionDropped(err):
		return fmt.Errorf("%w (did the VMM exit?): %w", err, ErrVMMUnreachable)
	}
	return err
}

// dupFiles duplicates the descriptors of files, for sending. Unlike
// (*os.File).Fd, it leaves the files as they were: Fd would switch a file
// the caller keeps (a TAP device) to blocking mode, where its deadlines stop
// working. The caller closes the duplicates.
func dupFiles(files []*os.File) ([]int, error) {
	fds := make([]int, 0, len(files))
	for i, f := range files {
		if f == nil {
			closeFDs(fds)
			return nil, fmt.Errorf("file %d is nil: %w", i, ErrBadConfig)
		}
		rc, err := f.SyscallConn()
		if err != nil {
			closeFDs(fds)
			return nil, fmt.Errorf("file %d (%s): %w", i, f.Name(), err)
		}
		dup, derr := -1, error(nil)
		if err := rc.Control(func(fd uintptr) {
			dup, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
		}); err != nil || derr != nil {
			closeFDs(fds)
			return nil, fmt.Errorf("file %d (%s): duplicating its descriptor: %w", i, f.Name(), errors.Join(err, derr))
		}
		fds = append(fds, dup)
	}
	return fds, nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
