package core

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// servePing serves a vmm.ping that answers info.
func servePing(t *testing.T, info PingInfo) string {
	t.Helper()
	sock, _ := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/vmm.ping" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_ = json.NewEncoder(w).Encode(info)
	}))
	return sock
}

func TestConnect(t *testing.T) {
	rel := registerFakeRelease(t)
	sock := servePing(t, PingInfo{BuildVersion: "v89.0-3-gabcdef0-dirty", Version: "89.0.0", PID: 42, Features: []string{"kvm"}})

	c, err := Connect(t.Context(), sock)
	require.NoError(t, err)
	defer c.Close()
	assert.Same(t, rel, c.Release())
	assert.Equal(t, []string{"kvm"}, c.(*vmmClient).buildFeatures())

	api, err := ClientAs[*fakeAPIClient](c)
	require.NoError(t, err)
	assert.Same(t, c.(*vmmClient).http, api.doer)

	_, err = ClientAs[*http.Client](c)
	require.ErrorIs(t, err, ErrVersionMismatch)
	assert.Contains(t, err.Error(), "*core.fakeAPIClient, not *http.Client")
}

func TestConnectUnregisteredVersion(t *testing.T) {
	registerFakeRelease(t)
	sock := servePing(t, PingInfo{BuildVersion: "v88.0", Version: "88.0.0", PID: 1})
	_, err := Connect(t.Context(), sock)
	require.ErrorIs(t, err, ErrUnknownVersion)
	assert.Contains(t, err.Error(), "v88.0")
	assert.Contains(t, err.Error(), "registered: ")
	assert.Contains(t, err.Error(), fakeCHVersion)
}

func TestConnectFallsBackToCargoVersion(t *testing.T) {
	rel := registerFakeRelease(t)
	sock := servePing(t, PingInfo{BuildVersion: "", Version: "89.0.0", PID: 1})
	c, err := Connect(t.Context(), sock)
	require.NoError(t, err)
	assert.Same(t, rel, c.Release())
}

func TestConnectFailures(t *testing.T) {
	_, err := Connect(t.Context(), filepath.Join(t.TempDir(), "none.sock"))
	assert.ErrorContains(t, err, "is the VMM running?")

	sock := servePing(t, PingInfo{BuildVersion: "nonsense"})
	_, err = Connect(t.Context(), sock)
	assert.ErrorIs(t, err, ErrBadVersion)

	sock, _ = serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("<html>"))
	}))
	_, err = Connect(t.Context(), sock)
	assert.ErrorContains(t, err, "not a ping answer")

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	sock = serveRaw(t, func(c net.Conn) { <-t.Context().Done(); c.Close() })
	_, err = Connect(ctx, sock)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestClientAsWithoutClient(t *testing.T) {
	c := newVMMClient(testRelease("v48.0", nil), "/nonexistent.sock", nil)
	_, err := ClientAs[*fakeAPIClient](c)
	assert.ErrorContains(t, err, "no typed client")
}
