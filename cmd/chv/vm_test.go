package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core/api"
)

// TestVMLifecycle drives one simulated VMM through every VM command, human
// and --json.
func TestVMLifecycle(t *testing.T) {
	t.Parallel()
	s := startSimulator(t, "v50.2")
	d, sock := s.dir, s.socket
	assert.Equal(t, "v50.2", s.proc.Version)
	assert.True(t, s.proc.Simulated)
	assert.True(t, s.proc.Detached)
	assert.Equal(t, simulatorPrefix+"v50.2", filepath.Base(s.proc.Binary))

	// ping
	r := ok(t, d, "ping", "--socket", sock)
	assert.Regexp(t, `(?m)^release\s+v50\.2$`, r.stdout)
	var ping pingJSON
	okJSON(t, d, &ping, "ping", "--socket", sock)
	assert.Equal(t, "v50.2", ping.Release)
	assert.Equal(t, "v50.2", ping.BuildVersion)
	assert.Equal(t, s.proc.PID, ping.PID, "the simulator is its own process")
	assert.NotEqual(t, os.Getpid(), ping.PID)

	// create from flags, with sizes
	kernel := writeFile(t, d, "vmlinux", "kernel")
	initramfs := writeFile(t, d, "initramfs.img", "initramfs")
	var act actionJSON
	okJSON(t, d, &act, "create", "--socket", sock, "--kernel", "vmlinux", "--initramfs", "initramfs.img",
		"--cmdline", "console=ttyS0", "--cpus", "2", "--max-cpus", "4", "--memory", "1G", "--serial", "serial.log")
	assert.Equal(t, actionJSON{Action: "create", Socket: sock, Version: "v50.2", State: "Created"}, act)

	var info api.VMInfo
	okJSON(t, d, &info, "info", "--socket", sock)
	assert.Equal(t, api.VMState("Created"), info.State)
	require.NotNil(t, info.Config.Memory)
	assert.Equal(t, int64(1<<30), info.Config.Memory.Size)
	assert.Equal(t, 2, info.Config.Cpus.BootVcpus)
	assert.Equal(t, 4, info.Config.Cpus.MaxVcpus)
	assert.Equal(t, kernel, *info.Config.Payload.Kernel, "paths are made absolute")
	assert.Equal(t, initramfs, *info.Config.Payload.Initramfs)
	assert.Equal(t, "console=ttyS0", *info.Config.Payload.Cmdline)
	require.NotNil(t, info.Config.Serial)
	assert.Equal(t, api.ConsoleModeFile, info.Config.Serial.Mode)
	assert.Equal(t, filepath.Join(d, "serial.log"), *info.Config.Serial.File)

	// boot, human info
	r = ok(t, d, "boot", "--socket", sock)
	assert.Equal(t, "boot: ok (CH v50.2 at "+sock+"); VM state: Running\n", r.stdout)
	r = ok(t, d, "info", "--socket", sock)
	assert.Regexp(t, `(?m)^state\s+Running$`, r.stdout)
	assert.Regexp(t, `(?m)^vcpus\s+2 \(max 4\)$`, r.stdout)
	assert.Regexp(t, `(?m)^memory\s+1G$`, r.stdout)

	// resize, devices, counters
	okJSON(t, d, &act, "resize", "--socket", sock, "--cpus", "3")
	assert.Equal(t, "Running", act.State)
	okJSON(t, d, &info, "info", "--socket", sock)
	assert.Equal(t, 3, info.Config.Cpus.BootVcpus)
	r = chv(t, d, "resize", "--socket", sock, "--cpus", "8")
	assert.Equal(t, exitFailed, r.code, "%s", r)
	assert.Contains(t, r.stderr, "Requested vCPUs exceed maximum", "CH's own message is shown")

	writeFile(t, d, "disk.img", "") // CH opens a hot-plugged disk's image
	okJSON(t, d, &act, "add-disk", "--socket", sock, "--path", "disk.img", "--id", "data0", "--readonly")
	require.NotNil(t, act.Device, "hot plug returns the device")
	assert.Equal(t, "data0", act.Device.ID)
	assert.NotEmpty(t, act.Device.Bdf)
	r = ok(t, d, "add-net", "--socket", sock, "--tap", "tap0", "--mac", "52:54:00:12:34:56")
	assert.Regexp(t, `(?m)^device\s+_net\d+$`, r.stdout)

	var counters api.VMCounters
	okJSON(t, d, &counters, "counters", "--socket", sock)
	assert.Contains(t, counters, "data0")
	r = ok(t, d, "counters", "--socket", sock)
	assert.Regexp(t, `(?m)^data0\s+read_bytes\s+0$`, r.stdout)

	okJSON(t, d, &act, "remove-device", "--socket", sock, "data0")
	okJSON(t, d, &counters, "counters", "--socket", sock)
	assert.NotContains(t, counters, "data0")

	// reboot, power button, pause, snapshot, resume
	okJSON(t, d, &act, "reboot", "--socket", sock)
	assert.Equal(t, "Running", act.State)
	okJSON(t, d, &act, "power-button", "--socket", sock)
	assert.Equal(t, "Running", act.State)

	r = chv(t, d, "snapshot", "--socket", sock, "snap")
	assert.Equal(t, exitFailed, r.code, "snapshot of a running VM: %s", r)
	assert.Contains(t, r.stderr, "pause the VM first")

	okJSON(t, d, &act, "pause", "--socket", sock)
	assert.Equal(t, "Paused", act.State)
	var snap snapshotJSON
	okJSON(t, d, &snap, "snapshot", "snap", "--socket", sock)
	assert.Equal(t, filepath.Join(d, "snap"), snap.Dir)
	assert.Equal(t, "v50.2", snap.Version)
	assert.Equal(t, hostArch(), snap.Arch)
	assert.FileExists(t, filepath.Join(d, "snap", "chvmm-snapshot.json"), "chvmm's metadata")
	assert.FileExists(t, filepath.Join(d, "snap", "config.json"))
	okJSON(t, d, &act, "resume", "--socket", sock)
	assert.Equal(t, "Running", act.State)

	// shutdown keeps the config; delete removes it
	okJSON(t, d, &act, "shutdown", "--socket", sock)
	assert.Equal(t, "Created", act.State)
	okJSON(t, d, &act, "delete", "--socket", sock)
	assert.Equal(t, actionJSON{Action: "delete", Socket: sock, Version: "v50.2"}, act)
	e := failJSON(t, d, exitFailed, "info", "--socket", sock)
	require.NotNil(t, e.API)
	assert.Equal(t, "GET /vm.info", e.API.Operation)

	// shutdown-vmm ends the process
	okJSON(t, d, &act, "shutdown-vmm", "--socket", sock)
	assert.Equal(t, "shutdown-vmm", act.Action)
	assert.Eventually(t, func() bool {
		return syscall.Kill(s.proc.PID, 0) != nil || isZombie(s.proc.PID)
	}, 5*time.Second, 20*time.Millisecond, "the VMM process exits")
	r = chv(t, d, "ping", "--socket", sock)
	assert.Equal(t, exitFailed, r.code)
}

// TestCreateFromConfig creates VMs from CH-format JSON, and refuses bad
// JSON with where it is wrong.
func TestCreateFromConfig(t *testing.T) {
	t.Parallel()
	s := startSimulator(t, "v53.0")
	d, sock := s.dir, s.socket
	kernel := writeFile(t, d, "vmlinux", "k")
	good := writeFile(t, d, "vm.json", `{
  "payload": {"kernel": "`+kernel+`", "cmdline": "console=hvc0"},
  "cpus": {"boot_vcpus": 2, "max_vcpus": 2},
  "memory": {"size": 268435456}
}`)
	bad := map[string]struct {
		body, want string
	}{
		"unknown field":   {`{"payload": {"kernel": "/k"}, "cpus": {"boot_vcpus": 1, "max_vcpus": 1, "bogus": 1}}`, `unknown field "cpus.bogus"`},
		"unknown in list": {`{"payload": {"kernel": "/k"}, "disks": [{"path": "/a"}, {"pth": "/b"}]}`, `unknown field "disks[1].pth"`},
		"syntax":          {"{\"payload\":\n  {\"kernel\": }}", "bad.json:2:14: malformed JSON"},
		"type":            {`{"payload": {"kernel": "/k"}, "cpus": {"boot_vcpus": "two", "max_vcpus": 1}}`, `field "cpus.boot_vcpus": JSON string`},
		"truncated":       {`{"payload": {`, "truncated JSON"},
		"two values":      {`{} {}`, "more than one JSON value"},
	}
	for name, c := range bad {
		path := writeFile(t, d, "bad.json", c.body)
		r := chv(t, d, "create", "--socket", sock, "--config", path)
		assert.Equal(t, exitFailed, r.code, "%s: %s", name, r)
		assert.Contains(t, r.stderr, c.want, name)
		assert.True(t, strings.HasPrefix(r.stderr, "chv: "), name)
	}
	// What is not a small regular file fails at once, before any read
	// blocks or grows without bound (issue 10.7).
	fifo := filepath.Join(d, "vm.fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	huge := writeFile(t, d, "huge.json", `{"payload": {"kernel": "`+strings.Repeat("k", maxConfigFile)+`"}}`)
	for path, want := range map[string]string{
		"/dev/zero": "/dev/zero is not a regular file (Dc---------)",
		fifo:        "vm.fifo is not a regular file (p---------)",
		d:           "is not a regular file (d---------)",
		huge:        "huge.json is larger than 1048576 bytes",
	} {
		r := chv(t, d, "create", "--socket", sock, "--config", path)
		assert.Equal(t, exitFailed, r.code, "%s: %s", path, r)
		assert.Contains(t, r.stderr, want, path)
	}
	r := chv(t, d, "create", "--socket", sock, "--config", good, "--cpus", "2")
	assert.Equal(t, exitUsage, r.code, "%s", r)
	assert.Contains(t, r.stderr, "--config excludes --cpus")

	var act actionJSON
	okJSON(t, d, &act, "create", "--socket", sock, "--config", good)
	assert.Equal(t, "Created", act.State)
	var info api.VMInfo
	okJSON(t, d, &info, "info", "--socket", sock)
	assert.Equal(t, int64(256<<20), info.Config.Memory.Size)
	assert.Equal(t, "console=hvc0", *info.Config.Payload.Cmdline)

	// Cold plug: no device info until boot.
	okJSON(t, d, &act, "add-disk", "--socket", sock, "--config", writeFile(t, d, "disk.json", `{"path": "/dev/null", "id": "cold0"}`))
	assert.Nil(t, act.Device)
	assert.Contains(t, act.Detail, "cold plug")
	r = chv(t, d, "add-disk", "--socket", sock, "--config", writeFile(t, d, "disk2.json", `{"path": "/x", "size": 1}`))
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, `unknown field "size": CH's DiskConfig has no such field`)

	// A second create: CH's error chain is shown, and in --json.
	r = chv(t, d, "create", "--socket", sock, "--config", good)
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "chv: create: PUT /vm.create: HTTP 500")
	assert.Contains(t, r.stderr, "Cloud Hypervisor answered PUT /vm.create (HTTP 500):\n  Error from API\n")
	e := failJSON(t, d, exitFailed, "create", "--socket", sock, "--config", good)
	require.NotNil(t, e.API)
	assert.Equal(t, "PUT /vm.create", e.API.Operation)
	assert.Contains(t, e.API.Messages, "VM is already created")
}

// TestSizes covers --memory parsing.
func TestSizes(t *testing.T) {
	for in, want := range map[string]int64{"512M": 512 << 20, "1G": 1 << 30, "1g": 1 << 30, "2GiB": 2 << 30, "64K": 64 << 10, "4096": 4096, "1T": 1 << 40} {
		got, err := parseSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "M", "-1G", "1.5G", "1X", "99999999999T"} {
		_, err := parseSize(in)
		assert.Error(t, err, in)
	}
}
