package core

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Answers real Cloud Hypervisor servers give, as the real-CH suite
// (e2e/real_test.go) recorded them, that the specs do not describe.

// realCountersWithDisk is GET /vm.counters of a running VM with one disk
// that has served no request yet, as CH v48.0 to v53.0 answer it: the
// latency counters start at u64::MAX.
const realCountersWithDisk = `{"_disk0":{"write_latency_min":18446744073709551615,"read_latency_max":18446744073709551615,"read_ops":0,"write_ops":0,"write_latency_avg":1844674407370955,"write_latency_max":18446744073709551615,"read_latency_min":18446744073709551615,"write_bytes":0,"read_latency_avg":1844674407370955,"read_bytes":0}}`

// CH's counters are u64 (HashMap<&str, Wrapping<u64>>): VMCounters must
// decode a value no int64 holds.
func TestVMCountersDecodesU64Counters(t *testing.T) {
	sock, _ := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(realCountersWithDisk))
	}))
	counters, err := newTestHypervisor(testRelease("v53.0", nil), sock).VMCounters(t.Context())
	require.NoError(t, err, "decoding the counters of a VM with a disk")
	disk := counters["_disk0"]
	require.Len(t, disk, 10, "every counter of the disk")
	assert.Equal(t, "18446744073709551615", strconv.FormatUint(uint64(disk["read_latency_min"]), 10))
	assert.Equal(t, "1844674407370955", strconv.FormatUint(uint64(disk["read_latency_avg"]), 10))
	assert.Zero(t, disk["read_ops"])
}

// From v53.0, CH answers an API request that needs a VM, when there is none,
// with 404 (CH PR #8320): that is ErrVMNotCreated, not an endpoint the
// release lacks. An unrouted path still is.
func TestNotCreated404IsNotAnUnknownEndpoint(t *testing.T) {
	notCreated := newAPIError("GET /vm.info", http.StatusNotFound,
		[]byte(`["Error from API","The VM info is not available","VM is not created"]`), false)
	assert.ErrorIs(t, notCreated, ErrVMNotCreated)
	assert.NotErrorIs(t, notCreated, ErrUnknownEndpoint, "vm.info is served; the VM is missing")

	missingConfig := newAPIError("PUT /vm.boot", http.StatusNotFound,
		[]byte(`["Error from API","The VM could not boot","VM config is missing"]`), false)
	assert.ErrorIs(t, missingConfig, ErrVMNotCreated)
	assert.NotErrorIs(t, missingConfig, ErrUnknownEndpoint)

	unrouted := newAPIError("PUT /vm.coredump", http.StatusNotFound, []byte(`["Not Found"]`), false)
	assert.ErrorIs(t, unrouted, ErrUnknownEndpoint)
	assert.NotErrorIs(t, unrouted, ErrVMNotCreated)

	// Only the router's own answer is an unknown endpoint.
	other := newAPIError("PUT /vm.add-disk", http.StatusNotFound, []byte(`["Error from API","Something else"]`), false)
	assert.NotErrorIs(t, other, ErrUnknownEndpoint)
}
