package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/chvmm/chvmm/core/api"
	"github.com/chvmm/chvmm/core/chversion"
	"github.com/chvmm/chvmm/core/driver"
)

// defaultConnectTimeout bounds Connect and Attach when their context has
// no deadline: a socket whose VMM does not accept would otherwise hold them
// forever.
const defaultConnectTimeout = 5 * time.Second

// maxPingBody bounds the vmm.ping answer read.
const maxPingBody = 64 << 10

// PingInfo is the VMM's answer to GET /vmm.ping.
type PingInfo struct {
	// BuildVersion is the CH build ("v48.0", "v48.0.0", "v48.0-dirty").
	BuildVersion string `json:"build_version"`
	// Version is the Cargo version ("48.0.0").
	Version string `json:"version"`
	// PID is the VMM's process id, as the VMM says.
	PID int `json:"pid"`
	// Features are the optional features CH was built with ("kvm",
	// "io_uring", …).
	Features []string `json:"features"`
}

// Connect connects to the VMM serving socketPath: it pings it, normalises
// the build_version it reports and finds that release among the
// registered ones. A release that is not registered is an error matching
// ErrUnknownVersion, which names it and what is registered; blank-import
// its version module. Without a deadline on ctx, Connect gives up after
// 5 s. Close the Hypervisor when done with it.
func Connect(ctx context.Context, socketPath string) (Hypervisor, error) {
	if err := checkSocketPath(socketPath); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultConnectTimeout)
		defer cancel()
	}
	c := newVMMClient(nil, socketPath, nil)
	info, err := ping(ctx, c.http)
	if err == nil {
		c.rel, err = releaseOf(info)
	}
	if err != nil {
		c.http.CloseIdleConnections()
		return nil, fmt.Errorf("connecting to cloud-hypervisor at %s: %w", socketPath, err)
	}
	c.noteBuild(info)
	return c, nil
}

// ClientAs returns the generated, typed client of the VMM's release behind
// h, as T, for what the version-neutral API does not cover:
//
//	client, err := core.ClientAs[*v53.ClientWithResponses](h)
//
// It talks through h's connections, with chvmm's error handling: any
// non-2xx answer is an *APIError. It fails, naming both types, when the VMM
// runs another release (whose client is of another type).
func ClientAs[T any](h Hypervisor) (T, error) {
	var zero T
	c, ok := h.(*vmmClient)
	if !ok || c.rel.d.NewClient == nil {
		return zero, fmt.Errorf("no typed client for %T", h)
	}
	any, err := c.rel.d.NewClient(c.http)
	if err != nil {
		return zero, fmt.Errorf("making the CH %s API client: %w", c.rel.tag, err)
	}
	t, ok := any.(T)
	if !ok {
		return zero, fmt.Errorf("%w: the VMM runs CH %s, whose typed client is %T, not %T", ErrVersionMismatch, c.rel.tag, any, zero)
	}
	return t, nil
}

// vmmClient implements Hypervisor for any release, over the API socket.
// What differs between releases comes from the release's model of its API
// (driver.API): its endpoints and the members of its types.
type vmmClient struct {
	rel    *Release
	socket string
	http   *http.Client
	log    *slog.Logger

	mu       sync.Mutex
	features []string // the build's features from vmm.ping; nil: unknown
	build    string   // its build_version, as reported
}

func newVMMClient(rel *Release, socket string, log *slog.Logger) *vmmClient {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &vmmClient{rel: rel, socket: socket, http: &http.Client{Transport: newAPITransport(socket, false)}, log: log}
}

// noteBuild records what a ping said of the VMM's build.
func (c *vmmClient) noteBuild(info PingInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.features = info.Features
	if c.features == nil {
		c.features = []string{}
	}
	c.build = info.BuildVersion
}

func (c *vmmClient) buildFeatures() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.features
}

// Release returns the CH release the VMM runs.
func (c *vmmClient) Release() *Release { return c.rel }

// Close closes the idle connections to the VMM.
func (c *vmmClient) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// ping sends GET /vmm.ping through client and decodes the answer.
func ping(ctx context.Context, client *http.Client) (PingInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, driver.BaseURL+"/vmm.ping", nil)
	if err != nil {
		return PingInfo{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return PingInfo{}, unwrapURLError(err)
	}
	defer resp.Body.Close()
	return decodePing(resp.Body)
}

// decodePing reads and decodes the body of a 2xx answer to vmm.ping.
func decodePing(r io.Reader) (PingInfo, error) {
	var info PingInfo
	body, err := io.ReadAll(io.LimitReader(r, maxPingBody))
	if err != nil {
		return PingInfo{}, fmt.Errorf("GET /vmm.ping: reading the answer: %w", err)
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return PingInfo{}, fmt.Errorf("GET /vmm.ping: answer %q is not a ping answer: %w", tail(string(body), 200), err)
	}
	return info, nil
}

// pingVersion returns the CH release tag a ping reports: its build_version
// normalised, else its Cargo version.
func pingVersion(info PingInfo) (string, error) {
	v, err := chversion.Normalize(info.BuildVersion)
	if err != nil {
		if v, err = chversion.Normalize(info.Version); err != nil {
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

// call sends method path with in (nil: no body) as the spec schema named
// schema, and decodes a 200 answer's body into out (nil: ignore it).
func (c *vmmClient) call(ctx context.Context, method, path, schema string, in, out any) error {
	if err := c.rel.supports(method, path); err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		data, err := c.rel.encodeBody(schema, in, c.buildFeatures())
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, driver.BaseURL+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return unwrapURLError(err)
	}
	defer resp.Body.Close()
	return decodeAnswer(method+" "+path, resp, out)
}

// decodeAnswer decodes a 2xx answer's JSON body into out, if any.
func decodeAnswer(op string, resp *http.Response, out any) error {
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBody))
	if err != nil {
		return fmt.Errorf("%s: reading the answer: %w", op, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil // 204, or 200 without a body
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: decoding the answer %q: %w", op, tail(string(data), 200), err)
	}
	return nil
}

// maxAnswerBody bounds a success answer (vm.info with a large device tree).
const maxAnswerBody = 16 << 20

func (c *vmmClient) Ping(ctx context.Context) (PingInfo, error) {
	info, err := ping(ctx, c.http)
	if err == nil {
		c.noteBuild(info)
	}
	return info, err
}

func (c *vmmClient) ShutdownVMM(ctx context.Context) error {
	err := c.call(ctx, http.MethodPut, "/vmm.shutdown", "", nil, nil)
	c.http.CloseIdleConnections()
	return err
}

func (c *vmmClient) CreateVM(ctx context.Context, cfg *api.VMConfig, taps NetFDs) error {
	if cfg == nil {
		return fmt.Errorf("CreateVM: config is nil: %w", ErrBadConfig)
	}
	if len(taps) == 0 {
		return c.call(ctx, http.MethodPut, "/vm.create", "VmConfig", cfg, nil)
	}
	// CH takes no file descriptors at vm.create: create without the nets
	// that have TAPs, then add them with theirs (cold plug).
	created := *cfg
	created.Net = nil
	var later []api.NetConfig
	found := map[string]bool{}
	for _, n := range cfg.Net {
		if n.ID != nil && taps[*n.ID] != nil {
			later = append(later, n)
			found[*n.ID] = true
			continue
		}
		created.Net = append(created.Net, n)
	}
	for id := range taps {
		if !found[id] {
			return fmt.Errorf("CreateVM: TAPs given for net device %q, which the config has no net device of (set NetConfig.ID): %w", id, ErrBadConfig)
		}
	}
	if err := c.call(ctx, http.MethodPut, "/vm.create", "VmConfig", &created, nil); err != nil {
		return err
	}
	for _, n := range later {
		if _, err := c.AddNet(ctx, n, taps[*n.ID]...); err != nil {
			// The clean-up runs even when ctx has ended, for a bounded time.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			derr := c.DeleteVM(dctx)
			cancel()
			if derr != nil {
				err = errors.Join(err, fmt.Errorf("deleting the half-created VM: %w", derr))
			}
			return fmt.Errorf("CreateVM: adding net device %s with its TAPs: %w", *n.ID, err)
		}
	}
	return nil
}

func (c *vmmClient) put(ctx context.Context, path string) error {
	return c.call(ctx, http.MethodPut, path, "", nil, nil)
}

func (c *vmmClient) BootVM(ctx context.Context) error     { return c.put(ctx, "/vm.boot") }
func (c *vmmClient) PauseVM(ctx context.Context) error    { return c.put(ctx, "/vm.pause") }
func (c *vmmClient) ResumeVM(ctx context.Context) error   { return c.put(ctx, "/vm.resume") }
func (c *vmmClient) ShutdownVM(ctx context.Context) error { return c.put(ctx, "/vm.shutdown") }
func (c *vmmClient) RebootVM(ctx context.Context) error   { return c.put(ctx, "/vm.reboot") }
func (c *vmmClient) PowerButton(ctx context.Context) error {
	return c.put(ctx, "/vm.power-button")
}
func (c *vmmClient) DeleteVM(ctx context.Context) error { return c.put(ctx, "/vm.delete") }

func (c *vmmClient) VMInfo(ctx context.Context) (*api.VMInfo, error) {
	var info api.VMInfo
	if err := c.call(ctx, http.MethodGet, "/vm.info", "", nil, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

func (c *vmmClient) VMCounters(ctx context.Context) (api.VMCounters, error) {
	counters := api.VMCounters{}
	if err := c.call(ctx, http.MethodGet, "/vm.counters", "", nil, &counters); err != nil {
		return nil, err
	}
	return counters, nil
}

func (c *vmmClient) Resize(ctx context.Context, r api.VMResize) error {
	return c.call(ctx, http.MethodPut, "/vm.resize", "VmResize", &r, nil)
}

func (c *vmmClient) ResizeZone(ctx context.Context, r api.VMResizeZone) error {
	return c.call(ctx, http.MethodPut, "/vm.resize-zone", "VmResizeZone", &r, nil)
}

func (c *vmmClient) ResizeDisk(ctx context.Context, r api.VMResizeDisk) error {
	return c.call(ctx, http.MethodPut, "/vm.resize-disk", "VmResizeDisk", &r, nil)
}

// add hot-plugs a device; CH answers 200 with its PCI info, or 204 when the
// VM is not booted yet (cold plug), where the result is nil.
func (c *vmmClient) add(ctx context.Context, path, schema string, in any) (*api.PciDeviceInfo, error) {
	var info api.PciDeviceInfo
	if err := c.call(ctx, http.MethodPut, path, schema, in, &info); err != nil {
		return nil, err
	}
	if info.ID == "" && info.Bdf == "" {
		return nil, nil
	}
	return &info, nil
}

func (c *vmmClient) AddDevice(ctx context.Context, d api.DeviceConfig) (*api.PciDeviceInfo, error) {
	return c.add(ctx, "/vm.add-device", "DeviceConfig", &d)
}
func (c *vmmClient) AddDisk(ctx context.Context, d api.DiskConfig) (*api.PciDeviceInfo, error) {
	return c.add(ctx, "/vm.add-disk", "DiskConfig", &d)
}
func (c *vmmClient) AddFs(ctx context.Context, f api.FsConfig) (*api.PciDeviceInfo, error) {
	return c.add(ctx, "/vm.add-fs", "FsConfig", &f)
}
func (c *vmmClient) AddPmem(ctx context.Context, p api.PmemConfig) (*api.PciDeviceInfo, error) {
	return c.add(ctx, "/vm.add-pmem", "PmemConfig", &p)
}
func (c *vmmClient) AddVsock(ctx context.Context, v api.VsockConfig) (*api.PciDeviceInfo, error) {
	return c.add(ctx, "/vm.add-vsock", "VsockConfig", &v)
}
func (c *vmmClient) AddVdpa(ctx context.Context, v api.VdpaConfig) (*api.PciDeviceInfo, error) {
	return c.add(ctx, "/vm.add-vdpa", "VdpaConfig", &v)
}
func (c *vmmClient) AddUserDevice(ctx context.Context, u api.VMAddUserDevice) (*api.PciDeviceInfo, error) {
	return c.add(ctx, "/vm.add-user-device", "VmAddUserDevice", &u)
}
func (c *vmmClient) AddGenericVhostUser(ctx context.Context, g api.GenericVhostUserConfig) (*api.PciDeviceInfo, error) {
	return c.add(ctx, "/vm.add-generic-vhost-user", "GenericVhostUserConfig", &g)
}

func (c *vmmClient) AddNet(ctx context.Context, n api.NetConfig, tapFDs ...*os.File) (*api.PciDeviceInfo, error) {
	if len(tapFDs) == 0 {
		return c.add(ctx, "/vm.add-net", "NetConfig", &n)
	}
	body, err := c.rel.encodeBody("NetConfig", &n, c.buildFeatures())
	if err != nil {
		return nil, err
	}
	var info api.PciDeviceInfo
	if err := c.callWithFiles(ctx, http.MethodPut, "/vm.add-net", body, tapFDs, &info); err != nil {
		return nil, err
	}
	if info.ID == "" && info.Bdf == "" {
		return nil, nil // cold plug
	}
	return &info, nil
}

func (c *vmmClient) RemoveDevice(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodPut, "/vm.remove-device", "VmRemoveDevice", &api.VMRemoveDevice{ID: &id}, nil)
}

func (c *vmmClient) Coredump(ctx context.Context, path string) error {
	if path == "" {
		return fmt.Errorf("Coredump: file path is empty: %w", ErrBadConfig)
	}
	abs, err := filepath.Abs(path) // CH would resolve it in its own working directory
	if err != nil {
		return err
	}
	return c.call(ctx, http.MethodPut, "/vm.coredump", "VmCoredumpData", &api.VMCoredumpData{DestinationURL: ptr("file://" + abs)}, nil)
}

// NMI is PUT /vm.nmi on every release (the v48–v52 specs say /vmm.nmi,
// which no server routes; apigen's nmi-route fix-up).
func (c *vmmClient) NMI(ctx context.Context) error { return c.put(ctx, "/vm.nmi") }

func (c *vmmClient) SendMigration(ctx context.Context, m api.SendMigrationData) error {
	return c.call(ctx, http.MethodPut, "/vm.send-migration", "SendMigrationData", &m, nil)
}

func (c *vmmClient) ReceiveMigration(ctx context.Context, m api.ReceiveMigrationData) error {
	return c.call(ctx, http.MethodPut, "/vm.receive-migration", "ReceiveMigrationData", &m, nil)
}

func ptr[T any](v T) *T { return &v }

// unwrapURLError drops the *url.Error that http.Client wraps around every
// transport error: its text repeats the URL, and the operation is already in
// the errors of the transport.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// cleanupTimeout bounds the clean-up of a failed call that runs after its
// context has ended, such as deleting a half-created VM.
const cleanupTimeout = 5 * time.Second
