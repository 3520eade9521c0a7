package core

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chvmm/chvmm/core/api"
	"github.com/chvmm/chvmm/core/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// fdServer is a tiny CH stand-in on a unix socket: it reads one request per
// connection with the fds that came with it and writes answer.
type fdServer struct {
	socket string
	got    chan fdRequest
}

type fdRequest struct {
	method, path string
	body         []byte
	fds          int
}

// startFDServer serves answer (a raw HTTP response; "" answers nothing and
// holds the connection).
func startFDServer(t *testing.T, answer string) *fdServer {
	t.Helper()
	s := &fdServer{socket: filepath.Join(t.TempDir(), "api.sock"), got: make(chan fdRequest, 8)}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: s.socket, Net: "unix"})
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				return
			}
			go s.serve(c, answer)
		}
	}()
	return s
}

func (s *fdServer) serve(c *net.UnixConn, answer string) {
	defer c.Close()
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*16))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return
	}
	fds := 0
	msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
	for _, m := range msgs {
		rights, _ := unix.ParseUnixRights(&m)
		for _, fd := range rights {
			unix.Close(fd)
		}
		fds += len(rights)
	}
	req, err := http.ReadRequest(bufio.NewReader(io.MultiReader(bytesReader(buf[:n]), c)))
	if err != nil {
		return
	}
	body, _ := io.ReadAll(req.Body)
	s.got <- fdRequest{req.Method, req.URL.Path, body, fds}
	if answer == "" {
		_, _ = io.Copy(io.Discard, c) // hold until the client gives up
		return
	}
	_, _ = c.Write([]byte(answer))
}

func bytesReader(b []byte) io.Reader { return &sliceReader{b} }

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func devNulls(t *testing.T, n int) []*os.File {
	t.Helper()
	fs := make([]*os.File, n)
	for i := range fs {
		f, err := os.Open(os.DevNull)
		require.NoError(t, err)
		t.Cleanup(func() { f.Close() })
		fs[i] = f
	}
	return fs
}

var fdRelease = testRelease("v50.2", nil)

func TestAddNetPassesFDs(t *testing.T) {
	body := `{"id":"tap0","bdf":"0000:00:05.0"}`
	s := startFDServer(t, "HTTP/1.1 200 \r\nContent-Type: application/json\r\nContent-Length: "+itoa(len(body))+"\r\n\r\n"+body)
	h := newTestHypervisor(fdRelease, s.socket)
	info, err := h.AddNet(t.Context(), api.NetConfig{ID: ptr("tap0")}, devNulls(t, 2)...)
	require.NoError(t, err)
	assert.Equal(t, &api.PciDeviceInfo{ID: "tap0", Bdf: "0000:00:05.0"}, info)
	got := <-s.got
	assert.Equal(t, "PUT", got.method)
	assert.Equal(t, "/api/v1/vm.add-net", got.path)
	assert.Equal(t, 2, got.fds)
	assert.JSONEq(t, `{"id":"tap0"}`, string(got.body))
}

func TestAddNetColdPlugAnswersNoInfo(t *testing.T) {
	s := startFDServer(t, "HTTP/1.1 204 \r\n\r\n")
	info, err := newTestHypervisor(fdRelease, s.socket).AddNet(t.Context(), api.NetConfig{}, devNulls(t, 1)...)
	require.NoError(t, err)
	assert.Nil(t, info)
}

func TestFDPassingErrorAnswer(t *testing.T) {
	body := `["Error from API","The network device could not be added to the VM","VM is not created"]`
	s := startFDServer(t, "HTTP/1.1 500 \r\nContent-Type: application/json\r\nContent-Length: "+itoa(len(body))+"\r\n\r\n"+body)
	_, err := newTestHypervisor(fdRelease, s.socket).AddNet(t.Context(), api.NetConfig{}, devNulls(t, 1)...)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 500, ae.StatusCode)
	assert.Equal(t, "PUT /vm.add-net", ae.Operation)
	assert.ErrorIs(t, err, ErrVMNotCreated)
}

func TestFDPassingHonoursContext(t *testing.T) {
	s := startFDServer(t, "")
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := newTestHypervisor(fdRelease, s.socket).AddNet(ctx, api.NetConfig{}, devNulls(t, 1)...)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestFDPassingRefusals(t *testing.T) {
	h := newTestHypervisor(fdRelease, filepath.Join(t.TempDir(), "none.sock"))
	_, err := h.AddNet(t.Context(), api.NetConfig{}, nil)
	require.ErrorIs(t, err, ErrBadConfig)
	_, err = h.AddNet(t.Context(), api.NetConfig{}, devNulls(t, 1)...)
	require.Error(t, err)
	assert.ErrorContains(t, err, "is the VMM running?")
	assert.ErrorIs(t, err, ErrVMMUnreachable)

	noNet, err := newRelease(&driver.Release{Version: "v48.0", API: &driver.API{Schemas: unionAPI().Schemas}})
	require.NoError(t, err)
	old := newTestHypervisor(noNet, filepath.Join(t.TempDir(), "none.sock"))
	_, err = old.AddNet(t.Context(), api.NetConfig{}, devNulls(t, 1)...)
	require.ErrorIs(t, err, ErrUnsupported)
}

func TestRestoreSendsNetFDs(t *testing.T) {
	s := startFDServer(t, "HTTP/1.1 204 \r\n\r\n")
	snap := t.TempDir()
	writeMetadata(t, snap, `{"ch_version": "v50.2", "arch": "`+hostArch()+`"}`)
	err := newTestHypervisor(fdRelease, s.socket).Restore(t.Context(), snap, RestoreOptions{NetFDs: map[string][]*os.File{
		"net1": devNulls(t, 1),
		"net0": devNulls(t, 2),
	}})
	require.NoError(t, err)
	got := <-s.got
	assert.Equal(t, "/api/v1/vm.restore", got.path)
	assert.Equal(t, 3, got.fds)
	var body map[string]any
	require.NoError(t, json.Unmarshal(got.body, &body))
	assert.Equal(t, "file://"+snap, body["source_url"])
	assert.Equal(t, []any{
		map[string]any{"id": "net0", "num_fds": float64(2)},
		map[string]any{"id": "net1", "num_fds": float64(1)},
	}, body["net_fds"], "sorted by id, in the order the fds are sent")
}

func itoa(n int) string { return strconv.Itoa(n) }
