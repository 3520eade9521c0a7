package core

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core/driver"
)

// realVersions are the CH releases chvmm ships; the registry tests register
// them (without binaries) unless already registered, as the version modules
// would.
var realVersions = []string{"v48.0", "v49.0", "v50.2", "v51.2", "v52.0", "v53.0"}

func registerRealVersions(t *testing.T) {
	t.Helper()
	for _, v := range realVersions {
		registered(t, testDriver(v, nil))
	}
}

func TestRegisterPanics(t *testing.T) {
	assert.PanicsWithValue(t, "chvmm/core: Register: release is nil", func() { Register(nil) })
	before := Releases()
	for _, v := range []string{"", "latest", "48", "v48", "v48.0-rc1", "v48.0+meta", "vx.y", ">= 48"} {
		assert.Panics(t, func() { Register(&driver.Release{Version: v}) }, "%q", v)
	}
	assert.Equal(t, before, Releases(), "a panicking Register registered something")

	r := registered(t, &driver.Release{Version: "92.1.0"})
	assert.Equal(t, "v92.1", r.Version(), "Register canonicalises the version")
	got, err := Lookup("v92.1")
	require.NoError(t, err)
	assert.Same(t, r, got)
	assert.PanicsWithValue(t, "chvmm/core: Register called twice for Cloud Hypervisor v92.1",
		func() { Register(&driver.Release{Version: "v92.1"}) })
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
		assert.Equal(t, tc.got, r.Version(), "%q", tc.want)
		assert.Equal(t, tc.got, r.String())
	}
}

func TestLookupLatest(t *testing.T) {
	registerRealVersions(t)
	rs := Releases()
	latest := rs[len(rs)-1]
	for _, want := range []string{"", "latest", "  latest "} {
		r, err := Lookup(want)
		require.NoError(t, err, "%q", want)
		assert.Same(t, latest, r, "%q", want)
	}
	for _, r := range rs {
		assert.GreaterOrEqual(t, latest.compare(r), 0, "%s > latest %s", r, latest)
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
		registered(t, &driver.Release{Version: v})
	}
	rs := Releases()
	assert.True(t, slices.IsSortedFunc(rs, (*Release).compare))
	var vs []string
	for _, r := range rs {
		vs = append(vs, r.Version())
	}
	assert.Less(t, slices.Index(vs, "v9.0"), slices.Index(vs, "v48.0"))
	assert.Less(t, slices.Index(vs, "v53.0"), slices.Index(vs, "v100.0"))
	rs[0] = nil
	assert.NotNil(t, Releases()[0], "Releases returns a copy")
}

func TestReleaseBinary(t *testing.T) {
	assert.True(t, testRelease("v99.0", []byte("#!/bin/sh\n")).HasBinary())
	assert.False(t, testRelease("v99.0", nil).HasBinary())
	assert.False(t, testRelease("v99.0", []byte{}).HasBinary(), "an empty file is no binary")
	d := testDriver("v99.0", []byte("#!/bin/sh\n"))
	d.Arch = "" // a build for an architecture CH has no binary for
	r, err := newRelease(d)
	require.NoError(t, err)
	assert.False(t, r.HasBinary())
	_, err = r.BinaryPath(t.Context(), t.TempDir())
	require.ErrorIs(t, err, ErrNoBinary)
	assert.ErrorContains(t, err, "Cloud Hypervisor has no build for")
	_, err = testRelease("v99.0", nil).BinaryPath(t.Context(), t.TempDir())
	require.ErrorIs(t, err, ErrNoBinary)
	assert.ErrorContains(t, err, "make binaries")
}
