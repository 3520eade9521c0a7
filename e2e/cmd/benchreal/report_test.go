package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A test process's output, as go test -bench prints it.
const sampleOutput = `goos: linux
goarch: amd64
pkg: github.com/chvmm/chvmm/e2e
BenchmarkRealPing/v48.0-2         	     500	     41814 ns/op	     40100 med-ns/op	    4123 B/op	      60 allocs/op
BenchmarkRealPing/v48.0.1-2       	     500	     99999 ns/op
PASS
`

func TestParseOutputFindsTheRunOfTheRelease(t *testing.T) {
	r, skip := parseOutput(sampleOutput, "BenchmarkRealPing", "v48.0")
	require.NotNil(t, r)
	assert.Empty(t, skip)
	assert.Equal(t, 40100*time.Nanosecond, r.median, "med-ns/op, not ns/op")
	assert.Equal(t, 41814*time.Nanosecond, r.mean)
	v, ok := metric(r.rest, "allocs/op")
	assert.True(t, ok)
	assert.Equal(t, 60.0, v)

	r, _ = parseOutput(sampleOutput, "BenchmarkRealPing", "v48.0.1")
	require.NotNil(t, r)
	assert.Equal(t, 99999*time.Nanosecond, r.median, "without med-ns/op, ns/op")

	r, skip = parseOutput(sampleOutput, "BenchmarkRealPing", "v53.0")
	assert.Nil(t, r)
	assert.Empty(t, skip)
}

func TestParseOutputSaysWhyItSkipped(t *testing.T) {
	out := `--- SKIP: BenchmarkRealPing
    bench_real_test.go:81: requires KVM: /dev/kvm does not exist (no KVM on this host, or not passed into the container)
PASS
`
	r, skip := parseOutput(out, "BenchmarkRealPing", "v48.0")
	assert.Nil(t, r)
	assert.Equal(t, "requires KVM: /dev/kvm does not exist (no KVM on this host, or not passed into the container)", skip)
}

func TestPairOrderAlternates(t *testing.T) {
	p := pair{chvmm: "A", baseline: "B"}
	assert.Equal(t, []string{"A", "B"}, p.order(0))
	assert.Equal(t, []string{"B", "A"}, p.order(1))
	assert.Equal(t, []string{"A", "B"}, p.order(2))
	p.refs = []string{"R"}
	assert.Equal(t, []string{"B", "R", "A"}, p.order(1))
}

func TestMedianOf(t *testing.T) {
	assert.Equal(t, 2*time.Millisecond, medianOf([]time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond}))
	assert.Equal(t, 2500*time.Microsecond, medianOf([]time.Duration{4 * time.Millisecond, time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond}))
}

func TestTableComparesTheMedians(t *testing.T) {
	res := newResults()
	p := pair{name: "Ping", chvmm: "BenchmarkRealPing", baseline: "BenchmarkRealPingBaseline", goal: 1.05}
	for _, d := range []time.Duration{100, 110, 500} { // one outlier
		res.add(p.chvmm, "v48.0", result{median: d * time.Microsecond})
	}
	for _, d := range []time.Duration{100, 90, 100} {
		res.add(p.baseline, "v48.0", result{median: d * time.Microsecond})
	}
	res.skip(p.chvmm, "v49.0", "no binary: x does not exist")
	table := res.table([]pair{p}, []string{"v48.0", "v49.0"})
	assert.Contains(t, table, "| Ping | v48.0 | 110 µs | 100 µs | 1.10 | ≤ 1.05 | no |")
	assert.Contains(t, table, "| Ping | v49.0 | — | — | — | ≤ 1.05 | skipped: no binary: x does not exist |")
	summary := res.summary([]pair{p}, []string{"v48.0"})
	assert.Contains(t, summary, "| Ping | 110 µs | 100 µs | 1.10 | 1.10–1.10 | ≤ 1.05 | 0 of 1 |")

	res.fail(p.baseline, "v48.0")
	res.fail(p.chvmm, "v50.2")
	table = res.table([]pair{p}, []string{"v48.0", "v50.2"})
	assert.Contains(t, table, "| Ping | v48.0 | 110 µs | 100 µs | 1.10 | ≤ 1.05 | no (1 runs failed) |")
	assert.Contains(t, table, "| Ping | v50.2 | — | — | — | ≤ 1.05 | 1 runs failed |")
	assert.Equal(t, 2, res.failedRuns())
}

func TestFindReleasesSortsByVersion(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"v50.2", "v100.0", "v48.0", "v9.1"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, v, "x86_64"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, v, "x86_64", "cloud-hypervisor"), nil, 0o755))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "v51.0", "aarch64"), 0o755)) // no binary for x86_64
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), nil, 0o644))
	rels, err := findReleases(dir, "x86_64")
	require.NoError(t, err)
	assert.Equal(t, []string{"v9.1", "v48.0", "v50.2", "v100.0"}, rels)
}

func TestEveryPairHasAGoalAndIterations(t *testing.T) {
	for _, p := range benchPairs {
		assert.True(t, strings.HasPrefix(p.chvmm, "BenchmarkReal"), p.name)
		assert.Equal(t, p.chvmm+"Baseline", p.baseline, p.name)
		assert.Greater(t, p.goal, 1.0, p.name)
		assert.Positive(t, p.iterations, p.name)
	}
}
