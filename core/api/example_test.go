package api_test

import (
	"context"
	"fmt"
	"log"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
)

// Create and boot a VM that boots a kernel directly, and wait until it
// runs. (README: One API for every release.)
func ExampleDirectBoot() {
	ctx := context.Background()
	rel, err := core.Lookup("latest")
	if err != nil {
		log.Fatal(err)
	}
	proc, err := core.StartProcess(ctx, rel, "/var/lib/chvmm", "/run/chvmm/vm1.sock")
	if err != nil {
		log.Fatal(err)
	}
	defer proc.Stop(context.Background())
	h := proc.Hypervisor()

	cfg := api.DirectBoot{
		Kernel:     "/var/lib/vms/vmlinux",
		Initramfs:  "/var/lib/vms/initramfs.cpio.gz",
		Cmdline:    "console=ttyS0",
		VCPUs:      2,
		MemoryMiB:  512,
		SerialFile: "/var/lib/vms/vm1.serial",
	}.Config()
	if err := h.CreateVM(ctx, cfg, nil); err != nil {
		log.Fatal(err) // a *core.APIError with CH's messages, or core.ErrUnsupportedField
	}
	if err := h.BootVM(ctx); err != nil {
		log.Fatal(err)
	}
	if err := proc.WaitState(ctx, api.VMStateRunning); err != nil {
		log.Fatal(err)
	}
}

// A VM booted by firmware from its first disk; Config fills in the rest,
// and the result can be adjusted before it is created.
func ExampleFirmwareBoot() {
	cfg := api.FirmwareBoot{
		Firmware:  "/usr/share/cloud-hypervisor/hypervisor-fw",
		VCPUs:     2,
		MemoryMiB: 1024,
		Disks:     []string{"/var/lib/vms/vm1.raw"},
	}.Config()
	raw := api.ImageTypeRaw
	cfg.Disks[0].ImageType = &raw // the guest writes its partition table
	fmt.Println(*cfg.Payload.Firmware)
	fmt.Println(cfg.Cpus.BootVcpus, "vCPUs,", cfg.Memory.Size>>20, "MiB, serial", cfg.Serial.Mode)
	fmt.Println(*cfg.Disks[0].Path, *cfg.Disks[0].ImageType)
	// Output:
	// /usr/share/cloud-hypervisor/hypervisor-fw
	// 2 vCPUs, 1024 MiB, serial Null
	// /var/lib/vms/vm1.raw Raw
}
