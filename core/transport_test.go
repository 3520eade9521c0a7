package core

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/chvmm/chvmm/core/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// serveUnix serves h on a fresh unix socket and returns its path and
// listener.
func serveUnix(t *testing.T, h http.Handler) (string, *countingListener) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	cl := &countingListener{Listener: l}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(cl) }()
	t.Cleanup(func() { _ = srv.Close() })
	return path, cl
}

// serveRaw accepts connections on a fresh unix socket and hands each to h.
func serveRaw(t *testing.T, h func(net.Conn)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				h(c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	return path
}

func apiRequest(t *testing.T, ctx context.Context, method, endpoint string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, driver.BaseURL+endpoint, body)
	require.NoError(t, err)
	return req
}

func TestAPIErrors(t *testing.T) {
	huge := strings.Repeat("x", 1<<20)
	answers := map[string]struct {
		status int
		body   string
	}{
		"/vm.boot":        {500, `["Error from API","The VM could not boot","VM config is missing"]`},
		"/vm.info":        {500, `["Error from API","The VM info is not available","VM is not created"]`},
		"/vm.create":      {500, `["Error from API","The VM could not be created","VM is already created"]`},
		"/vm.pause":       {500, `["Error from API","The VM could not be paused","Cannot pause VM","Failed to pause migratable component","Invalid transition: InvalidStateTransition(Paused, Paused)"]`},
		"/vm.resume":      {500, `["Error from API","The VM could not resume","VM is not running"]`},
		"/vm.nonexistent": {404, `["Not Found"]`},
		"/vm.post":        {400, `{ "error": "Invalid HTTP Method: Unsupported HTTP method.All previous unanswered requests will be dropped." }`},
		"/vm.big":         {400, `{ "error": "Request payload with size 60102 is larger than the limit of 51200 allowed by server.All previous unanswered requests will be dropped." }`},
		"/vm.busy":        {429, ``},
		"/vm.html":        {502, `<html>bad gateway</html>`},
		"/vm.huge":        {500, huge},
		// micro_http writes its own answers with a raw newline in the string.
		"/vm.big-raw": {400, "{ \"error\": \"Request payload with size 60102 is larger than the limit of 51200 allowed by server.\nAll previous unanswered requests will be dropped.\" }"},
	}
	sock, _ := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answers[strings.TrimPrefix(r.URL.Path, "/api/v1")]
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	client := newTestHTTPClient(sock)
	defer client.CloseIdleConnections()

	tests := []struct {
		endpoint string
		status   int
		is       []error
		isNot    []error
		messages []string
		body     string
		text     string
	}{
		{endpoint: "/vm.boot", status: 500, is: []error{ErrVMNotCreated}, isNot: []error{ErrInvalidState},
			messages: []string{"Error from API", "The VM could not boot", "VM config is missing"},
			text:     "PUT /vm.boot: HTTP 500: Error from API: The VM could not boot: VM config is missing"},
		{endpoint: "/vm.info", status: 500, is: []error{ErrVMNotCreated}},
		{endpoint: "/vm.create", status: 500, is: []error{ErrVMAlreadyCreated}, isNot: []error{ErrVMNotCreated}},
		{endpoint: "/vm.pause", status: 500, is: []error{ErrInvalidState}},
		{endpoint: "/vm.resume", status: 500, is: []error{ErrInvalidState}},
		{endpoint: "/vm.nonexistent", status: 404, is: []error{ErrUnknownEndpoint}, messages: []string{"Not Found"}},
		{endpoint: "/vm.post", status: 400, isNot: []error{ErrUnknownEndpoint, ErrRequestTooLarge},
			messages: []string{"Invalid HTTP Method: Unsupported HTTP method.All previous unanswered requests will be dropped."}},
		{endpoint: "/vm.big", status: 400, is: []error{ErrRequestTooLarge}},
		{endpoint: "/vm.big-raw", status: 400, is: []error{ErrRequestTooLarge},
			messages: []string{"Request payload with size 60102 is larger than the limit of 51200 allowed by server. All previous unanswered requests will be dropped."}},
		{endpoint: "/vm.busy", status: 429, is: []error{ErrTooManyRequests}, text: "PUT /vm.busy: HTTP 429 Too Many Requests (empty body)"},
		{endpoint: "/vm.html", status: 502, body: "<html>bad gateway</html>",
			text: `PUT /vm.html: HTTP 502 Bad Gateway: body "<html>bad gateway</html>"`},
		{endpoint: "/vm.huge", status: 500, body: strings.Repeat("x", maxBodyExcerpt)},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			resp, err := client.Do(apiRequest(t, t.Context(), http.MethodPut, tt.endpoint, nil))
			require.Error(t, err)
			assert.Nil(t, resp)
			var uerr *url.Error
			require.ErrorAs(t, err, &uerr, "http.Client wraps transport errors")
			var aerr *APIError
			require.ErrorAs(t, err, &aerr)
			assert.Equal(t, "PUT "+tt.endpoint, aerr.Operation)
			assert.Equal(t, tt.status, aerr.StatusCode)
			for _, s := range tt.is {
				assert.ErrorIs(t, err, s)
			}
			for _, s := range tt.isNot {
				assert.NotErrorIs(t, err, s)
			}
			if tt.messages != nil {
				assert.Equal(t, tt.messages, aerr.Messages)
			}
			if tt.body != "" {
				assert.Equal(t, tt.body, aerr.Body)
			}
			if tt.text != "" {
				assert.Equal(t, tt.text, aerr.Error())
			}
			assert.Less(t, len(aerr.Error()), 2*maxBodyExcerpt, "the message stays bounded")
		})
	}
	t.Run("huge body is truncated", func(t *testing.T) {
		_, err := client.Do(apiRequest(t, t.Context(), http.MethodGet, "/vm.huge", nil))
		var aerr *APIError
		require.ErrorAs(t, err, &aerr)
		assert.True(t, aerr.Truncated)
		assert.Contains(t, aerr.Error(), "(truncated)")
	})
}

func TestSuccessIsUntouched(t *testing.T) {
	sock, _ := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/vm.info":
			_, _ = io.WriteString(w, `{"state":"Running"}`)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	client := newTestHTTPClient(sock)
	defer client.CloseIdleConnections()

	resp, err := client.Do(apiRequest(t, t.Context(), http.MethodGet, "/vm.info", nil))
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, `{"state":"Running"}`, string(body))

	resp, err = client.Do(apiRequest(t, t.Context(), http.MethodPut, "/vm.boot", strings.NewReader(`{}`)))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 204, resp.StatusCode)
}

func TestRequestTooLargeIsNotSent(t *testing.T) {
	var requests atomic.Int64
	sock, _ := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	client := newTestHTTPClient(sock)
	defer client.CloseIdleConnections()

	big := bytes.Repeat([]byte("a"), maxRequestBodySize+1)
	_, err := client.Do(apiRequest(t, t.Context(), http.MethodPut, "/vm.create", bytes.NewReader(big)))
	require.ErrorIs(t, err, ErrRequestTooLarge)
	assert.Contains(t, err.Error(), "51201 bytes not sent")

	// A body of unknown length is measured too.
	_, err = client.Do(apiRequest(t, t.Context(), http.MethodPut, "/vm.create", iotest.OneByteReader(bytes.NewReader(big))))
	require.ErrorIs(t, err, ErrRequestTooLarge)
	assert.Equal(t, int64(0), requests.Load(), "nothing reached the server")

	// At the limit, it goes.
	fits := bytes.Repeat([]byte("a"), maxRequestBodySize)
	resp, err := client.Do(apiRequest(t, t.Context(), http.MethodPut, "/vm.create", bytes.NewReader(fits)))
	require.NoError(t, err)
	resp.Body.Close()
	resp, err = client.Do(apiRequest(t, t.Context(), http.MethodPut, "/vm.create", iotest.OneByteReader(bytes.NewReader(fits))))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, int64(2), requests.Load())
}

// readRequest reads one request from c, failing the test on error.
func readRequest(t *testing.T, c net.Conn) *http.Request {
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil {
		t.Errorf("reading request: %v", err)
		return nil
	}
	_, _ = io.Copy(io.Discard, req.Body)
	return req
}

func TestShutdownEOFIsSuccess(t *testing.T) {
	sock := serveRaw(t, func(c net.Conn) {
		defer c.Close()
		readRequest(t, c) // and exit without answering, as CH may
	})
	client := newTestHTTPClient(sock)
	defer client.CloseIdleConnections()

	resp, err := client.Do(apiRequest(t, t.Context(), http.MethodPut, "/vmm.shutdown", nil))
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Empty(t, body)

	// Any other request that ends so is an error that says what happened.
	_, err = client.Do(apiRequest(t, t.Context(), http.MethodPut, "/vm.boot", nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "closed the connection without answering")
	assert.ErrorIs(t, err, io.EOF)
	assert.ErrorIs(t, err, ErrVMMUnreachable)
}

func TestShutdownOfMissingVMMIsAnError(t *testing.T) {
	client := newTestHTTPClient(filepath.Join(t.TempDir(), "none.sock"))
	_, err := client.Do(apiRequest(t, t.Context(), http.MethodPut, "/vmm.shutdown", nil))
	require.Error(t, err, "no VMM to shut down is not a successful shutdown")
	assert.Contains(t, err.Error(), "is the VMM running?")
	assert.ErrorIs(t, err, ErrVMMUnreachable)
}

func TestDeadlineHonouredWhenNoAnswer(t *testing.T) {
	sock := serveRaw(t, func(c net.Conn) {
		defer c.Close()
		_, _ = io.Copy(io.Discard, c) // read forever, answer never
	})
	client := newTestHTTPClient(sock)
	defer client.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := client.Do(apiRequest(t, ctx, http.MethodGet, "/vmm.ping", nil))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second)
}

func TestServerClosingMidResponse(t *testing.T) {
	sock := serveRaw(t, func(c net.Conn) {
		defer c.Close()
		req := readRequest(t, c)
		if req == nil {
			return
		}
		status := "200 OK"
		if req.URL.Path == "/api/v1/vm.boot" {
			status = "500 Internal Server Error"
		}
		_, _ = io.WriteString(c, "HTTP/1.1 "+status+"\r\nContent-Length: 100\r\n\r\n[\"Error from")
	})
	client := newTestHTTPClient(sock)
	defer client.CloseIdleConnections()

	_, err := client.Do(apiRequest(t, t.Context(), http.MethodPut, "/vm.boot", nil))
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Contains(t, err.Error(), "PUT /vm.boot: HTTP 500, reading the error body")
	var aerr *APIError
	assert.False(t, errors.As(err, &aerr))

	resp, err := client.Do(apiRequest(t, t.Context(), http.MethodGet, "/vm.info", nil))
	require.NoError(t, err, "a 2xx answer is the caller's to read")
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

func TestConnectionsStayBounded(t *testing.T) {
	var inflight, peak atomic.Int64
	sock, l := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := inflight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
		inflight.Add(-1)
		_, _ = io.WriteString(w, `{"build_version":"v48.0"}`)
	}))
	client := newTestHTTPClient(sock)
	defer client.CloseIdleConnections()

	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			_, err := ping(t.Context(), client)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.LessOrEqual(t, l.accepted.Load(), int64(maxConnsPerSocket), "connections opened")
	assert.LessOrEqual(t, peak.Load(), int64(maxConnsPerSocket), "requests served at once")
	assert.Positive(t, l.accepted.Load())
}
