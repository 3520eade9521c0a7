package core

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/chvmm/chvmm/core/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A call that runs out of time says which operation it was, not only
// "context deadline exceeded".
func TestReviewCallErrorNamesOperation(t *testing.T) {
	rel := testRelease("v50.2", nil)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	sock, _ := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := newTestHypervisor(rel, sock).VMInfo(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "GET /vm.info")

	_, err = ping(ctx, newTestHTTPClient(sock))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "GET /vmm.ping")
}

// A VMM that exits under a request that carries file descriptors is
// ErrVMMUnreachable, as it is for every other request.
func TestReviewFDPassingVMMExitsUnderRequest(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		_, _ = c.Read(make([]byte, 64<<10)) // the request, then exit
		c.Close()
	}()
	_, err = newTestHypervisor(fdRelease, sock).AddNet(t.Context(), api.NetConfig{}, devNulls(t, 1)...)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrVMMUnreachable)
	assert.True(t, errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF), "%v", err)
	assert.Contains(t, err.Error(), "PUT /vm.add-net")
}

// When the context ends under a request with file descriptors, the error
// keeps both the context's error and the network error.
func TestReviewFDPassingContextKeepsCause(t *testing.T) {
	s := startFDServer(t, "") // reads the request, never answers
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := newTestHypervisor(fdRelease, s.socket).AddNet(ctx, api.NetConfig{}, devNulls(t, 1)...)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var oe *net.OpError
	assert.ErrorAs(t, err, &oe, "the network error is kept in the chain: %v", err)
}

// Snapshot into a directory that does not exist says so and what to do.
func TestReviewSnapshotMissingDirSaysWhatToDo(t *testing.T) {
	rel := testRelease("v50.2", nil)
	dir := filepath.Join(t.TempDir(), "missing")
	err := newTestHypervisor(rel, filepath.Join(t.TempDir(), "api.sock")).Snapshot(t.Context(), dir)
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), dir)
	assert.Contains(t, err.Error(), "create it first")
}

// Coredump sends an absolute file:// URL, as Snapshot does: a relative path
// would be resolved against CH's working directory, not the caller's.
func TestReviewCoredumpAbsolutePath(t *testing.T) {
	rel := testRelease("v50.2", nil)
	got := make(chan string, 1)
	sock, _ := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			DestinationURL string `json:"destination_url"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		got <- body.DestinationURL
		w.WriteHeader(http.StatusNoContent)
	}))
	require.NoError(t, newTestHypervisor(rel, sock).Coredump(t.Context(), "vm1.core"))
	abs, err := filepath.Abs("vm1.core")
	require.NoError(t, err)
	assert.Equal(t, "file://"+abs, <-got)
}
