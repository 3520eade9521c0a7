package chsim_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// apiClient talks HTTP to a simulator socket.
type apiClient struct {
	t    testing.TB
	http *http.Client
}

func newClient(t testing.TB, socket string) *apiClient {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &apiClient{t: t, http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// do sends method endpoint (relative to /api/v1, without the slash) with an
// optional JSON body and returns status and body.
func (c *apiClient) do(method, endpoint, body string) (int, string) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://localhost/api/v1/"+endpoint, rd)
	require.NoError(c.t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	require.NoError(c.t, err, "%s %s", method, endpoint)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp.StatusCode, string(bytes.TrimSpace(b))
}
