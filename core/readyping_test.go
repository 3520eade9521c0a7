package core

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The readiness ping writes its request and reads the answer itself; it
// must say what the transport says of the same answers.

func TestReadyPingDecodesTheAnswerAndClosesItsConnection(t *testing.T) {
	closed := make(chan bool, 1)
	sock := serveRaw(t, func(c net.Conn) {
		defer c.Close()
		req := readRequest(t, c)
		if req == nil {
			return
		}
		assert.Equal(t, http.MethodGet, req.Method)
		assert.Equal(t, "/api/v1/vmm.ping", req.URL.Path)
		assert.True(t, req.Close, "Connection: close: an idle VMM holds no connection of this program")
		body := `{"build_version":"v53.0","version":"53.0.0","pid":42,"features":["kvm"]}`
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		_, err := c.Read(make([]byte, 1))
		closed <- err == io.EOF
	})
	info, err := readyPing(t.Context(), sock)
	require.NoError(t, err)
	assert.Equal(t, PingInfo{BuildVersion: "v53.0", Version: "53.0.0", PID: 42, Features: []string{"kvm"}}, info)
	select {
	case ok := <-closed:
		assert.True(t, ok, "the ping's connection is closed after the answer")
	case <-time.After(5 * time.Second):
		t.Fatal("the ping's connection stays open")
	}
}

func TestReadyPingErrors(t *testing.T) {
	for _, tt := range []struct {
		name   string
		answer string // "" closes without answering
		check  func(t *testing.T, err error)
	}{
		{"an API error", "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 20\r\n\r\n{\"error\":\"not now\"}\n", func(t *testing.T, err error) {
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, 500, apiErr.StatusCode)
			assert.Equal(t, "GET /vmm.ping", apiErr.Operation)
		}},
		{"not a ping answer", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", func(t *testing.T, err error) {
			assert.ErrorContains(t, err, `GET /vmm.ping: answer "hello" is not a ping answer`)
		}},
		{"the connection drops", "", func(t *testing.T, err error) {
			assert.True(t, connectionDropped(err), "waitReady takes it for an exiting VMM: %v", err)
			assert.ErrorIs(t, err, ErrVMMUnreachable)
		}},
		{"it drops mid-answer", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"build", func(t *testing.T, err error) {
			assert.True(t, connectionDropped(err), "%v", err)
			assert.ErrorIs(t, err, ErrVMMUnreachable)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sock := serveRaw(t, func(c net.Conn) {
				defer c.Close()
				if readRequest(t, c) != nil {
					_, _ = io.WriteString(c, tt.answer)
				}
			})
			_, err := readyPing(t.Context(), sock)
			require.Error(t, err)
			tt.check(t, err)
		})
	}
}

func TestReadyPingEndsWithItsContext(t *testing.T) {
	sock := serveRaw(t, func(c net.Conn) {
		defer c.Close()
		_, _ = io.Copy(io.Discard, c) // never answers
	})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := readyPing(ctx, sock)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestReadyPingWithoutSocket(t *testing.T) {
	_, err := readyPing(t.Context(), filepath.Join(t.TempDir(), "none.sock"))
	require.ErrorIs(t, err, ErrVMMUnreachable)
	assert.ErrorContains(t, err, "is the VMM running?")
}
