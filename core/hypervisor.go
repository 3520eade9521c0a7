package core

import (
	"context"
	"errors"
	"os"

	"github.com/chvmm/chvmm/core/api"
)

// ErrBadConfig: a config or argument given to a Hypervisor method is unusable
// as it is (nil config, nil file); the error says what to change.
var ErrBadConfig = errors.New("bad configuration")

// Hypervisor is one Cloud Hypervisor VMM, driven through its REST API with
// version-neutral types, whatever its release (see [Connect] and
// [Process.Hypervisor]); the release's generated, typed client stays
// available for anything else ([ClientAs]). It is safe for concurrent use.
//
// Errors from CH are *[APIError] values; an operation the VMM's release
// does not have is an error matching [ErrUnsupported] that names the first
// release that has it; a config member (or value) the release does not
// know matches [ErrUnsupportedField].
type Hypervisor interface {
	// Release is the CH release the VMM runs, as the VMM itself reports.
	Release() *Release
	// Close closes the idle connections to the VMM; it does not stop it.
	Close() error

	// Ping returns the VMM's build and version information.
	Ping(ctx context.Context) (PingInfo, error)
	// ShutdownVMM stops the VMM process (after shutting its VM down).
	ShutdownVMM(ctx context.Context) error

	// CreateVM creates the VM from cfg; it does not boot it. taps, when not
	// nil, gives open TAP devices for net devices of cfg, by their id: CH
	// takes file descriptors only when a device is added, so these net
	// devices are added (cold-plugged) right after creation, in order, with
	// their TAPs passed over the socket. If any step fails, the VM is
	// deleted again.
	CreateVM(ctx context.Context, cfg *api.VMConfig, taps NetFDs) error
	// BootVM boots the created VM.
	BootVM(ctx context.Context) error
	// PauseVM pauses a running VM.
	PauseVM(ctx context.Context) error
	// ResumeVM resumes a paused VM.
	ResumeVM(ctx context.Context) error
	// ShutdownVM shuts the VM down; CH keeps its config (state Created), so
	// it can boot again.
	ShutdownVM(ctx context.Context) error
	// RebootVM reboots the VM.
	RebootVM(ctx context.Context) error
	// PowerButton presses the VM's ACPI power button.
	PowerButton(ctx context.Context) error
	// DeleteVM deletes the VM; deleting when there is none is not an error.
	DeleteVM(ctx context.Context) error

	// VMInfo returns the VM's state, config, memory size and device tree.
	VMInfo(ctx context.Context) (*api.VMInfo, error)
	// VMCounters returns the VM's device counters, by device and counter.
	VMCounters(ctx context.Context) (api.VMCounters, error)

	// Resize changes the VM's vCPUs, memory or balloon.
	Resize(ctx context.Context, r api.VMResize) error
	// ResizeZone changes the size of a memory zone.
	ResizeZone(ctx context.Context, r api.VMResizeZone) error
	// ResizeDisk changes the size of a disk (CH v50 and later).
	ResizeDisk(ctx context.Context, r api.VMResizeDisk) error

	// AddDevice hot-plugs a VFIO device.
	AddDevice(ctx context.Context, d api.DeviceConfig) (*api.PciDeviceInfo, error)
	// AddDisk hot-plugs a disk.
	AddDisk(ctx context.Context, d api.DiskConfig) (*api.PciDeviceInfo, error)
	// AddNet hot-plugs a network device. tapFDs, when given, are open TAP
	// file descriptors passed to CH with SCM_RIGHTS; CH uses them instead
	// of opening a TAP device itself.
	AddNet(ctx context.Context, n api.NetConfig, tapFDs ...*os.File) (*api.PciDeviceInfo, error)
	// AddFs hot-plugs a virtio-fs device.
	AddFs(ctx context.Context, f api.FsConfig) (*api.PciDeviceInfo, error)
	// AddPmem hot-plugs a persistent memory device.
	AddPmem(ctx context.Context, p api.PmemConfig) (*api.PciDeviceInfo, error)
	// AddVsock hot-plugs a vsock device.
	AddVsock(ctx context.Context, v api.VsockConfig) (*api.PciDeviceInfo, error)
	// AddVdpa hot-plugs a vDPA device.
	AddVdpa(ctx context.Context, v api.VdpaConfig) (*api.PciDeviceInfo, error)
	// AddUserDevice hot-plugs a vfio-user device.
	AddUserDevice(ctx context.Context, u api.VMAddUserDevice) (*api.PciDeviceInfo, error)
	// AddGenericVhostUser hot-plugs a generic vhost-user device (CH v53 and later).
	AddGenericVhostUser(ctx context.Context, g api.GenericVhostUserConfig) (*api.PciDeviceInfo, error)
	// RemoveDevice unplugs the device with the given id.
	RemoveDevice(ctx context.Context, id string) error

	// Snapshot writes a snapshot of the paused VM to dir (which must exist)
	// and records beside CH's files which CH release and arch wrote it.
	Snapshot(ctx context.Context, dir string) error
	// Restore restores a snapshot into this VMM, which must have no VM. A
	// snapshot written by another major CH release is refused with
	// ErrVersionMismatch unless opts.Force is set (one of another point
	// release of the same major is restored, with a logged notice), one
	// taken on another architecture with ErrArchMismatch.
	Restore(ctx context.Context, dir string, opts RestoreOptions) error
	// Coredump writes a coredump of the paused VM to the file at path.
	Coredump(ctx context.Context, path string) error
	// NMI injects a non-maskable interrupt.
	NMI(ctx context.Context) error
	// SendMigration sends the VM to a receiving VMM.
	SendMigration(ctx context.Context, m api.SendMigrationData) error
	// ReceiveMigration receives a VM sent by SendMigration.
	ReceiveMigration(ctx context.Context, m api.ReceiveMigrationData) error
}

// NetFDs gives open TAP devices to the net devices of a VM, by the net
// device's id (NetConfig.ID): several for a multi-queue TAP.
type NetFDs map[string][]*os.File

// RestoreOptions tune [Hypervisor.Restore] and [RestoreProcess].
type RestoreOptions struct {
	// Force restores a snapshot written by another major release of CH,
	// or with no chvmm metadata. CH does not promise that this works.
	Force bool
	// Resume resumes the VM once it is restored; CH restores it paused.
	// From CH v52 the server does it (RestoreConfig.resume); before, chvmm
	// sends vm.resume after the restore.
	Resume bool
	// Prefault populates the guest memory when restoring.
	Prefault bool
	// MemoryRestoreMode says how CH restores guest memory (CH v52 and
	// later); "" leaves CH's default.
	MemoryRestoreMode api.MemoryRestoreMode
	// NetFDs gives new TAP devices for net devices whose TAPs were passed
	// at creation.
	NetFDs NetFDs
}
