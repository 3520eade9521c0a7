package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
)

// createFlags are the flags of `chv create`.
type createFlags struct {
	config    string
	kernel    string
	initramfs string
	cmdline   string
	cpus      int
	maxCPUs   int
	memory    string
	disks     stringList
	serial    string
}

func runCreate(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	socket := socketFlag(fs)
	var cf createFlags
	fs.StringVar(&cf.config, "config", "", "VM config as JSON in CH's VmConfig format (as PUT /vm.create takes); excludes the other VM flags")
	fs.StringVar(&cf.kernel, "kernel", "", "kernel image to boot directly (vmlinux, bzImage, PVH ELF)")
	fs.StringVar(&cf.initramfs, "initramfs", "", "initramfs image")
	fs.StringVar(&cf.cmdline, "cmdline", "", "kernel command line")
	fs.IntVar(&cf.cpus, "cpus", 1, "vCPUs at boot")
	fs.IntVar(&cf.maxCPUs, "max-cpus", 0, "vCPUs the VM can be resized to (default --cpus)")
	fs.StringVar(&cf.memory, "memory", "512M", "guest memory: bytes or a size with K, M, G, T (512M, 1G)")
	fs.Var(&cf.disks, "disk", "disk image path (repeatable, attached as virtio-blk in order)")
	fs.StringVar(&cf.serial, "serial", "null", "serial port (ttyS0): a file path, or null, off, tty, pty")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	cfg, err := cf.vmConfig(fs.Visit)
	if err != nil {
		return err
	}
	return e.action(ctx, *socket, true, func(ctx context.Context, h core.Hypervisor) error {
		return h.CreateVM(ctx, cfg, nil)
	})
}

// vmConfig builds the VM config: from --config, or a api.DirectBoot from
// the flags. visit walks the flags that were set.
func (cf *createFlags) vmConfig(visit func(func(*flag.Flag))) (*api.VMConfig, error) {
	if cf.config != "" {
		var set []string
		visit(func(f *flag.Flag) {
			switch f.Name {
			case "config", "socket", "json", "timeout", "data-dir":
			default:
				set = append(set, "--"+f.Name)
			}
		})
		if len(set) > 0 {
			return nil, usageErrorf("create: --config excludes %s; put them into the JSON config", strings.Join(set, ", "))
		}
		var cfg api.VMConfig
		if err := decodeJSONFile(cf.config, "VmConfig", &cfg); err != nil {
			return nil, err
		}
		return &cfg, nil
	}
	if cf.kernel == "" {
		return nil, usageErrorf("create needs --kernel (or --config FILE); run 'chv create -h' for usage")
	}
	mem, err := parseSize(cf.memory)
	if err != nil {
		return nil, usageErrorf("create: --memory: %v", err)
	}
	if mem < 1<<20 || mem%(1<<20) != 0 {
		return nil, usageErrorf("create: --memory %s: want a whole number of MiB, at least 1M", cf.memory)
	}
	if cf.cpus < 1 {
		return nil, usageErrorf("create: --cpus %d: want at least 1", cf.cpus)
	}
	abs := func(p string) string {
		if p == "" {
			return ""
		}
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	d := api.DirectBoot{Kernel: abs(cf.kernel), Initramfs: abs(cf.initramfs), Cmdline: cf.cmdline,
		VCPUs: cf.cpus, MaxVCPUs: cf.maxCPUs, MemoryMiB: mem >> 20}
	for _, p := range cf.disks {
		d.Disks = append(d.Disks, abs(p))
	}
	mode := api.ConsoleMode("")
	switch strings.ToLower(cf.serial) {
	case "null", "":
	case "off":
		mode = api.ConsoleModeOff
	case "tty":
		mode = api.ConsoleModeTty
	case "pty":
		mode = api.ConsoleModePty
	default:
		d.SerialFile = abs(cf.serial)
	}
	cfg := d.Config()
	if mode != "" {
		cfg.Serial = &api.SerialConfig{Mode: mode}
	}
	return cfg, nil
}

// decodeJSONFile decodes the JSON file at path (CH's schema named schema)
// into v, refusing unknown fields and saying where the file is wrong.
func decodeJSONFile(path, schema string, v any) error {
	data, err := readConfigFile(path)
	if err != nil {
		return fmt.Errorf("reading the %s config: %w", schema, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			return fmt.Errorf("%s: more than one JSON value; want one %s object", path, schema)
		}
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(data, syn.Offset)
		return fmt.Errorf("%s:%d:%d: malformed JSON: %v", path, line, col, syn)
	case errors.As(err, &typ):
		line, col := position(data, typ.Offset)
		return fmt.Errorf("%s:%d:%d: field %q: JSON %s where %s's field wants %s", path, line, col, typ.Field, typ.Value, schema, typ.Type)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%s: truncated JSON: want one %s object", path, schema)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		if p := unknownFieldPath(data, reflect.TypeOf(v)); p != "" {
			field = strconv.Quote(p)
		}
		return fmt.Errorf("%s: unknown field %s: CH's %s has no such field; check its spelling against the CH API", path, field, schema)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// position turns the offset encoding/json reports (just after the
// offending byte) into the 1-based line and column of that byte.
func position(data []byte, off int64) (line, col int) {
	off = min(max(off-1, 0), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// parseSize parses a byte size: "1073741824", "512M", "1G", "64K", "2T"
// (powers of 1024; a trailing "B" or "iB" is allowed).
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "IB"), "B")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (want bytes, or a number with K, M, G or T: 512M, 1G)", s)
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// maxConfigFile caps a --config file: CH's largest configs are a few KiB.
const maxConfigFile = 1 << 20

// readConfigFile reads the regular file at path, up to maxConfigFile bytes.
// It opens without blocking (a FIFO cannot hang it) and refuses devices,
// FIFOs and directories, so --config /dev/zero fails at once.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s); give --config a JSON file", path, fi.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigFile {
		return nil, fmt.Errorf("%s is larger than %d bytes; a CH config is a few KiB of JSON", path, maxConfigFile)
	}
	return data, nil
}
