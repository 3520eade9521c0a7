package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
)

// vmCommands talk to a running VMM about its VM: ping, info, counters,
// create and the lifecycle actions, shutdown-vmm.
func vmCommands() []*command {
	const g = "VM (against a running VMM's --socket)"
	cmds := []*command{
		{name: "ping", args: "--socket S", summary: "show the VMM's version, build, pid and features", group: g, run: runPing},
		{name: "info", args: "--socket S", summary: "show the VM's state, config and devices", group: g, run: runInfo},
		{name: "counters", args: "--socket S", summary: "show the VM's device counters", group: g, run: runCounters},
		{name: "create", args: "--socket S (--config FILE | --kernel K [--initramfs I] [--cmdline C] [--cpus N] [--memory SIZE] [--disk P]... [--serial S])",
			summary: "create the VM from a JSON config in CH's format or from flags", group: g, run: runCreate},
	}
	actions := []struct {
		name, summary string
		do            func(core.Hypervisor, context.Context) error
	}{
		{"boot", "boot the created VM", core.Hypervisor.BootVM},
		{"pause", "pause the running VM", core.Hypervisor.PauseVM},
		{"resume", "resume the paused VM", core.Hypervisor.ResumeVM},
		{"reboot", "reboot the VM", core.Hypervisor.RebootVM},
		{"power-button", "press the VM's ACPI power button", core.Hypervisor.PowerButton},
		{"shutdown", "shut the VM down (CH keeps its config: it can boot again)", core.Hypervisor.ShutdownVM},
		{"delete", "delete the VM", core.Hypervisor.DeleteVM},
		{"shutdown-vmm", "shut the VM down and end the VMM process", core.Hypervisor.ShutdownVMM},
	}
	for _, a := range actions {
		method := a.do
		do := func(ctx context.Context, h core.Hypervisor) error { return method(h, ctx) }
		reportState := a.name != "delete" && a.name != "shutdown-vmm"
		cmds = append(cmds, &command{name: a.name, args: "--socket S", summary: a.summary, group: g,
			run: func(ctx context.Context, e *env, args []string) error {
				fs := e.flags()
				socket := socketFlag(fs)
				if _, err := e.parse(fs, args, 0); err != nil {
					return err
				}
				return e.action(ctx, *socket, reportState, do)
			}})
	}
	return cmds
}

// socketFlag adds --socket to fs.
func socketFlag(fs *flag.FlagSet) *string {
	return fs.String("socket", "", "API socket of the VMM (required)")
}

// connect connects to the VMM at socket, detecting its version with a ping
// (core.Connect), and returns its Hypervisor and a context bounded by
// --timeout.
func (e *env) connect(ctx context.Context, socket string) (core.Hypervisor, context.Context, context.CancelFunc, error) {
	if err := e.requireFlag("socket", socket); err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, e.global.timeout)
	h, err := core.Connect(ctx, socket)
	if err != nil {
		cancel()
		return nil, nil, nil, fmt.Errorf("%w; to start one: chv start --socket %s [--simulate]", err, socket)
	}
	return h, ctx, func() { cancel(); _ = h.Close() }, nil
}

// actionJSON is the result of a command that changes the VM or VMM.
type actionJSON struct {
	Action  string             `json:"action"`
	Socket  string             `json:"socket"`
	Version string             `json:"version"`
	State   string             `json:"state,omitempty"`
	Device  *api.PciDeviceInfo `json:"device,omitempty"`
	Detail  string             `json:"detail,omitempty"`
}

// action runs do against the VMM at socket and reports it, with the VM's
// state afterwards when reportState.
func (e *env) action(ctx context.Context, socket string, reportState bool, do func(context.Context, core.Hypervisor) error) error {
	h, ctx, done, err := e.connect(ctx, socket)
	if err != nil {
		return err
	}
	defer done()
	if err := do(ctx, h); err != nil {
		return fmt.Errorf("%s: %w", e.cmd.name, err)
	}
	return e.report(ctx, h, socket, reportState, actionJSON{})
}

// report prints the result of an action on h.
func (e *env) report(ctx context.Context, h core.Hypervisor, socket string, reportState bool, out actionJSON) error {
	out.Action, out.Socket, out.Version = e.cmd.name, socket, h.Release().Version()
	if reportState {
		if info, err := h.VMInfo(ctx); err == nil {
			out.State = string(info.State)
		}
	}
	return e.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "%s: ok (CH %s at %s)", out.Action, out.Version, out.Socket)
		if out.State != "" {
			fmt.Fprintf(w, "; VM state: %s", out.State)
		}
		fmt.Fprintln(w)
		if out.Device != nil {
			t := newTable(w)
			t.row("device", out.Device.ID)
			t.row("pci bdf", out.Device.Bdf)
			t.flush()
		}
		if out.Detail != "" {
			fmt.Fprintln(w, out.Detail)
		}
	})
}

// pingJSON is `chv ping --json`.
type pingJSON struct {
	Socket string `json:"socket"`
	// Release is the registered release the VMM's version maps to.
	Release string `json:"release"`
	core.PingInfo
	// Advisories are the known advisories of the VMM's release.
	Advisories []advisoryJSON `json:"advisories"`
}

func runPing(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	socket := socketFlag(fs)
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	h, ctx, done, err := e.connect(ctx, *socket)
	if err != nil {
		return err
	}
	defer done()
	info, err := h.Ping(ctx)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	out := pingJSON{Socket: *socket, Release: h.Release().Version(), PingInfo: info, Advisories: advisoriesOf(h.Release())}
	return e.emit(out, func(w io.Writer) {
		t := newTable(w)
		t.row("socket", out.Socket)
		t.row("release", out.Release)
		t.row("build version", out.BuildVersion)
		t.row("version", out.Version)
		t.row("pid", fmt.Sprint(out.PID))
		t.row("features", orDash(strings.Join(out.Features, ",")))
		t.row("advisories", advisorySummary(out.Advisories))
		t.flush()
	})
}

func runInfo(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	socket := socketFlag(fs)
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	h, ctx, done, err := e.connect(ctx, *socket)
	if err != nil {
		return err
	}
	defer done()
	info, err := h.VMInfo(ctx)
	if err != nil {
		return fmt.Errorf("info: %w", err)
	}
	return e.emit(info, func(w io.Writer) { printVMInfo(w, h.Release().Version(), info) })
}

// printVMInfo writes the main facts of a VM, then its device tree.
func printVMInfo(w io.Writer, version string, info *api.VMInfo) {
	c := info.Config
	t := newTable(w)
	t.row("version", version)
	t.row("state", string(info.State))
	if c.Cpus != nil {
		t.row("vcpus", fmt.Sprintf("%d (max %d)", c.Cpus.BootVcpus, c.Cpus.MaxVcpus))
	}
	if c.Memory != nil {
		t.row("memory", humanBytes(c.Memory.Size))
	}
	if info.MemoryActualSize != nil {
		t.row("memory actual", humanBytes(*info.MemoryActualSize))
	}
	t.row("kernel", orDash(deref(c.Payload.Kernel)))
	t.row("initramfs", orDash(deref(c.Payload.Initramfs)))
	t.row("firmware", orDash(deref(c.Payload.Firmware)))
	t.row("cmdline", orDash(deref(c.Payload.Cmdline)))
	if c.Serial != nil {
		t.row("serial", string(c.Serial.Mode)+" "+deref(c.Serial.File))
	}
	for _, d := range c.Disks {
		t.row("disk", deref(d.ID)+" "+deref(d.Path))
	}
	for _, n := range c.Net {
		t.row("net", strings.TrimSpace(deref(n.ID)+" tap="+deref(n.Tap)+" mac="+deref(n.Mac)))
	}
	t.flush()
	if info.DeviceTree == nil || len(*info.DeviceTree) == 0 {
		return
	}
	fmt.Fprintln(w, "\nDevices:")
	t = newTable(w)
	t.row("ID", "PCI BDF", "CHILDREN")
	tree := *info.DeviceTree
	for _, id := range slices.Sorted(maps.Keys(tree)) {
		n := tree[id]
		bdf := ""
		if n.PciBdf != nil {
			bdf = *n.PciBdf
		}
		t.row(id, orDash(bdf), orDash(strings.Join(n.Children, ",")))
	}
	t.flush()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func runCounters(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	socket := socketFlag(fs)
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	h, ctx, done, err := e.connect(ctx, *socket)
	if err != nil {
		return err
	}
	defer done()
	counters, err := h.VMCounters(ctx)
	if err != nil {
		return fmt.Errorf("counters: %w", err)
	}
	if counters == nil {
		counters = api.VMCounters{}
	}
	return e.emit(counters, func(w io.Writer) {
		t := newTable(w)
		t.row("DEVICE", "COUNTER", "VALUE")
		for _, dev := range slices.Sorted(maps.Keys(counters)) {
			for _, name := range slices.Sorted(maps.Keys(counters[dev])) {
				t.row(dev, name, fmt.Sprint(counters[dev][name]))
			}
		}
		t.flush()
	})
}
