//go:build linux

package core

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/chvmm/chvmm/core/driver"
)

// Test-only CH versions, one per test that registers a release or shares
// the global payload cache: v99.0 BinaryPath, v98.0 concurrent
// extraction (also in helper processes), v97.0 the running ELF binary, v96.0
// benchmarks, v95.0 warm path, v94.0/v93.0 version mismatch.

// chScript is a shell script that answers --version as CH version prints.
func chScript(version string) []byte {
	return []byte("#!/bin/sh\necho 'cloud-hypervisor " + version + "'\n")
}

// resetExtractCache forgets what this process verified and hashed, as a new
// process would.
func resetExtractCache() {
	verifiedBinaries.clear()
	payloads.Clear()
}

// binPath is where r's host binary lands below dataDir.
func binPath(dataDir string, r *Release) string {
	return filepath.Join(dataDir, "system", "binaries", r.tag, hostArch(), driver.BinaryName)
}

// dirEntries lists the names in dir.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.Name()
	}
	return names
}

// requireOnlyBinary checks that dir holds the binary with content want, the
// lock file and nothing else (no temporary file).
func requireOnlyBinary(t *testing.T, dir string, want []byte) {
	t.Helper()
	require.ElementsMatch(t, []string{driver.BinaryName, lockName}, dirEntries(t, dir))
	got, err := os.ReadFile(filepath.Join(dir, driver.BinaryName))
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// inode returns path's inode number.
func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return statIno(fi)
}

func statIno(fi os.FileInfo) uint64 {
	return fi.Sys().(*syscall.Stat_t).Ino
}

func init() {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(extractHelperMain(dir))
	}
}

// helperEnv, when set to a data directory, makes the test binary an
// extracting helper process (see TestExtractConcurrent) instead of running
// tests.
const helperEnv = "CHVMM_TEST_EXTRACT_HELPER"

// extractHelperMain waits for stdin to close, then extracts the concurrent
// test's release into dataDir from 8 goroutines, prints "writes=N" and
// exits 0, or prints the errors and exits 1.
func extractHelperMain(dataDir string) int {
	r := testRelease(concurrentVersion, concurrentPayload())
	fmt.Println("ready")
	var buf [1]byte
	os.Stdin.Read(buf[:]) // released when the parent closes our stdin
	errs := extractConcurrently(r, dataDir, 8)
	for _, err := range errs {
		fmt.Println("error:", err)
	}
	p, err := r.payload()
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Printf("writes=%d\n", p.writes.Load())
	if len(errs) > 0 {
		return 1
	}
	return 0
}

// setImmutable sets or clears the immutable attribute of dir (chattr +i),
// which keeps even root from creating entries in it.
func setImmutable(t *testing.T, dir string, on bool) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	defer unix.Close(fd)
	flags, err := unix.IoctlGetInt(fd, unix.FS_IOC_GETFLAGS)
	if err != nil && on {
		t.Skipf("running as root on a file system without file attributes (%v): no way to make %s unwritable", err, dir)
	}
	require.NoError(t, err)
	if on {
		flags |= fsImmutableFL
	} else {
		flags &^= fsImmutableFL
	}
	err = unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, flags)
	if err != nil && on {
		t.Skipf("running as root on a file system without the immutable attribute (%v): no way to make %s unwritable", err, dir)
	}
	require.NoError(t, err)
}

// fsImmutableFL is FS_IMMUTABLE_FL of <linux/fs.h>.
const fsImmutableFL = 0x00000010
