package recording

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// callTimeout bounds one call or ch-remote run when ctx has no deadline.
const callTimeout = 30 * time.Second

// An Answer is what the server answered to a request.
type Answer struct {
	Status int
	// Header holds the header lines in order ("Content-Type: …").
	Header []string
	Body   []byte
}

// Do sends one HTTP/1.1 request to the API socket on a new connection,
// the way CH's own client (ch-remote) does — "Host: localhost",
// "Accept: */*", a Content-Length only with a body, no Content-Type — and
// reads the answer as it does: the body is Content-Length bytes, or empty
// without that header. path is the full request path ("/api/v1/vm.info").
// A server that closes the connection before it read the whole request (an
// oversized body) is answered from what it wrote.
func Do(ctx context.Context, socket, method, path, body string) (*Answer, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(callTimeout)
	}
	if err := c.SetDeadline(deadline); err != nil {
		return nil, err
	}
	var req bytes.Buffer
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n", method, path)
	if body != "" {
		fmt.Fprintf(&req, "Content-Length: %d\r\n", len(body))
	}
	req.WriteString("\r\n")
	req.WriteString(body)
	_, werr := c.Write(req.Bytes())
	a, rerr := readAnswer(c)
	if rerr != nil {
		if werr != nil {
			return nil, fmt.Errorf("write request: %w (then read answer: %v)", werr, rerr)
		}
		return nil, rerr
	}
	return a, nil
}

// readAnswer reads one HTTP answer.
func readAnswer(r io.Reader) (*Answer, error) {
	var buf []byte
	chunk := make([]byte, 4096)
	headerEnd := -1
	for headerEnd < 0 {
		n, err := r.Read(chunk)
		buf = append(buf, chunk[:n]...)
		headerEnd = bytes.Index(buf, []byte("\r\n\r\n"))
		if err != nil && headerEnd < 0 {
			if len(buf) == 0 && errors.Is(err, io.EOF) {
				return nil, errClosed
			}
			return nil, fmt.Errorf("read answer headers (%q so far): %w", buf, err)
		}
	}
	head := string(buf[:headerEnd])
	lines := strings.Split(head, "\r\n")
	proto, rest, _ := strings.Cut(lines[0], " ")
	if !strings.HasPrefix(proto, "HTTP/") {
		return nil, fmt.Errorf("answer %q has no HTTP status line", lines[0])
	}
	code, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
	status, err := strconv.Atoi(code)
	if err != nil {
		return nil, fmt.Errorf("answer status line %q: %w", lines[0], err)
	}
	length := -1
	for _, l := range lines[1:] {
		name, value, _ := strings.Cut(l, ":")
		if strings.EqualFold(strings.TrimSpace(name), "Content-Length") {
			if length, err = strconv.Atoi(strings.TrimSpace(value)); err != nil {
				return nil, fmt.Errorf("answer header %q: %w", l, err)
			}
		}
	}
	a := &Answer{Status: status, Header: lines[1:]}
	body := buf[headerEnd+4:]
	if length < 0 {
		return a, nil
	}
	for len(body) < length {
		n, err := r.Read(chunk)
		body = append(body, chunk[:n]...)
		if err != nil && len(body) < length {
			return nil, fmt.Errorf("read answer body (%d of %d bytes): %w", len(body), length, err)
		}
	}
	a.Body = body[:length]
	return a, nil
}

// RunCHRemote runs the ch-remote binary bin with args and a clean
// environment (no RUST_LOG, no RUST_BACKTRACE) and returns its exit code
// and output. err is set only when it could not run or did not end in time.
func RunCHRemote(ctx context.Context, bin string, args []string) (code int, stdout, stderr string, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, callTimeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return 0, out.String(), errOut.String(), fmt.Errorf("ch-remote %s did not end: %w", strings.Join(args, " "), ctx.Err())
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String(), errOut.String(), nil
	case err != nil:
		return 0, "", "", fmt.Errorf("run ch-remote: %w", err)
	}
	return 0, out.String(), errOut.String(), nil
}

// errClosed is an answer that never came: the server closed the
// connection first.
var errClosed = errors.New("the server closed the connection without answering")

// CallError is how a recording writes a call that got no answer, in words
// that do not depend on the host or the run.
func CallError(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ENOENT):
		return "no answer: nothing serves the socket"
	case errors.Is(err, errClosed), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "no answer: the server closed the connection"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "no answer: timed out"
	}
	return "no answer: " + err.Error()
}
