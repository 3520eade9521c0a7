package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
)

// deviceCommands change the VM's resources: resize, add-disk, add-net,
// remove-device.
func deviceCommands() []*command {
	const g = "Resources and devices"
	return []*command{
		{name: "resize", args: "--socket S [--cpus N] [--memory SIZE] [--balloon SIZE]", summary: "change the VM's vCPUs, memory or balloon", group: g, run: runResize},
		{name: "add-disk", args: "--socket S (--path P [--id ID] [--readonly] | --config FILE)", summary: "hot-plug (or, before boot, cold-plug) a disk", group: g, run: runAddDisk},
		{name: "add-net", args: "--socket S ([--tap T] [--mac M] [--ip A --mask M] [--id ID] | --config FILE)", summary: "hot-plug (or, before boot, cold-plug) a network device", group: g, run: runAddNet},
		{name: "remove-device", args: "--socket S ID", summary: "unplug the device with the given id", group: g, run: runRemoveDevice},
	}
}

func runResize(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	socket := socketFlag(fs)
	cpus := fs.Int("cpus", 0, "desired vCPUs")
	memory := fs.String("memory", "", "desired guest memory (512M, 2G)")
	balloon := fs.String("balloon", "", "desired balloon size (256M)")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	var r api.VMResize
	if *cpus > 0 {
		r.DesiredVcpus = cpus
	}
	for _, s := range []struct {
		name, value string
		dst         **int64
	}{{"memory", *memory, &r.DesiredRAM}, {"balloon", *balloon, &r.DesiredBalloon}} {
		if s.value == "" {
			continue
		}
		n, err := parseSize(s.value)
		if err != nil {
			return usageErrorf("resize: --%s: %v", s.name, err)
		}
		*s.dst = &n
	}
	if r.DesiredVcpus == nil && r.DesiredRAM == nil && r.DesiredBalloon == nil {
		return usageErrorf("resize needs --cpus, --memory or --balloon; run 'chv resize -h' for usage")
	}
	return e.action(ctx, *socket, true, func(ctx context.Context, h core.Hypervisor) error {
		return h.Resize(ctx, r)
	})
}

// addDevice runs an add-* call and reports the device CH returns (none for
// a cold plug into a VM that is not booted).
func (e *env) addDevice(ctx context.Context, socket string, add func(context.Context, core.Hypervisor) (*api.PciDeviceInfo, error)) error {
	h, ctx, done, err := e.connect(ctx, socket)
	if err != nil {
		return err
	}
	defer done()
	dev, err := add(ctx, h)
	if err != nil {
		return fmt.Errorf("%s: %w", e.cmd.name, err)
	}
	out := actionJSON{Device: dev}
	if dev == nil {
		out.Detail = "cold plug: the device is part of the VM's config and appears when it boots"
	}
	return e.report(ctx, h, socket, true, out)
}

func runAddDisk(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	socket := socketFlag(fs)
	config := fs.String("config", "", "disk as JSON in CH's DiskConfig format; excludes the other disk flags")
	path := fs.String("path", "", "disk image path")
	id := fs.String("id", "", "device id (default: CH picks _diskN)")
	readonly := fs.Bool("readonly", false, "attach read-only")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	var d api.DiskConfig
	switch {
	case *config != "":
		if err := exclusive(fs, "config", "path", "id", "readonly"); err != nil {
			return err
		}
		if err := decodeJSONFile(*config, "DiskConfig", &d); err != nil {
			return err
		}
	case *path == "":
		return usageErrorf("add-disk needs --path (or --config FILE); run 'chv add-disk -h' for usage")
	default:
		abs, err := filepath.Abs(*path)
		if err != nil {
			return err
		}
		d.Path = &abs
		if *id != "" {
			d.ID = id
		}
		if *readonly {
			d.Readonly = readonly
		}
	}
	return e.addDevice(ctx, *socket, func(ctx context.Context, h core.Hypervisor) (*api.PciDeviceInfo, error) {
		return h.AddDisk(ctx, d)
	})
}

func runAddNet(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	socket := socketFlag(fs)
	config := fs.String("config", "", "network device as JSON in CH's NetConfig format; excludes the other net flags")
	tap := fs.String("tap", "", "TAP device name (default: CH creates one)")
	mac := fs.String("mac", "", "guest MAC address")
	ip := fs.String("ip", "", "host IP of the TAP device")
	mask := fs.String("mask", "", "netmask of --ip")
	id := fs.String("id", "", "device id (default: CH picks _netN)")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	var n api.NetConfig
	if *config != "" {
		if err := exclusive(fs, "config", "tap", "mac", "ip", "mask", "id"); err != nil {
			return err
		}
		if err := decodeJSONFile(*config, "NetConfig", &n); err != nil {
			return err
		}
	} else {
		for _, f := range []struct {
			v   string
			dst **string
		}{{*tap, &n.Tap}, {*mac, &n.Mac}, {*ip, &n.IP}, {*mask, &n.Mask}, {*id, &n.ID}} {
			if f.v != "" {
				v := f.v
				*f.dst = &v
			}
		}
	}
	return e.addDevice(ctx, *socket, func(ctx context.Context, h core.Hypervisor) (*api.PciDeviceInfo, error) {
		return h.AddNet(ctx, n)
	})
}

// exclusive returns a usage error when flag first is set together with any
// of others.
func exclusive(fs *flag.FlagSet, first string, others ...string) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		for _, o := range others {
			if f.Name == o && err == nil {
				err = usageErrorf("%s: --%s excludes --%s", fs.Name(), first, o)
			}
		}
	})
	return err
}

func runRemoveDevice(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	socket := socketFlag(fs)
	pos, err := e.parse(fs, args, 1)
	if err != nil {
		return err
	}
	id := pos[0]
	return e.action(ctx, *socket, true, func(ctx context.Context, h core.Hypervisor) error {
		return h.RemoveDevice(ctx, id)
	})
}
