//go:build linux

package core

import (
	"context"
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
	_, err := StartProcess(ctx, t.TempDir(), "v92.0", filepath.Join(t.TempDir(), "api.sock"), WithoutKVMCheck())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 3*time.Second, "bounded by ctx, not by ParseVersion's 10 s")
}

// Attach finds the version as Connect does: from build_version, else from
// the Cargo version; Version then agrees with Release.
func TestReviewAttachVersionFromCargoVersion(t *testing.T) {
	rel := registerFakeRelease(t)
	child := exec.Command("sleep", "60")
	require.NoError(t, child.Start())
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	sock := servePing(t, PingInfo{BuildVersion: "unknown", Version: "89.0.0", PID: child.Process.Pid})

	p, err := Attach(t.Context(), child.Process.Pid, sock)
	require.NoError(t, err)
	assert.Same(t, rel, p.Release())
	assert.Equal(t, fakeCHVersion, p.Version())

	require.NoError(t, child.Process.Kill())
	select {
	case <-p.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("Done did not close after the attached process ended")
	}
}
