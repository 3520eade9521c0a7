package core

// DirectBoot describes the common VM: a kernel booted directly (no
// firmware), optionally with an initramfs and disks, its serial port written
// to a file. Config turns it into a full [VMConfig], which can be adjusted
// further before [Hypervisor.CreateVM]:
//
//	cfg := core.DirectBoot{
//		Kernel:     "/var/lib/vms/vmlinux",
//		Initramfs:  "/var/lib/vms/initramfs.cpio.gz",
//		Cmdline:    "console=ttyS0",
//		VCPUs:      2,
//		MemoryMiB:  512,
//		SerialFile: "/var/lib/vms/serial.log",
//	}.Config()
type DirectBoot struct {
	// Kernel is the path of the kernel image (vmlinux, bzImage or a PVH ELF).
	Kernel string
	// Initramfs is the path of an initramfs, if any.
	Initramfs string
	// Cmdline is the kernel command line.
	Cmdline string
	// VCPUs is the number of vCPUs at boot (default 1); MaxVCPUs the number
	// the VM can be resized to (default VCPUs).
	VCPUs, MaxVCPUs int
	// MemoryMiB is the guest memory in MiB (default 512).
	MemoryMiB int64
	// SerialFile receives the guest's serial port (ttyS0); empty discards it.
	SerialFile string
	// Disks are paths of disk images, attached as virtio-blk in order.
	Disks []string
}

// Config returns the VMConfig d describes. The virtio console is off; the
// serial port goes to SerialFile.
func (d DirectBoot) Config() *VMConfig {
	vcpus := max(d.VCPUs, 1)
	maxVCPUs := max(d.MaxVCPUs, vcpus)
	mem := d.MemoryMiB
	if mem <= 0 {
		mem = 512
	}
	cfg := &VMConfig{
		Payload: PayloadConfig{Kernel: optional(d.Kernel), Initramfs: optional(d.Initramfs), Cmdline: optional(d.Cmdline)},
		Cpus:    &CpusConfig{BootVcpus: vcpus, MaxVcpus: maxVCPUs},
		Memory:  &MemoryConfig{Size: mem << 20},
		Console: &ConsoleConfig{Mode: ConsoleModeOff},
		Serial:  &SerialConfig{Mode: ConsoleModeNull},
	}
	if d.SerialFile != "" {
		cfg.Serial = &SerialConfig{Mode: ConsoleModeFile, File: &d.SerialFile}
	}
	for _, p := range d.Disks {
		cfg.Disks = append(cfg.Disks, DiskConfig{Path: optional(p)})
	}
	return cfg
}

// optional returns nil for "", else a pointer to s.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
