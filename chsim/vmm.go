package chsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"syscall"
)

// vmm is the VMM's state, as CH's Vmm struct holds it: a stored VM config
// (vm.create) and, once booted, a VM that is running or paused.
type vmm struct {
	s      *Server
	config map[string]any // nil: no VM created
	booted bool           // CH's Vmm.vm is Some
	paused bool
	pci    pciBus

	bootFailed bool // a boot failed after building part of the VM
	crashing   bool // the VMM exits (status 0) once the current answer is out
}

func newVMM(s *Server) *vmm { return &vmm{s: s} }

func (v *vmm) rel() release { return v.s.rel }

func (v *vmm) event(source, name string, props map[string]string) {
	v.s.events.emit(source, name, props)
}

// stateName is vm.info's state, "" without a VM.
func (v *vmm) stateName() string {
	switch {
	case v.config == nil:
		return ""
	case !v.booted:
		return "Created"
	case v.paused:
		return "Paused"
	}
	return "Running"
}

func (v *vmm) ping(*apiRequest, map[string]any) ([]byte, *apiErr) {
	return mustJSON(struct {
		BuildVersion string   `json:"build_version"`
		Version      string   `json:"version"`
		PID          int      `json:"pid"`
		Features     []string `json:"features"`
	}{v.s.opts.buildVersion, v.rel().cargoVersion(), v.s.pid, []string{"io_uring", "kvm"}}), nil
}

func (v *vmm) info(*apiRequest, map[string]any) ([]byte, *apiErr) {
	if v.config == nil {
		return nil, failNotCreated(actInfo)
	}
	size := memoryTotal(v.config)
	if v.booted {
		size -= balloonSize(v.config)
	}
	var tree any
	if v.booted {
		tree = v.deviceTree()
	}
	return mustJSON(struct {
		Config           map[string]any `json:"config"`
		State            string         `json:"state"`
		MemoryActualSize uint64         `json:"memory_actual_size"`
		DeviceTree       any            `json:"device_tree"`
	}{v.config, v.stateName(), size, tree}), nil
}

func (v *vmm) create(r *apiRequest, body map[string]any) ([]byte, *apiErr) {
	if v.config != nil {
		return nil, fail(actCreate, errVMAlreadyCreated)
	}
	// FDs are not taken from vm.create; numbers in the body are invalid.
	for _, n := range listOf(body, "net") {
		if n["fds"] != nil {
			n["fds"] = nil
		}
	}
	v.config = v.s.fillVMConfig(body)
	return nil, nil
}

func (v *vmm) boot(*apiRequest, map[string]any) ([]byte, *apiErr) {
	if v.config == nil {
		return nil, failMissingConfig(actBoot)
	}
	if v.booted {
		if v.paused {
			v.resumeVM()
			return nil, nil
		}
		return nil, fail(actBoot, "invalid VM state transition: Running to Running")
	}
	if v.bootFailed {
		// Real CH v48 answered 204 to a boot after a failed one, then a
		// vCPU failed and the process exited with status 0 (REAL-BEHAVIOUR,
		// second VMM): a crashed VM that looks like a clean exit.
		v.s.log.Warn("boot after a failed boot: the VMM exits with status 0, as CH does when its vCPU fails")
		v.crashing = true
		return nil, nil
	}
	if err := v.newVM(actBoot); err != nil {
		v.bootFailed = true
		return nil, err
	}
	v.bootVM()
	return nil, nil
}

// newVM does what CH's Vm::new checks that the simulator can: the payload's
// kernel (or firmware) must open.
func (v *vmm) newVM(action string) *apiErr {
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

func (v *vmm) bootVM() {
	v.event("vm", "booting", nil)
	v.booted, v.paused = true, false
	v.pci = pciBus{}
	v.assignBootDevices()
	v.event("vm", "booted", nil)
}

func (v *vmm) resumeVM() {
	v.event("vm", "resuming", nil)
	v.paused = false
	v.event("vm", "resumed", nil)
}

func (v *vmm) pause(*apiRequest, map[string]any) ([]byte, *apiErr) {
	if !v.booted {
		return nil, fail(actPause, errVMNotRunning)
	}
	if v.paused {
		return nil, fail(actPause, "Cannot pause VM", "Failed to pause migratable component", "Invalid transition: InvalidStateTransition(Paused, Paused)")
	}
	v.event("vm", "pausing", nil)
	v.paused = true
	v.event("vm", "paused", nil)
	return nil, nil
}

func (v *vmm) resume(*apiRequest, map[string]any) ([]byte, *apiErr) {
	if !v.booted {
		return nil, fail(actResume, errVMNotRunning)
	}
	if !v.paused {
		return nil, fail(actResume, "Cannot resume VM", "Failed to resume migratable component", "Invalid transition: InvalidStateTransition(Running, Running)")
	}
	v.resumeVM()
	return nil, nil
}

func (v *vmm) shutdownVM() {
	v.booted, v.paused = false, false
	v.event("vm", "shutdown", nil)
}

func (v *vmm) shutdown(*apiRequest, map[string]any) ([]byte, *apiErr) {
	if !v.booted {
		return nil, fail(actShutdown, errVMNotRunning)
	}
	v.shutdownVM()
	return nil, nil
}

func (v *vmm) reboot(*apiRequest, map[string]any) ([]byte, *apiErr) {
	if !v.booted {
		return nil, failNotCreated(actReboot)
	}
	v.shutdownVM()
	if err := v.newVM(actReboot); err != nil {
		return nil, err
	}
	v.bootVM()
	return nil, nil
}

func (v *vmm) powerButton(*apiRequest, map[string]any) ([]byte, *apiErr) {
	if !v.booted {
		return nil, fail(actPowerButton, errVMNotRunning)
	}
	return nil, nil // no guest acts on it
}

func (v *vmm) nmi(*apiRequest, map[string]any) ([]byte, *apiErr) {
	if !v.booted {
		return nil, fail(actNmi, errVMNotRunning)
	}
	return nil, nil
}

func (v *vmm) delete(*apiRequest, map[string]any) ([]byte, *apiErr) {
	if v.config == nil {
		return nil, nil
	}
	if v.booted {
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

func (v *vmm) counters(*apiRequest, map[string]any) ([]byte, *apiErr) {
	if !v.booted {
		return nil, fail(actInfo, errVMNotRunning)
	}
	out := map[string]map[string]uint64{}
	for _, d := range listOf(v.config, "disks") {
		if id, _ := d["id"].(string); id != "" {
			out[id] = diskCounters()
		}
	}
	for _, n := range listOf(v.config, "net") {
		if id, _ := n["id"].(string); id != "" {
			out[id] = map[string]uint64{"rx_bytes": 0, "rx_frames": 0, "tx_bytes": 0, "tx_frames": 0}
		}
	}
	return mustJSON(out), nil
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
	if !v.booted { // cold resize: CH only updates the config
		if n, ok := num(body["desired_vcpus"]); ok {
			cpus["boot_vcpus"] = n
		}
		if n, ok := num(body["desired_ram"]); ok {
			mem["size"] = n
		}
		if n, ok := num(body["desired_balloon"]); ok {
			if b, ok := v.config["balloon"].(map[string]any); ok {
				b["size"] = n
			}
		}
		return nil, nil
	}
	v.event("vm", "resizing", nil)
	if n, ok := num(body["desired_vcpus"]); ok {
		if max, _ := num(cpus["max_vcpus"]); n > max {
			return nil, fail(actResize, "Error from CPU manager", "Requested vCPUs exceed maximum")
		}
		cpus["boot_vcpus"] = n
	}
	if n, ok := num(body["desired_ram"]); ok {
		size, _ := num(mem["size"])
		hot, hasHot := num(mem["hotplug_size"])
		switch {
		case n < size:
			return nil, fail(actResize, "Error from memory manager", "Invalid size: memory cannot shrink below the boot size")
		case n > size && (!hasHot || n-size > hot):
			return nil, fail(actResize, "Error from memory manager", "Memory hotplug is not possible: not enough hotplug space")
		case n > size:
			mem["hotplugged_size"] = n - size
		default:
			mem["hotplugged_size"] = nil
		}
	}
	if n, ok := num(body["desired_balloon"]); ok {
		if b, ok := v.config["balloon"].(map[string]any); ok {
			b["size"] = n
		}
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
			if v.booted {
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

func (v *vmm) resizeDisk(_ *apiRequest, body map[string]any) ([]byte, *apiErr) {
	if v.config == nil {
		return nil, failNotCreated(actResizeDisk)
	}
	if !v.booted {
		return nil, fail(actResizeDisk, errVMNotRunning)
	}
	id, _ := body["id"].(string)
	size, _ := num(body["desired_size"])
	for _, d := range listOf(v.config, "disks") {
		if d["id"] == id {
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
	return nil, fail(actResizeDisk, "Error from device manager", fmt.Sprintf("Unknown device ID %s", id))
}

func (v *vmm) coredump(_ *apiRequest, body map[string]any) ([]byte, *apiErr) {
	if !v.booted {
		return nil, fail(actCoredump, errVMNotRunning)
	}
	if !v.paused {
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

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("chsim: cannot encode an answer: " + err.Error())
	}
	return b
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
