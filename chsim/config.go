package chsim

import (
	"crypto/rand"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
)

// CH's defaults for VmConfig members the client may omit.
const (
	defaultMemorySize  = 512 << 20
	defaultMaxPhysBits = 46
	defaultRNGSource   = "/dev/urandom"
	debugConsolePort   = 0xe9
)

// fillVMConfig returns the config vm.info reports for a vm.create body: CH
// deserialises it into its VmConfig with serde defaults and serialises every
// member back, absent options as null.
func (s *Server) fillVMConfig(body map[string]any) map[string]any {
	cfg := body
	cpus, _ := cfg["cpus"].(map[string]any)
	if cpus == nil {
		cpus = map[string]any{}
		cfg["cpus"] = cpus
	}
	if _, ok := cpus["boot_vcpus"]; !ok {
		cpus["boot_vcpus"] = 1
	}
	if _, ok := cpus["max_vcpus"]; !ok {
		cpus["max_vcpus"] = cpus["boot_vcpus"]
	}
	if _, ok := cpus["max_phys_bits"]; !ok {
		cpus["max_phys_bits"] = defaultMaxPhysBits
	}
	if cpus["features"] == nil {
		cpus["features"] = map[string]any{}
	}
	if cfg["memory"] == nil {
		cfg["memory"] = map[string]any{"size": defaultMemorySize}
	}
	if cfg["payload"] == nil {
		cfg["payload"] = map[string]any{}
	}
	if cfg["rng"] == nil {
		cfg["rng"] = map[string]any{"src": defaultRNGSource}
	}
	if cfg["serial"] == nil {
		cfg["serial"] = map[string]any{"mode": "Null"}
	}
	if cfg["console"] == nil {
		cfg["console"] = map[string]any{"mode": "Tty"}
	}
	if s.hasProperty("VmConfig", "debug_console") && cfg["debug_console"] == nil {
		cfg["debug_console"] = map[string]any{"mode": "Off", "iobase": debugConsolePort}
	}
	for _, n := range listOf(cfg, "net") {
		if n["mac"] == nil {
			n["mac"] = randomMAC()
		}
	}
	cfg = s.fillSchema("VmConfig", cfg)
	dropUnbuiltFields(cfg)
	normalisePlatform(cfg)
	return cfg
}

// unbuiltFields are VmConfig members that CH's Rust structs have only under
// a cargo feature that a release build (vmm.ping features: io_uring, kvm)
// lacks: serde ignores them in vm.create and vm.info never reports them
// (vmm/src/vm_config.rs: PayloadConfig.igvm is #[cfg(feature = "igvm")],
// PayloadConfig.host_data and PlatformConfig.sev_snp #[cfg(feature =
// "sev_snp")], PlatformConfig.tdx #[cfg(feature = "tdx")]).
var unbuiltFields = map[string][]string{
	"payload":  {"igvm", "host_data"},
	"platform": {"tdx", "sev_snp"},
}

func dropUnbuiltFields(cfg map[string]any) {
	for member, fields := range unbuiltFields {
		if m, ok := cfg[member].(map[string]any); ok {
			for _, f := range fields {
				delete(m, f)
			}
		}
	}
}

// defaultIOMMUAddressWidthBits is CH's DEFAULT_IOMMU_ADDRESS_WIDTH_BITS.
const defaultIOMMUAddressWidthBits = 64

// platformAliases are PlatformConfig's deprecated names (v53.0's spec marks
// them deprecated) and the members serde reads them into: #[serde(default,
// alias = "serial_number")] system_serial_number, alias "uuid" for
// system_uuid. Before v53.0 the Rust fields are serial_number and uuid.
var platformAliases = map[string]string{"serial_number": "system_serial_number", "uuid": "system_uuid"}

// normalisePlatform turns a platform config into what CH reports back:
//   - CH's Rust field is iommu_address_width_bits (default 64) in every
//     modelled release; the spec named it iommu_address_width until v52.0,
//     a name serde ignores, so a value sent under it is lost (chvmm's
//     clients send the right name: apigen's fix-up
//     platform-iommu-address-width-bits-name);
//   - from v53.0 (the release whose spec has system_serial_number), the old
//     names are serde aliases: the value comes back under the new name.
//     (Both names at once is serde's "duplicate field" error in CH; chsim
//     keeps the new name's value instead.)
func normalisePlatform(cfg map[string]any) {
	p, ok := cfg["platform"].(map[string]any)
	if !ok {
		return
	}
	delete(p, "iommu_address_width")
	if p["iommu_address_width_bits"] == nil {
		p["iommu_address_width_bits"] = defaultIOMMUAddressWidthBits
	}
	if _, aliased := p["system_serial_number"]; !aliased {
		return
	}
	for old, name := range platformAliases {
		if v := p[old]; v != nil && p[name] == nil {
			p[name] = v
		}
		delete(p, old)
	}
}

func (s *Server) hasProperty(schema, prop string) bool {
	ref := s.spec.doc.Components.Schemas[schema]
	return ref != nil && ref.Value != nil && ref.Value.Properties[prop] != nil
}

// fillSchema completes obj after component schema name: absent properties
// take the spec's default, false for booleans, 0 for pci_segment, null
// otherwise; nested objects are completed too.
func (s *Server) fillSchema(name string, obj map[string]any) map[string]any {
	ref := s.spec.doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		return obj
	}
	fillObject(ref.Value, obj)
	return obj
}

func fillObject(schema *openapi3.Schema, obj map[string]any) {
	for name, pref := range schema.Properties {
		if pref == nil || pref.Value == nil {
			continue
		}
		p := pref.Value
		val, present := obj[name]
		if !present || val == nil {
			switch {
			case p.Default != nil:
				obj[name] = p.Default
			case p.Type.Is(openapi3.TypeBoolean):
				obj[name] = false
			case name == "pci_segment":
				obj[name] = 0
			default:
				obj[name] = nil
			}
			continue
		}
		switch t := val.(type) {
		case map[string]any:
			fillObject(p, t)
		case []any:
			if p.Items != nil && p.Items.Value != nil {
				for _, e := range t {
					if m, ok := e.(map[string]any); ok {
						fillObject(p.Items.Value, m)
					}
				}
			}
		}
	}
}

// randomMAC is CH's MacAddr::local_random: locally administered, unicast.
func randomMAC() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	b[0] = b[0]&0xfe | 0x02
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5])
}

// memoryTotal is CH's MemoryConfig::total_size: boot memory, hot-plugged
// memory and every zone.
func memoryTotal(cfg map[string]any) uint64 {
	mem, _ := cfg["memory"].(map[string]any)
	total, _ := num(mem["size"])
	h, _ := num(mem["hotplugged_size"])
	total += h
	for _, z := range listOf(mem, "zones") {
		zs, _ := num(z["size"])
		zh, _ := num(z["hotplugged_size"])
		total += zs + zh
	}
	return total
}

func balloonSize(cfg map[string]any) uint64 {
	b, _ := cfg["balloon"].(map[string]any)
	n, _ := num(b["size"])
	return n
}

// listOf returns the objects of the array member key of m.
func listOf(m map[string]any, key string) []map[string]any {
	if m == nil {
		return nil
	}
	arr, _ := m[key].([]any)
	out := make([]map[string]any, 0, len(arr))
	for _, e := range arr {
		if o, ok := e.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

// num reads a non-negative JSON number (float64 from encoding/json, or an
// int the simulator stored).
func num(v any) (uint64, bool) {
	switch n := v.(type) {
	case float64:
		if n < 0 {
			return 0, false
		}
		return uint64(n), true
	case int:
		return uint64(n), true
	case uint64:
		return n, true
	}
	return 0, false
}
