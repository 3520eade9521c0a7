//go:build linux

package core

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// StartProcess bounds the extraction's version check with its context: an
// embedded binary that hangs on --version does not hold it for the 10 s of
// chversion's own timeout. (v92.0 is this test's own release.)
func TestReviewStartProcessExtractionHonoursContext(t *testing.T) {
	resetExtractCache()
	t.Cleanup(resetExtractCache)
	registerTestRelease(t, "v92.0", []byte("#!/bin/sh\nexec sleep 30\n"))
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	rel, err := Lookup("v92.0")
	require.NoError(t, err)
	_, err = StartProcess(ctx, rel, t.TempDir(), filepath.Join(shortTempDir(t), "api.sock"), WithoutKVMCheck())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 3*time.Second, "bounded by ctx, not by the --version timeout (10 s)")
}

// TestAttachBelievesTheKernelNotTheVMM: a server that claims another pid
// (here: a child of this test) is refused, since /proc names the process
// that holds the listening socket; so is this program itself. Stop would otherwise signal the wrong process.
func TestAttachBelievesTheKernelNotTheVMM(t *testing.T) {
	registerFakeRelease(t)
	child := exec.Command("sleep", "60")
	require.NoError(t, child.Start())
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	sock := servePing(t, PingInfo{BuildVersion: fakeCHVersion, Version: "89.0.0", PID: child.Process.Pid})

	_, err := Attach(t.Context(), Handle{PID: child.Process.Pid, Socket: sock})
	require.ErrorIs(t, err, ErrNotRunning)
	assert.ErrorContains(t, err, fmt.Sprintf("pid %d does not serve", child.Process.Pid))

	// Taking the pid from the socket: this test process serves it, and a
	// Process for this program is refused (Stop would signal it).
	_, err = Attach(t.Context(), Handle{Socket: sock})
	require.ErrorIs(t, err, ErrNotRunning)
	assert.ErrorContains(t, err, "is served by this program")
}

// TestAttachWithTwoListenersAtOnePath: a VMM whose socket file was removed
// still listens under its path; a second VMM then started at the path is
// the one the path reaches, and the one Attach takes back: the kernel's
// sock_diag names the file each listening socket is bound to.
func TestAttachWithTwoListenersAtOnePath(t *testing.T) {
	sock := filepath.Join(shortTempDir(t), "api.sock")
	orphan, err := startFakeAt(t, t.Context(), sock, WithDetached())
	require.NoError(t, err)
	require.NoError(t, os.Remove(sock))
	p, err := startFakeAt(t, t.Context(), sock, WithDetached())
	require.NoError(t, err)

	a, err := Attach(t.Context(), p.Handle())
	require.NoError(t, err)
	assert.Equal(t, p.PID(), a.PID())
	h := p.Handle()
	h.PID, h.StartTicks = 0, 0
	b, err := Attach(t.Context(), h)
	require.NoError(t, err, "the kernel tells which socket the path reaches")
	assert.Equal(t, p.PID(), b.PID())
	h.PID = orphan.PID()
	_, err = Attach(t.Context(), h)
	require.ErrorIs(t, err, ErrNotRunning, "the orphan listens under the path, but the path does not reach it")
	assert.ErrorContains(t, err, fmt.Sprintf("pid %d does not serve", orphan.PID()))
}

// TestAttachJudgesTheExitFromItsOwnLog: the log is appended to by every VMM
// on one socket; an earlier VMM's vCPU error in it does not make an
// attached VMM's guest power-off a crash.
func TestAttachJudgesTheExitFromItsOwnLog(t *testing.T) {
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "api.sock")
	logPath := filepath.Join(dir, "logs", "api.log")
	require.NoError(t, os.MkdirAll(filepath.Dir(logPath), 0o700))
	old := "an earlier VMM: ERROR -- VCPU generated error: VcpuRun(old)\n"
	require.NoError(t, os.WriteFile(logPath, []byte(old), 0o600))
	p, err := startFakeAt(t, t.Context(), sock, WithDetached(), WithArgs("--fake-button", "poweroff"))
	require.NoError(t, err)
	h := p.Handle()
	assert.Equal(t, int64(len(old)), h.LogOffset)
	a, err := Attach(t.Context(), h)
	require.NoError(t, err)
	require.NoError(t, a.Hypervisor().PowerButton(t.Context()))
	assert.Equal(t, ExitGuestShutdown, p.Wait().Reason)
	assert.Equal(t, ExitGuestShutdown, a.Wait().Reason, "%v", a.Wait())
}
