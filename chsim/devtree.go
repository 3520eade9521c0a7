package chsim

import (
	"bytes"
	"fmt"
	"sort"
)

// The device tree of a booted VM as CH's device manager builds it: the
// interrupt controller, the legacy serial port, then the virtio devices in
// CH's creation order, each on the next free slot of PCI segment 0 with its
// BAR taken from the 32- or 64-bit MMIO window by CH's allocator
// (vm-allocator's AddressAllocator: the highest free range that fits), and
// vm.info's device_tree serialised from it.

// Address layout of CH's x86_64 guests (arch/src/x86_64/layout.rs,
// vmm/src/memory_manager.rs).
const (
	mem32DevicesStart      = 0xc000_0000
	mem32DevicesSize       = 640 << 20
	ram64Start             = 1 << 32
	platformDeviceAreaSize = 1 << 20
	capabilityBarSize      = 0x80000
	pmemAlign              = 2 << 20
	hotplugAlign           = 128 << 20
)

// span is an allocated address range.
type span struct {
	Base uint64 `json:"base"`
	Size uint64 `json:"size"`
}

// allocator is CH's AddressAllocator over [start, end).
type allocator struct {
	start, end uint64
	used       []span // sorted by base
}

// alloc takes size bytes aligned to align from the highest free range that
// holds them.
func (a *allocator) alloc(size, align uint64) (uint64, bool) {
	for i := len(a.used); i >= 0; i-- {
		lo, hi := a.start, a.end
		if i > 0 {
			lo = a.used[i-1].Base + a.used[i-1].Size
		}
		if i < len(a.used) {
			hi = a.used[i].Base
		}
		loAligned := (lo + align - 1) / align * align
		if hi >= loAligned && hi-loAligned >= size {
			base := (hi - size) / align * align
			a.used = append(a.used, span{})
			copy(a.used[i+1:], a.used[i:])
			a.used[i] = span{base, size}
			return base, true
		}
	}
	return 0, false
}

// take marks [base, base+size) used (a restored VM's resources).
func (a *allocator) take(base, size uint64) {
	i := sort.Search(len(a.used), func(i int) bool { return a.used[i].Base >= base })
	a.used = append(a.used, span{})
	copy(a.used[i+1:], a.used[i:])
	a.used[i] = span{base, size}
}

// resource is a DeviceNode resource.
type resource struct {
	Kind  string `json:"kind"` // "PciBar" or "MmioAddressRange"
	Index int    `json:"index,omitempty"`
	Base  uint64 `json:"base"`
	Size  uint64 `json:"size"`
	Type  string `json:"type,omitempty"` // Mmio32, Mmio64
}

// devNode is a DeviceNode of CH's device tree.
type devNode struct {
	ID        string     `json:"id"`
	Resources []resource `json:"resources"`
	Parent    string     `json:"parent,omitempty"`
	Children  []string   `json:"children"`
	BDF       string     `json:"bdf,omitempty"`
	// Ejecting: vm.remove-device asked the guest to eject it.
	Ejecting bool `json:"ejecting,omitempty"`
}

// devices is a booted VM's device manager.
type devices struct {
	Nodes   map[string]*devNode `json:"nodes"`
	Slots   [32]bool            `json:"slots"`
	Counter int                 `json:"counter"` // CH's device_id_cnt
	MMIO32  *allocator          `json:"-"`
	MMIO64  *allocator          `json:"-"`
	// Used32 and Used64 carry the allocators' state in a snapshot.
	Used32 []span `json:"used32"`
	Used64 []span `json:"used64"`
}

// newDevices returns the device manager of a VM being built from cfg.
func (v *vmm) newDevices(cfg map[string]any) *devices {
	d := &devices{Nodes: map[string]*devNode{}}
	d.Slots[0] = true // the host bridge
	d.MMIO32 = &allocator{start: mem32DevicesStart, end: mem32DevicesStart + mem32DevicesSize}
	start := startOfDeviceArea(cfg)
	end := mmioAddressSpaceSize(cfg) - platformDeviceAreaSize // exclusive
	if !v.rel().atLeast(52, 0) {
		// Segment 0's window is a whole number of 4 GiB blocks; from
		// v52.0 the last segment also gets the remainder.
		end = start + (end-start)/(4<<30)*(4<<30)
	}
	d.MMIO64 = &allocator{start: start, end: end}
	return d
}

// mmioAddressSpaceSize is CH's (1 << phys_bits) - 64 KiB, phys_bits being
// cpus.max_phys_bits (the host is assumed to have as many).
func mmioAddressSpaceSize(cfg map[string]any) uint64 {
	cpus, _ := cfg["cpus"].(map[string]any)
	bits, ok := num(cpus["max_phys_bits"])
	if !ok || bits == 0 || bits > 52 {
		bits = 46
	}
	return 1<<bits - 1<<16
}

// startOfDeviceArea is where the 64-bit device area starts: after the RAM
// (at 4 GiB if it all fits below the 32-bit hole) and the ACPI hot-plug
// region.
func startOfDeviceArea(cfg map[string]any) uint64 {
	mem, _ := cfg["memory"].(map[string]any)
	ram, _ := num(mem["size"])
	hot, _ := num(mem["hotplug_size"])
	allowHotplug := hot > 0
	var end uint64 // last byte of RAM
	if ram <= mem32DevicesStart {
		end = ram - 1
	} else {
		end = ram64Start + (ram - mem32DevicesStart) - 1
	}
	start := end + 1
	if allowHotplug {
		start = end | (hotplugAlign - 1) + 1
	}
	if end < mem32DevicesStart {
		start = ram64Start
	}
	if method, _ := mem["hotplug_method"].(string); method != "VirtioMem" {
		start += hot
	}
	return start
}

// nextName is CH's next_device_name: prefix and the counter, skipping
// names in use.
func (d *devices) nextName(prefix string) string {
	for {
		n := fmt.Sprintf("%s%d", prefix, d.Counter)
		d.Counter++
		if d.Nodes[n] == nil {
			return n
		}
	}
}

func (d *devices) nextSlot() (int, bool) {
	for i, used := range d.Slots {
		if !used {
			d.Slots[i] = true
			return i, true
		}
	}
	return 0, false
}

// addLegacy adds a device that sits on no PCI bus.
func (d *devices) addLegacy(id string) {
	d.Nodes[id] = &devNode{ID: id, Resources: []resource{}, Children: []string{}}
}

// addVirtioPCI adds virtio device id (with its resources) behind a
// virtio-pci transport on the next free slot; use64 picks the BAR's
// window, align its alignment. It returns the BDF.
func (d *devices) addVirtioPCI(id string, res []resource, use64 bool, align uint64) (string, error) {
	slot, ok := d.nextSlot()
	if !ok {
		return "", fmt.Errorf("no free PCI slot")
	}
	win, typ := d.MMIO32, "Mmio32"
	if use64 {
		win, typ = d.MMIO64, "Mmio64"
	} else {
		align = capabilityBarSize
	}
	base, ok := win.alloc(capabilityBarSize, align)
	if !ok {
		d.Slots[slot] = false
		return "", fmt.Errorf("cannot allocate a BAR")
	}
	pciID := "_virtio-pci-" + id
	bdf := fmt.Sprintf("0000:00:%02x.0", slot)
	if res == nil {
		res = []resource{}
	}
	d.Nodes[id] = &devNode{ID: id, Resources: res, Parent: pciID, Children: []string{}}
	d.Nodes[pciID] = &devNode{ID: pciID, Resources: []resource{{Kind: "PciBar", Base: base, Size: capabilityBarSize, Type: typ}},
		Children: []string{id}, BDF: bdf}
	return bdf, nil
}

// encodeTree writes the device tree as vm.info does (a Rust HashMap: the
// order is CH's hash order; this writes the ids sorted). From v53.0 a
// DeviceNode leaves out its empty parent and pci_bdf.
func (d *devices) encodeTree(b *bytes.Buffer, skipNone bool) {
	ids := make([]string, 0, len(d.Nodes))
	for id := range d.Nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	b.WriteByte('{')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		n := d.Nodes[id]
		writeJSONString(b, id)
		b.WriteString(`:{"id":`)
		writeJSONString(b, n.ID)
		b.WriteString(`,"resources":[`)
		for k, r := range n.Resources {
			if k > 0 {
				b.WriteByte(',')
			}
			if r.Kind == "PciBar" {
				fmt.Fprintf(b, `{"PciBar":{"index":%d,"base":%d,"size":%d,"type_":"%s","prefetchable":false}}`, r.Index, r.Base, r.Size, r.Type)
			} else {
				fmt.Fprintf(b, `{"MmioAddressRange":{"base":%d,"size":%d}}`, r.Base, r.Size)
			}
		}
		b.WriteByte(']')
		writeOptional(b, "parent", n.Parent, skipNone)
		b.WriteString(`,"children":[`)
		for k, c := range n.Children {
			if k > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, c)
		}
		b.WriteByte(']')
		writeOptional(b, "pci_bdf", n.BDF, skipNone)
		b.WriteByte('}')
	}
	b.WriteByte('}')
}

// writeOptional writes the member name of an Option<String>, "" being
// None: null, or nothing with skipNone.
func writeOptional(b *bytes.Buffer, name, value string, skipNone bool) {
	switch {
	case value != "":
		b.WriteString(`,"` + name + `":`)
		writeJSONString(b, value)
	case !skipNone:
		b.WriteString(`,"` + name + `":null`)
	}
}
