package chsimtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
)

// minRoundTripShare is the share of the spec's VmConfig leaf fields the
// round trip must set, so that it cannot shrink unnoticed.
const minRoundTripShare = 0.8

// testRoundTripEveryField creates a VM whose config sets every leaf field
// this release's spec has under VmConfig (recursively) to a valid, non-default
// value, built by reflection over core's types and guided by the spec, and
// asserts that vm.info reports every one of them back, as real CH would.
// For each member the official spec misnames (specMisnames), it then sends
// the same config under the spec's name and shows the round trip would have
// caught the misname: the server drops those devices.
func testRoundTripEveryField(t *testing.T, version string) {
	v := connect(t, version)
	h, c := v.h, ctx(t)
	doc, err := loadDoc(version)
	require.NoError(t, err)

	b := newMaxConfig(t, doc)
	cfg := &api.VMConfig{}
	b.fill(reflect.ValueOf(cfg).Elem(), "VmConfig", "")
	b.dropBuildFeatureFields(t, h, cfg)
	require.NoError(t, h.CreateVM(c, cfg, nil))
	info := requireState(t, h, api.VMStateCreated)

	want := asJSON(t, cfg).(map[string]any)
	var normalised []string // fields real CH reports differently from how they were sent
	got := asJSON(t, info.Config)
	for field, r := range serverLacks {
		if version < r.from && slices.Contains(b.set, field) {
			// Sent, as the spec has it, but the server's struct has no such
			// field: serde drops it, and vm.info never reports it.
			assert.False(t, hasPath(got, field), "config.%s: the server of CH %s has no such field, yet reports it", field, version)
			deletePath(want, field)
			normalised = append(normalised, field+" (dropped: "+r.why+")")
		}
	}
	assertSubset(t, want, got, "config")
	assert.Empty(t, lostPaths(want, got, ""), "every member sent comes back")
	require.NotNil(t, info.MemoryActualSize)
	assert.EqualValues(t, 256<<20+128<<20+128<<20+64<<20, *info.MemoryActualSize, "boot, hot-plugged and zone memory")
	for _, m := range specMisnames {
		if slices.ContainsFunc(b.set, func(p string) bool { return strings.HasPrefix(p, m.server+".") }) {
			testSpecMisname(t, v, m, want, got)
		}
	}

	// The deprecated aliases (v53.0: platform.serial_number and uuid) cannot
	// go with their new names in one config: CH's serde reads both into one
	// field. A second VM sends them alone.
	set := b.set
	if aliases := deprecatedPlatformAliases(t, doc); len(aliases) > 0 {
		require.NoError(t, h.DeleteVM(c))
		cfg2 := newFiles(t).config()
		cfg2.Platform = &api.PlatformConfig{SerialNumber: ptr("RT-OLD-SERIAL"), UUID: ptr("4d3c2b1a-0000-4000-8000-00000000a11a")}
		require.NoError(t, h.CreateVM(c, cfg2, nil))
		p := requireState(t, h, api.VMStateCreated).Config.Platform
		require.NotNil(t, p)
		// vmm/src/vm_config.rs, PlatformConfig: #[serde(default, alias =
		// "serial_number")] system_serial_number, alias "uuid" for
		// system_uuid: the value comes back under the new name only.
		assert.Equal(t, ptr("RT-OLD-SERIAL"), p.SystemSerialNumber, "serial_number is an alias of system_serial_number")
		assert.Equal(t, ptr("4d3c2b1a-0000-4000-8000-00000000a11a"), p.SystemUUID, "uuid is an alias of system_uuid")
		assert.Nil(t, p.SerialNumber)
		assert.Nil(t, p.UUID)
		for _, a := range aliases {
			set = append(set, "platform."+a)
			normalised = append(normalised, "platform."+a)
			delete(b.skipped, "platform."+a)
		}
	}

	leaves := doc.leafPaths("VmConfig")
	for _, l := range leaves {
		_, skipped := b.skipped[l]
		assert.True(t, slices.Contains(set, l) || skipped, "spec field %s of CH %s was neither set nor skipped with a reason", l, version)
	}
	for _, s := range set {
		assert.Contains(t, leaves, s, "the round trip set %s, which the CH %s spec does not have", s, version)
	}
	reasons := make([]string, 0, len(b.skipped))
	for p, why := range b.skipped {
		reasons = append(reasons, p+" ("+why+")")
	}
	slices.Sort(reasons)
	t.Logf("CH %s: %d of the spec's %d VmConfig leaf fields set; %d came back as sent, %d as real CH normalises them %v; not set: %v",
		version, len(set), len(leaves), len(set)-len(normalised), len(normalised), normalised, reasons)
	if len(b.generic) > 0 {
		t.Logf("CH %s: fields given free text (no rule of their own): %v", version, b.generic)
	}
	assert.GreaterOrEqual(t, float64(len(set)), minRoundTripShare*float64(len(leaves)),
		"the round trip sets too few of the %d leaf fields of CH %s's VmConfig", len(leaves), version)
}

// specMisnames are VmConfig members the official spec names otherwise than
// the server's struct does. apigen's fix-up renames each in the spec chvmm
// generates from and chsim serves (a fix-up that no longer matches its spec
// fails make generate, so the spec still has the name); CH's config types
// have no deny_unknown_fields, so serde drops a member under the spec's
// name without a word.
var specMisnames = []struct{ fixup, spec, server string }{
	// Issue 9: the v52.0 and v53.0 specs' VmConfig.generic-vhost-user is
	// vmm/src/vm_config.rs's generic_vhost_user (no serde rename).
	{"generic-vhost-user-member-name", "generic-vhost-user", "generic_vhost_user"},
}

// testSpecMisname shows that the round trip catches misname m without its
// fix-up: the config the round trip sent under the server's name (sent,
// which came back as got) is sent again, raw, with the member under the
// spec's name, as a client following the spec would; vm.create accepts it
// and vm.info reports the config without those devices, and the round
// trip's comparison names exactly the members lost.
func testSpecMisname(t *testing.T, v *vmm, m struct{ fixup, spec, server string }, sent map[string]any, got any) {
	t.Helper()
	require.Contains(t, sent, m.server)
	require.True(t, hasPath(got, m.server), "with the server's name, config.%s comes back", m.server)

	bySpec := cloneMap(t, sent)
	bySpec[m.spec] = bySpec[m.server]
	delete(bySpec, m.server)
	require.NoError(t, v.h.DeleteVM(ctx(t)))
	body, err := json.Marshal(bySpec)
	require.NoError(t, err)
	status, answer := putRaw(t, v.socket, "vm.create", body)
	require.Equal(t, http.StatusNoContent, status, "serde ignores the unknown member %s: vm.create succeeds (%s)", m.spec, answer)

	info := requireState(t, v.h, api.VMStateCreated)
	back := asJSON(t, info.Config)
	lost := lostPaths(bySpec, back, "")
	ok := assert.False(t, hasPath(back, m.server), "sent as %s, the devices of config.%s are lost", m.spec, m.server)
	ok = assert.False(t, hasPath(back, m.spec), "the server has no member %s", m.spec) && ok
	ok = assert.NotEmpty(t, lost) && ok
	ok = assert.Equal(t, leafPathsOf(bySpec[m.spec], m.spec), lost,
		"the round trip, sent with the spec's name, reports exactly the %s members lost (what fix-up %s prevents)", m.spec, m.fixup) && ok
	if ok {
		t.Logf("without fix-up %s: config.%s sent as %s is lost (%v); everything else came back", m.fixup, m.server, m.spec, lost)
	}
}

// lostPaths lists, sorted and without duplicates, the dotted leaf paths of
// generic JSON want (below path) that got lacks or holds another value at:
// what a round trip of want does not get back.
func lostPaths(want, got any, path string) []string {
	var out []string
	add := func(p ...string) {
		for _, x := range p {
			if !slices.Contains(out, x) {
				out = append(out, x)
			}
		}
	}
	join := func(k string) string { return strings.TrimPrefix(path+"."+k, ".") }
	switch w := want.(type) {
	case map[string]any:
		g, _ := got.(map[string]any)
		for k, v := range w {
			add(lostPaths(v, g[k], join(k))...)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			add(leafPathsOf(want, path)...)
			break
		}
		for i := range w {
			add(lostPaths(w[i], g[i], path)...)
		}
	default:
		if !reflect.DeepEqual(want, got) {
			add(path)
		}
	}
	slices.Sort(out)
	return out
}

// leafPathsOf lists, sorted and without duplicates, the dotted leaf paths of
// generic JSON v below path.
func leafPathsOf(v any, path string) []string {
	var out []string
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			for _, p := range leafPathsOf(e, strings.TrimPrefix(path+"."+k, ".")) {
				if !slices.Contains(out, p) {
					out = append(out, p)
				}
			}
		}
	case []any:
		for _, e := range t {
			for _, p := range leafPathsOf(e, path) {
				if !slices.Contains(out, p) {
					out = append(out, p)
				}
			}
		}
		if len(t) == 0 {
			out = append(out, path)
		}
	default:
		out = append(out, path)
	}
	slices.Sort(out)
	return out
}

// cloneMap deep-copies generic JSON object m.
func cloneMap(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	return asJSON(t, m).(map[string]any)
}

// putRaw sends body to PUT endpoint (under /api/v1) of the simulator at
// socket as it is, and returns the status and the answer's body.
func putRaw(t *testing.T, socket, endpoint string, body []byte) (int, string) {
	t.Helper()
	tr := &http.Transport{DialContext: func(c context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(c, "unix", socket)
	}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodPut, "http://localhost/api/v1/"+endpoint, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(answer)
}

// serverLacks are spec members of VmConfig that a release's server does not
// read, from the release in from on: serde drops them (checked against the
// real servers' answers, chsim/testdata/real).
var serverLacks = map[string]struct{ from, why string }{
	"memory.zones.mergeable": {"v52.0", "MemoryZoneConfig has no mergeable before v52.0"},
}

// hasPath reports whether generic JSON v has the dotted member path (in
// any element of the lists on the way).
func hasPath(v any, path string) bool {
	name, rest, _ := strings.Cut(path, ".")
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			if hasPath(e, path) {
				return true
			}
		}
	case map[string]any:
		e, ok := t[name]
		if !ok || e == nil {
			return false
		}
		return rest == "" || hasPath(e, rest)
	}
	return false
}

// deletePath removes the dotted member path from generic JSON v.
func deletePath(v any, path string) {
	name, rest, _ := strings.Cut(path, ".")
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			deletePath(e, path)
		}
	case map[string]any:
		if rest == "" {
			delete(t, name)
		} else {
			deletePath(t[name], rest)
		}
	}
}

// deprecatedPlatformAliases returns the deprecated members of the spec's
// PlatformConfig, which CH reads as aliases of newer ones; it fails the test
// for a deprecated member of the VmConfig tree the suite does not know.
func deprecatedPlatformAliases(t *testing.T, doc *apiDoc) []string {
	t.Helper()
	var out []string
	for _, p := range doc.leafPaths("VmConfig") {
		s := doc.leaf(p)
		if s == nil || !s.Deprecated {
			continue
		}
		if p != "platform.serial_number" && p != "platform.uuid" {
			t.Errorf("spec field %s is deprecated: teach the round trip what CH reports for it", p)
			continue
		}
		out = append(out, strings.TrimPrefix(p, "platform."))
	}
	return out
}

// resolve returns the component schema s refers to, or s itself.
func (d *apiDoc) resolve(s *schemaDoc) *schemaDoc {
	if name := s.refNameSelf(); name != "" {
		if r := d.Components.Schemas[name]; r != nil {
			return r
		}
	}
	return s
}

// refNameSelf is the component s itself refers to ($ref or allOf), not its items.
func (s *schemaDoc) refNameSelf() string {
	if s.Ref != "" {
		return strings.TrimPrefix(s.Ref, "#/components/schemas/")
	}
	for _, a := range s.AllOf {
		if a.Ref != "" {
			return strings.TrimPrefix(a.Ref, "#/components/schemas/")
		}
	}
	return ""
}

// isObject reports whether s (resolved) has members to descend into.
func isObject(s *schemaDoc) bool { return len(s.Properties) > 0 }

// leafPaths lists the leaf fields under component schema root, as dotted
// JSON member paths without indexes ("disks.rate_limiter_config.ops.size"):
// members of scalar, enum or scalar-list type. A schema already on the way
// is not entered again.
func (d *apiDoc) leafPaths(root string) []string {
	var out []string
	var walk func(s *schemaDoc, prefix string, stack []*schemaDoc)
	walk = func(s *schemaDoc, prefix string, stack []*schemaDoc) {
		for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
			p := d.resolve(s.Properties[name])
			if p.Type == "array" && p.Items != nil {
				p = d.resolve(p.Items)
			}
			path := strings.TrimPrefix(prefix+"."+name, ".")
			switch {
			case slices.Contains(stack, p):
			case isObject(p):
				walk(p, path, append(stack, p))
			default:
				out = append(out, path)
			}
		}
	}
	r := d.Components.Schemas[root]
	if r != nil {
		walk(r, "", []*schemaDoc{r})
	}
	return out
}

// leaf returns the spec schema of the leaf at path under VmConfig.
func (d *apiDoc) leaf(path string) *schemaDoc {
	s := d.Components.Schemas["VmConfig"]
	for _, name := range strings.Split(path, ".") {
		if s == nil {
			return nil
		}
		if s.Type == "array" && s.Items != nil {
			s = d.resolve(s.Items)
		}
		s = s.Properties[name]
		if s == nil {
			return nil
		}
		if s.Deprecated {
			return s
		}
		s = d.resolve(s)
	}
	return s
}

// maxConfig builds a config that sets every member of the spec, by
// reflection over core's types.
type maxConfig struct {
	t       *testing.T
	doc     *apiDoc
	dir     string
	set     []string          // leaf paths set
	skipped map[string]string // leaf paths left unset, and why
	generic []string          // string leaves given free text
	pciDev  int               // last pci_device_id handed out
	rules   map[string]any    // by leaf path, or by its last members: a value or func(path) any
}

// coreLacks are spec members core's version-neutral types cannot carry,
// and why; any other member core lacks fails the test. (None today: the
// union keeps serial.iommu, which VmConfig.serial had while it was a
// ConsoleConfig, v48.0–v51.2.)
var coreLacks = map[string]string{}

func newMaxConfig(t *testing.T, doc *apiDoc) *maxConfig {
	b := &maxConfig{t: t, doc: doc, dir: t.TempDir(), skipped: map[string]string{}}
	file := func(name string, size int64) string {
		p := filepath.Join(b.dir, name)
		f, err := os.Create(p)
		require.NoError(t, err)
		require.NoError(t, f.Truncate(size))
		require.NoError(t, f.Close())
		return p
	}
	sock := func(name string) string { return filepath.Join(b.dir, name) } // CH creates or connects to it
	dir := filepath.Join(b.dir, "0000:00:04.0")
	require.NoError(t, os.Mkdir(dir, 0o755))
	b.rules = map[string]any{
		// Unique ids, derived from where the device is: "disks0", "memory-zones0".
		"id": func(path string) any {
			return strings.NewReplacer(".", "-", "_", "-").Replace(strings.TrimSuffix(path, ".id")) + "0"
		},
		"pci_segment":   1, // every device on the second segment (num_pci_segments 2)
		"pci_device_id": func(string) any { b.pciDev++; return b.pciDev },

		"cpus.boot_vcpus": 2, "cpus.max_vcpus": 4, "cpus.max_phys_bits": 40,
		"cpus.topology.threads_per_core": 2, "cpus.topology.cores_per_die": 1,
		"cpus.topology.dies_per_package": 1, "cpus.topology.packages": 2,
		"cpus.affinity.vcpu": 1, "cpus.affinity.host_cpus": 0,
		"queue_affinity.queue_index": 1, "queue_affinity.host_cpus": 1,

		"memory.size": 256 << 20, "memory.hotplug_size": 512 << 20, "memory.hotplugged_size": 128 << 20,
		"memory.hugepage_size": 2 << 20, "memory.hotplug_method": "VirtioMem",
		"memory.zones.size": 128 << 20, "memory.zones.file": file("zone0.mem", 0),
		"memory.zones.hugepage_size": 2 << 20, "memory.zones.host_numa_node": 0,
		"memory.zones.hotplug_size": 256 << 20, "memory.zones.hotplugged_size": 64 << 20,

		"payload.kernel": file("vmlinux", 64), "payload.initramfs": file("initramfs.img", 64),
		"payload.firmware": file("firmware.fd", 64), "payload.igvm": file("guest.igvm", 64),
		"payload.cmdline":   "console=ttyS0 reboot=k panic=1",
		"payload.host_data": strings.Repeat("ab", 32), // 32 bytes, hex

		"bandwidth.size": 10 << 20, "bandwidth.one_time_burst": 1 << 20, "bandwidth.refill_time": 100,
		"ops.size": 1000, "ops.one_time_burst": 100, "ops.refill_time": 100,

		"disks.path": file("disk.img", 1<<20), "disks.vhost_socket": sock("disk.sock"),
		"disks.num_queues": 2, "disks.queue_size": 256, "disks.serial": "RT-DISK-0001",
		"disks.rate_limit_group": "rate-limit-groups0",

		"net.tap": "rttap0", "net.ip": "10.0.2.2", "net.mask": "255.255.0.0",
		"net.mac": "12:34:56:78:9a:bc", "net.host_mac": "12:34:56:78:9a:bd", "net.mtu": 1400,
		"net.num_queues": 4, "net.queue_size": 512, "net.vhost_socket": sock("net.sock"), "net.vhost_mode": "Server",

		"rng.src":      file("entropy", 4096),
		"balloon.size": 64 << 20,
		"fs.tag":       "rtfs", "fs.socket": sock("fs.sock"), "fs.num_queues": 2, "fs.queue_size": 512,
		"pmem.file": file("pmem.img", 2<<20), "pmem.size": 2 << 20,

		"serial.mode": "Socket", "serial.file": filepath.Join(b.dir, "serial.log"), "serial.socket": sock("serial.sock"),
		"console.mode": "File", "console.file": filepath.Join(b.dir, "console.log"), "console.socket": sock("console.sock"),
		"debug_console.mode": "File", "debug_console.file": filepath.Join(b.dir, "debugcon.log"), "debug_console.iobase": 0xe8,

		"devices.path": dir, "devices.x_nv_gpudirect_clique": 1, "devices.x_exclude_mmap_bars": 2,
		"user_devices.socket": sock("user.sock"),
		"vdpa.path":           file("vhost-vdpa-0", 0), "vdpa.num_queues": 2,
		"vsock.cid": 42, "vsock.socket": sock("vsock.sock"),
		"generic_vhost_user.socket": sock("gvu.sock"), "generic_vhost_user.queue_sizes": 256,
		"generic_vhost_user.device_type": 26, // virtio-fs

		"numa.guest_numa_id": 1, "numa.cpus": 0, "numa.memory_zones": "memory-zones0", "numa.pci_segments": 1,
		"numa.distances.destination": 1, "numa.distances.distance": 10, "numa.device_id": "devices0",

		"pci_segments.mmio32_aperture_weight": 2, "pci_segments.mmio64_aperture_weight": 3,

		"platform.num_pci_segments": 2, "platform.iommu_segments": 1,
		"platform.iommu_address_width_bits": 48,
		"platform.serial_number":            "RT-SERIAL", "platform.system_serial_number": "RT-SYSTEM-SERIAL",
		"platform.uuid": "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b", "platform.system_uuid": "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3",
		"platform.oem_strings": "rt-oem",

		"tpm.socket":            sock("tpm.sock"),
		"landlock_rules.path":   dir,
		"landlock_rules.access": "r",
	}
	return b
}

// rule returns the value of the rule for leaf path: by the whole path, or
// else by its shortest matching tail of members.
func (b *maxConfig) rule(path string) (any, bool) {
	members := strings.Split(path, ".")
	for i := range members {
		if r, ok := b.rules[strings.Join(members[i:], ".")]; ok {
			if f, isFunc := r.(func(string) any); isFunc {
				return f(path), true
			}
			return r, true
		}
	}
	return nil, false
}

// fill sets in struct v every member of component schema name.
func (b *maxConfig) fill(v reflect.Value, name, prefix string) {
	s := b.doc.Components.Schemas[name]
	require.NotNil(b.t, s, "the spec has no schema %s", name)
	b.fillObject(v, s, prefix)
}

func (b *maxConfig) fillObject(v reflect.Value, s *schemaDoc, prefix string) {
	for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
		prop := s.Properties[name]
		path := strings.TrimPrefix(prefix+"."+name, ".")
		if prop.Deprecated {
			b.skipped[path] = "deprecated alias, sent alone"
			continue
		}
		f, ok := fieldByJSON(v, name)
		if !ok {
			if why, known := coreLacks[path]; known {
				b.skipped[path] = why
				continue
			}
			b.t.Errorf("core.%s has no field %q, which the spec has at %s", v.Type().Name(), name, path)
			continue
		}
		b.setMember(f, prop, path)
	}
}

// setMember sets field f, of spec schema s, at path.
func (b *maxConfig) setMember(f reflect.Value, s *schemaDoc, path string) {
	r := b.doc.resolve(s)
	switch {
	case isObject(r):
		b.fillObject(alloc(f), r, path)
	case r.Type == "array" && r.Items != nil && isObject(b.doc.resolve(r.Items)):
		item := b.doc.resolve(r.Items)
		if missing := undefinedRequired(item); len(missing) > 0 {
			// v52.0's GenericVhostUserConfig requires queue_sizes and tag,
			// which it does not define: no body can satisfy it.
			for _, l := range b.doc.leafPaths(r.Items.refName()) {
				b.skipped[path+"."+l] = fmt.Sprintf("the spec requires members it does not define: %v", missing)
			}
			return
		}
		f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		b.fillObject(f.Index(0), item, path)
	default:
		val := b.scalar(r, path)
		if r.Type == "array" {
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
			setScalar(f.Index(0), val)
		} else {
			setScalar(alloc(f), val)
		}
		b.set = append(b.set, path)
	}
}

// scalar returns the value of a scalar (or scalar list's item) leaf: its
// rule, or one made from its schema: the first enum value that is not the
// default, the opposite of a boolean's default, an integer other than its
// default and not below its minimum, free text.
func (b *maxConfig) scalar(s *schemaDoc, path string) any {
	if v, ok := b.rule(path); ok {
		return v
	}
	if s.Type == "array" && s.Items != nil {
		s = b.doc.resolve(s.Items)
	}
	for _, e := range s.Enum {
		if e != s.Default {
			return e
		}
	}
	switch s.Type {
	case "boolean":
		return s.Default != true
	case "integer":
		n := 2
		if d, ok := s.Default.(float64); ok && int(d) == n {
			n++
		}
		if s.Minimum != nil && float64(n) < *s.Minimum {
			n = int(*s.Minimum) + 1
		}
		return n
	case "string":
		b.generic = append(b.generic, path)
		return "rt-" + strings.ReplaceAll(path, ".", "-")
	}
	b.t.Errorf("no value for %s (type %q)", path, s.Type)
	return nil
}

// undefinedRequired lists the members s requires but does not define.
func undefinedRequired(s *schemaDoc) []string {
	var out []string
	for _, r := range s.Required {
		if s.Properties[r] == nil {
			out = append(out, r)
		}
	}
	return out
}

// fieldByJSON returns the field of struct v whose JSON name is name.
func fieldByJSON(v reflect.Value, name string) (reflect.Value, bool) {
	for i := range v.NumField() {
		if jsonName(v.Type().Field(i)) == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// alloc makes pointer field f point to a new value and returns that value;
// any other f is returned as it is.
func alloc(f reflect.Value) reflect.Value {
	if f.Kind() == reflect.Pointer {
		if f.IsNil() {
			f.Set(reflect.New(f.Type().Elem()))
		}
		return f.Elem()
	}
	return f
}

// setScalar sets f (a bool, string, or integer kind) to val.
func setScalar(f reflect.Value, val any) {
	rv := reflect.ValueOf(val)
	if rv.Kind() == reflect.Float64 { // an enum or default from the spec's JSON
		rv = reflect.ValueOf(int64(rv.Float()))
	}
	f.Set(rv.Convert(f.Type()))
}

// dropBuildFeatureFields checks that core refuses the fields the simulated
// build would ignore — those of the igvm, sev_snp and tdx cargo features,
// which release builds lack (vmm.ping lists io_uring and kvm) — then unsets
// them, recording why.
func (b *maxConfig) dropBuildFeatureFields(t *testing.T, h core.Hypervisor, cfg *api.VMConfig) {
	t.Helper()
	fields := map[string]func(){
		"payload.igvm":      func() { cfg.Payload.Igvm = nil },
		"payload.host_data": func() { cfg.Payload.HostData = nil },
	}
	if cfg.Platform != nil {
		fields["platform.sev_snp"] = func() { cfg.Platform.SevSnp = nil }
		fields["platform.tdx"] = func() { cfg.Platform.Tdx = nil }
	}
	var refused []string
	for path, unset := range fields {
		if !slices.Contains(b.set, path) {
			continue
		}
		err := h.CreateVM(ctx(t), cfg, nil)
		require.ErrorIs(t, err, core.ErrUnsupportedField, "core sends %s to a build without its feature", path)
		require.ErrorContains(t, err, "would ignore")
		unset()
		b.set = slices.DeleteFunc(b.set, func(s string) bool { return s == path })
		b.skipped[path] = "refused by core: the simulated release build lacks its cargo feature"
		refused = append(refused, path)
	}
	if len(refused) > 0 {
		slices.Sort(refused)
		t.Logf("refused as the build would ignore them: %v", refused)
	}
}
