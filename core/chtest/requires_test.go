package chtest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordingTB stands in for a test given to a Requires helper and records
// whether the helper skipped or failed it, and why.
type recordingTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

// stopTest is what recordingTB panics with where a real test would stop.
type stopTest struct{}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Skip(args ...any) {
	r.skipped, r.msg = true, fmt.Sprint(args...)
	panic(stopTest{})
}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	panic(stopTest{})
}

// runHelper calls fn with a recordingTB and returns it after fn returned
// or stopped the test.
func runHelper(t *testing.T, fn func(tb testing.TB)) *recordingTB {
	r := &recordingTB{TB: t}
	func() {
		defer func() {
			if v := recover(); v != nil {
				if _, ok := v.(stopTest); !ok {
					panic(v)
				}
			}
		}()
		fn(r)
	}()
	return r
}

func TestKVMUnusableReasons(t *testing.T) {
	assert.Contains(t, kvmUnusable(filepath.Join(t.TempDir(), "kvm")), "does not exist")
	notKVM := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notKVM, nil, 0o600))
	assert.Contains(t, kvmUnusable(notKVM), "KVM_GET_API_VERSION")
}

func TestRequiresKVM(t *testing.T) {
	r := runHelper(t, RequiresKVM)
	assert.False(t, r.failed)
	if reason := kvmUnusable(KVMDevice); reason == "" {
		assert.False(t, r.skipped, "KVM works here, so RequiresKVM must not skip")
	} else {
		assert.True(t, r.skipped)
		assert.Equal(t, "requires KVM: "+reason, r.msg)
	}
}

func TestRequiresRoot(t *testing.T) {
	r := runHelper(t, RequiresRoot)
	assert.False(t, r.failed)
	assert.Equal(t, os.Geteuid() != 0, r.skipped, r.msg)
}

// fakeCH writes an executable script that answers --version like CH.
func fakeCH(t *testing.T, dir, version, says string) string {
	t.Helper()
	path := filepath.Join(dir, version, HostArch(), "cloud-hypervisor")
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\necho 'cloud-hypervisor "+says+"'\n"), 0o755))
	return path
}

func TestRequiresBinary(t *testing.T) {
	dir := t.TempDir()
	good := fakeCH(t, dir, "v48.0", "v48.0-3-gabcdef")
	fakeCH(t, dir, "v49.0", "v50.2")
	notExec := filepath.Join(dir, "v51.2", HostArch(), "cloud-hypervisor")
	require.NoError(t, os.MkdirAll(filepath.Dir(notExec), 0o755))
	require.NoError(t, os.WriteFile(notExec, nil, 0o644))

	t.Run("variable unset", func(t *testing.T) {
		t.Setenv(BinaryDirEnv, "")
		r := runHelper(t, func(tb testing.TB) { RequiresBinary(tb, "v48.0") })
		assert.True(t, r.skipped)
		assert.Contains(t, r.msg, BinaryDirEnv)
	})
	t.Setenv(BinaryDirEnv, dir)
	for _, tc := range []struct {
		version      string
		path         string
		skip, fail   bool
		msgFragments string
	}{
		{version: "v48.0", path: good},
		{version: "48.0.0", path: good},
		{version: "v52.0", skip: true, msgFragments: filepath.Join(dir, "v52.0", HostArch(), "cloud-hypervisor")},
		{version: "v49.0", fail: true, msgFragments: "not v49.0"},
		{version: "v51.2", fail: true, msgFragments: "not an executable file"},
		{version: "latest", fail: true, msgFragments: "malformed version"},
		{version: "../v48.0", fail: true, msgFragments: "malformed version"},
	} {
		t.Run(tc.version, func(t *testing.T) {
			var got string
			r := runHelper(t, func(tb testing.TB) { got = RequiresBinary(tb, tc.version) })
			assert.Equal(t, tc.skip, r.skipped, r.msg)
			assert.Equal(t, tc.fail, r.failed, r.msg)
			assert.Contains(t, r.msg, tc.msgFragments)
			assert.Equal(t, tc.path, got)
		})
	}
}
