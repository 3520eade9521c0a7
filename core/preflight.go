package core

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// ErrKVMUnavailable: /dev/kvm is missing or cannot be opened for reading and
// writing, so CH cannot run a VM. The error text says what to do.
var ErrKVMUnavailable = errors.New("KVM unavailable")

// kvmDevice is the device CH needs; a variable for tests.
var kvmDevice = "/dev/kvm"

// CheckKVM reports whether this process can open /dev/kvm read-write, as CH
// must. A failure matches ErrKVMUnavailable and says how to fix it.
// [StartProcess] calls it first unless given [WithoutKVMCheck].
func CheckKVM() error {
	f, err := os.OpenFile(kvmDevice, os.O_RDWR|syscall.O_CLOEXEC, 0)
	if err == nil {
		f.Close()
		return nil
	}
	return kvmUnavailable(err)
}

// kvmUnavailable explains why opening /dev/kvm failed with err.
func kvmUnavailable(err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %s does not exist: enable virtualization (VT-x/AMD-V) in firmware, load the kvm module (modprobe kvm_intel or kvm_amd), or, in a VM, enable nested virtualization: %w",
			ErrKVMUnavailable, kvmDevice, err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: cannot open %s: add the user to the kvm group (sudo usermod -aG kvm $USER), then log in again or run the program with `sg kvm -c '<command>'`: %w",
			ErrKVMUnavailable, kvmDevice, err)
	default:
		return fmt.Errorf("%w: cannot open %s: %w", ErrKVMUnavailable, kvmDevice, err)
	}
}
