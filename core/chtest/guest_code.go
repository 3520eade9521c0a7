package chtest

// Hardware facts the guest program relies on.
const (
	uartTHR      = 0x3f8      // COM1 transmit holding register (8250 UART)
	uartLCR      = 0x3fb      // COM1 line control register
	cmosIndex    = 0x70       // CMOS/RTC index port
	cmosData     = 0x71       // CMOS/RTC data port
	lapicBase    = 0xfee00000 // xAPIC MMIO base (CH layout APIC_START, x86 default)
	timerVector  = 0x20       // local APIC timer interrupt vector
	spurVector   = 0x2f       // local APIC spurious interrupt vector
	idtEntries   = spurVector + 1
	codeSelector = 0x08 // own GDT entry 1: flat 32-bit code
	dataSelector = 0x10 // own GDT entry 2: flat 32-bit data
	stackSize    = 0x1000

	// Local APIC registers (offsets from lapicBase).
	apicTPR      = 0x080
	apicEOI      = 0x0b0
	apicSVR      = 0x0f0
	apicLVTTimer = 0x320
	apicTimerICR = 0x380
	apicTimerDCR = 0x3e0

	// lapicTimerCount gives a 10 ms period with divide-by-16 on KVM's
	// 1 GHz APIC bus (62.5 MHz * 10 ms). The period only sets how often the
	// halted guest wakes to look at the RTC, so other bus rates are harmless.
	lapicTimerCount = 625000
)

// guestSegment assembles the single loadable segment of the PVH guest at
// guest-physical address base: the code (entry point at base), then its
// data. It returns the segment's bytes, its size in memory (the bytes plus
// a stack after them) and the assembler (for its listing).
//
// Machine state at entry is what the PVH boot ABI promises and Cloud
// Hypervisor sets up (arch/src/x86_64/regs.rs): 32-bit protected mode,
// paging off, flat 4 GiB CS/DS/ES/SS, CR0 = PE, CR4 = 0, EFLAGS = 2
// (interrupts off), EBX = address of hvm_start_info (ignored here), no
// stack, and a GDT the guest must not rely on. So the program first loads
// its own GDT, segments and stack. Then:
//
//  1. It prints GuestReadyMarker and "\n" on the 8250 UART at 0x3f8.
//  2. If the local APIC is enabled in xAPIC mode at 0xfee00000 (per the
//     IA32_APIC_BASE MSR), it starts the APIC timer with a 10 ms period, so
//     that the wait loop sleeps with STI; HLT and the guest uses almost no
//     host CPU. Otherwise the wait loop spins. Interrupts are enabled only
//     during that HLT, and the handlers return without IRET.
//  3. It loops forever: prints the counter (0, 1, 2, …) in decimal and
//     "\n", then waits until the CMOS RTC seconds register changes, about
//     one second. If the RTC never changes (no CMOS device), the wait ends
//     after 2^32 TSC cycles instead (1–2 s on current CPUs).
func guestSegment(base uint32) (seg []byte, memSize uint32, a *assembler) {
	a = newAssembler(base)

	// entry: the PVH note points here.
	a.label("entry")
	a.ins("cli", 0xfa) // interrupts stay off until the IDT is ours
	a.ins("lgdt [gdtr]", 0x0f, 0x01, 0x15, abs32("gdtr"))
	a.ins("jmp 0x08:reload_cs", 0xea, abs32("reload_cs"), imm16(codeSelector)) // reload CS from our GDT
	a.label("reload_cs")
	a.ins("mov eax, 0x10", 0xb8, imm32(dataSelector))
	a.ins("mov ds, ax", 0x8e, 0xd8)
	a.ins("mov es, ax", 0x8e, 0xc0)
	a.ins("mov ss, ax", 0x8e, 0xd0)
	a.ins("mov fs, ax", 0x8e, 0xe0)
	a.ins("mov gs, ax", 0x8e, 0xe8)
	a.ins("mov esp, stack_top", 0xbc, abs32("stack_top"))
	a.ins("mov dx, 0x3fb", 0x66, 0xba, imm16(uartLCR))
	a.ins("mov al, 3", 0xb0, 0x03) // LCR: 8 data bits, no parity, 1 stop bit, DLAB off (0x3f8 is THR)
	a.ins("out dx, al", 0xee)
	a.ins("mov esi, marker", 0xbe, abs32("marker"))
	a.ins("mov ecx, len(marker)+1", 0xb9, imm32(len(GuestReadyMarker)+1))
	a.ins("call puts", 0xe8, rel32("puts"))

	// Choose how to wait: APIC timer and HLT, or spinning.
	a.ins("xor ebp, ebp", 0x31, 0xed)                          // ebp = 0: spin
	a.ins("mov ecx, 0x1b", 0xb9, imm32(0x1b))                  // IA32_APIC_BASE
	a.ins("rdmsr", 0x0f, 0x32)                                 // edx:eax = MSR
	a.ins("and eax, 0xfffffc00", 0x25, imm32(0xfffffc00))      // base, EN (bit 11), EXTD (bit 10)
	a.ins("cmp eax, 0xfee00800", 0x3d, imm32(lapicBase|0x800)) // at 0xfee00000, enabled, not x2APIC?
	a.ins("jne counter_init", 0x75, rel8("counter_init"))      // no: spin
	a.ins("lidt [idtr]", 0x0f, 0x01, 0x1d, abs32("idtr"))      // gates for vectors 0x20 and 0x2f

	// TPR = 0: accept interrupts of every priority.
	a.ins("mov dword [apic+TPR], 0", 0xc7, 0x05, imm32(lapicBase+apicTPR), imm32(0))
	// SVR: software-enable the APIC, spurious vector 0x2f.
	a.ins("mov dword [apic+SVR], 0x12f", 0xc7, 0x05, imm32(lapicBase+apicSVR), imm32(0x100|spurVector))
	// Timer divide configuration 3: divide by 16.
	a.ins("mov dword [apic+TDCR], 3", 0xc7, 0x05, imm32(lapicBase+apicTimerDCR), imm32(0x3))
	// LVT timer: periodic (bit 17), unmasked, vector 0x20.
	a.ins("mov dword [apic+LVTT], 0x20020", 0xc7, 0x05, imm32(lapicBase+apicLVTTimer), imm32(0x20000|timerVector))
	// Timer initial count: writing it starts the timer.
	a.ins("mov dword [apic+TICR], 625000", 0xc7, 0x05, imm32(lapicBase+apicTimerICR), imm32(lapicTimerCount))
	a.ins("inc ebp", 0x45) // ebp = 1: STI; HLT in the wait loop

	// Main loop: print the counter, wait about a second, increment.
	a.label("counter_init")
	a.ins("xor edi, edi", 0x31, 0xff) // edi = counter = 0
	a.label("main_loop")
	a.ins("mov eax, edi", 0x89, 0xf8)
	a.ins("call putdec", 0xe8, rel32("putdec"))
	a.ins("mov al, 0x0a", 0xb0, int('\n'))
	a.ins("call putc", 0xe8, rel32("putc"))
	a.ins("call wait_second", 0xe8, rel32("wait_second"))
	a.ins("inc edi", 0x47)
	a.ins("jmp main_loop", 0xeb, rel8("main_loop"))

	// wait_second: return once the RTC seconds changed, or after 2^32 TSC
	// cycles. Clobbers eax, ebx, ecx, edx, esi.
	a.label("wait_second")
	a.ins("rdtsc", 0x0f, 0x31)                            // edx:eax = TSC at start
	a.ins("mov ebx, eax", 0x89, 0xc3)                     // ebx = start, low half
	a.ins("mov ecx, edx", 0x89, 0xd1)                     // ecx = start, high half
	a.ins("call rtc_seconds", 0xe8, rel32("rtc_seconds")) // al = RTC seconds (BCD)
	a.ins("movzx esi, al", 0x0f, 0xb6, 0xf0)              // esi = seconds at start
	a.label("wait_loop")
	a.ins("test ebp, ebp", 0x85, 0xed)
	a.ins("jz wait_nohlt", 0x74, rel8("wait_nohlt")) // no timer: never halt
	a.ins("sti", 0xfb)                               // interrupts on for the HLT only
	a.ins("hlt", 0xf4)                               // sleep until the next 10 ms tick
	a.label("wait_woke")                             // the interrupt handlers resume here
	a.ins("cli", 0xfa)
	a.label("wait_nohlt")
	a.ins("pause", 0xf3, 0x90)
	a.ins("rdtsc", 0x0f, 0x31)
	a.ins("sub eax, ebx", 0x29, 0xd8)
	a.ins("sbb edx, ecx", 0x19, 0xca)                     // edx:eax = cycles waited
	a.ins("jnz wait_done", 0x75, rel8("wait_done"))       // >= 2^32 cycles: stop waiting for the RTC
	a.ins("call rtc_seconds", 0xe8, rel32("rtc_seconds")) // al = RTC seconds
	a.ins("movzx eax, al", 0x0f, 0xb6, 0xc0)
	a.ins("cmp eax, esi", 0x39, 0xf0)
	a.ins("je wait_loop", 0x74, rel8("wait_loop")) // same second: keep waiting
	a.label("wait_done")
	a.ins("ret", 0xc3)

	// rtc_seconds: al = CMOS register 0, the RTC seconds. Clobbers al.
	a.label("rtc_seconds")
	a.ins("mov al, 0", 0xb0, 0x00) // register 0; bit 7 clear leaves NMIs enabled
	a.ins("out 0x70, al", 0xe6, cmosIndex)
	a.ins("in al, 0x71", 0xe4, cmosData)
	a.ins("ret", 0xc3)

	// putdec: print eax in decimal. Clobbers eax, ebx, ecx, edx, esi.
	a.label("putdec")
	a.ins("mov esi, digits_end", 0xbe, abs32("digits_end")) // digits are stored backwards
	a.ins("mov ebx, 10", 0xbb, imm32(10))
	a.ins("xor ecx, ecx", 0x31, 0xc9) // ecx = number of digits
	a.label("putdec_loop")
	a.ins("xor edx, edx", 0x31, 0xd2)
	a.ins("div ebx", 0xf7, 0xf3) // eax = edx:eax / 10, edx = remainder
	a.ins("add dl, '0'", 0x80, 0xc2, int('0'))
	a.ins("dec esi", 0x4e)
	a.ins("mov [esi], dl", 0x88, 0x16)
	a.ins("inc ecx", 0x41)
	a.ins("test eax, eax", 0x85, 0xc0)
	a.ins("jnz putdec_loop", 0x75, rel8("putdec_loop"))
	// Falls through into puts with esi = first digit, ecx = digit count.

	// puts: print the ecx (> 0) bytes at esi. Clobbers eax, ecx, edx, esi.
	a.label("puts")
	a.ins("lodsb", 0xac) // al = [esi], esi++
	a.ins("call putc", 0xe8, rel32("putc"))
	a.ins("loop puts", 0xe2, rel8("puts")) // ecx--, again while ecx != 0
	a.ins("ret", 0xc3)

	// putc: write al to the UART. Clobbers dx. CH's 8250 (like QEMU's)
	// takes a THR write at any time, so the line status register is not
	// polled: a VM without serial device cannot hang here.
	a.label("putc")
	a.ins("mov dx, 0x3f8", 0x66, 0xba, imm16(uartTHR))
	a.ins("out dx, al", 0xee)
	a.ins("ret", 0xc3)

	// Interrupt handlers. Interrupts are enabled only by the STI just
	// before the HLT in wait_second, so a handler always interrupts that HLT
	// and can resume at wait_woke without IRET. Avoiding IRET matters: some
	// KVM implementations for nested hosts (such as PVM) cannot emulate a
	// 32-bit protected-mode IRET and stop the VM with an internal error.
	a.label("timer_isr")
	a.ins("mov dword [apic+EOI], 0", 0xc7, 0x05, imm32(lapicBase+apicEOI), imm32(0))
	a.label("spurious_isr")                // a spurious interrupt takes no EOI
	a.ins("add esp, 12", 0x83, 0xc4, 0x0c) // drop the interrupt frame (EIP, CS, EFLAGS)
	a.ins("jmp wait_woke", 0xe9, rel32("wait_woke"))
	a.endCode()

	// Data.
	a.align(8)
	a.label("gdt")
	a.data64(0)                  // null descriptor
	a.data64(0x00cf9a000000ffff) // 0x08: code, base 0, limit 4 GiB, 32-bit, execute/read
	a.data64(0x00cf92000000ffff) // 0x10: data, base 0, limit 4 GiB, 32-bit, read/write
	a.label("gdtr")
	a.data16(3*8 - 1)
	a.dataAddr32("gdt")
	a.align(8)
	a.label("idt")
	for v := 0; v < idtEntries; v++ {
		var handler uint32
		switch v {
		case timerVector:
			handler = a.addr("timer_isr")
		case spurVector:
			handler = a.addr("spurious_isr")
		default:
			a.data64(0) // not present: never raised
			continue
		}
		// 32-bit interrupt gate: offset 15..0, selector, present | DPL 0 |
		// type 0xE, offset 31..16.
		a.data16(uint16(handler))
		a.data16(codeSelector)
		a.data16(0x8e00)
		a.data16(uint16(handler >> 16))
	}
	a.label("idtr")
	a.data16(idtEntries*8 - 1)
	a.dataAddr32("idt")
	a.label("marker")
	a.data([]byte(GuestReadyMarker + "\n")...)
	a.data(make([]byte, 10)...) // a uint32 has at most 10 decimal digits
	a.label("digits_end")
	a.align(16)

	memSize = uint32(len(a.buf)) + stackSize
	a.define("stack_top", base+memSize)

	seg, err := a.link()
	if err != nil {
		panic("chtest: " + err.Error()) // a bug in this file, caught by every test
	}
	return seg, memSize, a
}
