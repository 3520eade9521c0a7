package chsim_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/chsim"
	"github.com/chvmm/chvmm/chsim/chsimtest"
)

// CH's VmRestore handler counts the fds against net_fds, which counts 0
// when absent: fds without net_fds are a Bad Request too.
func TestReviewRestoreFDsWithoutNetFDs(t *testing.T) {
	sock, srv := chsimtest.Start(t, "v50.2", chsim.WithViolationHook(func(chsim.Violation) {}))
	tap, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer tap.Close()
	status, body := sendWithFDs(t, sock, "PUT", "vm.restore", `{"source_url":"file:///nonexistent"}`, tap)
	assert.Equal(t, 400, status)
	assert.Equal(t, `["Bad Request"]`, body)
	assert.Equal(t, 1, srv.ReceivedFDs())
	assert.Equal(t, "", srv.State())
}

// VmError::NoDeviceToRemove formats its id with {0:?}: a quoted string.
func TestReviewRemoveUnknownDeviceColdQuotesID(t *testing.T) {
	sock, _ := chsimtest.Start(t, "v48.0")
	c := newClient(t, sock)
	status, body := c.do("PUT", "vm.create", `{"payload":{"kernel":"/nonexistent"}}`)
	require.Equal(t, 204, status, body)
	status, body = c.do("PUT", "vm.remove-device", `{"id":"disk9"}`)
	assert.Equal(t, 500, status)
	assert.Equal(t, `["Error from API","The device could not be removed from the VM","No device with id \"disk9\" to remove"]`, body)
}

// micro_http's answer to a request it refuses before routing is
// `{ "error": "<reason>\nAll previous unanswered requests will be dropped." }`
// with a raw newline (firecracker's micro_http, whose tests pin the bytes and
// Content-Length), as the recordings of real CH show.
func TestReviewTransportErrorHasMicroHTTPNewline(t *testing.T) {
	sock, _ := chsimtest.Start(t, "v48.0", chsim.WithViolationHook(func(chsim.Violation) {}))
	for name, req := range map[string]string{
		"POST":      "POST /api/v1/vm.boot HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n",
		"too large": fmt.Sprintf("PUT /api/v1/vm.create HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n", 60000),
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("unix", sock)
			require.NoError(t, err)
			defer c.Close()
			// The oversized request sends only its headers: the answer
			// must not wait for the body.
			require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
			_, err = io.WriteString(c, req)
			require.NoError(t, err)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, 400, resp.StatusCode)
			assert.True(t, strings.HasPrefix(string(b), `{ "error": "`), "%q", b)
			assert.Contains(t, string(b), ".\nAll previous unanswered requests will be dropped.\" }")
		})
	}
}

// The lock file is what stays behind of a v53 server; nothing else does.
func TestReviewServerLeavesOnlyLockFile(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"v48.0", "v53.0"} {
		sock := filepath.Join(dir, v+".sock")
		srv, err := chsim.Start(t.Context(), v, sock)
		require.NoError(t, err)
		require.NoError(t, srv.Close())
		assert.NoFileExists(t, sock, v)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"v53.0.sock.lock"}, names)
}
