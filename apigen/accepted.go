package main

// The differences between the embedded releases' specs (after fix-ups) and
// their servers (apigen/facts) that apigen accepts, each with its reason.
// compare.go fails `apigen generate` on any difference not listed here and
// on any entry that no longer matches a difference of a tag it lists. A
// difference that makes a client lose or misstate something belongs in a
// fix-up (fixups.go) instead.

// Tag lists of the accepted differences.
var (
	tagsV48toV53 = []string{"v48.0", "v49.0", "v50.2", "v51.2", "v52.0", "v53.0"}
	tagsV48toV52 = []string{"v48.0", "v49.0", "v50.2", "v51.2", "v52.0"}
	tagsV48toV51 = []string{"v48.0", "v49.0", "v50.2", "v51.2"}
	tagsV50toV53 = []string{"v50.2", "v51.2", "v52.0", "v53.0"}
	tagsV52toV53 = []string{"v52.0", "v53.0"}
)

// Reasons shared by several entries.
const (
	reasonSpecRequiresDefaulted = "the spec requires it; serde defaults it; the client still sends it, so only the " +
		"spec's generated type is stricter than the server"
	reasonServerRequires = "serde requires it though the spec leaves it optional: a body without it is refused " +
		"(400 Failed to deserialize JSON), an error the caller sees, never a silent loss"
	reasonAlwaysWritten = "the server always writes it though the spec leaves it optional: the client's optional " +
		"field decodes it all the same"
	reasonResponseExtra = "the server writes it in its answers; the spec lacks it, and the client's decoder ignores it"
	reasonFeatureOnly   = "only a server built with a cargo feature that release builds lack reads it (see its cfg); " +
		"the spec leaves it out, so clients cannot send it"
	reasonPciCommon = "a member of the flattened PciDeviceCommonConfig the spec does not list here; serde defaults " +
		"it, so a client cannot set it on this device, nothing is lost"
	reasonFDsBySocket = "file descriptors are no JSON: they travel with SCM_RIGHTS and the server replaces what a " +
		"body says; the spec rightly leaves the member out"
	reasonServerOnlySetting = "a server setting the spec lacks: serde defaults it, clients cannot set it, and " +
		"nothing they send is lost"
)

// acceptedDifferences lists every accepted difference, by schema.
var acceptedDifferences = []acceptedDifference{
	// CpusConfig, CpuTopology
	{Tags: []string{"v53.0"}, Schema: "CpusConfig", Member: "profile", Kind: diffMemberNotInSpec,
		Reason: "the server's CPU profile (CpuProfile: only Host) defaults to Host; the spec lacks it and clients cannot choose another"},
	{Tags: tagsV48toV53, Schema: "CpuTopology", Member: "cores_per_die", Kind: diffRequiredOnlyInServer, Reason: reasonServerRequires},
	{Tags: tagsV48toV53, Schema: "CpuTopology", Member: "dies_per_package", Kind: diffRequiredOnlyInServer, Reason: reasonServerRequires},
	{Tags: tagsV48toV53, Schema: "CpuTopology", Member: "packages", Kind: diffRequiredOnlyInServer, Reason: reasonServerRequires},
	{Tags: tagsV48toV53, Schema: "CpuTopology", Member: "threads_per_core", Kind: diffRequiredOnlyInServer, Reason: reasonServerRequires},

	// consoles
	{Tags: tagsV48toV51, Schema: "DebugConsoleConfig", Member: "mode", Value: "Socket", Kind: diffEnumValueNotInSpec,
		Reason: "the debug console shares ConsoleOutputMode with the other consoles, so serde reads Socket; the spec offers " +
			"the modes the debug console supports, which is stricter and loses nothing"},

	// devices
	{Tags: []string{"v53.0"}, Schema: "DeviceConfig", Member: "fd", Kind: diffMemberNotInSpec, Reason: reasonFDsBySocket},
	{Tags: tagsV48toV53, Schema: "DiskConfig", Member: "disable_aio", Kind: diffMemberNotInSpec, Reason: reasonServerOnlySetting},
	{Tags: tagsV48toV53, Schema: "DiskConfig", Member: "disable_io_uring", Kind: diffMemberNotInSpec, Reason: reasonServerOnlySetting},
	{Tags: tagsV52toV53, Schema: "FsConfig", Member: "iommu", Kind: diffMemberNotInSpec, Reason: reasonPciCommon},
	{Tags: tagsV48toV53, Schema: "FsConfig", Member: "num_queues", Kind: diffRequiredOnlyInSpec, Reason: reasonSpecRequiresDefaulted},
	{Tags: tagsV48toV53, Schema: "FsConfig", Member: "queue_size", Kind: diffRequiredOnlyInSpec, Reason: reasonSpecRequiresDefaulted},
	{Tags: tagsV52toV53, Schema: "GenericVhostUserConfig", Member: "id", Kind: diffMemberNotInSpec, Reason: reasonPciCommon},
	{Tags: tagsV52toV53, Schema: "GenericVhostUserConfig", Member: "iommu", Kind: diffMemberNotInSpec, Reason: reasonPciCommon},
	{Tags: tagsV48toV53, Schema: "NetConfig", Member: "fds", Kind: diffMemberNotInSpec, Reason: reasonFDsBySocket},
	{Tags: []string{"v48.0"}, Schema: "NetConfig", Member: "offload_csum", Kind: diffMemberNotInSpec,
		Reason: "the v48.0 server reads it, its spec lacks it (the v49.0 spec adds it): core refuses it on v48.0, which loses nothing"},
	{Tags: []string{"v48.0"}, Schema: "NetConfig", Member: "offload_tso", Kind: diffMemberNotInSpec,
		Reason: "the v48.0 server reads it, its spec lacks it (the v49.0 spec adds it): core refuses it on v48.0, which loses nothing"},
	{Tags: []string{"v48.0"}, Schema: "NetConfig", Member: "offload_ufo", Kind: diffMemberNotInSpec,
		Reason: "the v48.0 server reads it, its spec lacks it (the v49.0 spec adds it): core refuses it on v48.0, which loses nothing"},
	{Tags: tagsV52toV53, Schema: "UserDeviceConfig", Member: "iommu", Kind: diffMemberNotInSpec, Reason: reasonPciCommon},
	{Tags: tagsV48toV53, Schema: "VdpaConfig", Member: "num_queues", Kind: diffRequiredOnlyInSpec, Reason: reasonSpecRequiresDefaulted},
	{Tags: tagsV48toV53, Schema: "VmAddUserDevice", Member: "id", Kind: diffMemberNotInSpec, Reason: reasonPciCommon},
	{Tags: tagsV52toV53, Schema: "VmAddUserDevice", Member: "iommu", Kind: diffMemberNotInSpec, Reason: reasonPciCommon},
	{Tags: tagsV48toV51, Schema: "VmAddUserDevice", Member: "pci_segment", Kind: diffMemberNotInSpec, Reason: reasonPciCommon},

	// answers: VmInfo, its device tree, ping
	{Tags: tagsV48toV53, Schema: "DeviceNode", Member: "children", Kind: diffRequiredOnlyInServer, Reason: reasonAlwaysWritten},
	{Tags: tagsV48toV53, Schema: "DeviceNode", Member: "id", Kind: diffRequiredOnlyInServer, Reason: reasonAlwaysWritten},
	{Tags: tagsV48toV53, Schema: "DeviceNode", Member: "parent", Kind: diffMemberNotInSpec, Reason: reasonResponseExtra},
	{Tags: tagsV48toV52, Schema: "DeviceNode", Member: "pci_bdf", Kind: diffRequiredOnlyInServer,
		Reason: reasonAlwaysWritten + " (null for a device without one; from v53.0 the server leaves it out instead)"},
	{Tags: tagsV48toV53, Schema: "DeviceNode", Member: "resources", Kind: diffRequiredOnlyInServer, Reason: reasonAlwaysWritten},
	{Tags: tagsV48toV52, Schema: "VmInfo", Member: "device_tree", Kind: diffRequiredOnlyInServer,
		Reason: reasonAlwaysWritten + " (null without a device tree; from v53.0 the server leaves it out instead)"},
	{Tags: tagsV48toV53, Schema: "VmInfo", Member: "memory_actual_size", Kind: diffRequiredOnlyInServer, Reason: reasonAlwaysWritten},
	{Tags: tagsV48toV51, Schema: "VmInfo", Member: "state", Value: "BreakPoint", Kind: diffEnumValueNotInSpec,
		Reason: "the server reports BreakPoint only when a gdb stub (cargo feature guest_debug, not in release builds) " +
			"stopped the VM; the generated state type is a string and decodes it all the same"},
	{Tags: tagsV52toV53, Schema: "VmState", Value: "BreakPoint", Kind: diffEnumValueNotInSpec,
		Reason: "the server reports BreakPoint only when a gdb stub (cargo feature guest_debug, not in release builds) " +
			"stopped the VM; the generated state type is a string and decodes it all the same"},
	{Tags: tagsV48toV53, Schema: "VmmPingResponse", Member: "build_version", Kind: diffRequiredOnlyInServer, Reason: reasonAlwaysWritten},
	{Tags: tagsV48toV53, Schema: "VmmPingResponse", Member: "features", Kind: diffRequiredOnlyInServer, Reason: reasonAlwaysWritten},
	{Tags: tagsV48toV53, Schema: "VmmPingResponse", Member: "pid", Kind: diffRequiredOnlyInServer, Reason: reasonAlwaysWritten},
	{Tags: tagsV48toV53, Schema: "VmCounters", Kind: diffSchemaNotInServer,
		Reason: "the server answers vm.counters with a map of maps (Vm::counters: HashMap<String, HashMap<&str, Wrapping<u64>>>), " +
			"no named type; the spec's VmCounters is that shape"},

	// NUMA, PCI segments, rate limit groups, platform
	{Tags: []string{"v48.0", "v49.0", "v50.2"}, Schema: "NumaConfig", Member: "guest_numa_id", Kind: diffRequiredOnlyInSpec, Reason: reasonSpecRequiresDefaulted},
	{Tags: tagsV48toV53, Schema: "NumaDistance", Member: "destination", Kind: diffRequiredOnlyInSpec, Reason: reasonSpecRequiresDefaulted},
	{Tags: tagsV48toV53, Schema: "NumaDistance", Member: "distance", Kind: diffRequiredOnlyInSpec, Reason: reasonSpecRequiresDefaulted},
	{Tags: tagsV48toV53, Schema: "PciSegmentConfig", Member: "pci_segment", Kind: diffRequiredOnlyInSpec, Reason: reasonSpecRequiresDefaulted},
	{Tags: []string{"v53.0"}, Schema: "PlatformConfig", Member: "iommufd_fd", Kind: diffMemberNotInSpec, Reason: reasonFDsBySocket},
	{Tags: tagsV48toV53, Schema: "RateLimitGroupConfig", Member: "id", Kind: diffRequiredOnlyInSpec, Reason: reasonSpecRequiresDefaulted},
	{Tags: tagsV48toV53, Schema: "RateLimitGroupConfig", Member: "rate_limiter_config", Kind: diffRequiredOnlyInSpec, Reason: reasonSpecRequiresDefaulted},

	// payload, restore, and the request bodies of actions
	{Tags: tagsV48toV53, Schema: "PayloadConfig", Member: "fw_cfg_config", Kind: diffMemberNotInSpec, Reason: reasonFeatureOnly},
	{Tags: tagsV48toV53, Schema: "RestoreConfig", Member: "net_fds", Kind: diffMemberNotInSpec,
		Reason: "the spec lacks it; core writes it by hand with the descriptors it sends by SCM_RIGHTS (core/snapshot.go, RestoreOptions.NetFDs)"},
	{Tags: tagsV48toV53, Schema: "VmCoredumpData", Member: "destination_url", Kind: diffRequiredOnlyInServer, Reason: reasonServerRequires},
	{Tags: tagsV48toV53, Schema: "VmRemoveDevice", Member: "id", Kind: diffRequiredOnlyInServer, Reason: reasonServerRequires},
	{Tags: tagsV50toV53, Schema: "VmResizeDisk", Member: "desired_size", Kind: diffRequiredOnlyInServer, Reason: reasonServerRequires},
	{Tags: tagsV50toV53, Schema: "VmResizeDisk", Member: "id", Kind: diffRequiredOnlyInServer, Reason: reasonServerRequires},
	{Tags: tagsV48toV53, Schema: "VmResizeZone", Member: "desired_ram", Kind: diffRequiredOnlyInServer, Reason: reasonServerRequires},
	{Tags: tagsV48toV53, Schema: "VmResizeZone", Member: "id", Kind: diffRequiredOnlyInServer, Reason: reasonServerRequires},
	{Tags: tagsV48toV53, Schema: "VmSnapshotConfig", Member: "destination_url", Kind: diffRequiredOnlyInServer, Reason: reasonServerRequires},

	// VmConfig
	{Tags: tagsV48toV53, Schema: "VmConfig", Member: "gdb", Kind: diffMemberNotInSpec, Reason: reasonFeatureOnly},
	{Tags: tagsV48toV53, Schema: "VmConfig", Member: "ivshmem", Kind: diffMemberNotInSpec, Reason: reasonFeatureOnly},
	{Tags: tagsV48toV53, Schema: "VmConfig", Member: "payload", Kind: diffRequiredOnlyInSpec,
		Reason: "the spec requires it; serde does not (real v48.0 creates a VM from {}, vm.boot then fails config " +
			"validation); the client still sends it"},
	{Tags: tagsV48toV53, Schema: "VmConfig", Member: "pvmemcontrol", Kind: diffMemberNotInSpec, Reason: reasonFeatureOnly},
	{Tags: tagsV48toV51, Schema: "VmConfig", Member: "user_devices", Kind: diffMemberNotInSpec,
		Reason: "the server reads user devices in the VM config, the spec (until v52.0) lacks them: core refuses them " +
			"on these releases (vm.add-user-device adds one), which loses nothing"},
}
