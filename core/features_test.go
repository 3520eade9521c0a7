package core

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core/driver"
)

// capsRelease has resize-disk, a NetConfig with offload_tso and an enum
// schema.
func capsRelease() *Release {
	r, err := newRelease(&driver.Release{Version: "v81.1", API: &driver.API{
		Endpoints: []driver.Endpoint{{Method: "PUT", Path: "/vm.boot"}, {Method: "PUT", Path: "/vm.resize-disk"}},
		Schemas: map[string]*driver.Schema{
			"NetConfig":    {Members: []driver.Member{{Name: "id", Type: driver.String}, {Name: "offload_tso", Type: driver.Boolean}}},
			"CapsTestMode": {Enum: []string{"A", "B"}},
		},
	}})
	if err != nil {
		panic(err)
	}
	return r
}

func TestHas(t *testing.T) {
	r := capsRelease()
	for feature, want := range map[string]bool{
		"PUT /vm.boot":           true,
		"PUT /vm.resize-disk":    true,
		"GET /vm.resize-disk":    false,
		"PUT /vm.nmi":            false,
		"NetConfig":              true,
		"NetConfig.id":           true,
		"NetConfig.offload_tso":  true,
		"NetConfig.no_such":      false,
		"CapsTestMode":           true,
		"CapsTestMode.anything":  false, // an enum has no members
		"NoSuchSchema":           false,
		"NoSuchSchema.something": false,
	} {
		assert.Equal(t, want, r.Has(feature), "Has(%q)", feature)
	}
}

func TestFeatures(t *testing.T) {
	fs := Features()
	require.NotEmpty(t, fs)
	assert.True(t, slices.IsSortedFunc(fs, func(a, b Feature) int { return strings.Compare(a.Name, b.Name) }), "sorted by name")
	assert.Contains(t, fs, Feature{Name: "NetConfig.offload_tso", Since: "v49.0"})
	assert.Contains(t, fs, Feature{Name: "PUT /vm.resize-disk", Since: "v50.2"})
	assert.Contains(t, fs, Feature{Name: "GenericVhostUserConfig.queue_sizes", Since: "v52.0"})
	for _, f := range fs {
		assert.True(t, f.Since != "" || f.Until != "", "%s differs between no releases", f.Name)
	}
	assert.Equal(t, "first in CH v50.2", featureRange("PUT /vm.resize-disk"))
	assert.Equal(t, "", featureRange("PUT /vm.boot"), "every release has it")
}

func TestSupportsError(t *testing.T) {
	err := testRelease("v48.0", nil).supports("PUT", "/vmm.nmi")
	require.ErrorIs(t, err, ErrUnsupported)
	require.ErrorIs(t, err, errors.ErrUnsupported, "the standard library's sentinel matches too")
	assert.ErrorContains(t, err, "CH v48.0 has no PUT /vmm.nmi")
	r, err := newRelease(&driver.Release{Version: "v48.0", API: &driver.API{}})
	require.NoError(t, err)
	assert.ErrorContains(t, r.supports("PUT", "/vm.resize-disk"), "first in CH v50.2")
	assert.NoError(t, testRelease("v48.0", nil).supports("GET", "/vm.info"))
}
