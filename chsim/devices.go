package chsim

import (
	"fmt"
	"net/http"
	"slices"
)

// deviceKind is a kind of hot-pluggable device: where its config lives in
// VmConfig, the id prefix CH gives it, the ApiError of a failed add.
type deviceKind struct {
	key    string // VmConfig member ("disks"); vsock is a single object
	schema string // component schema of its config
	prefix string // CH's generated id prefix ("_disk")
	action string // ApiError text of a failed add
	single bool   // VmConfig holds at most one (vsock)
}

var (
	kindDisk             = deviceKind{"disks", "DiskConfig", "_disk", actAddDisk, false}
	kindNet              = deviceKind{"net", "NetConfig", "_net", actAddNet, false}
	kindFs               = deviceKind{"fs", "FsConfig", "_fs", actAddFs, false}
	kindPmem             = deviceKind{"pmem", "PmemConfig", "_pmem", actAddPmem, false}
	kindVsock            = deviceKind{"vsock", "VsockConfig", "_vsock", actAddVsock, true}
	kindVdpa             = deviceKind{"vdpa", "VdpaConfig", "_vdpa", actAddVdpa, false}
	kindVfio             = deviceKind{"devices", "DeviceConfig", "_vfio", actAddDevice, false}
	kindUserDevice       = deviceKind{"user_devices", "VmAddUserDevice", "_vfio_user", actAddUserDevice, false}
	kindGenericVhostUser = deviceKind{"generic_vhost_user", "GenericVhostUserConfig", "_generic_vhost_user", actAddGeneric, false}
)

// bootOrder is the order in which CH's device manager creates devices.
var bootOrder = []deviceKind{kindDisk, kindNet, kindFs, kindPmem, kindVsock, kindVdpa, kindGenericVhostUser, kindVfio, kindUserDevice}

// pciBus hands out device names and PCI slots of a booted VM, as CH's
// device manager does (one counter for every generated name).
type pciBus struct {
	nextName int
	nextSlot int
	bdf      map[string]string // device id → BDF
	order    []string
}

func (b *pciBus) name(prefix string) string {
	n := fmt.Sprintf("%s%d", prefix, b.nextName)
	b.nextName++
	return n
}

func (b *pciBus) attach(id string) string {
	if b.bdf == nil {
		b.bdf = map[string]string{}
		b.nextSlot = 1 // slot 0 is the host bridge
	}
	bdf := fmt.Sprintf("0000:00:%02x.0", b.nextSlot)
	b.nextSlot++
	b.bdf[id] = bdf
	b.order = append(b.order, id)
	return bdf
}

func (b *pciBus) detach(id string) {
	delete(b.bdf, id)
	b.order = slices.DeleteFunc(b.order, func(s string) bool { return s == id })
}

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

// assignBootDevices names and places every device of a VM being booted.
func (v *vmm) assignBootDevices() {
	if c, _ := v.config["console"].(map[string]any); c != nil && c["mode"] != "Off" {
		v.pci.attach("__console")
	}
	if v.config["rng"] != nil {
		v.pci.attach("__rng")
	}
	for _, k := range bootOrder {
		for _, d := range devicesOf(v.config, k) {
			id, _ := d["id"].(string)
			if id == "" {
				id = v.pci.name(k.prefix)
				d["id"] = id
			}
			v.pci.attach(id)
		}
	}
}

// deviceTree is vm.info's device_tree of a booted VM.
func (v *vmm) deviceTree() map[string]any {
	tree := map[string]any{}
	for _, id := range v.pci.order {
		pciID := "_virtio-pci-" + id
		tree[id] = map[string]any{"id": id, "resources": []any{}, "children": []string{}, "pci_bdf": nil}
		tree[pciID] = map[string]any{"id": pciID, "resources": []any{}, "children": []string{id}, "pci_bdf": v.pci.bdf[id]}
	}
	return tree
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
					fds[i] = -1
				}
				body["fds"] = fds
			}
		}
		if id, _ := body["id"].(string); id != "" && idInUse(v.config, id) {
			return nil, fail(k.action, "Error validating configuration", fmt.Sprintf("Identifier %s is not unique", id))
		}
		if k.single && v.config[k.key] != nil {
			return nil, fail(k.action, "Too many vsock devices")
		}
		d := v.s.fillSchema(k.schema, body)
		if k.single {
			v.config[k.key] = d
		} else {
			list, _ := v.config[k.key].([]any)
			v.config[k.key] = append(list, d)
		}
		if !v.booted {
			return nil, nil // cold plug: 204
		}
		id, _ := d["id"].(string)
		if id == "" {
			id = v.pci.name(k.prefix)
			d["id"] = id
		}
		bdf := v.pci.attach(id)
		return mustJSON(map[string]string{"id": id, "bdf": bdf}), nil
	}
}

func (v *vmm) removeDevice(_ *apiRequest, body map[string]any) ([]byte, *apiErr) {
	if v.config == nil {
		return nil, failNotCreated(actRemoveDevice)
	}
	id, _ := body["id"].(string)
	removed := false
	for _, k := range bootOrder {
		if k.single {
			if d, ok := v.config[k.key].(map[string]any); ok && d["id"] == id {
				v.config[k.key] = nil
				removed = true
			}
			continue
		}
		list, _ := v.config[k.key].([]any)
		kept := slices.DeleteFunc(slices.Clone(list), func(e any) bool {
			m, _ := e.(map[string]any)
			return m != nil && m["id"] == id
		})
		if len(kept) != len(list) {
			removed = true
			if len(kept) == 0 {
				v.config[k.key] = nil
			} else {
				v.config[k.key] = kept
			}
		}
	}
	if !removed {
		if v.booted {
			return nil, fail(actRemoveDevice, "Error from device manager", fmt.Sprintf("Unknown device ID %s", id))
		}
		// VmError::NoDeviceToRemove formats the id with {0:?}: quoted.
		return nil, fail(actRemoveDevice, fmt.Sprintf("No device with id %q to remove", id))
	}
	if v.booted {
		v.pci.detach(id)
	}
	return nil, nil
}

// badRequestErr is the HTTP layer's ["Bad Request"] raised from a handler.
func badRequestErr() *apiErr {
	return &apiErr{raw: []string{"Bad Request"}, status: http.StatusBadRequest}
}
