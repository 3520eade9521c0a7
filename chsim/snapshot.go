package chsim

import (
	"encoding/json"
	"fmt"
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
	Simulator string `json:"simulator"`
	Version   string `json:"version"`
	PCI       struct {
		NextName int               `json:"next_name"`
		NextSlot int               `json:"next_slot"`
		BDF      map[string]string `json:"bdf"`
		Order    []string          `json:"order"`
	} `json:"pci"`
}

func (v *vmm) snapshot(_ *apiRequest, body map[string]any) ([]byte, *apiErr) {
	if !v.booted {
		return nil, fail(actSnapshot, errVMNotRunning)
	}
	if !v.paused {
		return nil, fail(actSnapshot, "Cannot snapshot VM", "Failed to snapshot migratable component", "Trying to snapshot while VM is running")
	}
	dest, _ := body["destination_url"].(string)
	sendErr := func(msg string) *apiErr {
		return fail(actSnapshot, "Cannot send VM snapshot", "Failed to send migratable component snapshot", msg)
	}
	dir, ok := strings.CutPrefix(dest, "file://")
	if !ok {
		return nil, sendErr("Could not extract path from URL: " + dest)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, sendErr("Destination is not a directory: " + strconv.Quote(dir))
	}
	v.event("vm", "snapshotting", nil)
	var st snapshotState
	st.Simulator, st.Version = "chsim", v.rel().tag
	st.PCI.NextName, st.PCI.NextSlot, st.PCI.BDF, st.PCI.Order = v.pci.nextName, v.pci.nextSlot, v.pci.bdf, v.pci.order
	ranges := []map[string]uint64{{"gpa": 0, "length": memoryTotal(v.config)}}
	for name, content := range map[string]any{snapshotConfigFile: v.config, snapshotStateFile: st, snapshotMemoryFile: ranges} {
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
	recvErr := func(msg string) *apiErr {
		return fail(act, "Cannot restore VM", "Failed to receive migratable component snapshot", msg)
	}
	dir, ok := strings.CutPrefix(src, "file://")
	if !ok {
		return nil, recvErr("Could not extract path from URL: " + src)
	}
	var cfg map[string]any
	var st snapshotState
	for name, into := range map[string]any{snapshotConfigFile: &cfg, snapshotStateFile: &st} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, recvErr(fmt.Sprintf("Error opening %s: %s", name, osErrorText(err)))
		}
		if err := json.Unmarshal(b, into); err != nil {
			return nil, recvErr(fmt.Sprintf("Error deserialising %s: %v", name, err))
		}
	}
	for _, n := range netFDs {
		c, _ := num(n["num_fds"])
		for _, net := range listOf(cfg, "net") {
			if net["id"] == n["id"] && c > 0 {
				fds := make([]any, c)
				for i := range fds {
					fds[i] = -1
				}
				net["fds"] = fds
			}
		}
	}
	v.event("vm", "restoring", nil)
	v.config = cfg
	v.booted, v.paused = true, true
	v.pci = pciBus{nextName: st.PCI.NextName, nextSlot: st.PCI.NextSlot, bdf: st.PCI.BDF, order: st.PCI.Order}
	v.event("vm", "restored", nil)
	// From v52.0 RestoreConfig.resume resumes the restored VM (vmm/src/lib.rs
	// vm_restore, then vm_resume); older servers ignore the member.
	if resume, _ := body["resume"].(bool); resume && v.rel().atLeast(52, 0) {
		v.resumeVM()
	}
	return nil, nil
}
