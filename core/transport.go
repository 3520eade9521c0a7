package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// maxRequestBodySize is the largest request body CH (v48–v53) accepts; it
// answers 400 to anything larger. The transport refuses such a request
// before sending it, with an error matching ErrRequestTooLarge.
const maxRequestBodySize = 51200

// Connection pool of a client. CH serves few connections at a time (one API
// thread), so a client keeps few: at most maxConnsPerSocket at once, of which
// at most maxIdleConnsPerSocket stay open, idle, for idleConnTimeout.
//
// An idle connection in net/http's pool holds two goroutines (its read and
// write loops) and an fd, which a supervisor of many VMMs pays per VMM: for
// 1,000 idle VMMs, 2,000 goroutines. So the pool lets a connection go after
// 1 s idle: calls in a burst (create, boot, info; WaitState's checks at each
// event) share one connection, and a VMM left alone costs no connection. The
// price is one connect(2) to the unix socket for the first call after a
// pause, some 0.2 ms against the simulator (e2e's BenchmarkPing vs
// BenchmarkPingDialPerRequest).
const (
	maxConnsPerSocket     = 4
	maxIdleConnsPerSocket = 2
	idleConnTimeout       = time.Second
)

// newAPITransport returns the transport of every request chvmm sends to
// the CH API socket at socketPath. oneShot closes each connection after
// its request (the readiness ping, which must leave no idle connection
// behind).
//
// It keeps connections alive in a small pool (at most 4 open to the
// socket, 2 idle, closed after 1 s idle); further requests wait for a free
// connection. It sets no timeout of its own: each call is bounded by its
// context. Unlike a plain RoundTripper it turns every answer but a 2xx
// into an error:
//   - a non-2xx answer is an [*APIError] (errors.Is matches
//     ErrVMNotCreated, ErrVMAlreadyCreated, ErrInvalidState,
//     ErrUnknownEndpoint, ErrRequestTooLarge, ErrTooManyRequests as the
//     answer says); the error body is read (bounded) and closed;
//   - a request body over 51,200 bytes is refused before sending
//     (ErrRequestTooLarge);
//   - PUT /vmm.shutdown that ends in EOF or a connection reset while CH
//     exits succeeds, with a synthesized empty 200 answer; it marks the
//     exit of a supervised VMM on that socket as requested.
func newAPITransport(socketPath string, oneShot bool) *apiTransport {
	d := net.Dialer{}
	base := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := d.DialContext(ctx, "unix", socketPath)
			if err != nil {
				return nil, fmt.Errorf("connect to Cloud Hypervisor API socket %s (is the VMM running?): %w: %w", socketPath, ErrVMMUnreachable, err)
			}
			return c, nil
		},
		MaxConnsPerHost:     maxConnsPerSocket,
		MaxIdleConns:        maxIdleConnsPerSocket,
		MaxIdleConnsPerHost: maxIdleConnsPerSocket,
		IdleConnTimeout:     idleConnTimeout,
		DisableCompression:  true,
		DisableKeepAlives:   oneShot,
	}
	return &apiTransport{base: base, socket: socketPath}
}

// apiTransport is the RoundTripper of newAPITransport. Against the
// RoundTripper convention it turns non-2xx answers into errors, so that every
// generated client call reports CH's errors the same way.
type apiTransport struct {
	base   *http.Transport
	socket string
}

// CloseIdleConnections closes the idle connections of the pool; http.Client
// calls it from its own CloseIdleConnections.
func (t *apiTransport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// RoundTrip sends req to CH and applies the rules of newAPITransport.
func (t *apiTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	op := operation(req)
	req, err := checkBodySize(req, op)
	if err != nil {
		return nil, err
	}
	if isShutdown(req) {
		markShutdownRequested(t.socket)
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		if isShutdown(req) && connectionDropped(err) {
			// CH exits right after vmm.shutdown, sometimes before its answer
			// is out: the request did what it asked.
			return shutdownResponse(req), nil
		}
		if connectionDropped(err) {
			return nil, fmt.Errorf("%s: the VMM closed the connection without answering (did it exit?): %w: %w", op, ErrVMMUnreachable, err)
		}
		return nil, fmt.Errorf("%s: %w", op, err) // a dial error, or ctx's
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if req.Method == http.MethodPut && strings.HasSuffix(req.URL.Path, "/vm.send-migration") {
			markMigrated(t.socket)
		}
		return resp, nil
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody+1))
	if rerr != nil {
		return nil, fmt.Errorf("%s: HTTP %d, reading the error body: %w", op, resp.StatusCode, rerr)
	}
	truncated := len(body) > maxErrorBody
	if truncated {
		body = body[:maxErrorBody]
	}
	return nil, newAPIError(op, resp.StatusCode, body, truncated)
}

// operation names a request as "PUT /vm.boot".
func operation(req *http.Request) string {
	p := req.URL.Path
	if rest, ok := strings.CutPrefix(p, "/api/v1"); ok {
		p = rest
	}
	return req.Method + " " + p
}

func isShutdown(req *http.Request) bool {
	return req.Method == http.MethodPut && strings.HasSuffix(req.URL.Path, "/vmm.shutdown")
}

// connectionDropped reports whether err is the connection ending under a sent
// request: EOF, a reset or a broken pipe.
func connectionDropped(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func shutdownResponse(req *http.Request) *http.Response {
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{},
		Body:          http.NoBody,
		ContentLength: 0,
		Request:       req,
	}
}

// checkBodySize refuses a request whose body is over maxRequestBodySize,
// closing the body. A body of unknown length is read (up to the limit) into a
// copy of the request, which is returned.
func checkBodySize(req *http.Request, op string) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	if req.ContentLength > maxRequestBodySize {
		req.Body.Close()
		return nil, fmt.Errorf("%s: request body of %d bytes not sent: Cloud Hypervisor accepts at most %d: %w", op, req.ContentLength, maxRequestBodySize, ErrRequestTooLarge)
	}
	if req.ContentLength > 0 {
		return req, nil
	}
	// Unknown length: find out.
	data, err := io.ReadAll(io.LimitReader(req.Body, maxRequestBodySize+1))
	req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: reading the request body: %w", op, err)
	}
	if len(data) > maxRequestBodySize {
		return nil, fmt.Errorf("%s: request body of more than %d bytes not sent: Cloud Hypervisor accepts at most %d: %w", op, maxRequestBodySize, maxRequestBodySize, ErrRequestTooLarge)
	}
	sized := req.Clone(req.Context())
	sized.ContentLength = int64(len(data))
	sized.Body = http.NoBody
	if len(data) > 0 {
		sized.Body = io.NopCloser(bytes.NewReader(data))
	}
	return sized, nil
}
