package core_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/chvmm/chvmm/core"
)

// Create, boot, pause and snapshot a VM through the version-neutral API of a
// running VMM, then restore it into a new VMM of exactly the release that
// wrote the snapshot. (chsim/chsimtest has a runnable version of this
// example, against the simulator.)
func ExampleHypervisor() {
	ctx := context.Background()
	conn, err := core.Connect(ctx, "/run/myapp/vm1/api.sock")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	h := conn.Hypervisor()

	cfg := core.DirectBoot{
		Kernel:     "/var/lib/myapp/vmlinux",
		Cmdline:    "console=ttyS0",
		VCPUs:      2,
		MemoryMiB:  512,
		SerialFile: "/var/lib/myapp/vm1/serial.log",
	}.Config()
	if err := h.CreateVM(ctx, cfg); err != nil {
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

	// The snapshot records the release that wrote it; RestoreProcess starts
	// exactly that one and restores it, here resumed.
	proc, err := core.RestoreProcess(ctx, "/var/lib/myapp", "/var/lib/myapp/vm1/snapshot", "/run/myapp/vm1/api.sock",
		core.WithRestoreOptions(core.RestoreOptions{Resume: true}))
	if err != nil {
		log.Fatal(err)
	}
	defer proc.Stop(ctx)
	info, err := proc.Hypervisor().VMInfo(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("VM", info.State, "on CH", proc.Version())
}

// Set a field only where the release has it: a config field the VMM's
// release does not know is refused before anything is sent, naming the
// release that introduced it.
func ExampleRelease_Has() {
	ctx := context.Background()
	conn, err := core.Connect(ctx, "/run/myapp/vm1/api.sock")
	if err != nil {
		log.Fatal(err)
	}
	h := conn.Hypervisor()
	cfg := core.DirectBoot{Kernel: "/var/lib/myapp/vmlinux"}.Config()
	if h.Release().Has("CpusConfig.nested") {
		no := false
		cfg.Cpus.Nested = &no // CH defaults to nested virtualisation on
	}
	if err := h.CreateVM(ctx, cfg); errors.Is(err, core.ErrUnsupportedField) {
		log.Fatal(err) // "… has no field vmConfig.cpus.nested (CpusConfig.nested, first in CH v50.2) …"
	}
	// Operations differ too: resize-disk exists from v50.2.
	if err := h.ResizeDisk(ctx, core.VMResizeDisk{}); errors.Is(err, core.ErrUnsupported) {
		fmt.Println(err)
	}
}

// Restore a snapshot with new TAP devices for its net devices, passed to
// CH with SCM_RIGHTS.
func ExampleRestoreOptions_netFDs() {
	ctx := context.Background()
	conn, err := core.Connect(ctx, "/run/myapp/vm2/api.sock")
	if err != nil {
		log.Fatal(err)
	}
	tap, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0) // then TUNSETIFF, as usual
	if err != nil {
		log.Fatal(err)
	}
	defer tap.Close()
	err = conn.Hypervisor().Restore(ctx, "/var/lib/myapp/vm1/snapshot", core.RestoreOptions{
		NetFDs: map[string][]*os.File{"net0": {tap}},
		Resume: true,
	})
	if err != nil {
		log.Fatal(err)
	}
}
