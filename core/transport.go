package core

import (
	"context"
	"net"
	"net/http"
	"time"
)

// APIBaseURL is the base URL of the CH API. The host part is ignored: every
// request goes to the unix socket the client was made for.
const APIBaseURL = "http://localhost/api/v1"

// NewHTTPClient returns an HTTP client whose every request goes to the CH API
// socket at socketPath.
//
// TODO(transport): bounded keep-alive pool, request size check, APIError
// conversion, vmm.shutdown EOF handling.
func NewHTTPClient(socketPath string) *http.Client {
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socketPath)
		},
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
	}}
}
