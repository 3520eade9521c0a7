// Package chtest helps test programs that drive Cloud Hypervisor.
//
// It provides a tiny bootable guest, built by Go code in microseconds with
// no download: [PVHKernel] is an x86_64 PVH kernel image (an ELF with a
// XEN_ELFNOTE_PHYS32_ENTRY note) that CH boots directly as
// payload.kernel. The guest prints [GuestReadyMarker] on the serial port
// and then a counter line about once a second; [GuestReady] and
// [GuestCounters] read that output. It needs a few KiB of RAM, no disk and
// no command line, sleeps between counter lines, and boots on hosts whose
// KVM is itself nested, where full Linux guests often cannot start.
//
// The Requires helpers skip a test, with a one-line reason, when what it
// needs is absent: [RequiresKVM], [RequiresRoot] and [RequiresBinary] (a
// real CH binary of a given version under $CHVMM_TEST_BINARY_DIR).
//
//	func TestBoot(t *testing.T) {
//		chtest.RequiresKVM(t)
//		bin := chtest.RequiresBinary(t, "v48.0")
//		kernel := filepath.Join(t.TempDir(), "pvh.elf")
//		if err := chtest.WritePVHKernel(kernel); err != nil {
//			t.Fatal(err)
//		}
//		// start bin with payload.kernel = kernel and serial mode File,
//		// then wait until chtest.GuestCounters(serialLog) has entries.
//	}
package chtest
