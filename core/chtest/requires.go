package chtest

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/chvmm/chvmm/core/chversion"
	"github.com/chvmm/chvmm/core/driver"
)

// BinaryDirEnv names the environment variable that points [RequiresBinary]
// at real Cloud Hypervisor binaries, laid out as
// $CHVMM_TEST_BINARY_DIR/<version>/<arch>/cloud-hypervisor (for example
// v48.0/x86_64/cloud-hypervisor), the layout `make binaries FROM=dir` reads.
const BinaryDirEnv = "CHVMM_TEST_BINARY_DIR"

// KVMDevice is the KVM device [RequiresKVM] checks.
const KVMDevice = "/dev/kvm"

// kvmGetAPIVersion is the KVM_GET_API_VERSION ioctl; a usable KVM answers 12.
const (
	kvmGetAPIVersionIoctl = 0xae00
	kvmAPIVersion         = 12
)

// RequiresKVM skips the test unless /dev/kvm exists, opens read-write and
// answers KVM_GET_API_VERSION with the stable API version 12, which is
// what Cloud Hypervisor needs to start a VM.
func RequiresKVM(t testing.TB) {
	t.Helper()
	if reason := kvmUnusable(KVMDevice); reason != "" {
		t.Skip("requires KVM: " + reason)
	}
}

// kvmUnusable says why the KVM device at path cannot be used, or "" when
// it can.
func kvmUnusable(path string) string {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return path + " does not exist (no KVM on this host, or not passed into the container)"
	case err != nil:
		return "cannot open " + path + " read-write: " + err.Error() + " (join the kvm group or run as root)"
	}
	defer f.Close()
	v, err := unix.IoctlRetInt(int(f.Fd()), kvmGetAPIVersionIoctl)
	if err != nil {
		return "KVM_GET_API_VERSION on " + path + " failed: " + err.Error() + " (is it a KVM device?)"
	}
	if v != kvmAPIVersion {
		return "unsupported KVM API version " + itoa(v) + " (want 12)"
	}
	return ""
}

// RequiresRoot skips the test unless it runs as root (effective UID 0),
// as tests that create TAP devices or bridges must.
func RequiresRoot(t testing.TB) {
	t.Helper()
	if uid := os.Geteuid(); uid != 0 {
		t.Skip("requires root: running as uid " + itoa(uid))
	}
}

// RequiresBinary returns the path of a real Cloud Hypervisor binary for
// version ("v48.0"; "48.0" and other forms [chversion.Normalize] accepts
// work too) for the host's architecture, found at
// $CHVMM_TEST_BINARY_DIR/<version>/<arch>/cloud-hypervisor.
// It skips the test when the variable is unset or no such file exists.
// It fails the test when version is malformed, or when the file is there
// but is not an executable regular file or reports another version on
// `--version`: a broken test setup should be seen, not skipped.
func RequiresBinary(t testing.TB, version string) string {
	t.Helper()
	want, err := chversion.Normalize(version)
	if err != nil {
		t.Fatalf("RequiresBinary: %v", err)
	}
	dir := os.Getenv(BinaryDirEnv)
	if dir == "" {
		t.Skip("requires a Cloud Hypervisor " + want + " binary: set " + BinaryDirEnv + " to a directory holding " + want + "/" + HostArch() + "/" + driver.BinaryName)
	}
	path := filepath.Join(dir, want, HostArch(), driver.BinaryName)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("requires a Cloud Hypervisor " + want + " binary: " + path + " does not exist")
	}
	if err != nil {
		t.Fatalf("RequiresBinary: %v", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		t.Fatalf("RequiresBinary: %s is not an executable file (mode %v); fix %s", path, fi.Mode(), BinaryDirEnv)
	}
	got, err := chversion.ReadBinary(context.Background(), path)
	if err != nil {
		t.Fatalf("RequiresBinary: %v", err)
	}
	if got.Version != want {
		t.Fatalf("RequiresBinary: %s reports %q (%s), not %s; fix %s", path, got.Raw, got.Version, want, BinaryDirEnv)
	}
	return path
}

func itoa(i int) string { return strconv.Itoa(i) }

// HostArch returns CH's name of this machine's architecture ("x86_64",
// "aarch64"), as the binary layouts name it (CHVMM_TEST_BINARY_DIR).
func HostArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return runtime.GOARCH
}
