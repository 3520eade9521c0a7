package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/chsim/chsimtest"
	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
)

// foreground is `chv start` running in the foreground.
type foreground struct {
	cmd  *exec.Cmd
	proc processJSON
	done chan error
}

// startForeground runs `chv start --json args…` without --detach and
// returns once it reported the started VMM.
func startForeground(t *testing.T, dir string, args ...string) *foreground {
	t.Helper()
	cmd := exec.Command(chvBin, append([]string{"start", "--json"}, args...)...)
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	f := &foreground{cmd: cmd, done: make(chan error, 1)}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-f.done
		stopVMM("", f.proc.PID)
	})
	dec := json.NewDecoder(bufio.NewReader(stdout))
	decoded := make(chan error, 1)
	go func() { decoded <- dec.Decode(&f.proc) }()
	select {
	case err := <-decoded:
		require.NoError(t, err, "chv start printed no JSON")
	case <-time.After(30 * time.Second):
		t.Fatal("chv start did not report the VMM")
	}
	go func() { f.done <- cmd.Wait() }()
	return f
}

// wait returns chv's exit status once it exits.
func (f *foreground) wait(t *testing.T) int {
	t.Helper()
	select {
	case err := <-f.done:
		f.done <- err // for Cleanup
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		require.NoError(t, err)
		return 0
	case <-time.After(20 * time.Second):
		t.Fatal("chv start did not exit")
		return -1
	}
}

// TestStartForeground: without --detach, chv stays with the VMM, passes
// its options on, and stops it gracefully on SIGTERM.
func TestStartForeground(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	sock := filepath.Join(d, "fg.sock")
	f := startForeground(t, d, "--simulate", "--version", "49", "--socket", sock, "--data-dir", filepath.Join(d, "data"),
		"--log-file", "ch.log", "--", "--cpus", "boot=1", "-v")
	assert.Equal(t, "v49.0", f.proc.Version, "49 resolves to the newest v49")
	assert.False(t, f.proc.Detached)
	assert.Equal(t, filepath.Join(d, "ch.log"), f.proc.CHLogFile)
	assert.FileExists(t, f.proc.CHLogFile, "the simulator got --log-file")
	assert.Equal(t, core.DefaultLogPath(sock), f.proc.OutputLog)
	var ping pingJSON
	okJSON(t, d, &ping, "ping", "--socket", sock)
	assert.Equal(t, f.proc.PID, ping.PID)

	// The socket is in use now.
	r := chv(t, d, "start", "--simulate", "--version", "49", "--socket", sock, "--data-dir", filepath.Join(d, "data"))
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "already in use")

	require.NoError(t, f.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, f.wait(t))
	r = chv(t, d, "ping", "--socket", sock)
	assert.Equal(t, exitFailed, r.code, "the VMM is gone")
	assert.Contains(t, readFile(t, f.proc.CHLogFile), "ignores", "-v and the extra args reached the simulator")
}

// TestStartForegroundExitsWithVMM: shutdown-vmm ends the VMM and the
// foreground chv with it.
func TestStartForegroundExitsWithVMM(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	sock := filepath.Join(d, "fg.sock")
	f := startForeground(t, d, "--simulate", "--socket", sock, "--data-dir", filepath.Join(d, "data"))
	assert.Equal(t, core.Versions()[len(core.Versions())-1], f.proc.Version, "default: latest")
	ok(t, d, "shutdown-vmm", "--socket", sock)
	assert.Equal(t, 0, f.wait(t))
}

// TestStartBinary starts a chsim drop-in CH binary (chsimtest.Build) the
// way a real one is started: --binary, with the KVM check.
func TestStartBinary(t *testing.T) {
	t.Parallel()
	if err := core.CheckKVM(); err != nil {
		t.Skipf("needs /dev/kvm for the KVM check of a non-simulated start: %v", err)
	}
	bin := chsimtest.Build(t, "v51.2")
	d := t.TempDir()
	sock := filepath.Join(d, "bin.sock")
	var proc processJSON
	okJSON(t, d, &proc, "start", "--binary", bin, "--version", ">= 51", "--socket", sock, "--detach")
	t.Cleanup(func() { stopVMM(sock, proc.PID) })
	assert.Equal(t, "v51.2", proc.Version)
	assert.Equal(t, bin, proc.Binary)
	assert.False(t, proc.Simulated)
	var ping pingJSON
	okJSON(t, d, &ping, "ping", "--socket", sock)
	assert.Equal(t, proc.PID, ping.PID)

	r := chv(t, d, "start", "--binary", bin, "--version", "v50.2", "--socket", filepath.Join(d, "x.sock"))
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "does not satisfy")
}

// TestRestoreVersionLock: a snapshot restores into a VMM of its own version
// (here an in-process chsimtest simulator), is refused by another version
// unless --force, and restore-process starts its own version.
func TestRestoreVersionLock(t *testing.T) {
	t.Parallel()
	src := startSimulator(t, "v50.2")
	d := src.dir
	writeFile(t, d, "vmlinux", "k")
	ok(t, d, "create", "--socket", src.socket, "--kernel", "vmlinux", "--memory", "256M")
	ok(t, d, "boot", "--socket", src.socket)
	ok(t, d, "pause", "--socket", src.socket)
	ok(t, d, "snapshot", "--socket", src.socket, "snap")
	snap := filepath.Join(d, "snap")

	// Another version refuses it.
	other := startSimulator(t, "v51.2")
	r := chv(t, d, "restore", "--socket", other.socket, "snap")
	assert.Equal(t, exitFailed, r.code, "%s", r)
	assert.Contains(t, r.stderr, "was written by CH v50.2, this VMM runs CH v51.2")
	assert.Contains(t, r.stderr, "chv restore-process --snapshot snap")
	e := failJSON(t, d, exitFailed, "restore", "--socket", other.socket, "snap")
	assert.Contains(t, e.Error, "version mismatch")
	var act actionJSON
	okJSON(t, d, &act, "restore", "--socket", other.socket, "snap", "--force")
	assert.Equal(t, actionJSON{Action: "restore", Socket: other.socket, Version: "v51.2", State: "Paused"}, act)

	// The same version restores it (in-process simulator; spec violations
	// fail the test).
	sameSock, _ := chsimtest.Start(t, "v50.2")
	okJSON(t, d, &act, "restore", "--socket", sameSock, snap, "--resume")
	assert.Equal(t, "Running", act.State)
	r = chv(t, d, "restore", "--socket", sameSock, snap)
	assert.Equal(t, exitFailed, r.code, "a VMM with a VM cannot restore")
	assert.Contains(t, r.stderr, "Cloud Hypervisor answered PUT /vm.restore")

	// restore-process starts v50.2 for it.
	var proc processJSON
	sock := filepath.Join(d, "restored.sock")
	okJSON(t, d, &proc, "restore-process", "--simulate", "--detach", "--snapshot", "snap", "--socket", sock, "--data-dir", filepath.Join(d, "data"))
	t.Cleanup(func() { stopVMM(sock, proc.PID) })
	assert.Equal(t, "v50.2", proc.Version)
	assert.Equal(t, "Paused", proc.State)
	assert.Equal(t, "snap", proc.Snapshot)
	var info api.VMInfo
	okJSON(t, d, &info, "info", "--socket", sock)
	assert.Equal(t, int64(256<<20), info.Config.Memory.Size)

	r = chv(t, d, "restore-process", "--simulate", "--snapshot", filepath.Join(d, "nothing"), "--socket", filepath.Join(d, "n.sock"))
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "snapshot has no chvmm metadata")
}

// TestSimulatorMode runs chv under a simulator name directly, as core
// does.
func TestSimulatorMode(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	link := filepath.Join(d, simulatorPrefix+"v52.0")
	require.NoError(t, exec.Command("ln", "-s", chvBin, link).Run())
	bv, err := core.ParseVersion(context.Background(), link)
	require.NoError(t, err)
	assert.Equal(t, "v52.0", bv.Version)
	out, err := exec.Command(link, "--bogus").CombinedOutput()
	assert.Error(t, err)
	assert.Contains(t, string(out), "unexpected argument '--bogus'")
}
