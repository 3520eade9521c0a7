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
// ParseVersion's own timeout. (v92.0 is this test's own release.)
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
	assert.Less(t, time.Since(start), 3*time.Second, "bounded by ctx, not by ParseVersion's 10 s")
}

// TestAttachBelievesTheKernelNotTheVMM: a server that claims another pid
// (here: a child of this test) is refused, since the socket's peer
// credentials name the process that listens on it; so is a handle whose
// pid is not that process. Stop would otherwise signal the wrong process.
func TestAttachBelievesTheKernelNotTheVMM(t *testing.T) {
	registerFakeRelease(t)
	child := exec.Command("sleep", "60")
	require.NoError(t, child.Start())
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	sock := servePing(t, PingInfo{BuildVersion: fakeCHVersion, Version: "89.0.0", PID: child.Process.Pid})

	_, err := Attach(t.Context(), Handle{PID: child.Process.Pid, Socket: sock})
	require.ErrorIs(t, err, ErrNotRunning)
	assert.ErrorContains(t, err, fmt.Sprintf("pid %d does not serve", child.Process.Pid))

	// Taking the pid from the socket: this test process serves it. (Never
	// Stop it: that would signal this test.)
	p, err := Attach(t.Context(), Handle{Socket: sock})
	require.NoError(t, err)
	assert.Equal(t, os.Getpid(), p.PID(), "the kernel's pid, not the claimed one")
	assert.Equal(t, fakeCHVersion, p.Handle().Version)
}
