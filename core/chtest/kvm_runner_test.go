package chtest

// A minimal KVM virtual machine monitor that boots the PVH guest the way
// Cloud Hypervisor does, so that the guest is proven without a CH binary.
// Test scaffolding only.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// KVM ioctl numbers (linux/kvm.h, x86_64).
const (
	kvmGetAPIVersion       = 0xae00
	kvmCreateVM            = 0xae01
	kvmGetVCPUMmapSize     = 0xae04
	kvmGetSupportedCPUID   = 0xc008ae05
	kvmCreateVCPU          = 0xae41
	kvmSetUserMemoryRegion = 0x4020ae46
	kvmSetTSSAddr          = 0xae47
	kvmEnableCap           = 0x4068aea3
	kvmRun                 = 0xae80
	kvmGetRegs             = 0x8090ae81
	kvmSetRegs             = 0x4090ae82
	kvmGetSregs            = 0x8138ae83
	kvmSetSregs            = 0x4138ae84
	kvmSetMSRs             = 0x4008ae89
	kvmSetCPUID2           = 0x4008ae90

	kvmCapSplitIRQChip = 121

	kvmExitIO            = 2
	kvmExitHLT           = 5
	kvmExitMMIO          = 6
	kvmExitShutdown      = 8
	kvmExitFailEntry     = 9
	kvmExitIntr          = 10
	kvmExitInternalError = 17

	// Addresses Cloud Hypervisor uses (arch/src/x86_64/layout.rs).
	chBootGDTStart  = 0x500
	chBootIDTStart  = 0x520
	chPVHInfoStart  = 0x6000
	chHighRAMStart  = 0x100000
	kvmTSSAddress   = 0xfffbd000
	guestMemorySize = 4 << 20
)

// kvmRegs is struct kvm_regs.
type kvmRegs struct {
	RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	RIP, RFLAGS                            uint64
}

// kvmSegment is struct kvm_segment.
type kvmSegment struct {
	Base                         uint64
	Limit                        uint32
	Selector                     uint16
	Type, Present, DPL, DB, S, L uint8
	G, AVL, Unusable, _          uint8
}

// kvmDTable is struct kvm_dtable.
type kvmDTable struct {
	Base  uint64
	Limit uint16
	_     [3]uint16
}

// kvmSregs is struct kvm_sregs.
type kvmSregs struct {
	CS, DS, ES, FS, GS, SS, TR, LDT kvmSegment
	GDT, IDT                        kvmDTable
	CR0, CR2, CR3, CR4, CR8, EFER   uint64
	APICBase                        uint64
	InterruptBitmap                 [4]uint64
}

func init() {
	// The ioctl numbers above encode these sizes.
	if unsafe.Sizeof(kvmRegs{}) != 144 || unsafe.Sizeof(kvmSregs{}) != 312 {
		panic("chtest: kvm struct layout mismatch")
	}
}

func ioctl(fd int, req, arg uintptr) (uintptr, error) {
	r, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, arg)
	if errno != 0 {
		return r, errno
	}
	return r, nil
}

// kvmVMConfig tunes the virtual machine for one test.
type kvmVMConfig struct {
	// rtcSeconds answers reads of CMOS register 0; nil means the host's
	// clock in BCD, as Cloud Hypervisor's CMOS device does.
	rtcSeconds func() byte
	// x2APIC puts the local APIC in x2APIC mode before boot.
	x2APIC bool
}

// kvmVM is a one-vCPU KVM virtual machine running a PVH image.
type kvmVM struct {
	kvmFD, vmFD, vcpuFD int
	mem, run            []byte
	cfg                 kvmVMConfig

	mu        sync.Mutex
	serial    bytes.Buffer
	lineTimes []time.Time // when each '\n' was written
	ioExits   int
	cmosReg   byte  // CMOS register selected through port 0x70
	err       error // why the vCPU stopped, if not asked to

	stopping chan struct{}
	done     chan struct{}
	tid      int // vCPU thread, for kicking it out of KVM_RUN
	tidReady chan struct{}
	started  time.Time
}

// bootPVHUnderKVM loads image like Cloud Hypervisor (linux-loader's ELF
// loader, PVH entry) and runs it until the test ends.
func bootPVHUnderKVM(t *testing.T, image []byte, cfg kvmVMConfig) *kvmVM {
	t.Helper()
	vm := &kvmVM{kvmFD: -1, vmFD: -1, vcpuFD: -1, cfg: cfg,
		stopping: make(chan struct{}), done: make(chan struct{}), tidReady: make(chan struct{})}
	t.Cleanup(vm.close)
	if err := vm.setup(image); err != nil {
		t.Fatalf("set up KVM VM: %v", err)
	}
	vm.started = time.Now()
	go vm.loop()
	t.Cleanup(vm.stop)
	return vm
}

func (vm *kvmVM) setup(image []byte) error {
	var err error
	if vm.kvmFD, err = syscall.Open("/dev/kvm", syscall.O_RDWR|syscall.O_CLOEXEC, 0); err != nil {
		return fmt.Errorf("open /dev/kvm: %w", err)
	}
	if v, err := ioctl(vm.kvmFD, kvmGetAPIVersion, 0); err != nil || v != 12 {
		return fmt.Errorf("KVM_GET_API_VERSION = %d, %v; want 12", v, err)
	}
	fd, err := ioctl(vm.kvmFD, kvmCreateVM, 0)
	if err != nil {
		return fmt.Errorf("KVM_CREATE_VM: %w", err)
	}
	vm.vmFD = int(fd)
	syscall.CloseOnExec(vm.vmFD)
	// As Cloud Hypervisor: TSS address, then split irqchip (local APIC in
	// the kernel, IOAPIC and PIC in user space).
	if _, err := ioctl(vm.vmFD, kvmSetTSSAddr, kvmTSSAddress); err != nil {
		return fmt.Errorf("KVM_SET_TSS_ADDR: %w", err)
	}
	var capArg [104]byte // struct kvm_enable_cap
	binary.LittleEndian.PutUint32(capArg[0:], kvmCapSplitIRQChip)
	binary.LittleEndian.PutUint64(capArg[8:], 24) // IOAPIC pins
	if _, err := ioctl(vm.vmFD, kvmEnableCap, uintptr(unsafe.Pointer(&capArg[0]))); err != nil {
		return fmt.Errorf("KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP): %w", err)
	}

	vm.mem, err = syscall.Mmap(-1, 0, guestMemorySize, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return fmt.Errorf("mmap guest memory: %w", err)
	}
	var region [32]byte // struct kvm_userspace_memory_region, slot 0 at GPA 0
	binary.LittleEndian.PutUint64(region[16:], guestMemorySize)
	binary.LittleEndian.PutUint64(region[24:], uint64(uintptr(unsafe.Pointer(&vm.mem[0]))))
	if _, err := ioctl(vm.vmFD, kvmSetUserMemoryRegion, uintptr(unsafe.Pointer(&region[0]))); err != nil {
		return fmt.Errorf("KVM_SET_USER_MEMORY_REGION: %w", err)
	}

	entry, err := loadLikeLinuxLoader(image, vm.mem)
	if err != nil {
		return err
	}

	if fd, err = ioctl(vm.vmFD, kvmCreateVCPU, 0); err != nil {
		return fmt.Errorf("KVM_CREATE_VCPU: %w", err)
	}
	vm.vcpuFD = int(fd)
	syscall.CloseOnExec(vm.vcpuFD)
	if err := vm.setCPUID(); err != nil {
		return err
	}
	size, err := ioctl(vm.kvmFD, kvmGetVCPUMmapSize, 0)
	if err != nil {
		return fmt.Errorf("KVM_GET_VCPU_MMAP_SIZE: %w", err)
	}
	if vm.run, err = syscall.Mmap(vm.vcpuFD, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED); err != nil {
		return fmt.Errorf("mmap kvm_run: %w", err)
	}
	if vm.cfg.x2APIC {
		// IA32_APIC_BASE = 0xfee00000 | EN | EXTD | BSP.
		if err := vm.setMSR(0x1b, 0xfee00000|1<<11|1<<10|1<<8); err != nil {
			return err
		}
	}
	return vm.setPVHState(uint64(entry))
}

// setCPUID gives the vCPU the CPUID KVM supports, as CH does (minus CH's
// own adjustments).
func (vm *kvmVM) setCPUID() error {
	const maxEntries = 256
	buf := make([]byte, 8+40*maxEntries) // struct kvm_cpuid2 + entries
	binary.LittleEndian.PutUint32(buf, maxEntries)
	if _, err := ioctl(vm.kvmFD, kvmGetSupportedCPUID, uintptr(unsafe.Pointer(&buf[0]))); err != nil {
		return fmt.Errorf("KVM_GET_SUPPORTED_CPUID: %w", err)
	}
	if _, err := ioctl(vm.vcpuFD, kvmSetCPUID2, uintptr(unsafe.Pointer(&buf[0]))); err != nil {
		return fmt.Errorf("KVM_SET_CPUID2: %w", err)
	}
	return nil
}

func (vm *kvmVM) setMSR(index uint32, value uint64) error {
	var msrs [8 + 16]byte // struct kvm_msrs with one kvm_msr_entry
	binary.LittleEndian.PutUint32(msrs[0:], 1)
	binary.LittleEndian.PutUint32(msrs[8:], index)
	binary.LittleEndian.PutUint64(msrs[16:], value)
	n, err := ioctl(vm.vcpuFD, kvmSetMSRs, uintptr(unsafe.Pointer(&msrs[0])))
	if err != nil || n != 1 {
		return fmt.Errorf("KVM_SET_MSRS(%#x = %#x): %d set, %v", index, value, n, err)
	}
	return nil
}

// setPVHState sets the registers as Cloud Hypervisor does for a PVH boot
// (arch/src/x86_64/regs.rs): flat 32-bit segments from its boot GDT
// (CS 0x08, data 0x10, TR 0x18), CR0 = PE, CR4 = 0, EFLAGS = 2,
// RBX = hvm_start_info, RIP = PVH entry. Unlike CH it leaves the boot GDT
// in memory zeroed: the PVH ABI does not promise its contents, and the
// guest must not depend on them.
func (vm *kvmVM) setPVHState(entry uint64) error {
	var s kvmSregs
	if _, err := ioctl(vm.vcpuFD, kvmGetSregs, uintptr(unsafe.Pointer(&s))); err != nil {
		return fmt.Errorf("KVM_GET_SREGS: %w", err)
	}
	code := kvmSegment{Limit: 0xffffffff, Selector: 0x08, Type: 0xb, Present: 1, DB: 1, S: 1, G: 1}
	data := kvmSegment{Limit: 0xffffffff, Selector: 0x10, Type: 0x3, Present: 1, DB: 1, S: 1, G: 1}
	s.CS = code
	s.DS, s.ES, s.FS, s.GS, s.SS = data, data, data, data, data
	s.TR = kvmSegment{Limit: 0x67, Selector: 0x18, Type: 0xb, Present: 1}
	s.GDT = kvmDTable{Base: chBootGDTStart, Limit: 4*8 - 1}
	s.IDT = kvmDTable{Base: chBootIDTStart, Limit: 8 - 1}
	s.CR0 = 1 // PE
	s.CR4 = 0
	if _, err := ioctl(vm.vcpuFD, kvmSetSregs, uintptr(unsafe.Pointer(&s))); err != nil {
		return fmt.Errorf("KVM_SET_SREGS: %w", err)
	}
	r := kvmRegs{RFLAGS: 2, RBX: chPVHInfoStart, RIP: entry}
	if _, err := ioctl(vm.vcpuFD, kvmSetRegs, uintptr(unsafe.Pointer(&r))); err != nil {
		return fmt.Errorf("KVM_SET_REGS: %w", err)
	}
	return nil
}

// loop runs the vCPU on a locked OS thread until stop or a guest failure.
func (vm *kvmVM) loop() {
	defer close(vm.done)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	vm.tid = syscall.Gettid()
	close(vm.tidReady)
	for {
		select {
		case <-vm.stopping:
			return
		default:
		}
		_, err := ioctl(vm.vcpuFD, kvmRun, 0)
		if errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.EAGAIN) {
			continue
		}
		if err != nil {
			vm.fail(fmt.Errorf("KVM_RUN: %w", err))
			return
		}
		switch reason := binary.LittleEndian.Uint32(vm.run[8:]); reason {
		case kvmExitIO:
			vm.handleIO()
		case kvmExitIntr:
		case kvmExitShutdown:
			vm.fail(fmt.Errorf("guest shut down (triple fault) %s", vm.regsString()))
			return
		default:
			vm.fail(fmt.Errorf("unexpected KVM exit reason %d (%s) %s; kvm_run union % x",
				reason, exitName(reason), vm.regsString(), vm.run[32:32+40]))
			return
		}
	}
}

func exitName(reason uint32) string {
	switch reason {
	case kvmExitHLT:
		return "HLT: the local APIC should be in the kernel"
	case kvmExitMMIO:
		return "MMIO outside RAM"
	case kvmExitFailEntry:
		return "FAIL_ENTRY: invalid vCPU state"
	case kvmExitInternalError:
		return "INTERNAL_ERROR: see suberror"
	}
	return "?"
}

func (vm *kvmVM) regsString() string {
	var r kvmRegs
	if _, err := ioctl(vm.vcpuFD, kvmGetRegs, uintptr(unsafe.Pointer(&r))); err != nil {
		return "(registers unavailable: " + err.Error() + ")"
	}
	return fmt.Sprintf("rip=%#x rsp=%#x rflags=%#x rax=%#x", r.RIP, r.RSP, r.RFLAGS, r.RAX)
}

// handleIO serves the port I/O exit in kvm_run: the UART THR, the CMOS
// index and data ports. Other ports read as 0xff and ignore writes.
func (vm *kvmVM) handleIO() {
	io := vm.run[32:]
	out := io[0] == 1
	size := int(io[1])
	port := binary.LittleEndian.Uint16(io[2:])
	count := int(binary.LittleEndian.Uint32(io[4:]))
	off := int(binary.LittleEndian.Uint64(io[8:]))
	vm.mu.Lock()
	defer vm.mu.Unlock()
	vm.ioExits++
	for i := range count {
		d := vm.run[off+i*size : off+(i+1)*size]
		switch {
		case out && port == uartTHR:
			vm.serial.WriteByte(d[0])
			if d[0] == '\n' {
				vm.lineTimes = append(vm.lineTimes, time.Now())
			}
		case out && port == cmosIndex:
			vm.cmosReg = d[0] & 0x7f
		case !out && port == cmosData && vm.cmosReg == 0:
			d[0] = vm.rtcSeconds()
		case !out:
			for j := range d {
				d[j] = 0xff
			}
		}
	}
}

func (vm *kvmVM) rtcSeconds() byte {
	if vm.cfg.rtcSeconds != nil {
		return vm.cfg.rtcSeconds()
	}
	s := time.Now().UTC().Second()
	return byte(s/10<<4 | s%10)
}

func (vm *kvmVM) fail(err error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	vm.err = err
}

// snapshot returns the serial output so far, the time each line ended,
// the number of I/O exits and the vCPU error.
func (vm *kvmVM) snapshot() ([]byte, []time.Time, int, error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return bytes.Clone(vm.serial.Bytes()), append([]time.Time(nil), vm.lineTimes...), vm.ioExits, vm.err
}

// waitFor polls until cond holds on the serial output, the vCPU fails or
// timeout passes.
func (vm *kvmVM) waitFor(timeout time.Duration, cond func(serial []byte) bool) error {
	deadline := time.Now().Add(timeout)
	for {
		serial, _, _, err := vm.snapshot()
		if cond(serial) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("vCPU stopped: %w; serial so far %q", err, serial)
		}
		select {
		case <-vm.done:
			return fmt.Errorf("vCPU stopped; serial so far %q", serial)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v; serial so far %q", timeout, serial)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop ends the vCPU loop: it asks KVM_RUN to return (immediate_exit) and
// kicks the vCPU thread with a signal in case it sleeps in the kernel.
func (vm *kvmVM) stop() {
	select {
	case <-vm.stopping:
		return
	default:
	}
	close(vm.stopping)
	<-vm.tidReady
	vm.run[1] = 1 // kvm_run.immediate_exit
	for {
		select {
		case <-vm.done:
			return
		case <-time.After(10 * time.Millisecond):
			// SIGURG is Go's preemption signal: harmless to the runtime,
			// and it makes KVM_RUN return EINTR on that thread.
			_ = syscall.Tgkill(os.Getpid(), vm.tid, syscall.SIGURG)
		}
	}
}

func (vm *kvmVM) close() {
	if vm.run != nil {
		_ = syscall.Munmap(vm.run)
	}
	for _, fd := range []int{vm.vcpuFD, vm.vmFD} {
		if fd >= 0 {
			_ = syscall.Close(fd)
		}
	}
	if vm.mem != nil {
		_ = syscall.Munmap(vm.mem)
	}
	if vm.kvmFD >= 0 {
		_ = syscall.Close(vm.kvmFD)
	}
}
