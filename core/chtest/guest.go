package chtest

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
)

// GuestReadyMarker is the line the PVH guest prints on the serial port
// (COM1, the 8250 UART at I/O port 0x3f8) as soon as it runs, before its
// counter lines.
const GuestReadyMarker = "CHVMM-GUEST-READY"

// pvhKernel builds the image once; PVHKernel hands out copies.
var pvhKernel = sync.OnceValue(func() []byte {
	seg, memSize, _ := guestSegment(PVHLoadAddress)
	return buildPVHELF(seg, memSize)
})

// PVHKernel returns a tiny PVH kernel image for Cloud Hypervisor's
// payload.kernel (x86_64): an ELF64 whose XEN_ELFNOTE_PHYS32_ENTRY note
// points at 32-bit code that prints [GuestReadyMarker] and a newline on
// the serial port, then a decimal counter line ("0", "1", "2", …) about
// once a second, forever. It needs no kernel command line, no disk and a
// few KiB of RAM at [PVHLoadAddress] (any VM size CH accepts will do), and
// it boots where full Linux guests may not, such as under nested KVM.
//
// The guest times its seconds with the CMOS RTC (ports 0x70/0x71) and
// sleeps between checks with HLT on a local APIC timer, so an idle guest
// costs almost no host CPU. Configure CH's serial port (serial mode "File"
// or "Tty", or a socket) to see its output; [GuestCounters] parses it.
//
// The image is built in memory by Go code, without toolchain or download;
// each call returns a fresh copy the caller may modify.
func PVHKernel() []byte {
	return bytes.Clone(pvhKernel())
}

// WritePVHKernel writes [PVHKernel] to path (mode 0644), replacing any file
// there, for use as payload.kernel.
func WritePVHKernel(path string) error {
	if err := os.WriteFile(path, pvhKernel(), 0o644); err != nil {
		return fmt.Errorf("write PVH guest kernel: %w", err)
	}
	return nil
}

// GuestReady reports whether serialLog, the guest's serial output so far,
// holds the [GuestReadyMarker] line (complete, with its newline).
func GuestReady(serialLog []byte) bool {
	ready := false
	forEachLine(serialLog, func(line []byte) bool {
		ready = isMarkerLine(line)
		return !ready
	})
	return ready
}

// GuestCounters returns, in order, the counter values the PVH guest
// printed in serialLog: every complete line made only of decimal digits
// after the first [GuestReadyMarker] line. Lines may end in "\n" or
// "\r\n"; an unterminated last line is ignored, as it may be a number still
// being written. If the guest restarted, the marker appears again and the
// counters start again from 0. GuestCounters returns nil when the log has
// no marker line.
func GuestCounters(serialLog []byte) []int {
	var counters []int
	ready := false
	forEachLine(serialLog, func(line []byte) bool {
		if isMarkerLine(line) {
			ready = true
			return true
		}
		if ready && isDecimal(line) {
			if n, err := strconv.Atoi(string(line)); err == nil {
				counters = append(counters, n)
			}
		}
		return true
	})
	return counters
}

// forEachLine calls fn with each complete line of log, without its "\n"
// or "\r\n", until fn returns false.
func forEachLine(log []byte, fn func(line []byte) bool) {
	for {
		line, rest, ok := bytes.Cut(log, []byte{'\n'})
		if !ok {
			return
		}
		if !fn(bytes.TrimSuffix(line, []byte{'\r'})) {
			return
		}
		log = rest
	}
}

// isMarkerLine reports whether line is the marker line. Text before the
// marker on the same line (boot noise without a newline) is tolerated.
func isMarkerLine(line []byte) bool {
	return bytes.HasSuffix(line, []byte(GuestReadyMarker))
}

func isDecimal(b []byte) bool {
	if len(b) == 0 || len(b) > 10 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
