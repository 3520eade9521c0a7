package core

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func withKVMDevice(t *testing.T, path string) {
	old := kvmDevice
	kvmDevice = path
	t.Cleanup(func() { kvmDevice = old })
}

func TestCheckKVM(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		withKVMDevice(t, filepath.Join(t.TempDir(), "kvm"))
		err := CheckKVM()
		require.ErrorIs(t, err, ErrKVMUnavailable)
		assert.ErrorIs(t, err, os.ErrNotExist)
		assert.Contains(t, err.Error(), "does not exist")
	})
	t.Run("not openable", func(t *testing.T) {
		withKVMDevice(t, t.TempDir()) // a directory cannot be opened read-write
		require.ErrorIs(t, CheckKVM(), ErrKVMUnavailable)
	})
	t.Run("no permission", func(t *testing.T) {
		// Built from the error, as root (the tests' usual user) opens anything.
		err := kvmUnavailable(&fs.PathError{Op: "open", Path: "/dev/kvm", Err: syscall.EACCES})
		require.ErrorIs(t, err, ErrKVMUnavailable)
		assert.ErrorIs(t, err, os.ErrPermission)
		assert.Contains(t, err.Error(), "add the user to the kvm group")
		assert.Contains(t, err.Error(), "sg kvm -c")
	})
	t.Run("openable", func(t *testing.T) {
		dev := filepath.Join(t.TempDir(), "kvm")
		require.NoError(t, os.WriteFile(dev, nil, 0o600))
		withKVMDevice(t, dev)
		assert.NoError(t, CheckKVM())
	})
}
