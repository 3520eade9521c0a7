package chsim

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"syscall"
)

// vmm is the VMM's state, as CH's Vmm struct holds it: a stored VM config
// (vm.create) and, once a boot built it, a VM.
type vmm struct {
	s      *Server
	config map[string]any // VmConfig in the JSON view; nil: no VM created
	vm     *vmInstance    // CH's Vmm.vm; nil: not booted (or shut down)

	crashing  bool // the VMM exits once the current answer is out
	migrating bool // a send-migration worker owns the VM (v53.0)
}

// vmState is the state of a built VM.
type vmState int

const (
	// vmBuilt: the devices exist but the VM never ran (its boot failed
	// after building them).
	vmBuilt vmState = iota
	vmRunning
	vmPaused
)

// vmInstance is a built VM: its devices and its memory manager's view.
type vmInstance struct {
	state vmState
	dev   *devices
	// ram is the memory manager's current RAM; hotplugLeft what its ACPI
	// hot-plug region still holds.
	ram, hotplugLeft uint64
}

func newVMM(s *Server) *vmm { return &vmm{s: s} }

func (v *vmm) rel() release { return v.s.rel }

func (v *vmm) event(source, name string, props map[string]string) {
	v.s.events.emit(source, name, props)
}

func (v *vmm) running() bool { return v.vm != nil && v.vm.state == vmRunning }

// booted: CH's VM exists and ran (running or paused).
func (v *vmm) booted() bool { return v.vm != nil && v.vm.state != vmBuilt }

// stateName is vm.info's state, "" without a VM.
func (v *vmm) stateName() string {
	switch {
	case v.config == nil:
		return ""
	case v.vm == nil || v.vm.state == vmBuilt:
		return "Created"
	case v.vm.state == vmPaused:
		return "Paused"
	}
	return "Running"
}

func (v *vmm) ping(*apiRequest, map[string]any) ([]byte, *apiErr) {
	var b bytes.Buffer
	b.WriteString(`{"build_version":`)
	writeJSONString(&b, v.s.opts.buildVersion)
	b.WriteString(`,"version":`)
	writeJSONString(&b, v.rel().cargoVersion())
	fmt.Fprintf(&b, `,"pid":%d,"features":[`, v.s.pid)
	for i, f := range buildFeatures {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, f)
	}
	b.WriteString("]}")
	return b.Bytes(), nil
}

// buildFeatures are the cargo features of CH's release builds, as vmm.ping
// lists them: everything behind another feature (tdx, sev_snp, igvm,
// guest_debug, pvmemcontrol, ivshmem, fw_cfg, …) is absent from the
// simulated server, as from the real one.
var buildFeatures = []string{"io_uring", "kvm"}

func (v *vmm) info(*apiRequest, map[string]any) ([]byte, *apiErr) {
	if v.config == nil {
		return nil, failNotCreated(actInfo)
	}
	size := memoryTotal(v.config)
	if v.vm != nil {
		size -= balloonSize(v.config)
	}
	skipNone := v.rel().atLeast(53, 0)
	var b bytes.Buffer
	b.WriteString(`{"config":`)
	b.Write(encodeJSON(v.s.shapes.get("VmConfig"), v.config))
	fmt.Fprintf(&b, `,"state":"%s","memory_actual_size":%d`, v.stateName(), size)
	switch {
	case v.vm != nil:
		b.WriteString(`,"device_tree":`)
		v.vm.dev.encodeTree(&b, skipNone)
	case !skipNone:
		b.WriteString(`,"device_tree":null`)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (v *vmm) create(r *apiRequest, body map[string]any) ([]byte, *apiErr) {
	if v.config != nil {
		return nil, fail(actCreate, errVMAlreadyCreated)
	}
	// FDs are not taken from vm.create; numbers in the body are invalid.
	for _, n := range listOf(body, "net") {
		n["fds"] = nil
	}
	// v53.0 drops a VFIO device's fd the same way (DeviceConfig has one).
	for _, d := range listOf(body, "devices") {
		if _, has := d["fd"]; has {
			d["fd"] = nil
		}
	}
	v.config = body
	return nil, nil
}

func (v *vmm) boot(*apiRequest, map[string]any) ([]byte, *apiErr) {
	if v.config == nil {
		return nil, failMissingConfig(actBoot)
	}
	if v.vm != nil {
		if v.rel().atLeast(53, 0) {
			return nil, fail(actBoot, errVMAlreadyCreated)
		}
		switch v.vm.state {
		case vmPaused:
			v.resumeVM()
			return nil, nil
		case vmRunning:
			return nil, fail(actBoot, "invalid VM state transition: Running to Running")
		}
		// Real CH v48.0–v52.0 answer 204 to a boot after a failed one, then
		// the vCPU fails and the process exits with status 0 (the
		// recordings' third VMM): a crashed VM that looks like a clean exit.
		v.s.log.Warn("boot after a failed boot: the VMM exits with status 0, as CH does when its vCPU fails")
		v.crashing = true
		return nil, nil
	}
	if err := v.validate(v.config); err != nil {
		return nil, fail(actBoot, append([]string{"Failed to validate config"}, err...)...)
	}
	v.event("vm", "booting", nil)
	v.buildVM()
	if err := v.loadKernel(actBoot); err != nil {
		return nil, err
	}
	v.vm.state = vmRunning
	v.event("vm", "booted", nil)
	return nil, nil
}

// buildVM creates the VM from the config: its devices and memory.
func (v *vmm) buildVM() {
	mem, _ := v.config["memory"].(map[string]any)
	ram, _ := num(mem["size"])
	hot, _ := num(mem["hotplug_size"])
	v.vm = &vmInstance{state: vmBuilt, dev: v.newDevices(v.config), ram: ram, hotplugLeft: hot}
	v.createBootDevices()
}

// loadKernel does what CH's boot checks that the simulator can: the
// payload's kernel (or firmware) must open.
func (v *vmm) loadKernel(action string) *apiErr {
	payload, _ := v.config["payload"].(map[string]any)
	for _, key := range []string{"kernel", "firmware"} {
		if p, ok := payload[key].(string); ok && p != "" {
			f, err := os.Open(p)
			if err != nil {
				return fail(action, "Cannot open kernel file", osErrorText(err))
			}
			f.Close()
			return nil
		}
	}
	return nil
}

func (v *vmm) resumeVM() {
	v.event("vm", "resuming", nil)
	v.vm.state = vmRunning
	v.event("vm", "resumed", nil)
}

func (v *vmm) pause(*apiRequest, map[string]any) ([]byte, *apiErr) {
	if !v.booted() {
		return nil, fail(actPause, errVMNotRunning)
	}
	if v.vm.state == vmPaused {
		return nil, fail(actPause, "Cannot pause VM", "Failed to pause migratable component", "Invalid transition: InvalidStateTransition(Paused, Paused)")
	}
	v.event("vm", "pausing", nil)
	v.vm.state = vmPaused
	v.event("vm", "paused", nil)
	return nil, nil
}

func (v *vmm) resume(*apiRequest, map[string]any) ([]byte, *apiErr) {
	if !v.booted() {
		return nil, fail(actResume, errVMNotRunning)
	}
	if v.vm.state == vmRunning {
		return nil, fail(actResume, "Cannot resume VM", "Failed to resume migratable component", "Invalid transition: InvalidStateTransition(Running, Running)")
	}
	v.resumeVM()
	return nil, nil
}

func (v *vmm) shutdownVM() {
	v.vm = nil
	v.event("vm", "shutdown", nil)
}

func (v *vmm) shutdown(*apiRequest, map[string]any) ([]byte, *apiErr) {
	if !v.booted() {
		return nil, fail(actShutdown, errVMNotRunning)
	}
	v.shutdownVM()
	return nil, nil
}

func (v *vmm) reboot(*apiRequest, map[string]any) ([]byte, *apiErr) {
	if !v.booted() {
		return nil, failNotCreated(actReboot)
	}
	v.event("vm", "rebooting", nil)
	v.buildVM()
	if err := v.loadKernel(actReboot); err != nil {
		return nil, err
	}
	v.vm.state = vmRunning
	v.event("vm", "rebooted", nil)
	return nil, nil
}

func (v *vmm) powerButton(*apiRequest, map[string]any) ([]byte, *apiErr) {
	if !v.booted() {
		return nil, fail(actPowerButton, errVMNotRunning)
	}
	return nil, nil // no guest acts on it
}

func (v *vmm) nmi(*apiRequest, map[string]any) ([]byte, *apiErr) {
	if !v.booted() {
		return nil, fail(actNmi, errVMNotRunning)
	}
	return nil, nil
}

func (v *vmm) delete(*apiRequest, map[string]any) ([]byte, *apiErr) {
	if v.config == nil {
		return nil, nil
	}
	if v.vm != nil {
		v.shutdownVM()
	}
	v.config = nil
	v.event("vm", "deleted", nil)
	return nil, nil
}

func (v *vmm) vmmShutdown(r *apiRequest, b map[string]any) ([]byte, *apiErr) {
	v.delete(r, b)
	v.event("vmm", "shutdown", nil)
	return nil, nil
}

// Counters of a device that has done nothing: CH's latency minimums and
// maximums start at u64::MAX, and its averages at u64::MAX / 10000.
const (
	latencyUnset = "18446744073709551615"
	latencyAvg   = "1844674407370955"
)

func (v *vmm) counters(*apiRequest, map[string]any) ([]byte, *apiErr) {
	if !v.booted() {
		return nil, fail(actInfo, errVMNotRunning)
	}
	entries := map[string]string{}
	for _, d := range listOf(v.config, "disks") {
		if id, _ := d["id"].(string); v.vm.dev.Nodes[id] != nil {
			entries[id] = `{"read_bytes":0,"read_latency_avg":` + latencyAvg + `,"read_latency_max":` + latencyUnset +
				`,"read_latency_min":` + latencyUnset + `,"read_ops":0,"write_bytes":0,"write_latency_avg":` + latencyAvg +
				`,"write_latency_max":` + latencyUnset + `,"write_latency_min":` + latencyUnset + `,"write_ops":0}`
		}
	}
	for _, n := range listOf(v.config, "net") {
		if id, _ := n["id"].(string); v.vm.dev.Nodes[id] != nil {
			entries[id] = `{"rx_bytes":0,"rx_frames":0,"tx_bytes":0,"tx_frames":0}`
		}
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, id := range sortedKeys(entries) {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, id)
		b.WriteByte(':')
		b.WriteString(entries[id])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// diskCounters are the counters of a disk that has served no request, as
// CH writes them (virtio-devices/src/block.rs): its latencies start at
// u64::MAX, and an average is reported divided by LATENCY_SCALE (10000).
func diskCounters() map[string]uint64 {
	const unset, unsetAvg = math.MaxUint64, math.MaxUint64 / 10000
	return map[string]uint64{
		"read_bytes": 0, "read_ops": 0, "write_bytes": 0, "write_ops": 0,
		"read_latency_min": unset, "read_latency_max": unset, "read_latency_avg": unsetAvg,
		"write_latency_min": unset, "write_latency_max": unset, "write_latency_avg": unsetAvg,
	}
}

func (v *vmm) resize(_ *apiRequest, body map[string]any) ([]byte, *apiErr) {
	if v.config == nil {
		return nil, failNotCreated(actResize)
	}
	cpus, _ := v.config["cpus"].(map[string]any)
	mem, _ := v.config["memory"].(map[string]any)
	vcpus, hasVCPUs := num(body["desired_vcpus"])
	ram, hasRAM := num(body["desired_ram"])
	balloon, hasBalloon := num(body["desired_balloon"])
	if !v.booted() { // cold resize: CH only updates the config
		if hasVCPUs {
			cpus["boot_vcpus"] = vcpus
		}
		if hasRAM {
			mem["size"] = ram
		}
		if b, ok := v.config["balloon"].(map[string]any); ok && hasBalloon {
			b["size"] = balloon
		}
		return nil, nil
	}
	v.event("vm", "resizing", nil)
	if hasVCPUs {
		if max, _ := num(cpus["max_vcpus"]); vcpus > max {
			return nil, fail(actResize, "Error from CPU manager", "Requested vCPUs exceed maximum")
		}
		cpus["boot_vcpus"] = vcpus
	}
	if hasRAM {
		virtioMem := mem["hotplug_method"] == "VirtioMem"
		if ram > v.vm.ram {
			need := ram - v.vm.ram
			if need > v.vm.hotplugLeft {
				return nil, fail(actResize, "Memory manager error", "Not enough space in the hotplug RAM region")
			}
			v.vm.ram, v.vm.hotplugLeft = ram, v.vm.hotplugLeft-need
		}
		// CH updates the config whatever the memory manager did, so that a
		// reboot gets the last size asked for.
		size, _ := num(mem["size"])
		switch {
		case !virtioMem:
			mem["size"] = ram
		case ram > size:
			mem["hotplugged_size"] = ram - size
		default:
			mem["hotplugged_size"] = nil
		}
	}
	if hasBalloon {
		b, ok := v.config["balloon"].(map[string]any)
		if !ok {
			return nil, fail(actResize, "Error from device manager", "Missing virtio-balloon, can't proceed as expected")
		}
		b["size"] = balloon
	}
	v.event("vm", "resized", nil)
	return nil, nil
}

func (v *vmm) resizeZone(_ *apiRequest, body map[string]any) ([]byte, *apiErr) {
	if v.config == nil {
		return nil, failNotCreated(actResizeZone)
	}
	mem, _ := v.config["memory"].(map[string]any)
	id, _ := body["id"].(string)
	n, _ := num(body["desired_ram"])
	for _, z := range listOf(mem, "zones") {
		if z["id"] == id {
			if v.booted() {
				size, _ := num(z["size"])
				if n > size {
					z["hotplugged_size"] = n - size
				}
			} else {
				z["size"] = n
			}
			return nil, nil
		}
	}
	return nil, fail(actResizeZone, "Failed resizing a memory zone")
}

// unknownDevice is the device manager's error for an id it does not know;
// from v53.0 it names the id.
func (v *vmm) unknownDevice(id string) string {
	if v.rel().atLeast(53, 0) {
		return "Failed to find device corresponding to the given identifier: " + id
	}
	return "Failed to find device corresponding to the given identifier"
}

func (v *vmm) resizeDisk(_ *apiRequest, body map[string]any) ([]byte, *apiErr) {
	if v.config == nil {
		return nil, failNotCreated(actResizeDisk)
	}
	if !v.booted() {
		return nil, fail(actResizeDisk, "Failed resizing a disk image")
	}
	id, _ := body["id"].(string)
	size, _ := num(body["desired_size"])
	for _, d := range listOf(v.config, "disks") {
		if d["id"] == id && v.vm.dev.Nodes[id] != nil {
			if p, _ := d["path"].(string); p != "" {
				if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
					if err := os.Truncate(p, int64(size)); err != nil {
						return nil, fail(actResizeDisk, "Error from device manager", "Failed resizing the disk image", osErrorText(err))
					}
				}
			}
			return nil, nil
		}
	}
	return nil, fail(actResizeDisk, "Error from device manager", v.unknownDevice(id))
}

func (v *vmm) coredump(_ *apiRequest, body map[string]any) ([]byte, *apiErr) {
	if !v.booted() {
		return nil, fail(actCoredump, errVMNotRunning)
	}
	if v.vm.state != vmPaused {
		return nil, fail(actCoredump, "Error coredumping VM", "Trying to coredump while VM is running")
	}
	dest, _ := body["destination_url"].(string)
	p, ok := strings.CutPrefix(dest, "file://")
	if !ok {
		return nil, fail(actCoredump, "Error coredumping VM", "Could not extract path from URL: "+dest)
	}
	if err := os.WriteFile(p, []byte("\x7fELF"), 0o600); err != nil {
		return nil, fail(actCoredump, "Error coredumping VM", osErrorText(err))
	}
	return nil, nil
}

// osErrorText renders an OS error as Rust's io::Error does:
// "No such file or directory (os error 2)".
func osErrorText(err error) string {
	var no syscall.Errno
	if !errors.As(err, &no) {
		return err.Error()
	}
	msg := no.Error()
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:]
	}
	return fmt.Sprintf("%s (os error %d)", msg, uintptr(no))
}
