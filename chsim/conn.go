package chsim

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// maxPayload is micro_http's limit on a request body.
const maxPayload = 51200

// maxFDsPerMessage bounds the SCM_RIGHTS fds accepted with one read, like
// the kernel's SCM_MAX_FD.
const maxFDsPerMessage = 253

// fdConn reads from a unix connection with recvmsg, keeping the file
// descriptors that arrive with the bytes.
type fdConn struct {
	c   *net.UnixConn
	mu  sync.Mutex
	fds []int
	oob []byte
}

func newFDConn(c *net.UnixConn) *fdConn {
	return &fdConn{c: c, oob: make([]byte, unix.CmsgSpace(4*maxFDsPerMessage))}
}

func (f *fdConn) Read(p []byte) (int, error) {
	n, oobn, _, _, err := f.c.ReadMsgUnix(p, f.oob)
	if n < 0 {
		n = 0
	}
	if oobn < 0 {
		oobn = 0
	}
	if oobn > 0 {
		if msgs, perr := unix.ParseSocketControlMessage(f.oob[:oobn]); perr == nil {
			for _, m := range msgs {
				if fds, rerr := unix.ParseUnixRights(&m); rerr == nil {
					f.mu.Lock()
					f.fds = append(f.fds, fds...)
					f.mu.Unlock()
				}
			}
		}
	}
	if n == 0 && err == nil {
		err = io.EOF
	}
	return n, err
}

// take returns the fds received so far and forgets them.
func (f *fdConn) take() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	fds := f.fds
	f.fds = nil
	return fds
}

// closeAll closes fds that were received but never handed to a request.
func (f *fdConn) closeAll() {
	for _, fd := range f.take() {
		unix.Close(fd)
	}
}

// apiRequest is one parsed HTTP request of the API.
type apiRequest struct {
	method   string
	path     string // endpoint relative to /api/v1, "/vm.boot"; full path if outside it
	fullPath string
	header   http.Header
	body     []byte
	hasBody  bool
	fds      []int
}

// apiResponse is what the server answers.
type apiResponse struct {
	status int
	body   []byte
	// closeAfter: micro_http drops the connection (and pending requests)
	// after this answer.
	closeAfter bool
	// shutdown: the VMM exits once the answer is written (vmm.shutdown).
	shutdown bool
	// transport: micro_http answered by itself, with its own Server
	// header (it is Firecracker's HTTP library).
	transport bool
}

// micro_http's answers to requests it cannot parse: a JSON object, not the
// API's array of strings, with a raw newline before "All previous …", as
// micro_http formats it (and the recordings of real CH show).
func transportError(msg string) apiResponse {
	return apiResponse{status: http.StatusBadRequest, transport: true,
		body: []byte(`{ "error": "` + msg + "\nAll previous unanswered requests will be dropped.\" }")}
}

func (s *Server) serveConn(c *net.UnixConn) {
	fc := newFDConn(c)
	defer fc.closeAll()
	defer c.Close()
	br := bufio.NewReaderSize(fc, 64<<10)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.ErrUnexpectedEOF) {
				s.log.Debug("cannot parse HTTP request", "error", err)
				r := transportError("Invalid request.")
				r.closeAfter = true
				s.writeResponse(c, r)
			}
			return
		}
		resp, ar := s.readAndHandle(req, br, fc)
		if ar != nil {
			s.closeFDs(ar.fds)
		}
		err = s.writeResponse(c, resp)
		// The connection stays usable after a refused request: skip what is
		// left of its body, after answering (a client that sent only the
		// headers of an oversized body gets its answer without sending it).
		// Closing a server-side body reads it to its end.
		_, _ = io.Copy(io.Discard, io.LimitReader(req.Body, 16<<20))
		req.Body.Close()
		if resp.shutdown {
			s.shutdownSoon()
		}
		if err != nil || resp.closeAfter {
			return
		}
	}
}

// readAndHandle applies micro_http's checks, reads the body and dispatches.
func (s *Server) readAndHandle(req *http.Request, br *bufio.Reader, fc *fdConn) (apiResponse, *apiRequest) {
	switch req.Method {
	case http.MethodGet, http.MethodPut, http.MethodPatch:
	default:
		s.violation(Violation{Kind: RequestViolation, Method: req.Method, Path: req.URL.Path, Err: fmt.Errorf("method %s is not supported by CH", req.Method)})
		return transportError("Invalid HTTP Method: Unsupported HTTP method."), nil
	}
	if req.ContentLength > maxPayload {
		s.violation(Violation{Kind: RequestViolation, Method: req.Method, Path: req.URL.Path, Err: fmt.Errorf("body of %d bytes exceeds CH's limit of %d", req.ContentLength, maxPayload)})
		return transportError(fmt.Sprintf("Request payload with size %d is larger than the limit of %d allowed by server.", req.ContentLength, maxPayload)), nil
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxPayload+1))
	if err != nil {
		return transportError("Invalid request."), nil
	}
	if len(body) > maxPayload {
		return transportError(fmt.Sprintf("Request payload with size %d is larger than the limit of %d allowed by server.", len(body), maxPayload)), nil
	}
	// micro_http routes on the whole request target, query string included.
	ar := &apiRequest{method: req.Method, fullPath: req.RequestURI, header: req.Header, body: body, hasBody: len(body) > 0, fds: fc.take()}
	if n := len(ar.fds); n > 0 {
		s.receivedFDs.Add(int64(n))
		s.log.Debug("received file descriptors", "count", n, "path", req.URL.Path)
	}
	return s.dispatch(req.Context(), ar), ar
}

func (s *Server) closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// writeResponse writes an answer framed as micro_http does.
func (s *Server) writeResponse(w io.Writer, r apiResponse) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d \r\n", r.status)
	if r.transport {
		b.WriteString("Server: Firecracker API\r\n")
	} else {
		b.WriteString("Server: Cloud Hypervisor API\r\n")
	}
	b.WriteString("Connection: keep-alive\r\n")
	if r.status != http.StatusNoContent {
		// micro_http frames every answer but a 204 with a type and length.
		b.WriteString("Content-Type: application/json\r\n")
		b.WriteString("Content-Length: " + strconv.Itoa(len(r.body)) + "\r\n")
	}
	b.WriteString("\r\n")
	if r.status != http.StatusNoContent {
		b.Write(r.body)
	}
	_, err := w.Write(b.Bytes())
	return err
}
