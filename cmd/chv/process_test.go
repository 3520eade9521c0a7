package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/chsim/chsimtest"
	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
	"github.com/chvmm/chvmm/core/chversion"
)

// foreground is `chv start` (or restore-process) running in the
// foreground with --json.
type foreground struct {
	cmd  *exec.Cmd
	proc processJSON
	// objs are the JSON objects chv prints after the first (events, the
	// exit); closed when its stdout ends.
	objs   chan json.RawMessage
	stderr bytes.Buffer
	done   chan error
}

// startForeground runs `chv start --json args…` without --detach and
// returns once it reported the started VMM.
func startForeground(t *testing.T, dir string, args ...string) *foreground {
	t.Helper()
	return runForeground(t, dir, append([]string{"start", "--json"}, args...)...)
}

// runForeground runs chv with args and returns once it printed its first
// JSON object, the started VMM.
func runForeground(t *testing.T, dir string, args ...string) *foreground {
	t.Helper()
	cmd := exec.Command(chvBin, args...)
	cmd.Dir = dir
	f := &foreground{cmd: cmd, objs: make(chan json.RawMessage, 256), done: make(chan error, 1)}
	cmd.Stderr = &f.stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	go func() {
		// Read all of stdout before Wait, which closes the pipe.
		dec := json.NewDecoder(stdout)
		for {
			var m json.RawMessage
			if dec.Decode(&m) != nil {
				break
			}
			f.objs <- m
		}
		close(f.objs)
		f.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		err := <-f.done
		f.done <- err
		stopVMM("", f.proc.PID)
	})
	select {
	case m, ok := <-f.objs:
		require.True(t, ok, "chv printed no JSON; stderr:\n%s", &f.stderr)
		require.NoError(t, json.Unmarshal(m, &f.proc))
	case <-time.After(30 * time.Second):
		t.Fatal("chv did not report the VMM")
	}
	return f
}

// next decodes the next JSON object chv prints into v; false when it
// printed no more.
func (f *foreground) next(t *testing.T, v any) bool {
	t.Helper()
	select {
	case m, ok := <-f.objs:
		if !ok {
			return false
		}
		require.NoError(t, json.Unmarshal(m, v), "%s", m)
		return true
	case <-time.After(20 * time.Second):
		t.Fatal("chv printed nothing more")
		return false
	}
}

// exit returns the exit report chv prints last, skipping events.
func (f *foreground) exit(t *testing.T) exitJSON {
	t.Helper()
	for {
		var o struct {
			Exit *exitJSON `json:"exit"`
		}
		require.True(t, f.next(t, &o), "chv printed no exit report; stderr:\n%s", &f.stderr)
		if o.Exit != nil {
			return *o.Exit
		}
	}
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
		t.Fatal("chv did not exit")
		return -1
	}
}

// TestStartForeground: without --detach, chv stays with the VMM, passes
// its options on, stops it gracefully on SIGTERM and reports how it ended.
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
	assert.Equal(t, filepath.Join(d, "logs", "fg.log"), f.proc.OutputLog)
	assert.Equal(t, core.Handle{PID: f.proc.PID, Socket: sock, Version: "v49.0", LogPath: f.proc.OutputLog,
		Started: f.proc.Handle.Started, StartTicks: f.proc.Handle.StartTicks}, f.proc.Handle)
	assert.Equal(t, advisoriesOf(mustLookup(t, "v49.0")), f.proc.Advisories)
	var ping pingJSON
	okJSON(t, d, &ping, "ping", "--socket", sock)
	assert.Equal(t, f.proc.PID, ping.PID)

	// The socket is in use now.
	r := chv(t, d, "start", "--simulate", "--version", "49", "--socket", sock, "--data-dir", filepath.Join(d, "data"))
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "already in use")

	require.NoError(t, f.cmd.Process.Signal(syscall.SIGTERM))
	code := 0
	assert.Equal(t, exitJSON{PID: f.proc.PID, Reason: "requested", ExitCode: &code}, f.exit(t))
	assert.Equal(t, 0, f.wait(t))
	assert.Empty(t, f.stderr.String(), "--json: no warning on stderr")
	r = chv(t, d, "ping", "--socket", sock)
	assert.Equal(t, exitFailed, r.code, "the VMM is gone")
	assert.Contains(t, readFile(t, f.proc.CHLogFile), "ignores", "-v and the extra args reached the simulator")
}

// TestStartForegroundExitsWithVMM: shutdown-vmm ends the VMM and the
// foreground chv with it, which says so.
func TestStartForegroundExitsWithVMM(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	sock := filepath.Join(d, "fg.sock")
	f := startForeground(t, d, "--simulate", "--socket", sock, "--data-dir", filepath.Join(d, "data"))
	rels := core.Releases()
	assert.Equal(t, rels[len(rels)-1].Version(), f.proc.Version, "default: latest")
	ok(t, d, "shutdown-vmm", "--socket", sock)
	exit := f.exit(t)
	assert.False(t, exit.VMLost, "%+v", exit)
	assert.Equal(t, 0, f.wait(t))
}

// TestStartForegroundCrash: a VMM that ends by itself without a shutdown
// (the simulator's crash after a failed boot) is reported as crashed, and
// chv fails: the VM is lost.
func TestStartForegroundCrash(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	sock := filepath.Join(d, "crash.sock")
	f := startForeground(t, d, "--simulate", "--version", "v48.0", "--socket", sock, "--data-dir", filepath.Join(d, "data"), "--events")
	ok(t, d, "create", "--socket", sock, "--kernel", filepath.Join(d, "missing-vmlinux"))
	r := chv(t, d, "boot", "--socket", sock)
	require.Equal(t, exitFailed, r.code, "%s", r)
	ok(t, d, "boot", "--socket", sock) // answers, then the simulator exits 0
	var names []string
	var exit exitJSON
	for exit.Reason == "" {
		var o struct {
			Event *eventJSON `json:"event"`
			Exit  *exitJSON  `json:"exit"`
		}
		require.True(t, f.next(t, &o), "no exit report; stderr:\n%s", &f.stderr)
		if o.Event != nil {
			names = append(names, o.Event.Source+" "+o.Event.Name)
		} else {
			exit = *o.Exit
		}
	}
	assert.Contains(t, names, "vmm starting", "--events prints the events")
	assert.Equal(t, "crashed", exit.Reason, "%+v", exit)
	assert.True(t, exit.VMLost)
	assert.Equal(t, exitFailed, f.wait(t))
	assert.Contains(t, f.stderr.String(), "treat its VM as lost")
}

// TestStartForegroundHuman: the human report of a foreground VMM: its
// events, then how it ended.
func TestStartForegroundHuman(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	sock := filepath.Join(d, "h.sock")
	cmd := exec.Command(chvBin, "start", "--simulate", "--events", "--version", "v52.0", "--socket", sock, "--data-dir", filepath.Join(d, "data"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	require.Eventually(t, func() bool { return chv(t, d, "ping", "--socket", sock).code == 0 }, 20*time.Second, 50*time.Millisecond)
	writeFile(t, d, "vmlinux", "k")
	ok(t, d, "create", "--socket", sock, "--kernel", "vmlinux")
	ok(t, d, "boot", "--socket", sock)
	ok(t, d, "shutdown-vmm", "--socket", sock)
	require.NoError(t, cmd.Wait(), "stderr: %s", &stderr)
	out := stdout.String()
	assert.Contains(t, out, "started cloud-hypervisor v52.0 (simulated)\n")
	assert.Regexp(t, `(?m)^event \d\d:\d\d:\d\d\.\d{3} vm booted$`, out)
	assert.Regexp(t, `(?m)^cloud-hypervisor pid \d+ exited: `, out)
	assert.Regexp(t, `^chv: warning: CH v52\.0 has known advisories: \d+ \(.*\): CH#\d+.*; details: chv versions\n$`, stderr.String())
}

// TestStartBinary starts a chsim drop-in CH binary (chsimtest.Build) the
// way a real one is started: --binary, with the KVM check; without
// --version, as the release it reports.
func TestStartBinary(t *testing.T) {
	t.Parallel()
	requireKVM(t)
	bin := chsimtest.Build(t, "v51.2")
	d := t.TempDir()
	sock := filepath.Join(d, "bin.sock")
	var proc processJSON
	okJSON(t, d, &proc, "start", "--binary", bin, "--version", "51", "--socket", sock, "--detach")
	firstPID := proc.PID // proc is reused below
	t.Cleanup(func() { stopVMM(sock, firstPID) })
	assert.Equal(t, "v51.2", proc.Version)
	assert.Equal(t, bin, proc.Binary)
	assert.False(t, proc.Simulated)
	var ping pingJSON
	okJSON(t, d, &ping, "ping", "--socket", sock)
	assert.Equal(t, proc.PID, ping.PID)

	sock2 := filepath.Join(d, "detected.sock")
	okJSON(t, d, &proc, "start", "--binary", bin, "--socket", sock2, "--detach")
	t.Cleanup(func() { stopVMM(sock2, proc.PID) })
	assert.Equal(t, "v51.2", proc.Version, "the binary's own version")

	r := chv(t, d, "start", "--binary", bin, "--version", "v50.2", "--socket", filepath.Join(d, "x.sock"))
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "version mismatch")
	assert.Contains(t, r.stderr, "without --version chv starts the release the binary reports")
}

// TestEnvBinary: chv (not core) reads CHVMM_BINARY, as a default of
// --binary.
func TestEnvBinary(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	env := []string{envBinary + "=/bin/true"}
	r := chvEnv(t, d, env, "start", "--socket", filepath.Join(d, "t.sock"))
	assert.Equal(t, exitFailed, r.code, "%s", r)
	assert.Contains(t, r.stderr, "chv: CHVMM_BINARY=/bin/true: ")
	assert.Contains(t, r.stderr, "malformed version")

	// --simulate ignores it.
	var proc processJSON
	sock := filepath.Join(d, "sim.sock")
	r = chvEnv(t, d, env, "start", "--simulate", "--detach", "--json", "--version", "v53.0", "--socket", sock, "--data-dir", filepath.Join(d, "data"))
	require.Equal(t, 0, r.code, "%s", r)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &proc))
	simSock, simPID := sock, proc.PID // sock and proc are reused below
	t.Cleanup(func() { stopVMM(simSock, simPID) })
	assert.Equal(t, simulatorPrefix+"v53.0", filepath.Base(proc.Binary))

	// doctor checks it.
	r = chvEnv(t, d, env, "doctor", "--simulate", "--version", "v53.0", "--data-dir", filepath.Join(d, "data"), "--socket-dir", d)
	assert.Equal(t, exitFailed, r.code, "%s", r)
	assert.Regexp(t, `(?m)^CHVMM_BINARY\s+FAIL\s+see below$`, r.stdout)
	assert.Contains(t, r.stdout, "fix: point CHVMM_BINARY at a cloud-hypervisor binary")

	requireKVM(t)
	bin := chsimtest.Build(t, "v50.2")
	env = []string{envBinary + "=" + bin}
	sock = filepath.Join(d, "env.sock")
	r = chvEnv(t, d, env, "start", "--detach", "--json", "--socket", sock)
	require.Equal(t, 0, r.code, "%s", r)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &proc))
	t.Cleanup(func() { stopVMM(sock, proc.PID) })
	assert.Equal(t, "v50.2", proc.Version, "the release the binary reports")
	assert.Equal(t, bin, proc.Binary)
	r = chvEnv(t, d, env, "doctor", "--simulate", "--version", "v53.0", "--data-dir", filepath.Join(d, "data"), "--socket-dir", d)
	assert.Equal(t, 0, r.code, "%s", r)
	assert.Regexp(t, `(?m)^CHVMM_BINARY\s+ok\s+.* is cloud-hypervisor v50\.2: chv start runs it as CH v50\.2$`, r.stdout)
}

// requireKVM skips a test that starts a binary with the KVM check.
func requireKVM(t *testing.T) {
	t.Helper()
	if err := core.CheckKVM(); err != nil {
		t.Skipf("needs /dev/kvm for the KVM check of a non-simulated start: %v", err)
	}
}

// hungBinary writes a stand-in CH binary that answers --version as v51.2
// but never serves its API; it writes its pid into the returned file.
func hungBinary(t *testing.T, dir string) (bin, pidFile string) {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	pidFile = filepath.Join(dir, "hung.pid")
	bin = writeFile(t, dir, "hung-ch", fmt.Sprintf("#!/bin/sh\n[ \"$1\" = --version ] && { echo 'cloud-hypervisor v51.2'; exit 0; }\necho $$ > %s.tmp && mv %s.tmp %s\nexec %s 60\n",
		pidFile, pidFile, pidFile, sleep))
	require.NoError(t, os.Chmod(bin, 0o755))
	return bin, pidFile
}

// gone reports whether process pid has ended.
func gone(pid int) bool { return syscall.Kill(pid, 0) != nil || isZombie(pid) }

// TestStartHung: --timeout and Ctrl-C abort a start that hangs, and the
// VMM is killed.
func TestStartHung(t *testing.T) {
	t.Parallel()
	requireKVM(t)
	d := t.TempDir()
	bin, pidFile := hungBinary(t, d)

	start := time.Now()
	r := chv(t, d, "start", "--binary", bin, "--socket", filepath.Join(d, "t.sock"), "--timeout", "1s")
	assert.Equal(t, exitFailed, r.code, "%s", r)
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Contains(t, r.stderr, "the VMM was killed")
	pid, err := strconv.Atoi(strings.TrimSpace(readFile(t, pidFile)))
	require.NoError(t, err)
	assert.Eventually(t, func() bool { return gone(pid) }, 5*time.Second, 20*time.Millisecond, "the hung VMM is killed")
	require.NoError(t, os.Remove(pidFile))

	cmd := exec.Command(chvBin, "start", "--binary", bin, "--socket", filepath.Join(d, "i.sock"), "--timeout", "60s")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	require.Eventually(t, func() bool { _, err := os.Stat(pidFile); return err == nil }, 10*time.Second, 20*time.Millisecond)
	pid, err = strconv.Atoi(strings.TrimSpace(readFile(t, pidFile)))
	require.NoError(t, err)
	start = time.Now()
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	err = cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "stderr: %s", &stderr)
	assert.Equal(t, exitFailed, ee.ExitCode())
	assert.Less(t, time.Since(start), 10*time.Second, "Ctrl-C aborts the start")
	assert.Contains(t, stderr.String(), "interrupted; the VMM was killed")
	assert.Eventually(t, func() bool { return gone(pid) }, 5*time.Second, 20*time.Millisecond, "the hung VMM is killed")
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
	assert.Equal(t, "v50.2", proc.SnapshotVersion)
	var info api.VMInfo
	okJSON(t, d, &info, "info", "--socket", sock)
	assert.Equal(t, int64(256<<20), info.Config.Memory.Size)

	// In the foreground, resumed; Ctrl-C stops it.
	sock = filepath.Join(d, "fg.sock")
	f := runForeground(t, d, "restore-process", "--json", "--simulate", "--resume", "--prefault", "--snapshot", "snap", "--socket", sock, "--data-dir", filepath.Join(d, "data"))
	assert.Equal(t, "Running", f.proc.State)
	assert.False(t, f.proc.Detached)
	require.NoError(t, f.cmd.Process.Signal(os.Interrupt))
	assert.Equal(t, "requested", f.exit(t).Reason)
	assert.Equal(t, 0, f.wait(t))

	r = chv(t, d, "restore-process", "--simulate", "--snapshot", filepath.Join(d, "nothing"), "--socket", filepath.Join(d, "n.sock"))
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "snapshot has no chvmm metadata")
}

// TestSnapshotRelease: restore-process --simulate picks the release
// core.RestoreProcess restores with: the snapshot's own, else the newest
// of its major.
func TestSnapshotRelease(t *testing.T) {
	for written, want := range map[string]string{"v50.2": "v50.2", "v50.1": "v50.2", "v49.0": "v49.0"} {
		r, err := snapshotRelease(&core.SnapshotMetadata{Version: written})
		require.NoError(t, err, written)
		assert.Equal(t, want, r.Version(), written)
	}
	for _, written := range []string{"v47.0", "", "vx.1"} {
		_, err := snapshotRelease(&core.SnapshotMetadata{Version: written})
		assert.Error(t, err, written)
	}
}

// TestSimulatorMode runs chv under a simulator name directly, as core
// does.
func TestSimulatorMode(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	link := filepath.Join(d, simulatorPrefix+"v52.0")
	require.NoError(t, exec.Command("ln", "-s", chvBin, link).Run())
	bv, err := chversion.ReadBinary(context.Background(), link)
	require.NoError(t, err)
	assert.Equal(t, "v52.0", bv.Version)
	out, err := exec.Command(link, "--bogus").CombinedOutput()
	assert.Error(t, err)
	assert.Contains(t, string(out), "unexpected argument '--bogus'")
}
