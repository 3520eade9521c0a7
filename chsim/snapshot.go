package chsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Files of a snapshot directory, named as CH names them.
const (
	snapshotConfigFile = "config.json"
	snapshotStateFile  = "state.json"
	snapshotMemoryFile = "memory-ranges"
)

// snapshotState is what the simulator keeps in state.json (CH keeps its
// device and vCPU states there; the simulator keeps its own).
type snapshotState struct {
	Simulator   string   `json:"simulator"`
	Version     string   `json:"version"`
	Devices     *devices `json:"devices"`
	RAM         uint64   `json:"ram"`
	HotplugLeft uint64   `json:"hotplug_left"`
}

// urlPath is CH's url_to_path for a file:// URL.
func urlPath(url string) (string, error) {
	p, ok := strings.CutPrefix(url, "file://")
	if !ok {
		return "", errors.New("Could not extract path from URL: " + url)
	}
	if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
		return "", errors.New("Destination is not a directory: " + strconv.Quote(p))
	}
	return p, nil
}

func (v *vmm) snapshot(_ *apiRequest, body map[string]any) ([]byte, *apiErr) {
	if !v.booted() {
		return nil, fail(actSnapshot, errVMNotRunning)
	}
	if v.vm.state != vmPaused {
		return nil, fail(actSnapshot, "Cannot snapshot VM", "Failed to snapshot migratable component", "Trying to snapshot while VM is running")
	}
	dest, _ := body["destination_url"].(string)
	sendErr := func(msg ...string) *apiErr {
		return fail(actSnapshot, append([]string{"Cannot send VM snapshot", "Failed to send migratable component snapshot"}, msg...)...)
	}
	dir, err := urlPath(dest)
	if err != nil {
		return nil, sendErr(err.Error())
	}
	// CH creates config.json with create_new: an earlier snapshot's is an
	// error.
	f, err := os.OpenFile(filepath.Join(dir, snapshotConfigFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if v.rel().atLeast(53, 0) {
			return nil, sendErr("Error creating VM config snapshot file", osErrorText(err))
		}
		return nil, sendErr(osErrorText(err))
	}
	v.event("vm", "snapshotting", nil)
	_, err = f.Write(encodeJSON(v.s.shapes.get("VmConfig"), v.config))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, sendErr(osErrorText(err))
	}
	d := v.vm.dev
	d.Used32, d.Used64 = d.MMIO32.used, d.MMIO64.used
	st := snapshotState{Simulator: "chsim", Version: v.rel().tag, Devices: d, RAM: v.vm.ram, HotplugLeft: v.vm.hotplugLeft}
	ranges := []map[string]uint64{{"gpa": 0, "length": memoryTotal(v.config)}}
	for name, content := range map[string]any{snapshotStateFile: st, snapshotMemoryFile: ranges} {
		b, err := json.Marshal(content)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), b, 0o600)
		}
		if err != nil {
			return nil, sendErr(fmt.Sprintf("Error writing %s: %s", name, osErrorText(err)))
		}
	}
	v.event("vm", "snapshotted", nil)
	return nil, nil
}

func (v *vmm) restore(r *apiRequest, body map[string]any) ([]byte, *apiErr) {
	// The HTTP layer hands the fds to net_fds first: their count must match
	// the sum of num_fds (0 without net_fds), or the request is refused.
	want := 0
	netFDs := listOf(body, "net_fds")
	for _, n := range netFDs {
		c, _ := num(n["num_fds"])
		want += int(c)
	}
	if want != len(r.fds) {
		return nil, badRequestErr()
	}
	act := v.rel().restoreWording()
	if v.config != nil {
		return nil, fail(act, errVMAlreadyCreated)
	}
	src, _ := body["source_url"].(string)
	// CH's restore shares the snapshot's reader, whose errors say "send".
	recvErr := func(msg ...string) *apiErr {
		return fail(act, append([]string{"Cannot restore VM", "Failed to send migratable component snapshot"}, msg...)...)
	}
	dir, err := urlPath(src)
	if err != nil {
		return nil, recvErr(err.Error())
	}
	b, err := os.ReadFile(filepath.Join(dir, snapshotConfigFile))
	if err != nil {
		return nil, recvErr(osErrorText(err))
	}
	cfgVal, msg := decodeBody(b, v.s.shapes.get("VmConfig"))
	if msg != "" {
		return nil, recvErr("Error deserialising the VM config: " + msg)
	}
	cfg := cfgVal.(map[string]any)
	var st snapshotState
	b, err = os.ReadFile(filepath.Join(dir, snapshotStateFile))
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if errors.Is(err, fs.ErrNotExist) || (err == nil && st.Devices == nil) {
		return nil, recvErr("Missing the VM state in the snapshot")
	}
	if err != nil {
		return nil, recvErr(osErrorText(err))
	}
	for _, n := range netFDs {
		c, _ := num(n["num_fds"])
		for _, net := range listOf(cfg, "net") {
			if net["id"] == n["id"] && c > 0 {
				fds := make([]any, c)
				for i := range fds {
					fds[i] = int64(-1)
				}
				net["fds"] = fds
			}
		}
	}
	v.event("vm", "restoring", nil)
	v.config = cfg
	d := v.newDevices(cfg)
	d.Nodes, d.Slots, d.Counter = st.Devices.Nodes, st.Devices.Slots, st.Devices.Counter
	for _, s := range st.Devices.Used32 {
		d.MMIO32.take(s.Base, s.Size)
	}
	for _, s := range st.Devices.Used64 {
		d.MMIO64.take(s.Base, s.Size)
	}
	v.vm = &vmInstance{state: vmPaused, dev: d, ram: st.RAM, hotplugLeft: st.HotplugLeft}
	v.event("vm", "restored", nil)
	// From v52.0 RestoreConfig.resume resumes the restored VM (vmm/src/lib.rs
	// vm_restore, then vm_resume); older servers ignore the member.
	if resume, _ := body["resume"].(bool); resume && v.rel().atLeast(52, 0) {
		v.resumeVM()
	}
	return nil, nil
}
