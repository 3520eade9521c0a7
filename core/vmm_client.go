package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
)

// NewHypervisor returns the [Hypervisor] of the VMM serving the API on
// socketPath, which runs release r. It does not contact the VMM; [Connect]
// finds the release by asking the VMM.
func NewHypervisor(r *Release, socketPath string) Hypervisor {
	return &vmmClient{rel: r, socket: socketPath, http: NewHTTPClient(socketPath)}
}

// vmmClient implements Hypervisor for any release, over the API socket. What
// differs between releases comes from the release's generated tables: its
// endpoints (Release.Endpoints) and the fields of its types
// (Release.Schemas).
type vmmClient struct {
	rel      *Release
	socket   string
	http     *http.Client
	features []string // the build's features from vmm.ping; nil: unknown
	// onShutdown, if set, runs before vmm.shutdown is sent (Process marks
	// the exit as requested).
	onShutdown func()
}

// Release returns the CH release the VMM runs.
func (c *vmmClient) Release() *Release { return c.rel }

// Hypervisor returns the version-neutral API of the VMM, sharing the
// connection's keep-alive pool.
func (c *Conn) Hypervisor() Hypervisor {
	return &vmmClient{rel: c.Release, socket: c.SocketPath, http: c.http, features: c.Info.Features}
}

// Hypervisor returns the version-neutral API of the VMM, sharing the
// process's keep-alive pool. It is nil when the VMM's version is not
// registered (a binary given with WithBinary of another version).
func (p *Process) Hypervisor() Hypervisor {
	if p.release == nil {
		return nil
	}
	return &vmmClient{rel: p.release, socket: p.socketPath, http: p.http, features: p.features,
		onShutdown: func() { p.exitRequested.Store(true) }}
}

// call sends method path with in (nil: no body) as the spec schema named
// schema, and decodes a 200 answer's body into out (nil: ignore it).
func (c *vmmClient) call(ctx context.Context, method, path, schema string, in, out any) error {
	if err := c.rel.supports(method, path); err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		data, err := c.rel.encodeBody(schema, in)
		if err != nil {
			if errors.Is(err, ErrUnsupportedField) {
				return err
			}
			return fmt.Errorf("%s %s: encoding the request: %w", method, path, err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, APIBaseURL+path, body)
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
	var p PingInfo
	err := c.call(ctx, http.MethodGet, "/vmm.ping", "", nil, &p)
	return p, err
}

func (c *vmmClient) ShutdownVMM(ctx context.Context) error {
	if c.onShutdown != nil {
		c.onShutdown()
	}
	err := c.call(ctx, http.MethodPut, "/vmm.shutdown", "", nil, nil)
	c.http.CloseIdleConnections()
	return err
}

func (c *vmmClient) CreateVM(ctx context.Context, cfg *VMConfig) error {
	if cfg == nil {
		return fmt.Errorf("CreateVM: config is nil: %w", ErrBadConfig)
	}
	if err := checkBuildFeatures(c.rel, c.features, cfg); err != nil {
		return err
	}
	return c.call(ctx, http.MethodPut, "/vm.create", "VmConfig", cfg, nil)
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

func (c *vmmClient) VMInfo(ctx context.Context) (*VMInfo, error) {
	var info VMInfo
	if err := c.call(ctx, http.MethodGet, "/vm.info", "", nil, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

func (c *vmmClient) VMCounters(ctx context.Context) (VMCounters, error) {
	counters := VMCounters{}
	if err := c.call(ctx, http.MethodGet, "/vm.counters", "", nil, &counters); err != nil {
		return nil, err
	}
	return counters, nil
}

func (c *vmmClient) Resize(ctx context.Context, r VMResize) error {
	return c.call(ctx, http.MethodPut, "/vm.resize", "VmResize", &r, nil)
}

func (c *vmmClient) ResizeZone(ctx context.Context, r VMResizeZone) error {
	return c.call(ctx, http.MethodPut, "/vm.resize-zone", "VmResizeZone", &r, nil)
}

func (c *vmmClient) ResizeDisk(ctx context.Context, r VMResizeDisk) error {
	return c.call(ctx, http.MethodPut, "/vm.resize-disk", "VmResizeDisk", &r, nil)
}

// add hot-plugs a device; CH answers 200 with its PCI info, or 204 when the
// VM is not booted yet (cold plug), where the result is nil.
func (c *vmmClient) add(ctx context.Context, path, schema string, in any) (*PciDeviceInfo, error) {
	var info PciDeviceInfo
	if err := c.call(ctx, http.MethodPut, path, schema, in, &info); err != nil {
		return nil, err
	}
	if info.ID == "" && info.Bdf == "" {
		return nil, nil
	}
	return &info, nil
}

func (c *vmmClient) AddDevice(ctx context.Context, d DeviceConfig) (*PciDeviceInfo, error) {
	return c.add(ctx, "/vm.add-device", "DeviceConfig", &d)
}
func (c *vmmClient) AddDisk(ctx context.Context, d DiskConfig) (*PciDeviceInfo, error) {
	return c.add(ctx, "/vm.add-disk", "DiskConfig", &d)
}
func (c *vmmClient) AddFs(ctx context.Context, f FsConfig) (*PciDeviceInfo, error) {
	return c.add(ctx, "/vm.add-fs", "FsConfig", &f)
}
func (c *vmmClient) AddPmem(ctx context.Context, p PmemConfig) (*PciDeviceInfo, error) {
	return c.add(ctx, "/vm.add-pmem", "PmemConfig", &p)
}
func (c *vmmClient) AddVsock(ctx context.Context, v VsockConfig) (*PciDeviceInfo, error) {
	return c.add(ctx, "/vm.add-vsock", "VsockConfig", &v)
}
func (c *vmmClient) AddVdpa(ctx context.Context, v VdpaConfig) (*PciDeviceInfo, error) {
	return c.add(ctx, "/vm.add-vdpa", "VdpaConfig", &v)
}
func (c *vmmClient) AddUserDevice(ctx context.Context, u VMAddUserDevice) (*PciDeviceInfo, error) {
	return c.add(ctx, "/vm.add-user-device", "VmAddUserDevice", &u)
}
func (c *vmmClient) AddGenericVhostUser(ctx context.Context, g GenericVhostUserConfig) (*PciDeviceInfo, error) {
	return c.add(ctx, "/vm.add-generic-vhost-user", "GenericVhostUserConfig", &g)
}

func (c *vmmClient) AddNet(ctx context.Context, n NetConfig, tapFDs ...*os.File) (*PciDeviceInfo, error) {
	if len(tapFDs) == 0 {
		return c.add(ctx, "/vm.add-net", "NetConfig", &n)
	}
	var info PciDeviceInfo
	if err := c.callWithFiles(ctx, http.MethodPut, "/vm.add-net", "NetConfig", &n, tapFDs, &info); err != nil {
		return nil, err
	}
	if info.ID == "" && info.Bdf == "" {
		return nil, nil // cold plug
	}
	return &info, nil
}

func (c *vmmClient) RemoveDevice(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodPut, "/vm.remove-device", "VmRemoveDevice", &VMRemoveDevice{ID: &id}, nil)
}

func (c *vmmClient) Coredump(ctx context.Context, path string) error {
	if path == "" {
		return fmt.Errorf("Coredump: file path is empty: %w", ErrBadConfig)
	}
	abs, err := filepath.Abs(path) // CH would resolve it in its own working directory
	if err != nil {
		return err
	}
	return c.call(ctx, http.MethodPut, "/vm.coredump", "VmCoredumpData", &VMCoredumpData{DestinationURL: ptr("file://" + abs)}, nil)
}

// NMI is PUT /vm.nmi on every release (the v48–v52 specs say /vmm.nmi,
// which no server routes; apigen's nmi-route fix-up).
func (c *vmmClient) NMI(ctx context.Context) error { return c.put(ctx, "/vm.nmi") }

func (c *vmmClient) SendMigration(ctx context.Context, m SendMigrationData) error {
	return c.call(ctx, http.MethodPut, "/vm.send-migration", "SendMigrationData", &m, nil)
}

func (c *vmmClient) ReceiveMigration(ctx context.Context, m ReceiveMigrationData) error {
	return c.call(ctx, http.MethodPut, "/vm.receive-migration", "ReceiveMigrationData", &m, nil)
}

func ptr[T any](v T) *T { return &v }

// unwrapURLError drops the *url.Error that http.Client wraps around every
// transport error: its text repeats the URL, and the operation is already in
// the errors of NewHTTPClient's transport.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
