package core_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
)

// Create, boot, pause and snapshot a VM through the version-neutral API of a
// running VMM, then restore it into a new VMM of the release that wrote the
// snapshot. (chsim/chsimtest has a runnable version of this example,
// against the simulator.)
func ExampleHypervisor() {
	ctx := context.Background()
	h, err := core.Connect(ctx, "/run/myapp/vm1/api.sock")
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()

	cfg := api.DirectBoot{
		Kernel:     "/var/lib/myapp/vmlinux",
		Cmdline:    "console=ttyS0",
		VCPUs:      2,
		MemoryMiB:  512,
		SerialFile: "/var/lib/myapp/vm1/serial.log",
	}.Config()
	if err := h.CreateVM(ctx, cfg, nil); err != nil {
		log.Fatal(err) // a *core.APIError with CH's messages
	}
	if err := h.BootVM(ctx); err != nil {
		log.Fatal(err)
	}
	if err := h.PauseVM(ctx); err != nil {
		log.Fatal(err)
	}
	if err := h.Snapshot(ctx, "/var/lib/myapp/vm1/snapshot"); err != nil {
		log.Fatal(err)
	}
	if err := h.ShutdownVMM(ctx); err != nil {
		log.Fatal(err)
	}

	// The snapshot records the build that wrote it; RestoreProcess starts
	// that release (or a newer point release of its major) and restores
	// it, here resumed.
	proc, err := core.RestoreProcess(ctx, "/var/lib/myapp", "/var/lib/myapp/vm1/snapshot", "/run/myapp/vm1/api.sock",
		core.RestoreOptions{Resume: true})
	if err != nil {
		log.Fatal(err)
	}
	defer proc.Stop(ctx)
	info, err := proc.Hypervisor().VMInfo(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("VM", info.State, "on CH", proc.Release())
}

// Snapshot a paused VM and, later, maybe after this program was upgraded
// with newer CH releases, restore it in a new VMM of the release that wrote
// it. (README: Snapshots and restore.)
func ExampleRestoreProcess() {
	ctx := context.Background()
	h, err := core.Connect(ctx, "/run/chvmm/vm1.sock") // a VMM whose VM runs
	if err != nil {
		log.Fatal(err)
	}

	if err := h.PauseVM(ctx); err != nil {
		log.Fatal(err)
	}
	// CH writes into an existing directory; chvmm adds chvmm-snapshot.json (release, build, arch, time)
	if err := os.MkdirAll("/var/lib/vms/vm1.snap", 0o700); err != nil {
		log.Fatal(err)
	}
	if err := h.Snapshot(ctx, "/var/lib/vms/vm1.snap"); err != nil {
		log.Fatal(err)
	}
	if err := h.ShutdownVMM(ctx); err != nil {
		log.Fatal(err)
	}

	// later, maybe after this program was upgraded with newer CH releases:
	proc, err := core.RestoreProcess(ctx, "/var/lib/chvmm", "/var/lib/vms/vm1.snap", "/run/chvmm/vm1.sock",
		core.RestoreOptions{Resume: true})
	if err != nil {
		log.Fatal(err) // no release of the snapshot's major registered: the error names the module to import
	}
	md, err := core.ReadSnapshotMetadata("/var/lib/vms/vm1.snap")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("snapshot of CH", md.Version, "restored on CH", proc.Release())
}

// Set a field only where the release has it: a config field the VMM's
// release does not know is refused before anything is sent, naming the
// release that introduced it.
func ExampleRelease_Has() {
	ctx := context.Background()
	h, err := core.Connect(ctx, "/run/myapp/vm1/api.sock")
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	cfg := api.DirectBoot{Kernel: "/var/lib/myapp/vmlinux"}.Config()
	if h.Release().Has("CpusConfig.nested") {
		no := false
		cfg.Cpus.Nested = &no // CH defaults to nested virtualisation on
	}
	if err := h.CreateVM(ctx, cfg, nil); errors.Is(err, core.ErrUnsupportedField) {
		log.Fatal(err) // "… has no field vmConfig.cpus.nested (CpusConfig.nested, first in CH v50.2) …"
	}
	// Operations differ too: resize-disk exists from v50.2.
	if err := h.ResizeDisk(ctx, api.VMResizeDisk{}); errors.Is(err, core.ErrUnsupported) {
		fmt.Println(err)
	}
}

// Move a VM that was shut down to a newer release: its config, as the old
// release reports it, converted for the new one.
func ExampleRelease_Convert() {
	ctx := context.Background()
	old, err := core.Connect(ctx, "/run/myapp/vm1/api.sock") // say CH v48.0, VM shut down
	if err != nil {
		log.Fatal(err)
	}
	defer old.Close()
	info, err := old.VMInfo(ctx)
	if err != nil {
		log.Fatal(err)
	}
	next, err := core.Lookup("v53")
	if err != nil {
		log.Fatal(err)
	}
	cfg, changes, err := next.Convert(&info.Config, old.Release())
	if err != nil {
		log.Fatal(err) // a member CH v53 lacks that holds something else than v48's default
	}
	for _, c := range changes {
		fmt.Println(c) // dropped vmConfig.serial.iommu (false), set vmConfig.disks[0].image_type ("Raw"): …
	}
	proc, err := core.StartProcess(ctx, next, "/var/lib/myapp", "/run/myapp/vm1/next.sock")
	if err != nil {
		log.Fatal(err)
	}
	if err := proc.Hypervisor().CreateVM(ctx, cfg, nil); err != nil {
		log.Fatal(err)
	}
}

// Create a VM whose net device uses a TAP device this program opened, and
// restore a snapshot of it with a new one: CH gets the TAPs with
// SCM_RIGHTS.
func ExampleNetFDs() {
	ctx := context.Background()
	h, err := core.Connect(ctx, "/run/myapp/vm2/api.sock")
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	tap, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0) // then TUNSETIFF, as usual
	if err != nil {
		log.Fatal(err)
	}
	defer tap.Close()
	cfg := api.DirectBoot{Kernel: "/var/lib/myapp/vmlinux"}.Config()
	id := "net0"
	cfg.Net = []api.NetConfig{{ID: &id}}
	if err := h.CreateVM(ctx, cfg, core.NetFDs{id: {tap}}); err != nil {
		log.Fatal(err)
	}
	// … later, in a fresh VMM:
	err = h.Restore(ctx, "/var/lib/myapp/vm2/snapshot", core.RestoreOptions{NetFDs: core.NetFDs{id: {tap}}, Resume: true})
	if err != nil {
		log.Fatal(err)
	}
}
