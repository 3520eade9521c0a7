package chsim

import (
	"net/netip"
	"strings"
	"sync"
)

// The serde shapes of the structs CH's API server reads and writes, per
// modelled release, as declared in that release's vmm/src/vm_config.rs,
// vmm/src/api/mod.rs, vmm/src/config.rs and virtio-devices/src/lib.rs:
// field order, defaults, #[serde(flatten)], aliases and
// #[serde_with::skip_serializing_none]. Fields behind cargo features that
// release builds lack (tdx, sev_snp, igvm, guest_debug, pvmemcontrol,
// ivshmem, fw_cfg) are left out, as serde never sees them. The replay of
// the real servers' answers (replay_test.go) checks these tables, and
// shapes_facts_test.go holds them, field by field, to apigen's facts
// (apigen/facts/<tag>.json, read from the same Rust source).

// shapes holds the shapes of one release by Rust type name.
type shapes struct {
	byName map[string]*shape
}

var shapeCache sync.Map // tag → *shapes

// shapesFor returns release r's shapes (built once per process).
func shapesFor(r release) *shapes {
	if v, ok := shapeCache.Load(r.tag); ok {
		return v.(*shapes)
	}
	v, _ := shapeCache.LoadOrStore(r.tag, buildShapes(r))
	return v.(*shapes)
}

// get returns the shape of a Rust type name.
func (s *shapes) get(name string) *shape {
	sh := s.byName[name]
	if sh == nil {
		panic("chsim: no shape " + name)
	}
	return sh
}

// Primitive shapes.
var (
	tU8      = &shape{kind: kindUint, name: "u8", bits: 8}
	tU16     = &shape{kind: kindUint, name: "u16", bits: 16}
	tU32     = &shape{kind: kindUint, name: "u32", bits: 32}
	tU64     = &shape{kind: kindUint, name: "u64", bits: 64}
	tUsize   = &shape{kind: kindUint, name: "usize", bits: 64}
	tI32     = &shape{kind: kindInt, name: "i32", bits: 32}
	tI64     = &shape{kind: kindInt, name: "i64", bits: 64}
	tNZ32    = &shape{kind: kindNonZero, name: "u32", bits: 32}
	tNZ64    = &shape{kind: kindNonZero, name: "u64", bits: 64}
	tBool    = &shape{kind: kindBool, name: "bool"}
	tString  = &shape{kind: kindString, name: "String"}
	tPath    = &shape{kind: kindPath, name: "PathBuf"}
	tIP      = &shape{kind: kindIP, name: "IpAddr"}
	tMAC     = &shape{kind: kindMAC, name: "MacAddr"}
	noDflt   = ""
	useDflt  = "\x00" // #[serde(default)]: the type's Default
	skipThis = "\x01" // #[serde(skip)]
)

func opt(sh *shape) *shape { return &shape{kind: kindOption, elem: sh} }
func vec(sh *shape) *shape { return &shape{kind: kindSeq, elem: sh} }

func enum(name, dflt string, variants ...string) *shape {
	return &shape{kind: kindEnum, name: name, variants: variants, dflt: dflt}
}

// f is a field; def is noDflt (required, or None for an Option), useDflt,
// skipThis, or the JSON of the default function's value.
func f(name string, sh *shape, def string) *field {
	fl := &field{name: name, sh: sh}
	switch def {
	case noDflt:
	case useDflt:
		fl.hasDefault = true
	case skipThis:
		fl.skip = true
	default:
		fl.hasDefault, fl.def = true, def
	}
	return fl
}

func flat(sh *shape) *field { return &field{name: "(flatten " + sh.name + ")", sh: sh, flatten: true} }

func (fl *field) withAlias(a string) *field { fl.alias = a; return fl }

func (fl *field) skippedIfFalse() *field { fl.skipFalse = true; return fl }

// with names the field's deserialize_with and serialize_with functions
// (keys of serdeWith; "" for none).
func (fl *field) with(de, ser string) *field {
	fl.deserializeWith, fl.serializeWith = de, ser
	return fl
}

// buildShapes declares every shape of release r.
func buildShapes(r release) *shapes {
	s := &shapes{byName: map[string]*shape{}}
	v50, v51, v52, v53 := r.atLeast(50, 2), r.atLeast(51, 2), r.atLeast(52, 0), r.atLeast(53, 0)
	st := func(name string) *shape {
		if sh := s.byName[name]; sh != nil {
			return sh
		}
		sh := &shape{kind: kindStruct, name: name}
		s.byName[name] = sh
		return sh
	}
	// def declares struct name; skipNone is #[serde_with::skip_serializing_none].
	def := func(name string, skipNone bool, fields ...*field) *shape {
		sh := st(name)
		sh.skipNone = skipNone
		for _, fl := range fields {
			if fl != nil {
				sh.fields = append(sh.fields, fl)
			}
		}
		return sh
	}
	when := func(cond bool, fl *field) *field {
		if cond {
			return fl
		}
		return nil
	}
	// Box<[T]> and Vec<T> are both sequences.
	ovec := func(sh *shape) *shape { return opt(vec(sh)) }

	hotplug := enum("HotplugMethod", "Acpi", "Acpi", "VirtioMem")
	vhostMode := enum("VhostMode", "Client", "Client", "Server")
	consoleMode := enum("ConsoleOutputMode", "", "Off", "Pty", "Tty", "File", "Socket", "Null")
	imageType := enum("ImageType", "", "FixedVhd", "Qcow2", "Raw", "Vhdx")
	if v50 {
		imageType = enum("ImageType", "Unknown", "FixedVhd", "Qcow2", "Raw", "Vhdx", "Unknown")
	}
	lockGranularity := enum("LockGranularityChoice", "ByteRange", "ByteRange", "Full")
	coreScheduling := enum("CoreScheduling", "Vm", "Vm", "Vcpu", "Off")
	cpuProfile := enum("CpuProfile", "Host", "Host")

	// virtio-devices/src/lib.rs
	def("TokenBucketConfig", false, f("size", tU64, noDflt), f("one_time_burst", opt(tU64), noDflt), f("refill_time", tU64, noDflt))
	st("RateLimiterConfig").denyUnknown = true
	def("RateLimiterConfig", false, f("bandwidth", opt(st("TokenBucketConfig")), noDflt), f("ops", opt(st("TokenBucketConfig")), noDflt))

	// vmm/src/vm_config.rs
	def("CpuAffinity", false, f("vcpu", tU32, noDflt), f("host_cpus", vec(tUsize), noDflt))
	def("CpuFeatures", false, f("amx", tBool, useDflt))
	def("CpuTopology", false, f("threads_per_core", tU16, noDflt), f("cores_per_die", tU16, noDflt), f("dies_per_package", tU16, noDflt), f("packages", tU16, noDflt))
	def("CpusConfig", v53,
		f("boot_vcpus", tU32, noDflt),
		f("max_vcpus", tU32, noDflt),
		f("topology", opt(st("CpuTopology")), useDflt),
		f("kvm_hyperv", tBool, useDflt),
		f("max_phys_bits", tU8, "46"),
		f("affinity", ovec(st("CpuAffinity")), useDflt),
		f("features", st("CpuFeatures"), useDflt),
		when(v50, f("nested", tBool, "true")),
		when(v52, f("core_scheduling", coreScheduling, useDflt)),
		when(v53, f("profile", cpuProfile, useDflt)))
	st("CpusConfig").defaultJSON = `{"boot_vcpus":1,"max_vcpus":1}`
	def("PlatformConfig", v53,
		f("num_pci_segments", tU16, "1"),
		f("iommu_segments", ovec(tU16), useDflt),
		f("iommu_address_width_bits", tU8, "64"),
		when(!v53, f("serial_number", opt(tString), useDflt)),
		when(!v53, f("uuid", opt(tString), useDflt)),
		when(v53, f("system_serial_number", opt(tString), useDflt).withAlias("serial_number")),
		when(v53, f("system_uuid", opt(tString), useDflt).withAlias("uuid")),
		f("oem_strings", ovec(tString), useDflt),
		when(v53, f("system_manufacturer", opt(tString), useDflt)),
		when(v53, f("system_product_name", opt(tString), useDflt)),
		when(v53, f("system_version", opt(tString), useDflt)),
		when(v53, f("system_family", opt(tString), useDflt)),
		when(v53, f("system_sku_number", opt(tString), useDflt)),
		when(v53, f("chassis_asset_tag", opt(tString), useDflt)),
		when(v52, f("iommufd", tBool, useDflt)),
		when(v53, f("iommufd_fd", opt(tI32), useDflt).with("deserialize_platformconfig_iommufd_fd", "")),
		when(v52, f("vfio_p2p_dma", tBool, "true")))
	def("PciSegmentConfig", false, f("pci_segment", tU16, useDflt), f("mmio32_aperture_weight", tU32, "1"), f("mmio64_aperture_weight", tU32, "1"))
	def("MemoryZoneConfig", v53,
		f("id", tString, noDflt),
		f("size", tU64, noDflt),
		f("file", opt(tPath), useDflt),
		f("shared", tBool, useDflt),
		f("hugepages", tBool, useDflt),
		f("hugepage_size", opt(tU64), useDflt),
		f("host_numa_node", opt(tU32), useDflt),
		f("hotplug_size", opt(tU64), useDflt),
		f("hotplugged_size", opt(tU64), useDflt),
		f("prefault", tBool, useDflt),
		when(v53, f("reserve", tBool, useDflt)),
		when(v52, f("mergeable", tBool, useDflt)))
	def("MemoryConfig", v53,
		f("size", tU64, noDflt),
		f("mergeable", tBool, useDflt),
		f("hotplug_method", hotplug, useDflt),
		f("hotplug_size", opt(tU64), useDflt),
		f("hotplugged_size", opt(tU64), useDflt),
		f("shared", tBool, useDflt),
		f("hugepages", tBool, useDflt),
		f("hugepage_size", opt(tU64), useDflt),
		f("prefault", tBool, useDflt),
		when(v53, f("reserve", tBool, useDflt)),
		f("zones", opt(vec(st("MemoryZoneConfig"))), useDflt),
		f("thp", tBool, "true"))
	st("MemoryConfig").defaultJSON = `{"size":536870912}`
	def("RateLimiterGroupConfig", false, f("id", tString, useDflt), f("rate_limiter_config", st("RateLimiterConfig"), useDflt))
	def("VirtQueueAffinity", false, f("queue_index", tU16, noDflt), f("host_cpus", vec(tUsize), noDflt))
	// From v52.0 the PCI members of every PCI device are one flattened
	// struct (and iommu is written only when true); the balloon has them
	// from v53.0.
	var pciCommon *shape
	if v52 {
		pciCommon = def("PciDeviceCommonConfig", v53,
			f("id", opt(tString), useDflt),
			f("iommu", tBool, useDflt).skippedIfFalse(),
			f("pci_segment", tU16, useDflt),
			f("pci_device_id", opt(tU8), useDflt))
	}
	commonFrom := func(cond bool) *field {
		if cond {
			return flat(pciCommon)
		}
		return nil
	}
	common := func() *field { return commonFrom(v52) }
	old := func(fl *field) *field { return when(!v52, fl) }
	def("DiskConfig", v53,
		common(),
		f("path", opt(tPath), noDflt),
		f("readonly", tBool, useDflt),
		f("direct", tBool, useDflt),
		old(f("iommu", tBool, useDflt)),
		f("num_queues", tUsize, "1"),
		f("queue_size", tU16, "128"),
		f("vhost_user", tBool, useDflt),
		f("vhost_socket", opt(tString), noDflt),
		f("rate_limit_group", opt(tString), useDflt),
		f("rate_limiter_config", opt(st("RateLimiterConfig")), useDflt),
		old(f("id", opt(tString), useDflt)),
		f("disable_io_uring", tBool, useDflt),
		f("disable_aio", tBool, useDflt),
		old(f("pci_segment", tU16, useDflt)),
		f("serial", opt(tString), useDflt),
		f("queue_affinity", ovec(st("VirtQueueAffinity")), useDflt),
		when(v50, f("backing_files", tBool, useDflt)),
		when(v51, f("sparse", tBool, "true")),
		when(v50, f("image_type", imageType, useDflt)),
		when(v52, f("lock_granularity", lockGranularity, useDflt)))
	// v48.0 also serialises the fds of NetConfig and RestoredNetConfig
	// through functions of its own.
	netFDsOut, restoredFDsOut := "", ""
	if !r.atLeast(49, 0) {
		netFDsOut, restoredFDsOut = "serialize_netconfig_fds", "serialize_restorednetconfig_fds"
	}
	ipField := func(name, dflt string) *field {
		if r.atLeast(49, 0) {
			return f(name, opt(tIP), noDflt)
		}
		return f(name, tIP, dflt)
	}
	def("NetConfig", v53,
		common(),
		f("tap", opt(tString), "null"),
		ipField("ip", `"192.168.249.1"`),
		ipField("mask", `"255.255.255.0"`),
		f("mac", tMAC, `"`+randomMAC()+`"`),
		f("host_mac", opt(tMAC), useDflt),
		f("mtu", opt(tU16), useDflt),
		old(f("iommu", tBool, useDflt)),
		f("num_queues", tUsize, "2"),
		f("queue_size", tU16, "256"),
		f("vhost_user", tBool, useDflt),
		f("vhost_socket", opt(tString), noDflt),
		f("vhost_mode", vhostMode, useDflt),
		old(f("id", opt(tString), useDflt)),
		f("fds", opt(vec(tI32)), useDflt).with("deserialize_netconfig_fds", netFDsOut),
		f("rate_limiter_config", opt(st("RateLimiterConfig")), useDflt),
		old(f("pci_segment", tU16, useDflt)),
		f("offload_tso", tBool, "true"),
		f("offload_ufo", tBool, "true"),
		f("offload_csum", tBool, "true"))
	def("RngConfig", false, common(), f("src", tPath, noDflt), old(f("iommu", tBool, useDflt)))
	st("RngConfig").defaultJSON = `{"src":"/dev/urandom"}`
	if v53 {
		def("RtcConfig", false, common())
	}
	def("BalloonConfig", false, commonFrom(v53), f("size", tU64, noDflt), f("deflate_on_oom", tBool, useDflt), f("free_page_reporting", tBool, useDflt))
	def("FsConfig", false,
		common(),
		f("tag", tString, noDflt),
		f("socket", tPath, noDflt),
		f("num_queues", tUsize, "1"),
		f("queue_size", tU16, "1024"),
		old(f("id", opt(tString), useDflt)),
		old(f("pci_segment", tU16, useDflt)))
	if v52 {
		def("GenericVhostUserConfig", false, common(), f("socket", tPath, noDflt), f("queue_sizes", vec(tU16), noDflt), f("device_type", tU32, noDflt))
	}
	def("PmemConfig", v53,
		common(),
		f("file", tPath, noDflt),
		f("size", opt(tU64), useDflt),
		old(f("iommu", tBool, useDflt)),
		f("discard_writes", tBool, useDflt),
		old(f("id", opt(tString), useDflt)),
		old(f("pci_segment", tU16, useDflt)))
	if v52 {
		cc := def("CommonConsoleConfig", v53, f("file", opt(tPath), useDflt), f("mode", consoleMode, noDflt), f("socket", opt(tPath), useDflt))
		def("SerialConfig", false, flat(cc))
		st("SerialConfig").defaultJSON = `{"mode":"Null"}`
		def("ConsoleConfig", false, flat(cc), flat(pciCommon))
		st("ConsoleConfig").defaultJSON = `{"mode":"Tty"}`
	} else {
		def("ConsoleConfig", false, f("file", opt(tPath), "null"), f("mode", consoleMode, noDflt), f("iommu", tBool, useDflt), f("socket", opt(tPath), noDflt))
	}
	def("DebugConsoleConfig", v53, f("file", opt(tPath), useDflt), f("mode", consoleMode, noDflt), f("iobase", opt(tU16), noDflt))
	st("DebugConsoleConfig").defaultJSON = `{"mode":"Off","iobase":233}`
	def("DeviceConfig", v53,
		common(),
		when(!v53, f("path", tPath, noDflt)),
		when(v53, f("path", opt(tPath), useDflt)),
		old(f("iommu", tBool, useDflt)),
		old(f("id", opt(tString), useDflt)),
		old(f("pci_segment", tU16, useDflt)),
		when(v53, f("fd", opt(tI32), useDflt).with("deserialize_deviceconfig_fd", "")),
		f("x_nv_gpudirect_clique", opt(tU8), useDflt),
		when(v52, f("x_exclude_mmap_bars", vec(tU64), useDflt)))
	def("UserDeviceConfig", false, common(), f("socket", tPath, noDflt), old(f("id", opt(tString), useDflt)), old(f("pci_segment", tU16, useDflt)))
	def("VdpaConfig", false,
		common(),
		f("path", tPath, noDflt),
		f("num_queues", tUsize, "1"),
		old(f("iommu", tBool, useDflt)),
		old(f("id", opt(tString), useDflt)),
		old(f("pci_segment", tU16, useDflt)))
	def("VsockConfig", false,
		common(),
		f("cid", tU32, noDflt),
		f("socket", tPath, noDflt),
		old(f("iommu", tBool, useDflt)),
		old(f("id", opt(tString), useDflt)),
		old(f("pci_segment", tU16, useDflt)))
	def("NumaDistance", false, f("destination", tU32, useDflt), f("distance", tU8, useDflt))
	numaID := f("guest_numa_id", tU32, useDflt)
	if v51 {
		numaID = f("guest_numa_id", tU32, noDflt)
	}
	def("NumaConfig", v53,
		numaID,
		f("cpus", ovec(tU32), useDflt),
		f("distances", ovec(st("NumaDistance")), useDflt),
		f("memory_zones", ovec(tString), useDflt),
		f("pci_segments", ovec(tU16), useDflt),
		when(v51, f("device_id", opt(tString), useDflt)))
	def("PayloadConfig", v53, f("firmware", opt(tPath), useDflt), f("kernel", opt(tPath), useDflt), f("cmdline", opt(tString), useDflt), f("initramfs", opt(tPath), useDflt))
	def("TpmConfig", false, f("socket", tPath, noDflt))
	def("LandlockConfig", false, f("path", tPath, noDflt), f("access", tString, noDflt))
	serial := f("serial", st("ConsoleConfig"), `{"mode":"Null"}`)
	console := f("console", st("ConsoleConfig"), `{"mode":"Tty"}`)
	if v52 {
		serial = f("serial", st("SerialConfig"), useDflt)
		console = f("console", st("ConsoleConfig"), useDflt)
	}
	def("VmConfig", v53,
		f("cpus", st("CpusConfig"), useDflt),
		f("memory", st("MemoryConfig"), useDflt),
		f("payload", opt(st("PayloadConfig")), noDflt),
		f("rate_limit_groups", ovec(st("RateLimiterGroupConfig")), noDflt),
		f("disks", ovec(st("DiskConfig")), noDflt),
		f("net", ovec(st("NetConfig")), noDflt),
		f("rng", st("RngConfig"), useDflt),
		f("balloon", opt(st("BalloonConfig")), noDflt),
		when(v52, f("generic_vhost_user", ovec(s.byName["GenericVhostUserConfig"]), noDflt)),
		f("fs", ovec(st("FsConfig")), noDflt),
		f("pmem", ovec(st("PmemConfig")), noDflt),
		serial,
		console,
		f("debug_console", st("DebugConsoleConfig"), useDflt),
		f("devices", ovec(st("DeviceConfig")), noDflt),
		f("user_devices", ovec(st("UserDeviceConfig")), noDflt),
		f("vdpa", ovec(st("VdpaConfig")), noDflt),
		f("vsock", opt(st("VsockConfig")), noDflt),
		f("pvpanic", tBool, useDflt),
		f("iommu", tBool, useDflt),
		f("numa", ovec(st("NumaConfig")), noDflt),
		f("watchdog", tBool, useDflt),
		when(v53, f("rtc", opt(s.byName["RtcConfig"]), useDflt)),
		f("pci_segments", ovec(st("PciSegmentConfig")), noDflt),
		f("platform", opt(st("PlatformConfig")), noDflt),
		f("tpm", opt(st("TpmConfig")), noDflt),
		f("preserved_fds", ovec(tI32), skipThis),
		f("landlock_enable", tBool, useDflt),
		f("landlock_rules", ovec(st("LandlockConfig")), noDflt))

	// vmm/src/api/mod.rs: the bodies of the actions.
	def("VmResizeData", false, f("desired_vcpus", opt(tU32), noDflt), f("desired_ram", opt(tU64), noDflt), f("desired_balloon", opt(tU64), noDflt))
	def("VmResizeZoneData", false, f("id", tString, noDflt), f("desired_ram", tU64, noDflt))
	if v50 {
		def("VmResizeDiskData", false, f("id", tString, noDflt), f("desired_size", tU64, noDflt))
	}
	def("VmRemoveDeviceData", false, f("id", tString, noDflt))
	def("VmSnapshotConfig", false, f("destination_url", tString, noDflt))
	def("VmCoredumpData", false, f("destination_url", tString, noDflt))
	migrationMode := enum("MigrationMode", "Precopy", "Precopy", "Postcopy")
	def("VmReceiveMigrationData", false,
		f("receiver_url", tString, noDflt),
		when(v53, f("tls_dir", opt(tPath), useDflt)),
		when(v53, f("memory_mode", migrationMode, useDflt)))
	def("VmSendMigrationData", false,
		f("destination_url", tString, noDflt),
		f("local", tBool, useDflt),
		when(v52, f("downtime_ms", tNZ64, "300")),
		when(v52, f("timeout_s", tNZ64, "3600")),
		when(v52, f("timeout_strategy", enum("TimeoutStrategy", "Cancel", "Cancel", "Ignore"), useDflt)),
		when(v52, f("connections", tNZ32, "1")),
		when(v53, f("tls_dir", opt(tPath), useDflt)),
		when(v53, f("memory_mode", migrationMode, useDflt)))
	// vmm/src/config.rs
	def("RestoredNetConfig", false, f("id", tString, noDflt), f("num_fds", tUsize, useDflt),
		f("fds", opt(vec(tI32)), useDflt).with("deserialize_restorednetconfig_fds", restoredFDsOut))
	def("RestoreConfig", false,
		f("source_url", tPath, noDflt),
		f("prefault", tBool, useDflt),
		when(v52, f("memory_restore_mode", enum("MemoryRestoreMode", "Copy", "Copy", "OnDemand"), useDflt)),
		f("net_fds", opt(vec(st("RestoredNetConfig"))), useDflt),
		when(v52, f("resume", tBool, useDflt)))

	for name, sh := range s.byName {
		if sh.kind == kindStruct && sh.fields == nil {
			panic("chsim: shape " + name + " of " + r.tag + " is referenced but not declared")
		}
	}
	return s
}

// requestShapes are the Rust types the server deserialises the bodies of
// PUT requests into, by endpoint.
var requestShapes = map[string]string{
	"/vm.create":                 "VmConfig",
	"/vm.resize":                 "VmResizeData",
	"/vm.resize-zone":            "VmResizeZoneData",
	"/vm.resize-disk":            "VmResizeDiskData",
	"/vm.add-device":             "DeviceConfig",
	"/vm.add-user-device":        "UserDeviceConfig",
	"/vm.add-disk":               "DiskConfig",
	"/vm.add-fs":                 "FsConfig",
	"/vm.add-pmem":               "PmemConfig",
	"/vm.add-net":                "NetConfig",
	"/vm.add-vsock":              "VsockConfig",
	"/vm.add-vdpa":               "VdpaConfig",
	"/vm.add-generic-vhost-user": "GenericVhostUserConfig",
	"/vm.remove-device":          "VmRemoveDeviceData",
	"/vm.snapshot":               "VmSnapshotConfig",
	"/vm.restore":                "RestoreConfig",
	"/vm.coredump":               "VmCoredumpData",
	"/vm.send-migration":         "VmSendMigrationData",
	"/vm.receive-migration":      "VmReceiveMigrationData",
}

func validIP(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == ""
}

// validMAC is net_util's MacAddr::parse_str: six colon-separated pairs of
// hex digits.
func validMAC(s string) bool {
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return false
	}
	for _, p := range parts {
		if len(p) != 2 || !isHex(p[0]) || !isHex(p[1]) {
			return false
		}
	}
	return true
}
