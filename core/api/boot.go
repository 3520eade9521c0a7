package api

// DirectBoot describes the common VM: a kernel booted directly (no
// firmware), optionally with an initramfs and disks, its serial port written
// to a file. Config turns it into a full [VMConfig], which can be adjusted
// further before core's Hypervisor.CreateVM creates it (see the example).
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
	// Disks are paths of disk images, attached as virtio-blk in order. From
	// CH v50.1 an auto-detected raw image refuses writes to its first
	// sector: set DiskConfig.ImageType to ImageTypeRaw where the guest
	// writes its partition table (Release.Convert does for a config moved
	// from an older release).
	Disks []string
}

// FirmwareBoot describes a VM booted by firmware (rust-hypervisor-firmware
// or an EDK2 CLOUDHV build) from its first disk, its serial port written to
// a file (see the example). Its fields other than Firmware mean what
// DirectBoot's mean.
type FirmwareBoot struct {
	// Firmware is the path of the firmware image.
	Firmware        string
	VCPUs, MaxVCPUs int
	MemoryMiB       int64
	SerialFile      string
	Disks           []string
}

// Config returns the VMConfig d describes. The virtio console is off; the
// serial port goes to SerialFile.
func (d DirectBoot) Config() *VMConfig {
	cfg := machineConfig(d.VCPUs, d.MaxVCPUs, d.MemoryMiB, d.SerialFile, d.Disks)
	cfg.Payload = PayloadConfig{Kernel: optional(d.Kernel), Initramfs: optional(d.Initramfs), Cmdline: optional(d.Cmdline)}
	return cfg
}

// Config returns the VMConfig f describes. The virtio console is off; the
// serial port goes to SerialFile.
func (f FirmwareBoot) Config() *VMConfig {
	cfg := machineConfig(f.VCPUs, f.MaxVCPUs, f.MemoryMiB, f.SerialFile, f.Disks)
	cfg.Payload = PayloadConfig{Firmware: optional(f.Firmware)}
	return cfg
}

// machineConfig is the VMConfig of what DirectBoot and FirmwareBoot have in
// common.
func machineConfig(vcpus, maxVCPUs int, memMiB int64, serialFile string, disks []string) *VMConfig {
	vcpus = max(vcpus, 1)
	maxVCPUs = max(maxVCPUs, vcpus)
	mem := memMiB
	if mem <= 0 {
		mem = 512
	}
	cfg := &VMConfig{
		Cpus:    &CpusConfig{BootVcpus: vcpus, MaxVcpus: maxVCPUs},
		Memory:  &MemoryConfig{Size: mem << 20},
		Console: &ConsoleConfig{Mode: ConsoleModeOff},
		Serial:  &SerialConfig{Mode: ConsoleModeNull},
	}
	if serialFile != "" {
		cfg.Serial = &SerialConfig{Mode: ConsoleModeFile, File: optional(serialFile)}
	}
	for _, p := range disks {
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
