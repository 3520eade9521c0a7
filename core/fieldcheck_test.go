package core

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core/api"
	"github.com/chvmm/chvmm/core/driver"
)

// modelRelease is a release of version with the given schemas.
func modelRelease(t *testing.T, version string, schemas map[string]*driver.Schema) *Release {
	t.Helper()
	r, err := newRelease(&driver.Release{Version: version, API: &driver.API{Schemas: schemas}})
	require.NoError(t, err)
	return r
}

// oldModel is shaped like v48's: no offload members in NetConfig, no nested
// in CpusConfig, a serial that is a ConsoleConfig with iommu, console
// modes without Socket.
func oldModel(t *testing.T, version string) *Release {
	return modelRelease(t, version, map[string]*driver.Schema{
		"VmConfig": {Members: []driver.Member{
			{Name: "cpus", Type: driver.Object, Ref: "CpusConfig"},
			{Name: "net", Type: driver.Array, Items: driver.Object, Ref: "NetConfig"},
			{Name: "payload", Type: driver.Object, Ref: "PayloadConfig", Required: true},
			{Name: "platform", Type: driver.Object, Ref: "PlatformConfig"},
			{Name: "serial", Type: driver.Object, Ref: "ConsoleConfig"},
		}},
		"CpusConfig":     {Members: []driver.Member{{Name: "boot_vcpus", Type: driver.Integer, Default: "1"}, {Name: "max_vcpus", Type: driver.Integer, Default: "1"}}},
		"NetConfig":      {Members: []driver.Member{{Name: "id", Type: driver.String}, {Name: "mac", Type: driver.String}}},
		"PayloadConfig":  {Members: []driver.Member{{Name: "igvm", Type: driver.String, Feature: "igvm"}, {Name: "kernel", Type: driver.String}}},
		"PlatformConfig": {Members: []driver.Member{{Name: "num_pci_segments", Type: driver.Integer}, {Name: "tdx", Type: driver.Boolean, Feature: "tdx"}}},
		"ConsoleConfig": {Members: []driver.Member{
			{Name: "file", Type: driver.String}, {Name: "iommu", Type: driver.Boolean, Default: "false"},
			{Name: "mode", Type: driver.String, Enum: []string{"Off", "Pty", "Tty", "File", "Null"}, Required: true},
		}},
	})
}

func TestEncodeBodyNamesTheMember(t *testing.T) {
	r := oldModel(t, "v48.0")
	cfg := &api.VMConfig{Net: []api.NetConfig{{ID: ptr("a")}, {ID: ptr("b"), OffloadTso: ptr(false)}}}
	_, err := r.encodeBody("VmConfig", cfg, nil)
	require.ErrorIs(t, err, ErrUnsupportedField)
	assert.ErrorContains(t, err, "CH v48.0 has no field vmConfig.net[1].offload_tso")
	assert.ErrorContains(t, err, "NetConfig.offload_tso, first in CH v49.0")

	cfg = &api.VMConfig{Cpus: &api.CpusConfig{BootVcpus: 1, MaxVcpus: 1, Nested: ptr(false)}}
	_, err = r.encodeBody("VmConfig", cfg, nil)
	require.ErrorIs(t, err, ErrUnsupportedField, "a pointer to false is set")
	assert.ErrorContains(t, err, "vmConfig.cpus.nested")
	assert.ErrorContains(t, err, "first in CH v50.2")
}

func TestEncodeBodyChecksEnums(t *testing.T) {
	r := oldModel(t, "v48.0")
	_, err := r.encodeBody("VmConfig", &api.VMConfig{Serial: &api.SerialConfig{Mode: api.ConsoleModeSocket}}, nil)
	require.ErrorIs(t, err, ErrUnsupportedField)
	assert.ErrorContains(t, err, `CH v48.0 does not take "Socket" for vmConfig.serial.mode`)
	assert.ErrorContains(t, err, "Off, Pty, Tty, File, Null")
	_, err = r.encodeBody("VmConfig", &api.VMConfig{Serial: &api.SerialConfig{Mode: api.ConsoleModeFile}}, nil)
	require.NoError(t, err)
}

func TestEncodeBodyFailsClosed(t *testing.T) {
	r := oldModel(t, "v48.0")
	_, err := r.encodeBody("NoSuchSchema", &api.VMConfig{}, nil)
	assert.ErrorContains(t, err, "chvmm has no model of NoSuchSchema")
	broken := modelRelease(t, "v48.0", map[string]*driver.Schema{
		"VmConfig": {Members: []driver.Member{{Name: "cpus", Type: driver.Object, Ref: "Missing"}}},
	})
	_, err = broken.encodeBody("VmConfig", &api.VMConfig{Cpus: &api.CpusConfig{BootVcpus: 1}}, nil)
	assert.ErrorContains(t, err, "vmConfig.cpus: chvmm has no model of Missing", "a schema the model names but lacks is an error, not a pass")
}

func TestEncodeBodyIgnoresUnsetFields(t *testing.T) {
	r := oldModel(t, "v48.0")
	for name, v := range map[string]any{
		"nil pointers":     &api.VMConfig{Cpus: &api.CpusConfig{BootVcpus: 2, MaxVcpus: 4}, Payload: api.PayloadConfig{Kernel: ptr("/k")}},
		"omitted slices":   &api.VMConfig{Net: []api.NetConfig{{ID: ptr("a"), Mac: ptr("m")}}},
		"nil config":       (*api.VMConfig)(nil),
		"empty config":     &api.VMConfig{},
		"zero non-omitted": &api.VMConfig{Cpus: &api.CpusConfig{}},
	} {
		_, err := r.encodeBody("VmConfig", v, nil)
		assert.NoError(t, err, name)
	}
}

func TestEncodeBodyBuildFeatures(t *testing.T) {
	r := oldModel(t, "v48.0")
	cfg := &api.VMConfig{Payload: api.PayloadConfig{Igvm: ptr("/fw.igvm")}}
	_, err := r.encodeBody("VmConfig", cfg, []string{"kvm", "io_uring"})
	require.ErrorIs(t, err, ErrUnsupportedField)
	assert.ErrorContains(t, err, `built without the "igvm" feature`)
	_, err = r.encodeBody("VmConfig", cfg, []string{"kvm", "igvm"})
	require.NoError(t, err)
	_, err = r.encodeBody("VmConfig", cfg, nil)
	require.NoError(t, err, "features unknown: not checked")
	_, err = r.encodeBody("VmConfig", &api.VMConfig{Platform: &api.PlatformConfig{Tdx: ptr(false)}}, []string{"kvm"})
	require.NoError(t, err, "tdx: false is what every build does")
}

func TestEncodeBodyDropsUnknownZeroMembers(t *testing.T) {
	// A release whose GenericVhostUserConfig lacks queue_sizes.
	r := modelRelease(t, "v51.2", map[string]*driver.Schema{"GenericVhostUserConfig": {Members: []driver.Member{
		{Name: "device_type", Type: driver.Integer}, {Name: "socket", Type: driver.String},
	}}})
	body, err := r.encodeBody("GenericVhostUserConfig", &api.GenericVhostUserConfig{Socket: "/s", DeviceType: 26}, nil)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(body, &got))
	assert.Equal(t, map[string]any{"socket": "/s", "device_type": float64(26)}, got, "members unknown to the release are not sent as zero values")

	_, err = r.encodeBody("GenericVhostUserConfig", &api.GenericVhostUserConfig{Socket: "/s", QueueSizes: []uint16{1}}, nil)
	require.ErrorIs(t, err, ErrUnsupportedField)
	assert.ErrorContains(t, err, "first in CH v52.0")
}

// TestEncodeBodyCarriedMember: core's SerialConfig keeps iommu, which
// VmConfig.serial had while it was a ConsoleConfig (until v51.2); a release
// whose serial is a SerialConfig without it refuses it, naming v51.2.
func TestEncodeBodyCarriedMember(t *testing.T) {
	r := modelRelease(t, "v53.0", map[string]*driver.Schema{
		"VmConfig":     {Members: []driver.Member{{Name: "serial", Type: driver.Object, Ref: "SerialConfig"}}},
		"SerialConfig": {Members: []driver.Member{{Name: "mode", Type: driver.String}}},
	})
	_, err := r.encodeBody("VmConfig", &api.VMConfig{Serial: &api.SerialConfig{Mode: api.ConsoleModeNull, Iommu: ptr(true)}}, nil)
	require.ErrorIs(t, err, ErrUnsupportedField)
	assert.ErrorContains(t, err, "vmConfig.serial.iommu (SerialConfig.iommu, last in CH v51.2)")
}

func TestDeletePath(t *testing.T) {
	doc := map[string]any{"a": []any{map[string]any{"x": 1, "y": nil}}}
	deletePath(doc, jsonPath{"a", 0, "y"})
	assert.Equal(t, map[string]any{"a": []any{map[string]any{"x": 1}}}, doc)
	deletePath(doc, jsonPath{"a", 5, "x"}) // out of range: nothing
	deletePath(doc, jsonPath{"b", "x"})    // absent: nothing
	assert.Equal(t, map[string]any{"a": []any{map[string]any{"x": 1}}}, doc)
}
