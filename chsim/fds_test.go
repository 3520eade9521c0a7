package chsim_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/chvmm/chvmm/chsim/chsimtest"
)

// sendWithFDs writes one HTTP request on a fresh connection with files
// passed as SCM_RIGHTS, and returns the status and body of the answer.
func sendWithFDs(t *testing.T, socket, method, endpoint, body string, files ...*os.File) (int, string) {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: socket, Net: "unix"})
	require.NoError(t, err)
	defer c.Close()
	req := fmt.Sprintf("%s /api/v1/%s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", method, endpoint, len(body), body)
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	_, _, err = c.WriteMsgUnix([]byte(req), unix.UnixRights(fds...), nil)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestFDsPassedWithRequests(t *testing.T) {
	sock, srv := chsimtest.Start(t, "v50.2")
	c := newClient(t, sock)
	kernel := filepath.Join(t.TempDir(), "vmlinux")
	require.NoError(t, os.WriteFile(kernel, []byte("k"), 0o600))
	status, body := c.do("PUT", "vm.create", fmt.Sprintf(`{"payload":{"kernel":%q}}`, kernel))
	require.Equal(t, 204, status, body)
	status, _ = c.do("PUT", "vm.boot", "")
	require.Equal(t, 204, status)

	tap1, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer tap1.Close()
	tap2, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer tap2.Close()

	status, body = sendWithFDs(t, sock, "PUT", "vm.add-net", `{"id":"net0","fds":[3,4]}`, tap1, tap2)
	require.Equal(t, 200, status, body)
	assert.JSONEq(t, `{"id":"net0","bdf":"0000:00:03.0"}`, body)
	assert.Equal(t, 2, srv.ReceivedFDs())

	// CH substitutes the received fds (serialised as -1) for the body's.
	status, body = c.do("GET", "vm.info", "")
	require.Equal(t, 200, status)
	var info struct {
		Config struct {
			Net []struct {
				ID  string `json:"id"`
				FDs []int  `json:"fds"`
			} `json:"net"`
		} `json:"config"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &info))
	require.Len(t, info.Config.Net, 1)
	assert.Equal(t, []int{-1, -1}, info.Config.Net[0].FDs)

	// vm.restore needs exactly as many fds as net_fds asks for.
	status, body = sendWithFDs(t, sock, "PUT", "vm.restore", `{"source_url":"file:///nonexistent","net_fds":[{"id":"net0","num_fds":2}]}`, tap1)
	assert.Equal(t, 400, status)
	assert.Equal(t, `["Bad Request"]`, body)
	assert.Equal(t, 3, srv.ReceivedFDs())
}

// TestFDNumbersInBodiesAreInvalid: fd numbers in a JSON body mean nothing
// to CH (vmm/src/vm_config.rs: deserialize_platformconfig_iommufd_fd and
// deserialize_deviceconfig_fd read Some(fd) as Some(-1)), and v53.0's
// vm.create drops a VFIO device's fd as it drops net fds
// (vmm/src/api/http/http_endpoint.rs, VmCreate).
func TestFDNumbersInBodiesAreInvalid(t *testing.T) {
	sock, _ := chsimtest.Start(t, "v53.0")
	c := newClient(t, sock)
	dir := t.TempDir()
	status, body := c.do("PUT", "vm.create", fmt.Sprintf(`{"payload":{"kernel":"/vmlinux"},"platform":{"iommufd_fd":7},"devices":[{"path":%q,"fd":5}],"net":[{"fds":[8,9]}]}`, dir))
	require.Equal(t, 204, status, body)
	status, body = c.do("GET", "vm.info", "")
	require.Equal(t, 200, status, body)
	var info struct {
		Config struct {
			Platform map[string]any   `json:"platform"`
			Devices  []map[string]any `json:"devices"`
			Net      []map[string]any `json:"net"`
		} `json:"config"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &info))
	assert.EqualValues(t, -1, info.Config.Platform["iommufd_fd"], "Some(7) is read as Some(-1)")
	require.Len(t, info.Config.Devices, 1)
	assert.NotContains(t, info.Config.Devices[0], "fd", "vm.create drops the device's fd (None: skip_serializing_none)")
	assert.Equal(t, dir, info.Config.Devices[0]["path"])
	require.Len(t, info.Config.Net, 1)
	assert.NotContains(t, info.Config.Net[0], "fds", "vm.create drops net fds")
}
