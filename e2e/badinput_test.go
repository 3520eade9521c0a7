package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/chsim"
	"github.com/chvmm/chvmm/chsim/chsimtest"
	"github.com/chvmm/chvmm/core"
)

// The bad-input rows already covered in core (not repeated here):
//   - unknown / malformed versions and constraints at the registry:
//     TestLookupUnknown, TestLookupMalformed, TestExtractErrors;
//   - a socket path over 107 bytes, a live or non-socket path:
//     TestSocketChecks;
//   - data dir unwritable (chattr +i as root, 0555 otherwise):
//     TestExtractUnwritableDataDir; data dir a file: TestExtractErrors;
//     symlinks planted at every level below the data dir, the lock file and
//     the binary: TestExtractRefusesSymlinks;
//   - raw client answers 400 object / 404 / 429 empty / 502 HTML /
//     500 1 MiB: TestAPIErrors; a VMM that never answers a request:
//     TestDeadlineHonouredWhenNoAnswer, TestStartTimeout; closing
//     mid-response: TestServerClosingMidResponse.
// The rows below add what goes through the public entry points
// (StartProcess, Hypervisor) and the answers core's tables lack.

// TestBadVersionsAtStart: StartProcess refuses unknown and malformed
// versions and constraints before anything runs.
func TestBadVersionsAtStart(t *testing.T) {
	sim := simBinary(t, simVersion)
	tests := []struct {
		version string
		binary  string // WithBinary, if any
		want    error
	}{
		{version: "v1.0", want: core.ErrUnknownVersion},
		{version: "99", want: core.ErrUnknownVersion},
		{version: "> 99, < 100", want: core.ErrUnknownVersion},
		{version: "vx.y", want: core.ErrBadVersion},
		{version: ">= 49, <", want: core.ErrBadVersion},
		{version: "v50.2-rc1", want: core.ErrBadVersion},
		{version: "v48.0+build", want: core.ErrBadVersion},
		{version: "~> ~> 50", want: core.ErrBadVersion},
		{version: "v53.0", want: core.ErrNoBinary}, // registered, but no binary embedded in this build
		{version: "v48.0", binary: sim, want: core.ErrVersionMismatch},
		{version: "< 53", binary: sim, want: core.ErrVersionMismatch},
		{version: "vx.y", binary: sim, want: core.ErrBadVersion},
	}
	for _, tt := range tests {
		name := tt.version
		if tt.binary != "" {
			name += " with a v53.0 binary"
		}
		t.Run(name, func(t *testing.T) {
			if tt.want == core.ErrNoBinary {
				rel, err := core.Lookup(tt.version)
				require.NoError(t, err)
				if rel.HasBinary(core.HostArch()) {
					t.Skip("this build embeds a " + tt.version + " binary")
				}
			}
			dir := t.TempDir()
			sock := filepath.Join(dir, "api.sock")
			opts := []core.ProcessOption{core.WithoutKVMCheck()}
			if tt.binary != "" {
				opts = append(opts, core.WithBinary(tt.binary))
			}
			p, err := core.StartProcess(t.Context(), dir, tt.version, sock, opts...)
			require.ErrorIs(t, err, tt.want)
			assert.Nil(t, p)
			assert.NoFileExists(t, sock)
			if tt.binary == "" {
				assert.NoDirExists(t, filepath.Join(dir, "logs"), "nothing was started")
			}
		})
	}
}

// TestSocketPath200Bytes: a 200-byte socket path is refused before anything
// is created.
func TestSocketPath200Bytes(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, strings.Repeat("s", 200-len(dir)-1))
	require.Len(t, sock, 200)
	_, err := core.StartProcess(t.Context(), dir, "", sock, simOptions(simBinary(t, simVersion))...)
	require.ErrorIs(t, err, core.ErrSocketPathTooLong)
	assert.Contains(t, err.Error(), "200 bytes")
	assert.NoFileExists(t, sock)
}

// TestMalformedVMConfig: configs the library or the VMM cannot use are
// refused with a specific error.
func TestMalformedVMConfig(t *testing.T) {
	sock48, _ := chsimtest.Start(t, "v48.0")
	rel48, err := core.Lookup("v48.0")
	require.NoError(t, err)
	h48 := core.NewHypervisor(rel48, sock48)

	t.Run("not JSON, to the VMM", func(t *testing.T) {
		// This request violates the spec on purpose: do not fail on it.
		sock, _ := chsimtest.Start(t, "v48.0", chsim.WithViolationHook(func(chsim.Violation) {}))
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, core.APIBaseURL+"/vm.create", strings.NewReader(`{"cpus":`))
		require.NoError(t, err)
		_, err = core.NewHTTPClient(sock).Do(req)
		var apiErr *core.APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
		require.NotEmpty(t, apiErr.Messages)
		assert.Equal(t, "Failed to deserialize JSON", apiErr.Messages[0])
	})
	t.Run("not JSON, decoded by the caller", func(t *testing.T) {
		var cfg core.VMConfig
		var syntax *json.SyntaxError
		require.ErrorAs(t, json.Unmarshal([]byte(`{"payload":{"kernel":}`), &cfg), &syntax)
		var typ *json.UnmarshalTypeError
		require.ErrorAs(t, json.Unmarshal([]byte(`{"cpus":{"boot_vcpus":"two"}}`), &cfg), &typ)
	})
	t.Run("nil config", func(t *testing.T) {
		require.ErrorIs(t, h48.CreateVM(t.Context(), nil), core.ErrBadConfig)
	})
	t.Run("field the release lacks", func(t *testing.T) {
		cfg := createBootInfoVM("/vmlinux").Config()
		cfg.GenericVhostUser = []core.GenericVhostUserConfig{{Socket: "/run/vhost.sock", QueueSizes: []uint16{256}}}
		err := h48.CreateVM(t.Context(), cfg)
		require.ErrorIs(t, err, core.ErrUnsupportedField)
		assert.Contains(t, err.Error(), "generic_vhost_user")
		_, err = h48.VMInfo(t.Context())
		require.ErrorIs(t, err, core.ErrVMNotCreated, "nothing was sent")
	})
	t.Run("kernel that does not exist", func(t *testing.T) {
		require.NoError(t, h48.CreateVM(t.Context(), createBootInfoVM(filepath.Join(t.TempDir(), "absent")).Config()))
		var apiErr *core.APIError
		require.ErrorAs(t, h48.BootVM(t.Context()), &apiErr)
		assert.Equal(t, http.StatusInternalServerError, apiErr.StatusCode)
		require.NoError(t, h48.DeleteVM(t.Context()))
	})
}

// TestOddAnswers: every odd answer of a VMM is an *core.APIError with the
// status, matching the sentinel the status stands for, with a bounded
// message, through the Hypervisor.
func TestOddAnswers(t *testing.T) {
	huge := strings.Repeat("x", 1<<20)
	hugeJSON := `["` + strings.Repeat("y", 100<<10) + `"]`
	tests := []struct {
		name     string
		status   int
		body     string
		is       error
		messages []string
		wantBody string
		trunc    bool
	}{
		{name: "400 empty", status: 400, body: ""},
		{name: "400 not JSON", status: 400, body: "bad request", wantBody: "bad request"},
		{name: "404 empty", status: 404, body: "", is: core.ErrUnknownEndpoint},
		{name: "404 not JSON", status: 404, body: "<h1>no</h1>", is: core.ErrUnknownEndpoint, wantBody: "<h1>no</h1>"},
		{name: "404 huge", status: 404, body: huge, is: core.ErrUnknownEndpoint, trunc: true},
		{name: "429 not JSON", status: 429, body: "slow down", is: core.ErrTooManyRequests, wantBody: "slow down"},
		{name: "429 JSON", status: 429, body: `["Too many requests"]`, is: core.ErrTooManyRequests, messages: []string{"Too many requests"}},
		{name: "500 empty", status: 500, body: ""},
		{name: "500 JSON null", status: 500, body: "null", wantBody: "null"},
		{name: "500 JSON of another shape", status: 500, body: `{"error": 5}`, wantBody: `{"error": 5}`},
		{name: "500 array of numbers", status: 500, body: `[1,2]`, wantBody: `[1,2]`},
		{name: "500 huge", status: 500, body: huge, trunc: true},
		{name: "500 huge JSON", status: 500, body: hugeJSON, trunc: true},
		{name: "500 error chain", status: 500, body: `["Error from API","The VM info is not available","VM is not created"]`,
			is: core.ErrVMNotCreated, messages: []string{"Error from API", "The VM info is not available", "VM is not created"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fakeVMM(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			for _, call := range []func(context.Context) error{
				func(ctx context.Context) error { _, err := h.VMInfo(ctx); return err },
				h.BootVM,
			} {
				err := call(t.Context())
				var apiErr *core.APIError
				require.ErrorAs(t, err, &apiErr)
				assert.Equal(t, tt.status, apiErr.StatusCode)
				if tt.is != nil {
					assert.ErrorIs(t, err, tt.is)
				}
				assert.Equal(t, tt.messages, apiErr.Messages)
				if tt.wantBody != "" {
					assert.Equal(t, tt.wantBody, apiErr.Body)
				}
				assert.Equal(t, tt.trunc, apiErr.Truncated)
				assert.LessOrEqual(t, len(apiErr.Body), 4<<10)
				assert.Less(t, len(err.Error()), 8<<10, "message bounded")
				if tt.body == "" {
					assert.Contains(t, err.Error(), "(empty body)")
				}
			}
		})
	}
}

// TestVMMNeverAnswers: a VMM that accepts connections and never answers
// costs a caller only its deadline.
func TestVMMNeverAnswers(t *testing.T) {
	t.Run("Hypervisor call", func(t *testing.T) {
		h := fakeRawVMM(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
		for _, call := range []func(context.Context) error{
			func(ctx context.Context) error { _, err := h.VMInfo(ctx); return err },
			h.BootVM,
			func(ctx context.Context) error { return h.CreateVM(ctx, createBootInfoVM("/k").Config()) },
		} {
			ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
			start := time.Now()
			err := call(ctx)
			cancel()
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Less(t, time.Since(start), time.Second)
		}
	})
	t.Run("StartProcess", func(t *testing.T) {
		// Never serves its API socket: connections wait in the backlog of
		// the socket core bound for it.
		bin := filepath.Join(t.TempDir(), "cloud-hypervisor")
		require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n[ \"$1\" = --version ] && { echo 'cloud-hypervisor v53.0'; exit 0; }\nexec sleep 60\n"), 0o755))
		dir := t.TempDir()
		start := time.Now()
		p, err := core.StartProcess(t.Context(), dir, "", filepath.Join(dir, "api.sock"),
			core.WithBinary(bin), core.WithoutKVMCheck(), core.WithStartTimeout(300*time.Millisecond))
		require.ErrorIs(t, err, core.ErrNotReady)
		var startErr *core.StartError
		require.ErrorAs(t, err, &startErr)
		assert.Nil(t, p)
		assert.Less(t, time.Since(start), 3*time.Second)
		zombies, live := children(t)
		assert.Empty(t, zombies)
		assert.Empty(t, live, "the VMM that never answered is killed and reaped")
	})
	t.Run("Connect", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "api.sock")
		l, err := net.Listen("unix", sock) // accepts (backlog), never reads
		require.NoError(t, err)
		defer l.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = core.Connect(ctx, sock)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), time.Second)
	})
}

// TestVMMClosesMidResponse: a VMM that dies in the middle of an answer is
// an error matching io.ErrUnexpectedEOF (or io.EOF before any byte), never
// a half-decoded result.
func TestVMMClosesMidResponse(t *testing.T) {
	answers := map[string]string{
		"/api/v1/vm.info":     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"config\":{\"payload\":{",
		"/api/v1/vm.boot":     "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100\r\n\r\n[\"Error from",
		"/api/v1/vmm.ping":    "",
		"/api/v1/vm.counters": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"_disk0\":{\"re",
	}
	h := fakeRawVMM(t, func(c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		_, _ = io.WriteString(c, answers[req.URL.Path])
	})
	_, err := h.VMInfo(t.Context())
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Contains(t, err.Error(), "GET /vm.info")

	err = h.BootVM(t.Context())
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Contains(t, err.Error(), "PUT /vm.boot")

	_, err = h.Ping(t.Context())
	require.ErrorIs(t, err, io.EOF)
	assert.Contains(t, err.Error(), "closed the connection without answering")

	counters, err := h.VMCounters(t.Context())
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Empty(t, counters)
}

// fakeVMM serves handler on a unix socket and returns a v53.0 Hypervisor of
// it.
func fakeVMM(t *testing.T, handler http.Handler) core.Hypervisor {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := &http.Server{Handler: handler}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return hypervisorOf(t, sock)
}

// fakeRawVMM hands each connection to a unix socket to serve, then closes
// it, and returns a v53.0 Hypervisor of the socket.
func fakeRawVMM(t *testing.T, serve func(net.Conn)) core.Hypervisor {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				serve(c)
			})
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return hypervisorOf(t, sock)
}

func hypervisorOf(t *testing.T, sock string) core.Hypervisor {
	t.Helper()
	rel, err := core.Lookup(simVersion)
	require.NoError(t, err)
	h := core.NewHypervisor(rel, sock)
	return h
}
