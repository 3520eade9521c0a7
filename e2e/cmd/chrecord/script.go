package main

import (
	"fmt"

	"github.com/chvmm/chvmm/chsim/recording"
)

// The working directory's files (recording.TmpPlaceholder is its path).
const (
	kernelPath   = "<tmp>/pvh-guest"
	snapDir      = "<tmp>/snap"
	remoteSnap   = "<tmp>/snap-remote"
	diskCold     = "<tmp>/disk-cold.raw"
	diskHot      = "<tmp>/disk-hot.raw"
	diskRemote   = "<tmp>/disk-remote.raw"
	pmemFile     = "<tmp>/pmem.raw"
	pmemRemote   = "<tmp>/pmem-remote.raw"
	remoteConfig = "<tmp>/vm-remote.json"
	diskSize     = 1 << 20
	pmemSize     = 2 << 20
	// tapMain and tapRemote are the TAP devices add-net asks CH to
	// create (as root, CH creates a TAP it is given by name).
	tapMain   = "chrec0"
	tapRemote = "chrec1"
)

// Sizes of the recorded VMs.
const (
	bootMemory    = 128 << 20
	hotplugMemory = 128 << 20
)

func files() []recording.File {
	return []recording.File{
		{Path: kernelPath, Kind: recording.FileKernel},
		{Path: snapDir, Kind: recording.FileDir},
		{Path: remoteSnap, Kind: recording.FileDir},
		{Path: diskCold, Kind: recording.FileZeroes, Size: diskSize},
		{Path: diskHot, Kind: recording.FileZeroes, Size: diskSize},
		{Path: diskRemote, Kind: recording.FileZeroes, Size: diskSize},
		{Path: pmemFile, Kind: recording.FileZeroes, Size: pmemSize},
		{Path: pmemRemote, Kind: recording.FileZeroes, Size: pmemSize},
		{Path: remoteConfig, Kind: recording.FileText, Content: vmConfig(serialLog(5)) + "\n"},
	}
}

func serialLog(vmm int) string { return fmt.Sprintf("<tmp>/serial-%d.log", vmm) }

func socketPath(vmm int) string { return fmt.Sprintf("<tmp>/api-%d.sock", vmm) }

// vmConfig is the VM of the script: the PVH guest, 1 of at most 2 vCPUs,
// 128 MiB and 128 MiB more to hot-plug, serial to a file, no console.
func vmConfig(serial string) string {
	return fmt.Sprintf(`{"cpus":{"boot_vcpus":1,"max_vcpus":2},"memory":{"size":%d,"hotplug_size":%d},"payload":{"kernel":%q},"serial":{"mode":"File","file":%q},"console":{"mode":"Off"}}`,
		bootMemory, hotplugMemory, kernelPath, serial)
}

// netConfig is a TAP-backed net device with every address given, so that
// CH makes up none (no random MAC).
func netConfig(tap, id string, mac byte) string {
	cfg := fmt.Sprintf(`{"tap":%q,"ip":"192.168.249.1","mask":"255.255.255.0","mac":"52:54:00:00:00:%02x","host_mac":"52:54:00:00:01:%02x"`, tap, mac, mac)
	if id != "" {
		cfg += fmt.Sprintf(`,"id":%q`, id)
	}
	return cfg + "}"
}

// builder assembles the script; each step goes to the current VMM.
type builder struct {
	rel   release
	vmm   int
	steps []recording.Step
}

func (b *builder) start() {
	b.vmm++
	b.steps = append(b.steps, recording.Step{Kind: recording.KindStart, VMM: b.vmm, Socket: socketPath(b.vmm)})
}

// call sends method to path relative to /api/v1 ("vm.info").
func (b *builder) call(method, endpoint, label, body string) {
	b.raw(method, "/api/v1/"+endpoint, label, body)
}

// raw sends method to a full path.
func (b *builder) raw(method, path, label, body string) {
	b.steps = append(b.steps, recording.Step{Kind: recording.KindCall, VMM: b.vmm, Label: label, Method: method, Path: path, Body: body})
}

func (b *builder) get(endpoint, label string)       { b.call("GET", endpoint, label, "") }
func (b *builder) put(endpoint, label, body string) { b.call("PUT", endpoint, label, body) }
func (b *builder) exit(label string)                { b.add(recording.Step{Kind: recording.KindExit, Label: label}) }
func (b *builder) list(dir, label string) {
	b.add(recording.Step{Kind: recording.KindList, Label: label, Path: dir})
}
func (b *builder) remote(label string, args ...string) {
	b.add(recording.Step{Kind: recording.KindCHRemote, Label: label, Args: append([]string{"--api-socket", socketPath(b.vmm)}, args...)})
}
func (b *builder) remoteAt(label string, args ...string) {
	b.add(recording.Step{Kind: recording.KindCHRemote, Label: label, Args: args})
}

// guest waits for the guest of the current VMM: wait is
// recording.WaitMarker (it booted or reset) or recording.WaitCounter (it
// runs on).
func (b *builder) guest(wait, label string) { b.guestAt(serialLog(b.vmm), wait, label) }

// guestAt waits for the guest writing serial.
func (b *builder) guestAt(serial, wait, label string) {
	b.add(recording.Step{Kind: recording.KindGuest, Label: label, Path: serial, Wait: wait})
}

func (b *builder) add(s recording.Step) {
	s.VMM = b.vmm
	b.steps = append(b.steps, s)
}

// lifecycle sends every lifecycle verb that does not create or boot: in
// the states where each fails, the order does not matter.
func (b *builder) failingVerbs(state string, verbs ...string) {
	for _, v := range verbs {
		b.put(v, v+" ("+state+")", "")
	}
}

// script returns the whole script for release rel.
func script(rel release) []recording.Step {
	b := &builder{rel: rel}
	b.apiScript()
	b.restoreScript()
	b.missingKernelScript()
	b.defaultsScript()
	b.remoteScript()
	b.sendMigrationScript()
	return b.steps
}

// apiScript is the first VMM's tour of the VM states: no VM, created,
// running, paused, rebooted, shut down, deleted, then the HTTP layer's
// errors and vmm.shutdown.
func (b *builder) apiScript() {
	b.start()
	cfg := vmConfig(serialLog(b.vmm))

	// No VM.
	b.get("vmm.ping", "vmm.ping")
	b.get("vm.info", "vm.info (no VM)")
	b.get("vm.counters", "vm.counters (no VM)")
	b.failingVerbs("no VM", "vm.boot", "vm.pause", "vm.resume", "vm.shutdown", "vm.reboot", "vm.power-button", "vm.nmi")
	b.put("vmm.nmi", "vmm.nmi: the v48-v52 specs' path (no VM)", "")
	b.deviceCalls("no VM")
	b.put("vm.snapshot", "vm.snapshot (no VM)", `{"destination_url":"file://`+snapDir+`"}`)
	b.put("vm.restore", "vm.restore of a missing snapshot (no VM)", `{"source_url":"file://<tmp>/no-snapshot"}`)
	b.put("vm.coredump", "vm.coredump (no VM; release builds lack guest_debug)", `{"destination_url":"file://<tmp>/core"}`)
	b.put("vm.receive-migration", "vm.receive-migration to a socket in a missing directory (no VM)", `{"receiver_url":"unix:<tmp>/no-dir/migration.sock"}`)
	b.put("vm.receive-migration", "vm.receive-migration with a URL of no known scheme (no VM)", `{"receiver_url":"bogus:x"}`)
	b.put("vm.delete", "vm.delete (no VM)", "")

	// Bodies the HTTP layer or serde refuses.
	b.put("vm.create", "vm.create: malformed JSON", `{"cpus": {"boot_vcpus": 1`)
	b.put("vm.create", "vm.create: trailing characters", `{}x`)
	b.put("vm.create", "vm.create: an array", `[]`)
	b.put("vm.create", "vm.create: null", `null`)
	b.put("vm.create", "vm.create: a string for a number", `{"cpus":{"boot_vcpus":"one","max_vcpus":1}}`)
	b.put("vm.create", "vm.create: a negative number", `{"cpus":{"boot_vcpus":-1,"max_vcpus":1}}`)
	b.put("vm.create", "vm.create: a number for a string", `{"payload":{"kernel":1}}`)
	b.put("vm.create", "vm.create: an unknown enum value", `{"serial":{"mode":"Bogus"}}`)
	b.put("vm.create", "vm.create: cpus without boot_vcpus", `{"cpus":{"max_vcpus":2}}`)
	b.put("vm.create", "vm.create: memory without size", `{"memory":{}}`)
	b.put("vm.create", "vm.create: a trailing comma", `{"cpus":{"boot_vcpus":1,"max_vcpus":1},}`)
	b.put("vm.create", "vm.create: a boolean for a number", `{"cpus":{"boot_vcpus":true,"max_vcpus":1}}`)
	b.put("vm.create", "vm.create: an object for a number", `{"cpus":{"boot_vcpus":{},"max_vcpus":1}}`)
	b.put("vm.create", "vm.create: a fraction for a number", `{"memory":{"size":1.5}}`)
	b.put("vm.create", "vm.create: a member given twice", `{"memory":{"size":1,"size":2}}`)
	b.put("vm.create", "vm.create: a malformed IP address", `{"net":[{"ip":"999.1.1.1"}]}`)
	b.put("vm.create", "vm.create: an unknown member where serde denies them", `{"disks":[{"path":"x","rate_limiter_config":{"bogus":1}}]}`)
	b.put("vm.create", "vm.create: a string for a list", `{"disks":"x"}`)
	b.put("vm.create", "vm.create: a disk without path", `{"disks":[{}]}`)
	b.get("vm.info", "vm.info (after the refused creates)")
	b.put("vm.delete", "vm.delete (after the refused creates)", "")
	b.put("vm.create", "vm.create without a body", "")
	b.put("vm.resize", "vm.resize: malformed JSON", `{"desired_vcpus":`)
	b.put("vm.resize", "vm.resize: a string for a number", `{"desired_vcpus":"two"}`)
	b.put("vm.resize", "vm.resize: a number too big for u8", `{"desired_vcpus":256}`)
	b.put("vm.resize", "vm.resize: {} (no VM)", `{}`)
	b.put("vm.resize", "vm.resize without a body", "")
	b.put("vm.resize-zone", "vm.resize-zone: {}", `{}`)
	b.put("vm.snapshot", "vm.snapshot: {}", `{}`)
	b.put("vm.restore", "vm.restore: {}", `{}`)
	b.put("vm.remove-device", "vm.remove-device: {}", `{}`)
	b.put("vm.add-disk", "vm.add-disk: {} (no VM)", `{}`)
	b.put("vm.send-migration", "vm.send-migration: {}", `{}`)
	b.put("vm.receive-migration", "vm.receive-migration: {}", `{}`)
	b.put("vm.boot", "vm.boot with a body", `{}`)

	// The platform's serial number and UUID under their names before v53.0
	// (v53.0's serde aliases), and both names at once.
	b.put("vm.create", "vm.create: platform serial_number and uuid", `{"platform":{"serial_number":"SN-1","uuid":"4d3c2b1a-0000-4000-8000-00000000a11a"}}`)
	b.get("vm.info", "vm.info (platform serial_number and uuid)")
	b.put("vm.delete", "vm.delete (platform serial_number and uuid)", "")
	b.put("vm.create", "vm.create: platform serial_number and system_serial_number", `{"platform":{"serial_number":"SN-1","system_serial_number":"SN-2"}}`)
	b.get("vm.info", "vm.info (platform serial_number and system_serial_number)")
	b.put("vm.delete", "vm.delete (platform serial_number and system_serial_number)", "")

	// Unknown members are dropped; {} takes serde's defaults.
	b.put("vm.create", "vm.create with unknown members", `{"cpus":{"boot_vcpus":1,"max_vcpus":2,"bogus":1},"memory":{"size":`+fmt.Sprint(bootMemory)+`,"bogus":"x"},"payload":{"kernel":"`+kernelPath+`"},"bogus":{"a":[1,2]}}`)
	b.get("vm.info", "vm.info (created with unknown members)")
	b.put("vm.delete", "vm.delete (created)", "")
	b.put("vm.create", "vm.create: {}", `{}`)
	b.get("vm.info", "vm.info (created from {})")
	b.put("vm.boot", "vm.boot (created from {}: no payload)", "")
	b.get("vm.info", "vm.info (after the boot without payload)")
	b.put("vm.delete", "vm.delete (created from {})", "")

	// Created.
	b.put("vm.create", "vm.create", cfg)
	b.put("vm.create", "vm.create (again)", cfg)
	b.get("vm.info", "vm.info (created)")
	b.get("vm.counters", "vm.counters (created)")
	b.failingVerbs("created", "vm.pause", "vm.resume", "vm.shutdown", "vm.reboot", "vm.power-button", "vm.nmi")
	b.put("vm.snapshot", "vm.snapshot (created)", `{"destination_url":"file://`+snapDir+`"}`)
	b.put("vm.restore", "vm.restore (created)", `{"source_url":"file://`+snapDir+`"}`)
	b.put("vm.send-migration", "vm.send-migration (created)", `{"destination_url":"unix:<tmp>/no-migration.sock"}`)
	b.put("vm.receive-migration", "vm.receive-migration (created)", `{"receiver_url":"unix:<tmp>/no-dir/migration.sock"}`)
	b.put("vm.resize", "vm.resize: vCPUs (created)", `{"desired_vcpus":2}`)
	b.put("vm.resize", "vm.resize: vCPUs above max_vcpus (created)", `{"desired_vcpus":3}`)
	b.put("vm.resize", "vm.resize: memory (created)", fmt.Sprintf(`{"desired_ram":%d}`, bootMemory+hotplugMemory))
	b.get("vm.info", "vm.info (created, resized)")
	b.put("vm.resize", "vm.resize: back (created)", fmt.Sprintf(`{"desired_vcpus":1,"desired_ram":%d}`, bootMemory))
	b.put("vm.resize", "vm.resize: {} (created)", `{}`)
	b.put("vm.resize-zone", "vm.resize-zone of an unknown zone (created)", `{"id":"no-zone","desired_ram":268435456}`)
	b.put("vm.resize-disk", "vm.resize-disk (created)", `{"id":"disk0","desired_size":2097152}`)
	b.put("vm.add-disk", "vm.add-disk: cold plug (created)", `{"path":"`+diskCold+`","id":"disk0"}`)
	b.put("vm.add-disk", "vm.add-disk: the same id again (created)", `{"path":"`+diskCold+`","id":"disk0"}`)
	b.put("vm.add-pmem", "vm.add-pmem: cold plug (created)", `{"file":"`+pmemFile+`","id":"pmem0"}`)
	b.put("vm.remove-device", "vm.remove-device: a cold-plugged pmem (created)", `{"id":"pmem0"}`)
	b.put("vm.remove-device", "vm.remove-device: an unknown id (created)", `{"id":"no-device"}`)
	b.get("vm.info", "vm.info (created, cold-plugged)")

	// Running.
	b.put("vm.boot", "vm.boot", "")
	b.guest(recording.WaitMarker, "the guest boots")
	b.put("vm.boot", "vm.boot (running)", "")
	b.get("vm.info", "vm.info (running)")
	b.get("vm.counters", "vm.counters (running)")
	b.put("vm.resume", "vm.resume (running)", "")
	b.put("vm.snapshot", "vm.snapshot (running)", `{"destination_url":"file://`+snapDir+`"}`)
	b.put("vm.coredump", "vm.coredump (running)", `{"destination_url":"file://<tmp>/core"}`)
	b.put("vm.resize", "vm.resize: vCPUs above max_vcpus (running)", `{"desired_vcpus":3}`)
	b.put("vm.resize", "vm.resize: vCPUs to max_vcpus (running)", `{"desired_vcpus":2}`)
	b.put("vm.resize", "vm.resize: memory above the hot-plug size (running)", fmt.Sprintf(`{"desired_ram":%d}`, bootMemory+2*hotplugMemory))
	b.put("vm.resize", "vm.resize: memory below the boot size (running)", fmt.Sprintf(`{"desired_ram":%d}`, bootMemory/2))
	b.put("vm.resize", "vm.resize: memory hot plug (running)", fmt.Sprintf(`{"desired_ram":%d}`, bootMemory+hotplugMemory))
	b.put("vm.resize", "vm.resize: {} (running)", `{}`)
	b.put("vm.resize-zone", "vm.resize-zone of an unknown zone (running)", `{"id":"no-zone","desired_ram":268435456}`)
	b.get("vm.info", "vm.info (running, resized)")
	b.put("vm.add-disk", "vm.add-disk: hot plug (running)", `{"path":"`+diskHot+`","id":"disk1"}`)
	b.put("vm.add-disk", "vm.add-disk: the same id again (running)", `{"path":"`+diskHot+`","id":"disk1"}`)
	b.put("vm.add-disk", "vm.add-disk: a missing image (running)", `{"path":"<tmp>/no-disk.raw"}`)
	b.put("vm.add-disk", "vm.add-disk: {} (running)", `{}`)
	b.put("vm.resize-disk", "vm.resize-disk (running)", `{"id":"disk1","desired_size":2097152}`)
	b.put("vm.resize-disk", "vm.resize-disk: an unknown id (running)", `{"id":"no-disk","desired_size":2097152}`)
	b.put("vm.add-pmem", "vm.add-pmem: hot plug (running)", `{"file":"`+pmemFile+`","id":"pmem0"}`)
	b.put("vm.add-vsock", "vm.add-vsock: hot plug (running)", `{"cid":3,"socket":"<tmp>/vsock.sock","id":"vsock0"}`)
	b.put("vm.add-vsock", "vm.add-vsock: a second one (running)", `{"cid":4,"socket":"<tmp>/vsock2.sock"}`)
	b.put("vm.add-net", "vm.add-net: fewer than 2 queues (running)", `{"tap":"`+tapMain+`","num_queues":1}`)
	b.put("vm.add-net", "vm.add-net: a malformed MAC (running)", `{"tap":"`+tapMain+`","mac":"zz"}`)
	b.put("vm.add-net", "vm.add-net: vhost-user without a socket (running)", `{"vhost_user":true}`)
	b.put("vm.add-net", "vm.add-net: a TAP CH creates (running, root)", netConfig(tapMain, "net0", 1))
	b.put("vm.add-fs", "vm.add-fs: no virtiofsd socket (running)", `{"tag":"fs0","socket":"<tmp>/no-virtiofs.sock"}`)
	b.put("vm.add-device", "vm.add-device: no such VFIO device (running)", `{"path":"/sys/bus/pci/devices/0000:ff:1f.7"}`)
	b.put("vm.add-user-device", "vm.add-user-device: no vfio-user socket (running)", `{"socket":"<tmp>/no-vfio-user.sock"}`)
	b.put("vm.add-vdpa", "vm.add-vdpa: no vDPA device (running)", `{"path":"/dev/vhost-vdpa-99"}`)
	b.put("vm.add-generic-vhost-user", "vm.add-generic-vhost-user: no socket (running)", `{"socket":"<tmp>/no-vhost-user.sock","queue_sizes":[256],"device_type":26}`)
	b.get("vm.counters", "vm.counters (running, hot-plugged)")
	b.get("vm.info", "vm.info (running, hot-plugged)")
	b.put("vm.remove-device", "vm.remove-device: pmem (running)", `{"id":"pmem0"}`)
	b.put("vm.remove-device", "vm.remove-device: vsock (running)", `{"id":"vsock0"}`)
	b.put("vm.remove-device", "vm.remove-device: an unknown id (running)", `{"id":"no-device"}`)
	b.get("vm.info", "vm.info (running, after remove-device)")
	b.put("vm.power-button", "vm.power-button (running)", "")
	b.put("vmm.nmi", "vmm.nmi: the v48-v52 specs' path (running)", "")
	b.put("vm.send-migration", "vm.send-migration to a socket nobody serves (running)", `{"destination_url":"unix:<tmp>/no-migration.sock"}`)
	b.put("vm.send-migration", "vm.send-migration with a URL of no known scheme (running)", `{"destination_url":"bogus:x"}`)
	b.put("vm.receive-migration", "vm.receive-migration (running)", `{"receiver_url":"unix:<tmp>/no-dir/migration.sock"}`)
	b.put("vm.restore", "vm.restore (running)", `{"source_url":"file://`+snapDir+`"}`)
	b.get("vm.info", "vm.info (running, after the failed migrations)")

	// Paused.
	b.put("vm.pause", "vm.pause", "")
	b.put("vm.pause", "vm.pause (paused)", "")
	b.get("vm.info", "vm.info (paused)")
	b.get("vm.counters", "vm.counters (paused)")
	b.put("vm.snapshot", "vm.snapshot to a missing directory (paused)", `{"destination_url":"file:///nonexistent/dir"}`)
	b.put("vm.snapshot", "vm.snapshot with a URL that is not file:// (paused)", `{"destination_url":"http://localhost/snap"}`)
	b.put("vm.snapshot", "vm.snapshot (paused)", `{"destination_url":"file://`+snapDir+`"}`)
	b.list(snapDir, "the snapshot's files")
	b.put("vm.snapshot", "vm.snapshot into the same directory again (paused)", `{"destination_url":"file://`+snapDir+`"}`)
	b.put("vm.restore", "vm.restore (paused)", `{"source_url":"file://`+snapDir+`"}`)
	b.put("vm.coredump", "vm.coredump (paused)", `{"destination_url":"file://<tmp>/core"}`)
	b.put("vm.power-button", "vm.power-button (paused)", "")
	b.put("vm.reboot", "vm.reboot (paused)", "")
	b.get("vm.info", "vm.info (paused, after reboot)")
	b.guest(recording.WaitMarker, "the guest boots again")
	b.put("vm.pause", "vm.pause (after the reboot)", "")
	b.put("vm.boot", "vm.boot (paused)", "")
	b.get("vm.info", "vm.info (paused, after boot)")
	b.put("vm.resume", "vm.resume", "")
	b.put("vm.resume", "vm.resume (running again)", "")

	// Rebooted. The PVH guest resets on an NMI, which makes CH build the
	// VM again; the reboot right after it does too, so what follows does
	// not depend on the guest.
	b.put("vm.nmi", "vm.nmi (running)", "")
	b.guest(recording.WaitMarker, "the NMI resets the guest")
	b.put("vm.reboot", "vm.reboot (running)", "")
	b.guest(recording.WaitMarker, "the guest boots after the reboot")
	b.get("vm.info", "vm.info (after reboot)")

	// Shut down.
	b.put("vm.shutdown", "vm.shutdown (running)", "")
	b.get("vm.info", "vm.info (shut down)")
	b.get("vm.counters", "vm.counters (shut down)")
	b.failingVerbs("shut down", "vm.shutdown", "vm.pause", "vm.resume", "vm.reboot", "vm.power-button", "vm.nmi")
	b.put("vm.snapshot", "vm.snapshot (shut down)", `{"destination_url":"file://`+snapDir+`"}`)
	b.put("vm.resize", "vm.resize: vCPUs (shut down)", `{"desired_vcpus":1}`)
	b.put("vm.remove-device", "vm.remove-device: a hot-plugged disk (shut down)", `{"id":"disk1"}`)
	b.put("vm.remove-device", "vm.remove-device: net (shut down)", `{"id":"net0"}`)
	b.get("vm.info", "vm.info (shut down, changed)")
	b.put("vm.boot", "vm.boot (shut down)", "")
	b.guest(recording.WaitMarker, "the guest boots from shut down")
	b.get("vm.info", "vm.info (booted from shut down)")
	b.put("vm.shutdown", "vm.shutdown (booted from shut down)", "")

	// Deleted.
	b.put("vm.delete", "vm.delete (shut down)", "")
	b.get("vm.info", "vm.info (deleted)")
	b.get("vm.counters", "vm.counters (deleted)")
	b.failingVerbs("deleted", "vm.boot", "vm.pause", "vm.resume", "vm.shutdown", "vm.reboot", "vm.delete")

	// The HTTP layer.
	b.put("vm.nonexistent", "an unknown endpoint", "")
	b.raw("PUT", "/vm.boot", "a path outside /api/v1", "")
	b.raw("GET", "/api/v1/vmm.ping?x=1", "a query string", "")
	b.get("vm.boot", "GET on a PUT endpoint")
	b.put("vmm.ping", "PUT on a GET endpoint", "")
	b.put("vm.info", "PUT on vm.info", "")
	b.get("vm.create", "GET on vm.create")
	b.call("PATCH", "vm.boot", "PATCH on an action", "")
	b.call("PATCH", "vm.info", "PATCH on vm.info", "")
	b.call("POST", "vm.boot", "POST", "")
	b.call("DELETE", "vm.info", "DELETE", "")
	// (Its size is in the answer: it must not depend on the working
	// directory's path.)
	b.put("vm.create", "a body over the 51,200-byte limit", `{"cpus":{"boot_vcpus":1,"max_vcpus":1},"pad":"`+recording.Pad(60000)+`"}`)
	b.put("vmm.shutdown", "vmm.shutdown", "")
	b.exit("the VMM ends")
}

// deviceCalls sends every device verb, for a state where all of them fail.
func (b *builder) deviceCalls(state string) {
	b.put("vm.resize", "vm.resize ("+state+")", `{"desired_vcpus":2}`)
	b.put("vm.resize-zone", "vm.resize-zone ("+state+")", `{"id":"zone0","desired_ram":268435456}`)
	b.put("vm.resize-disk", "vm.resize-disk ("+state+")", `{"id":"disk0","desired_size":2097152}`)
	b.put("vm.add-disk", "vm.add-disk ("+state+")", `{"path":"`+diskHot+`"}`)
	b.put("vm.add-pmem", "vm.add-pmem ("+state+")", `{"file":"`+pmemFile+`"}`)
	b.put("vm.add-vsock", "vm.add-vsock ("+state+")", `{"cid":3,"socket":"<tmp>/vsock.sock"}`)
	b.put("vm.add-net", "vm.add-net ("+state+")", netConfig(tapMain, "net0", 1))
	b.put("vm.add-fs", "vm.add-fs ("+state+")", `{"tag":"fs0","socket":"<tmp>/no-virtiofs.sock"}`)
	b.put("vm.add-device", "vm.add-device ("+state+")", `{"path":"/sys/bus/pci/devices/0000:ff:1f.7"}`)
	b.put("vm.add-user-device", "vm.add-user-device ("+state+")", `{"socket":"<tmp>/no-vfio-user.sock"}`)
	b.put("vm.add-vdpa", "vm.add-vdpa ("+state+")", `{"path":"/dev/vhost-vdpa-99"}`)
	b.put("vm.add-generic-vhost-user", "vm.add-generic-vhost-user ("+state+")", `{"socket":"<tmp>/no-vhost-user.sock","queue_sizes":[256],"device_type":26}`)
	b.put("vm.remove-device", "vm.remove-device ("+state+")", `{"id":"disk0"}`)
}

// restoreScript restores the first VMM's snapshot into a fresh VMM.
func (b *builder) restoreScript() {
	b.start()
	b.put("vm.restore", "vm.restore of a missing snapshot (fresh VMM)", `{"source_url":"file://<tmp>/no-snapshot"}`)
	b.put("vm.restore", "vm.restore with a URL that is not file:// (fresh VMM)", `{"source_url":"http://localhost/snap"}`)
	b.put("vm.restore", "vm.restore (fresh VMM)", `{"source_url":"file://`+snapDir+`"}`)
	b.get("vm.info", "vm.info (restored)")
	b.put("vm.resume", "vm.resume (restored)", "")
	b.guestAt(serialLog(1), recording.WaitCounter, "the restored guest counts on (its serial log is the snapshot's)")
	b.get("vm.info", "vm.info (restored, resumed)")
	b.put("vm.restore", "vm.restore (restored, running)", `{"source_url":"file://`+snapDir+`"}`)
	b.put("vm.shutdown", "vm.shutdown (restored)", "")
	b.put("vm.boot", "vm.boot (restored, shut down)", "")
	b.guestAt(serialLog(1), recording.WaitMarker, "the restored VM boots afresh")
	b.put("vm.delete", "vm.delete (restored, running)", "")
	b.get("vm.info", "vm.info (restored, deleted)")
	b.put("vmm.shutdown", "vmm.shutdown (restored)", "")
	b.exit("the VMM ends")
}

// missingKernelScript creates a VM whose kernel does not exist and boots
// it twice (the second VMM of the v48.0 listing in
// ../shared/ch-specs/REAL-BEHAVIOUR.md).
func (b *builder) missingKernelScript() {
	b.start()
	cfg := `{"cpus":{"boot_vcpus":1,"max_vcpus":1},"memory":{"size":` + fmt.Sprint(bootMemory) + `},"payload":{"kernel":"<tmp>/no-kernel"},"serial":{"mode":"Null"},"console":{"mode":"Off"}}`
	b.put("vm.create", "vm.create with a missing kernel", cfg)
	b.get("vm.info", "vm.info (missing kernel)")
	b.put("vm.boot", "vm.boot (missing kernel)", "")
	b.get("vm.info", "vm.info (after the failed boot)")
	b.put("vm.boot", "vm.boot again (after the failed boot)", "")
	b.exit("the VMM ends, or not, by itself")
}

// defaultsScript creates VMs from configs that leave most to serde's
// defaults, in a VMM of their own.
func (b *builder) defaultsScript() {
	b.start()
	full := fmt.Sprintf(`{"cpus":{"boot_vcpus":1,"max_vcpus":1},"memory":{"size":%d},"payload":{"kernel":%q,"cmdline":"console=ttyS0"},"disks":[{"path":%q}],"net":[%s],"rng":{"src":"/dev/urandom"},"serial":{"mode":"Null"},"console":{"mode":"Off"},"vsock":{"cid":5,"socket":"<tmp>/vsock-defaults.sock"},"pmem":[{"file":%q}]}`,
		bootMemory, kernelPath, diskCold, netConfig(tapMain, "", 3), pmemFile)
	b.put("vm.create", "vm.create with one of each device, no ids", full)
	b.get("vm.info", "vm.info (devices without ids, created)")
	b.put("vm.boot", "vm.boot (devices without ids)", "")
	b.get("vm.info", "vm.info (devices without ids, running)")
	b.get("vm.counters", "vm.counters (devices without ids, running)")
	b.put("vm.delete", "vm.delete (running)", "")
	b.put("vmm.shutdown", "vmm.shutdown", "")
	b.exit("the VMM ends")
}

// remoteScript runs every verb of the release's ch-remote against a fresh
// VMM.
func (b *builder) remoteScript() {
	b.start()
	b.remoteAt("ch-remote: a socket nobody serves", "--api-socket", "<tmp>/no-api.sock", "ping")
	b.remote("ch-remote ping", "ping")
	b.remote("ch-remote info (no VM)", "info")
	b.remote("ch-remote counters (no VM)", "counters")
	b.remote("ch-remote boot (no VM)", "boot")
	b.remote("ch-remote create: a missing file", "create", "<tmp>/no-vm.json")
	b.remote("ch-remote create", "create", remoteConfig)
	b.remote("ch-remote create (again)", "create", remoteConfig)
	b.remote("ch-remote info (created)", "info")
	b.remote("ch-remote pause (created)", "pause")
	b.remote("ch-remote boot", "boot")
	b.guest(recording.WaitMarker, "the guest boots")
	b.remote("ch-remote counters (running)", "counters")
	b.remote("ch-remote resume (running)", "resume")
	b.remote("ch-remote resize --cpus", "resize", "--cpus", "2")
	b.remote("ch-remote resize --cpus above max", "resize", "--cpus", "3")
	b.remote("ch-remote resize --cpus not a number", "resize", "--cpus", "two")
	b.remote("ch-remote resize --memory", "resize", "--memory", "256M")
	b.remote("ch-remote resize --balloon (no balloon)", "resize", "--balloon", "1M")
	b.remote("ch-remote resize-zone (unknown zone)", "resize-zone", "--id", "no-zone", "--size", "256M")
	b.remote("ch-remote add-disk", "add-disk", "path="+diskRemote+",id=rdisk0")
	b.remote("ch-remote add-disk (same id)", "add-disk", "path="+diskRemote+",id=rdisk0")
	b.remote("ch-remote add-disk: a bad option", "add-disk", "path="+diskRemote+",bogus=1")
	if b.rel.hasVerb("resize-disk") {
		b.remote("ch-remote resize-disk", "resize-disk", "--disk", "rdisk0", "--size", "2M")
		b.remote("ch-remote resize-disk (unknown disk)", "resize-disk", "--disk", "no-disk", "--size", "2M")
	}
	b.remote("ch-remote add-pmem", "add-pmem", "file="+pmemRemote+",id=rpmem0")
	b.remote("ch-remote add-vsock", "add-vsock", "cid=6,socket=<tmp>/vsock-remote.sock,id=rvsock0")
	b.remote("ch-remote add-net", "add-net", "tap="+tapRemote+",ip=192.168.250.1,mask=255.255.255.0,mac=52:54:00:00:02:01,host_mac=52:54:00:00:02:02,id=rnet0")
	b.remote("ch-remote add-fs (no virtiofsd)", "add-fs", "tag=fs0,socket=<tmp>/no-virtiofs.sock")
	b.remote("ch-remote add-device (no such device)", "add-device", "path=/sys/bus/pci/devices/0000:ff:1f.7")
	b.remote("ch-remote add-user-device (no socket)", "add-user-device", "socket=<tmp>/no-vfio-user.sock")
	b.remote("ch-remote add-vdpa (no device)", "add-vdpa", "path=/dev/vhost-vdpa-99")
	if b.rel.hasVerb("add-generic-vhost-user") {
		b.remote("ch-remote add-generic-vhost-user (no socket)", "add-generic-vhost-user", b.rel.genericVhostUserArg())
	}
	b.remote("ch-remote counters (hot-plugged)", "counters")
	b.remote("ch-remote info (hot-plugged)", "info")
	b.remote("ch-remote remove-device", "remove-device", "rpmem0")
	b.remote("ch-remote remove-device (unknown id)", "remove-device", "no-device")
	b.remote("ch-remote power-button", "power-button")
	b.remote("ch-remote snapshot (running)", "snapshot", "file://"+remoteSnap)
	b.remote("ch-remote coredump", "coredump", "file://<tmp>/core-remote")
	b.remote("ch-remote send-migration (nobody listens)", "send-migration", "unix:<tmp>/no-migration.sock")
	if b.rel.keyedMigration(false) {
		b.remote("ch-remote send-migration destination_url= (nobody listens)", "send-migration", "destination_url=unix:<tmp>/no-migration.sock")
	}
	b.remote("ch-remote receive-migration (VM exists)", "receive-migration", "unix:<tmp>/no-dir/migration.sock")
	if b.rel.keyedMigration(true) {
		b.remote("ch-remote receive-migration receiver_url= (VM exists)", "receive-migration", "receiver_url=unix:<tmp>/no-dir/migration.sock")
	}
	b.remote("ch-remote pause", "pause")
	b.remote("ch-remote pause (paused)", "pause")
	b.remote("ch-remote snapshot", "snapshot", "file://"+remoteSnap)
	b.remote("ch-remote restore (VM exists)", "restore", "source_url=file://"+remoteSnap)
	b.remote("ch-remote restore: a bad option", "restore", "source_url=file://"+remoteSnap+",bogus=1")
	b.remote("ch-remote resume", "resume")
	b.remote("ch-remote nmi", "nmi")
	b.guest(recording.WaitMarker, "the NMI resets the guest")
	b.remote("ch-remote reboot", "reboot")
	b.guest(recording.WaitMarker, "the guest boots after the reboot")
	b.remote("ch-remote shutdown", "shutdown")
	b.remote("ch-remote shutdown (shut down)", "shutdown")
	b.remote("ch-remote info (shut down)", "info")
	b.remote("ch-remote delete", "delete")
	b.remote("ch-remote delete (no VM)", "delete")
	b.remote("ch-remote info (deleted)", "info")
	b.remote("ch-remote shutdown-vmm", "shutdown-vmm")
	b.exit("the VMM ends")
}

// sendMigrationScript sends vm.send-migration to a VMM without a VM, the
// last call: until v53.0 it makes CH's VMM thread panic, and the VMM ends.
func (b *builder) sendMigrationScript() {
	b.start()
	b.put("vm.send-migration", "vm.send-migration (no VM)", `{"destination_url":"unix:<tmp>/no-migration.sock"}`)
	// Where the VMM thread panics, the process exits while the HTTP thread
	// answers: the answer may or may not get out.
	b.steps[len(b.steps)-1].Outcomes = []string{
		recording.Outcome(500, `["Error from API","API response receive error","receiving on a closed channel"]`),
		recording.Outcome(0, "no answer: the server closed the connection"),
	}
	b.exit("the VMM ends, or not, by itself")
}
