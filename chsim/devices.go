package chsim

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"slices"
)

// deviceKind is a kind of device of VmConfig: where its config lives, the
// id prefix CH gives it, the ApiError of a failed add.
type deviceKind struct {
	key    string // VmConfig member ("disks"); vsock is a single object
	prefix string // CH's generated id prefix ("_disk")
	action string // ApiError text of a failed add
	single bool   // VmConfig holds at most one (vsock)
	virtio bool   // a virtio device behind virtio-pci
}

var (
	kindDisk             = deviceKind{"disks", "_disk", actAddDisk, false, true}
	kindNet              = deviceKind{"net", "_net", actAddNet, false, true}
	kindFs               = deviceKind{"fs", "_fs", actAddFs, false, true}
	kindPmem             = deviceKind{"pmem", "_pmem", actAddPmem, false, true}
	kindVsock            = deviceKind{"vsock", "_vsock", actAddVsock, true, true}
	kindVdpa             = deviceKind{"vdpa", "_vdpa", actAddVdpa, false, true}
	kindVfio             = deviceKind{"devices", "_vfio", actAddDevice, false, false}
	kindUserDevice       = deviceKind{"user_devices", "_vfio_user", actAddUserDevice, false, false}
	kindGenericVhostUser = deviceKind{"generic_vhost_user", "_generic_vhost_user", actAddGeneric, false, true}
)

// bootOrder is the order in which CH's device manager creates the devices
// of a config (make_virtio_devices, then VFIO and vfio-user devices).
var bootOrder = []deviceKind{kindDisk, kindNet, kindGenericVhostUser, kindFs, kindPmem, kindVsock, kindVdpa, kindVfio, kindUserDevice}

// devicesOf returns the configs of kind k in cfg.
func devicesOf(cfg map[string]any, k deviceKind) []map[string]any {
	if k.single {
		if d, ok := cfg[k.key].(map[string]any); ok {
			return []map[string]any{d}
		}
		return nil
	}
	return listOf(cfg, k.key)
}

// createBootDevices builds the devices of a VM being booted from its
// config, naming the unnamed ones in the config as CH does.
func (v *vmm) createBootDevices() {
	d := v.vm.dev
	cfg := v.config
	d.addLegacy("__ioapic")
	if s, _ := cfg["serial"].(map[string]any); s["mode"] != "Off" {
		d.addLegacy("__serial")
	}
	if s, _ := cfg["debug_console"].(map[string]any); s != nil && s["mode"] != "Off" {
		d.addLegacy("__debug_console")
	}
	// Every virtio device is created (pmem ranges taken) before any is
	// put on the PCI bus.
	type pending struct {
		id    string
		res   []resource
		block bool
	}
	var queue []pending
	if c, _ := cfg["console"].(map[string]any); c["mode"] != "Off" {
		queue = append(queue, pending{id: "__console"})
	}
	for _, k := range []deviceKind{kindDisk, kindNet} {
		for _, dc := range devicesOf(cfg, k) {
			queue = append(queue, pending{id: v.deviceID(dc, k), block: k == kindDisk})
		}
	}
	queue = append(queue, pending{id: "__rng"})
	for _, k := range []deviceKind{kindGenericVhostUser, kindFs, kindPmem, kindVsock} {
		for _, dc := range devicesOf(cfg, k) {
			p := pending{id: v.deviceID(dc, k)}
			if k == kindPmem {
				p.res = v.pmemRange(dc)
			}
			queue = append(queue, p)
		}
	}
	if cfg["balloon"] != nil {
		queue = append(queue, pending{id: "__balloon"})
	}
	if w, _ := cfg["watchdog"].(bool); w {
		queue = append(queue, pending{id: "__watchdog"})
	}
	for _, dc := range devicesOf(cfg, kindVdpa) {
		queue = append(queue, pending{id: v.deviceID(dc, kindVdpa)})
	}
	for _, p := range queue {
		_, _ = d.addVirtioPCI(p.id, p.res, !p.block, v.barAlign())
	}
	for _, dc := range devicesOf(cfg, kindDisk) {
		markImageType(dc, v.rel())
	}
}

// deviceID returns the id of device config dc, naming it (in the config)
// if it has none.
func (v *vmm) deviceID(dc map[string]any, k deviceKind) string {
	if id, ok := dc["id"].(string); ok {
		return id
	}
	id := v.vm.dev.nextName(k.prefix)
	dc["id"] = id
	return id
}

// barAlign is the alignment of a virtio-pci BAR in the 64-bit window:
// from v53.0 8 MiB ("larger than natural alignment to work around Windows
// driver issues"), before its size.
func (v *vmm) barAlign() uint64 {
	if v.rel().atLeast(53, 0) {
		return 8 << 20
	}
	return capabilityBarSize
}

// pmemRange takes a pmem device's guest range (its file's size, or the
// configured size) from the 64-bit window.
func (v *vmm) pmemRange(dc map[string]any) []resource {
	size, ok := num(dc["size"])
	if !ok {
		if p, _ := dc["file"].(string); p != "" {
			if fi, err := os.Stat(p); err == nil {
				size = uint64(fi.Size())
			}
		}
	}
	if size == 0 {
		size = pmemAlign
	}
	base, ok := v.vm.dev.MMIO64.alloc(size, pmemAlign)
	if !ok {
		return nil
	}
	return []resource{{Kind: "MmioAddressRange", Base: base, Size: size}}
}

// markImageType records the image type CH found when it opened a disk
// (from v50.2, whose config has image_type).
func markImageType(dc map[string]any, r release) {
	if r.atLeast(50, 2) && dc["image_type"] == "Unknown" {
		if p, _ := dc["path"].(string); p != "" {
			dc["image_type"] = "Raw"
		}
	}
}

// idInUse reports whether any device (or memory zone) of cfg has id.
func idInUse(cfg map[string]any, id string) bool {
	for _, k := range bootOrder {
		for _, d := range devicesOf(cfg, k) {
			if d["id"] == id {
				return true
			}
		}
	}
	mem, _ := cfg["memory"].(map[string]any)
	for _, z := range listOf(mem, "zones") {
		if z["id"] == id {
			return true
		}
	}
	return false
}

// validate is the part of CH's VmConfig::validate the simulator models, in
// CH's order; it returns the error chain, or nil.
func (v *vmm) validate(cfg map[string]any) []string {
	payload, _ := cfg["payload"].(map[string]any)
	if payload == nil || (payload["kernel"] == nil && payload["firmware"] == nil) {
		return []string{"Payload configuration is not bootable", "No bootitem provided: neither firmware nor kernel"}
	}
	for _, key := range []string{"console", "serial"} {
		if c, _ := cfg[key].(map[string]any); c["mode"] == "File" && c["file"] == nil {
			return []string{"Path missing when using file console mode"}
		}
	}
	cpus, _ := cfg["cpus"].(map[string]any)
	boot, _ := num(cpus["boot_vcpus"])
	max, _ := num(cpus["max_vcpus"])
	if max < boot {
		if v.rel().atLeast(51, 2) {
			return []string{fmt.Sprintf("Max CPUs (%d) lower than boot CPUs (%d)", max, boot)}
		}
		return []string{"Max CPUs lower than boot CPUs"}
	}
	mem, _ := cfg["memory"].(map[string]any)
	shared := mem["shared"] == true || mem["hugepages"] == true
	const needShared = "Using vhost-user requires using shared memory or huge pages"
	ids := map[string]bool{}
	unique := func(d map[string]any) []string {
		id, ok := d["id"].(string)
		if !ok {
			return nil
		}
		if ids[id] {
			return []string{fmt.Sprintf("Identifier %s is not unique", id)}
		}
		ids[id] = true
		return nil
	}
	for _, d := range listOf(cfg, "disks") {
		if d["vhost_user"] == true && !shared {
			return []string{needShared}
		}
		if d["vhost_user"] == true && d["vhost_socket"] == nil {
			return []string{"No socket provided when using vhost-user"}
		}
		if err := unique(d); err != nil {
			return err
		}
	}
	for _, n := range listOf(cfg, "net") {
		if n["vhost_user"] == true && !shared {
			return []string{needShared}
		}
		if q, _ := num(n["num_queues"]); q < 2 {
			if v.rel().atLeast(51, 2) {
				return []string{fmt.Sprintf("Number of queues (%d) to virtio_net should be higher than 2", q)}
			}
			return []string{"Number of queues to virtio_net less than 2"}
		}
		if err := unique(n); err != nil {
			return err
		}
	}
	if v.rel().atLeast(52, 0) && len(listOf(cfg, "generic_vhost_user")) > 0 && !shared {
		return []string{needShared}
	}
	if fs := listOf(cfg, "fs"); len(fs) > 0 && !shared {
		return []string{needShared}
	}
	for _, k := range []deviceKind{kindFs, kindPmem} {
		for _, d := range devicesOf(cfg, k) {
			if err := unique(d); err != nil {
				return err
			}
		}
	}
	if u := listOf(cfg, "user_devices"); len(u) > 0 && !shared {
		return []string{"Using user devices requires using shared memory or huge pages"}
	}
	for _, k := range []deviceKind{kindUserDevice, kindVdpa} {
		for _, d := range devicesOf(cfg, k) {
			if err := unique(d); err != nil {
				return err
			}
		}
	}
	if vs, ok := cfg["vsock"].(map[string]any); ok {
		if cid, _ := num(vs["cid"]); cid <= 2 || cid == 0xffffffff {
			return []string{fmt.Sprintf("%d is a special VSOCK CID", cid)}
		}
	}
	for _, k := range []deviceKind{kindVfio, kindVsock} {
		for _, d := range devicesOf(cfg, k) {
			if err := unique(d); err != nil {
				return err
			}
		}
	}
	return nil
}

// addDevice returns the handler of a vm.add-* endpoint.
func addDevice(k deviceKind) func(*vmm, *apiRequest, map[string]any) ([]byte, *apiErr) {
	return func(v *vmm, r *apiRequest, body map[string]any) ([]byte, *apiErr) {
		if v.config == nil {
			return nil, failNotCreated(k.action)
		}
		if k == kindNet {
			// CH ignores fd numbers in the body and takes every fd that
			// came with the request; they serialise as -1.
			body["fds"] = nil
			if n := len(r.fds); n > 0 {
				fds := make([]any, n)
				for i := range fds {
					fds[i] = int64(-1)
				}
				body["fds"] = fds
			}
		}
		if k.single && v.config[k.key] != nil {
			return nil, fail(k.action, "Too many virtio-vsock devices")
		}
		trial := cloneJSON(v.config).(map[string]any)
		appendDevice(trial, k, cloneJSON(body).(map[string]any))
		if err := v.validate(trial); err != nil {
			return nil, fail(k.action, append([]string{"Failed to validate config"}, err...)...)
		}
		if !v.booted() {
			appendDevice(v.config, k, body)
			return nil, nil // cold plug: 204
		}
		bdf, err := v.hotplug(k, body)
		if err != nil {
			return nil, fail(k.action, append([]string{"Error from device manager"}, err...)...)
		}
		appendDevice(v.config, k, body)
		id, _ := body["id"].(string)
		var b bytes.Buffer
		b.WriteString(`{"id":`)
		writeJSONString(&b, id)
		b.WriteString(`,"bdf":`)
		writeJSONString(&b, bdf)
		b.WriteByte('}')
		return b.Bytes(), nil // PciDeviceInfo
	}
}

func appendDevice(cfg map[string]any, k deviceKind, d map[string]any) {
	if k.single {
		cfg[k.key] = d
		return
	}
	list, _ := cfg[k.key].([]any)
	cfg[k.key] = append(list, d)
}

// hotplug creates device body of kind k in the running VM, as CH's device
// manager would, and returns its BDF or the error chain.
func (v *vmm) hotplug(k deviceKind, body map[string]any) (string, []string) {
	d := v.vm.dev
	switch k {
	case kindVfio:
		return "", []string{"Cannot create a VFIO device", "failed to open /dev/vfio/vfio container: No such file or directory (os error 2)", "No such file or directory (os error 2)"}
	case kindVdpa:
		p, _ := body["path"].(string)
		if _, err := os.Stat(p); err != nil {
			return "", []string{"Cannot create vdpa device", "Failed to create vhost-vdpa", "failure in opening vhost file: " + osErrorText(err)}
		}
	}
	id := v.deviceID(body, k)
	var res []resource
	switch k {
	case kindDisk:
		p, _ := body["path"].(string)
		if body["path"] == nil {
			return "", []string{"No disk path was specified when one was expected"}
		}
		f, err := os.Open(p)
		if err != nil {
			if v.rel().atLeast(52, 0) {
				return "", []string{"Cannot open disk path", fmt.Sprintf("I/O error (path=%s op=open)", p), osErrorText(err)}
			}
			return "", []string{"Cannot open disk path", osErrorText(err)}
		}
		f.Close()
		markImageType(body, v.rel())
	case kindNet:
		if tap, _ := body["tap"].(string); tap != "" {
			for _, n := range listOf(v.config, "net") {
				if n["tap"] == tap && d.Nodes[fmt.Sprint(n["id"])] != nil {
					return "", []string{"Cannot create virtio-net device", "Failed to open taps", "Open tap device failed", "Unable to configure tap interface", "Device or resource busy (os error 16)"}
				}
			}
		}
	case kindPmem:
		res = v.pmemRange(body)
	}
	// Hot-plugged block devices get a 64-bit BAR from v52.0.
	use64 := k != kindDisk || v.rel().atLeast(52, 0)
	bdf, err := d.addVirtioPCI(id, res, use64, v.barAlign())
	if err != nil {
		return "", []string{err.Error()}
	}
	return bdf, nil
}

func (v *vmm) removeDevice(_ *apiRequest, body map[string]any) ([]byte, *apiErr) {
	if v.config == nil {
		return nil, failNotCreated(actRemoveDevice)
	}
	id, _ := body["id"].(string)
	if v.booted() {
		n := v.vm.dev.Nodes[id]
		if n == nil {
			return nil, fail(actRemoveDevice, "Error from device manager", v.unknownDevice(id))
		}
		if p := v.vm.dev.Nodes[n.Parent]; p == nil && n.BDF == "" {
			return nil, fail(actRemoveDevice, "Error from device manager", "Could not find the node in the device tree")
		}
		if t, fixed := unremovable[id]; fixed {
			return nil, fail(actRemoveDevice, "Error from device manager", "Not allowed to remove this type of device from the VM: "+t)
		}
		// CH asks the guest to eject the device (again, if it asked
		// before) and removes it once the guest did; no guest runs here,
		// so it stays in the device tree, with its slot and ranges, until
		// the VM is built again.
		n.Ejecting = true
	}
	if !removeDeviceConfig(v.config, id) && !v.booted() {
		// VmError::NoDeviceToRemove formats the id with {0:?}: quoted.
		return nil, fail(actRemoveDevice, fmt.Sprintf("No device with id %q to remove", id))
	}
	return nil, nil
}

// unremovable are the virtio devices CH refuses to unplug, by id, and
// their VirtioDeviceType's name.
var unremovable = map[string]string{"__rng": "rng", "__console": "console", "__balloon": "balloon", "__watchdog": "watchdog"}

// removeDeviceConfig is CH's VmConfig::remove_device: every list keeps
// what does not have id (an emptied list stays, empty).
func removeDeviceConfig(cfg map[string]any, id string) bool {
	removed := false
	for _, k := range bootOrder {
		if k.single {
			if d, ok := cfg[k.key].(map[string]any); ok && d["id"] == id {
				cfg[k.key] = nil
				removed = true
			}
			continue
		}
		list, ok := cfg[k.key].([]any)
		if !ok {
			continue
		}
		kept := slices.DeleteFunc(slices.Clone(list), func(e any) bool {
			m, _ := e.(map[string]any)
			return m != nil && m["id"] == id
		})
		if len(kept) != len(list) {
			removed = true
		}
		cfg[k.key] = kept
	}
	return removed
}

// badRequestErr is the HTTP layer's ["Bad Request"] raised from a handler.
func badRequestErr() *apiErr {
	return &apiErr{raw: []string{"Bad Request"}, status: http.StatusBadRequest}
}
