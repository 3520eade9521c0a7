package chtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// counterLinesAt returns the time each counter line ended: lineTimes holds
// one entry per line, the marker line first.
func counterLinesAt(t *testing.T, lineTimes []time.Time, n int) []time.Time {
	t.Helper()
	require.GreaterOrEqual(t, len(lineTimes), n+1, "line times")
	return lineTimes[1 : n+1]
}

// TestPVHKernelBootsUnderKVM boots the image with the register state and
// loader Cloud Hypervisor uses, and checks the serial output: the marker,
// then counters 0, 1, 2 one second apart, with the guest asleep (HLT on
// the APIC timer) between them instead of spinning.
func TestPVHKernelBootsUnderKVM(t *testing.T) {
	RequiresKVM(t)
	t.Parallel()
	vm := bootPVHUnderKVM(t, PVHKernel(), kvmVMConfig{})

	require.NoError(t, vm.waitFor(2*time.Second, GuestReady), "marker within 2 s of boot (ms without load)")
	require.NoError(t, vm.waitFor(4*time.Second, func(s []byte) bool { return len(GuestCounters(s)) >= 3 }))
	serial, lineTimes, exits, err := vm.snapshot()
	require.NoError(t, err)
	elapsed := time.Since(vm.started)

	assert.Equal(t, GuestReadyMarker+"\n", string(serial[:len(GuestReadyMarker)+1]), "the marker is the first output")
	counters := GuestCounters(serial)
	assert.Equal(t, []int{0, 1, 2}, counters[:3])
	at := counterLinesAt(t, lineTimes, 3)
	assert.Less(t, at[0].Sub(vm.started), 500*time.Millisecond, "counter 0 follows the marker at once")
	// 0 -> 1 waits for the next RTC second (0..1 s); 1 -> 2 is a whole one.
	assert.Less(t, at[1].Sub(at[0]), 1100*time.Millisecond)
	assert.InDelta(t, time.Second.Seconds(), at[2].Sub(at[1]).Seconds(), 0.4, "1 -> 2 is one RTC second (0.4 s slack for a loaded host)")
	// HLT between 10 ms ticks costs 2 port exits (CMOS index, data) per
	// tick: ~200/s. A spinning guest makes tens of thousands.
	rate := float64(exits) / elapsed.Seconds()
	assert.Less(t, rate, 1000.0, "I/O exits per second: the guest should sleep, not spin")
	t.Logf("%d I/O exits in %v (%.0f/s); counter lines at %v", exits, elapsed, rate, at)
}

// TestPVHKernelWithoutRTC: when the RTC never ticks (a VMM without CMOS
// device), the guest still counts, on its 2^32-TSC-cycle limit.
func TestPVHKernelWithoutRTC(t *testing.T) {
	RequiresKVM(t)
	t.Parallel()
	vm := bootPVHUnderKVM(t, PVHKernel(), kvmVMConfig{rtcSeconds: func() byte { return 0x42 }})

	require.NoError(t, vm.waitFor(5*time.Second, func(s []byte) bool { return len(GuestCounters(s)) >= 2 }))
	serial, lineTimes, _, err := vm.snapshot()
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1}, GuestCounters(serial)[:2])
	at := counterLinesAt(t, lineTimes, 2)
	gap := at[1].Sub(at[0])
	assert.Greater(t, gap, 300*time.Millisecond, "2^32 cycles is well over 0.3 s at any TSC rate below 14 GHz")
	t.Logf("counter 0 -> 1 without RTC: %v", gap)
}

// TestPVHKernelWithX2APIC: with the local APIC already in x2APIC mode, the
// guest cannot use its xAPIC timer and falls back to spinning; it must
// still print the marker and count.
func TestPVHKernelWithX2APIC(t *testing.T) {
	RequiresKVM(t)
	t.Parallel()
	vm := bootPVHUnderKVM(t, PVHKernel(), kvmVMConfig{x2APIC: true})

	require.NoError(t, vm.waitFor(3*time.Second, func(s []byte) bool { return len(GuestCounters(s)) >= 2 }))
	serial, _, exits, err := vm.snapshot()
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1}, GuestCounters(serial)[:2])
	assert.Greater(t, float64(exits)/time.Since(vm.started).Seconds(), 1000.0,
		"a spinning guest polls the RTC far more often than every 10 ms")
}
