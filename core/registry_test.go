package core

import (
	"slices"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// realVersions are the CH releases chvmm ships; the registry tests register
// them (without binaries) unless already registered, as the version modules
// would.
var realVersions = []string{"v48.0", "v49.0", "v50.2", "v51.2", "v52.0", "v53.0"}

func registerRealVersions(t *testing.T) {
	t.Helper()
	for _, v := range realVersions {
		if r, err := Lookup(v); err == nil && r.Version == v {
			continue
		}
		Register(&Release{Version: v, APIVersion: "0.3.0"})
	}
}

// canonicalisedRelease is registered as "92.1.0", once per test binary.
var canonicalisedRelease = sync.OnceValue(func() *Release {
	r := &Release{Version: "92.1.0"}
	Register(r)
	return r
})

func TestRegisterPanics(t *testing.T) {
	assert.PanicsWithValue(t, "chvmm/core: Register release is nil", func() { Register(nil) })
	before := Versions()
	for _, v := range []string{"", "latest", "48", "v48", "v48.0-rc1", "v48.0+meta", "vx.y", ">= 48"} {
		assert.Panics(t, func() { Register(&Release{Version: v}) }, "%q", v)
	}
	assert.Equal(t, before, Versions(), "a panicking Register registered something")

	r := canonicalisedRelease()
	assert.Equal(t, "v92.1", r.Version, "Register canonicalises the version")
	got, err := Lookup("v92.1")
	require.NoError(t, err)
	assert.Same(t, r, got)
	assert.PanicsWithValue(t, "chvmm/core: Register called twice for Cloud Hypervisor v92.1",
		func() { Register(&Release{Version: "v92.1"}) })
	got, err = Lookup("v92.1")
	require.NoError(t, err)
	assert.Same(t, r, got, "a duplicate does not replace the first")
}

func TestLookup(t *testing.T) {
	registerRealVersions(t)
	tests := []struct{ want, got string }{
		{"v48.0", "v48.0"},
		{"48.0", "v48.0"},
		{"48", "v48.0"},
		{"v48", "v48.0"},
		{"48.0.0", "v48.0"},
		{" v50.2 ", "v50.2"},
		{"50", "v50.2"},
		{">= 49, < 52", "v51.2"},
		{"~> 50.0", "v50.2"},
		{"< 49", "v48.0"},
		{"= 52.0", "v52.0"},
		{">= 48, != 53.0, < 54", "v52.0"},
	}
	for _, tc := range tests {
		r, err := Lookup(tc.want)
		require.NoError(t, err, "%q", tc.want)
		assert.Equal(t, tc.got, r.Version, "%q", tc.want)
		assert.Equal(t, tc.got, r.String())
		assert.Equal(t, tc.got, canonical(r.SemVer()))
	}
}

func TestLookupLatest(t *testing.T) {
	registerRealVersions(t)
	rs := Releases()
	latest, err := Latest()
	require.NoError(t, err)
	assert.Same(t, rs[len(rs)-1], latest)
	for _, want := range []string{"", "latest", "  latest "} {
		r, err := Lookup(want)
		require.NoError(t, err, "%q", want)
		assert.Same(t, latest, r, "%q", want)
	}
	for _, r := range rs {
		assert.True(t, latest.SemVer().GreaterThanOrEqual(r.SemVer()), "%s > latest %s", r, latest)
	}
}

func TestLookupUnknown(t *testing.T) {
	registerRealVersions(t)
	for _, want := range []string{"v47.0", "47", "48.1", "v54.0", "> 1000", ">= 49, < 49", "~> 47.0"} {
		_, err := Lookup(want)
		require.ErrorIs(t, err, ErrUnknownVersion, "%q", want)
		assert.Contains(t, err.Error(), want)
		assert.Contains(t, err.Error(), "registered: ")
		for _, v := range realVersions {
			assert.Contains(t, err.Error(), v)
		}
	}
	err := unknownVersion("v50.0", nil)
	require.ErrorIs(t, err, ErrUnknownVersion)
	assert.Contains(t, err.Error(), "none is registered; blank-import a version module")
}

func TestLookupMalformed(t *testing.T) {
	registerRealVersions(t)
	for _, want := range []string{"vx.y", "abc", "v48.0-rc1", "48.0+meta", ">= = 4", "48..0", "~>", ">= 49,"} {
		_, err := Lookup(want)
		require.ErrorIs(t, err, ErrBadVersion, "%q", want)
		assert.NotErrorIs(t, err, ErrUnknownVersion)
		assert.Contains(t, err.Error(), want)
	}
}

func TestReleasesSorted(t *testing.T) {
	registerRealVersions(t)
	// Numeric, not lexical, order: v9.0 < v48.0 < v100.0.
	for _, v := range []string{"v100.0", "v9.0"} {
		if _, err := Lookup("= " + v[1:]); err != nil {
			Register(&Release{Version: v})
		}
	}
	rs := Releases()
	vs := Versions()
	require.Len(t, vs, len(rs))
	for i, r := range rs {
		assert.Equal(t, r.Version, vs[i])
	}
	assert.True(t, slices.IsSortedFunc(rs, func(a, b *Release) int { return a.SemVer().Compare(b.SemVer()) }), "%v", vs)
	assert.Less(t, slices.Index(vs, "v9.0"), slices.Index(vs, "v48.0"))
	assert.Less(t, slices.Index(vs, "v53.0"), slices.Index(vs, "v100.0"))
	want := []string{"v48.0", "v49.0", "v50.2", "v51.2", "v52.0", "v53.0"}
	var got []string
	for _, v := range vs {
		if slices.Contains(want, v) {
			got = append(got, v)
		}
	}
	assert.Equal(t, want, got)

	vs[0] = "mutated"
	assert.NotEqual(t, "mutated", Versions()[0], "Versions returns a copy")
}

func TestReleaseBinaries(t *testing.T) {
	r := &Release{Version: "v99.0", Binaries: fstest.MapFS{
		HostArch() + "/" + BinaryName: {Data: []byte("#!/bin/sh\n")},
		"riscv64/" + BinaryName:       {Data: nil}, // empty: not a binary
	}}
	assert.Equal(t, []string{HostArch()}, r.Arches())
	assert.True(t, r.HasBinary(HostArch()))
	assert.False(t, r.HasBinary("riscv64"))
	assert.Empty(t, (&Release{Version: "v99.0"}).Arches())
}
