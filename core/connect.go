package core

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// defaultConnectTimeout bounds Connect when its context has no deadline: a
// socket whose VMM does not accept would otherwise hold it forever.
const defaultConnectTimeout = 5 * time.Second

// maxPingBody bounds the vmm.ping answer read.
const maxPingBody = 64 << 10

// PingInfo is the VMM's answer to GET /vmm.ping.
type PingInfo struct {
	// BuildVersion is the CH build ("v48.0", "v48.0.0", "v48.0-dirty").
	BuildVersion string `json:"build_version"`
	// Version is the Cargo version ("48.0.0").
	Version string `json:"version"`
	// PID is the VMM's process id.
	PID int `json:"pid"`
	// Features are the optional features CH was built with ("kvm",
	// "io_uring", …).
	Features []string `json:"features"`
}

// Ping sends GET /vmm.ping through client (one made by NewHTTPClient) and
// decodes the answer.
func Ping(ctx context.Context, client *http.Client) (PingInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, APIBaseURL+"/vmm.ping", nil)
	if err != nil {
		return PingInfo{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return PingInfo{}, unwrapURLError(err)
	}
	defer resp.Body.Close()
	var info PingInfo
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPingBody))
	if err != nil {
		return PingInfo{}, fmt.Errorf("GET /vmm.ping: reading the answer: %w", err)
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return PingInfo{}, fmt.Errorf("GET /vmm.ping: answer %q is not a ping answer: %w", tail(string(body), 200), err)
	}
	return info, nil
}

// ShutdownVMM sends PUT /vmm.shutdown through client: the VMM shuts its VM down
// (if any) and exits.
func ShutdownVMM(ctx context.Context, client *http.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, APIBaseURL+"/vmm.shutdown", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return unwrapURLError(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxPingBody))
	return resp.Body.Close()
}

// A Conn is a connection to a running VMM of a registered version, made by
// [Connect].
type Conn struct {
	// SocketPath is the VMM's API socket.
	SocketPath string
	// Info is the VMM's answer to the ping Connect sent.
	Info PingInfo
	// Release is the registered release of the VMM's version.
	Release *Release

	http   *http.Client
	client any
}

// HTTPClient returns the client of the VMM's API socket (see NewHTTPClient).
func (c *Conn) HTTPClient() *http.Client { return c.http }

// Client returns the typed client of the VMM's release, such as
// *v48.ClientWithResponses. Assert its type, or use [ClientAs].
func (c *Conn) Client() any { return c.client }

// Close closes the connection's idle keep-alive connections.
func (c *Conn) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// Connect connects to the VMM serving socketPath: it pings it, normalises
// the build_version it reports and finds that version among the registered
// releases. A version that is not registered is an error matching
// ErrUnknownVersion, which names it and what is registered; blank-import
// its version module. Without a deadline on ctx, Connect gives up after 5 s.
func Connect(ctx context.Context, socketPath string) (*Conn, error) {
	if err := checkSocketPath(socketPath); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultConnectTimeout)
		defer cancel()
	}
	hc := NewHTTPClient(socketPath)
	info, err := Ping(ctx, hc)
	if err != nil {
		hc.CloseIdleConnections()
		return nil, fmt.Errorf("connecting to cloud-hypervisor at %s: %w", socketPath, err)
	}
	rel, err := releaseOf(info)
	if err != nil {
		hc.CloseIdleConnections()
		return nil, fmt.Errorf("connecting to cloud-hypervisor at %s: %w", socketPath, err)
	}
	c := &Conn{SocketPath: socketPath, Info: info, Release: rel, http: hc}
	if c.client, err = newClient(rel, hc); err != nil {
		hc.CloseIdleConnections()
		return nil, fmt.Errorf("connecting to cloud-hypervisor at %s: %w", socketPath, err)
	}
	return c, nil
}

// pingVersion returns the CH release tag a ping reports: its build_version
// normalised, else its Cargo version.
func pingVersion(info PingInfo) (string, error) {
	v, err := NormalizeVersion(info.BuildVersion)
	if err != nil {
		if v, err = NormalizeVersion(info.Version); err != nil {
			return "", fmt.Errorf("the VMM reports build_version %q and version %q: %w", info.BuildVersion, info.Version, err)
		}
	}
	return v, nil
}

// releaseOf finds the registered release of the version a ping reports.
func releaseOf(info PingInfo) (*Release, error) {
	v, err := pingVersion(info)
	if err != nil {
		return nil, err
	}
	rel, err := Lookup(v)
	if err != nil {
		return nil, fmt.Errorf("the VMM runs CH %s (build %s): %w", v, info.BuildVersion, err)
	}
	return rel, nil
}

// newClient makes rel's typed client over hc (nil when rel has no client
// constructor).
func newClient(rel *Release, hc *http.Client) (any, error) {
	if rel == nil || rel.NewClient == nil {
		return nil, nil
	}
	c, err := rel.NewClient(APIBaseURL, hc)
	if err != nil {
		return nil, fmt.Errorf("making the CH %s API client: %w", rel.Version, err)
	}
	return c, nil
}

// ClientAs returns the typed client of a [*Conn] or [*Process] as T, for
// example:
//
//	api, err := core.ClientAs[*v48.ClientWithResponses](conn)
//
// It fails, naming both types, when the VMM runs another version (whose
// client is of another type) or has no typed client.
func ClientAs[T any](src interface{ Client() any }) (T, error) {
	var zero T
	c := src.Client()
	if c == nil {
		return zero, fmt.Errorf("no typed client: the VMM's version is not registered; want %T", zero)
	}
	t, ok := c.(T)
	if !ok {
		return zero, fmt.Errorf("%w: the VMM's typed client is %T, not %T", ErrVersionMismatch, c, zero)
	}
	return t, nil
}
