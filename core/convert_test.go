package core

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Types shaped like an old release's generated client: no offload fields in
// NetConfig, no nested in CpusConfig, a GenericVhostUserConfig of v52.0's
// shape, a PlatformConfig of v53.0's.
type (
	oldNetConfig struct {
		ID  *string `json:"id,omitempty"`
		Mac *string `json:"mac,omitempty"`
	}
	oldCpusConfig struct {
		BootVcpus int `json:"boot_vcpus"`
		MaxVcpus  int `json:"max_vcpus"`
	}
	oldPayloadConfig struct {
		Kernel *string `json:"kernel,omitempty"`
	}
	oldPlatformConfig struct {
		NumPciSegments *int `json:"num_pci_segments,omitempty"`
	}
	oldVMConfig struct {
		Cpus     *oldCpusConfig     `json:"cpus,omitempty"`
		Net      *[]oldNetConfig    `json:"net,omitempty"`
		Payload  oldPayloadConfig   `json:"payload"`
		Platform *oldPlatformConfig `json:"platform,omitempty"`
	}
	oldGenericVhostUserConfig struct { // without queue_sizes
		DeviceType uint32 `json:"device_type"`
		Socket     string `json:"socket"`
	}
)

func oldRelease(version string) *Release {
	return &Release{Version: version, Schemas: map[string]reflect.Type{
		"VmConfig":               reflect.TypeFor[oldVMConfig](),
		"NetConfig":              reflect.TypeFor[oldNetConfig](),
		"CpusConfig":             reflect.TypeFor[oldCpusConfig](),
		"PayloadConfig":          reflect.TypeFor[oldPayloadConfig](),
		"PlatformConfig":         reflect.TypeFor[oldPlatformConfig](),
		"GenericVhostUserConfig": reflect.TypeFor[oldGenericVhostUserConfig](),
	}}
}

func TestCheckFieldsNamesNestedField(t *testing.T) {
	r := oldRelease("v48.0")
	cfg := &VMConfig{Net: []NetConfig{{ID: ptr("a")}, {ID: ptr("b"), OffloadTso: ptr(false)}}}
	err := r.checkFields("VmConfig", cfg)
	require.ErrorIs(t, err, ErrUnsupportedField)
	assert.ErrorContains(t, err, "CH v48.0 has no field vmConfig.net[1].offload_tso")
	assert.ErrorContains(t, err, "NetConfig.offload_tso, first in CH v49.0")

	cfg = &VMConfig{Cpus: &CpusConfig{BootVcpus: 1, MaxVcpus: 1, Nested: ptr(false)}}
	err = r.checkFields("VmConfig", cfg)
	require.ErrorIs(t, err, ErrUnsupportedField, "a pointer to false is set")
	assert.ErrorContains(t, err, "vmConfig.cpus.nested")
	assert.ErrorContains(t, err, "first in CH v50.2")
}

func TestCheckFieldsIgnoresUnsetFields(t *testing.T) {
	r := oldRelease("v48.0")
	for name, v := range map[string]any{
		"nil pointers":      &VMConfig{Cpus: &CpusConfig{BootVcpus: 2, MaxVcpus: 4}, Payload: PayloadConfig{Kernel: ptr("/k")}},
		"omitted slices":    &VMConfig{Net: []NetConfig{{ID: ptr("a"), Mac: ptr("m")}}},
		"nil config":        (*VMConfig)(nil),
		"empty config":      &VMConfig{},
		"zero non-omitted":  &VMConfig{Cpus: &CpusConfig{}},
		"zero struct value": VMConfig{},
	} {
		assert.NoError(t, r.checkFields("VmConfig", v), name)
	}
	assert.NoError(t, r.checkFields("NoSuchSchema", &VMConfig{Rtc: &RtcConfig{}}), "a schema the release lacks is not checked here")
}

func TestCheckFieldsRemovedField(t *testing.T) {
	// No field of the embedded releases' specs is gone from the newest one:
	// pretend pci_segment was, last in v52.0.
	saved := featureUntil
	featureUntil = map[string]string{"GenericVhostUserConfig.pci_segment": "v52.0"}
	t.Cleanup(func() { featureUntil = saved })
	type v53GenericVhostUserConfig struct { // pci_segment is gone, last in v52.0
		QueueSizes []uint16 `json:"queue_sizes"`
		Socket     string   `json:"socket"`
	}
	r := &Release{Version: "v53.0", Schemas: map[string]reflect.Type{"GenericVhostUserConfig": reflect.TypeFor[v53GenericVhostUserConfig]()}}
	err := r.checkFields("GenericVhostUserConfig", &GenericVhostUserConfig{PciSegment: ptr(int16(1))})
	require.ErrorIs(t, err, ErrUnsupportedField)
	assert.ErrorContains(t, err, "GenericVhostUserConfig.pci_segment, last in CH v52.0")
	assert.ErrorContains(t, err, "use an older release")
}

func TestEncodeBodyDropsUnknownZeroFields(t *testing.T) {
	r := oldRelease("v51.2")
	body, err := r.encodeBody("GenericVhostUserConfig", &GenericVhostUserConfig{Socket: "/s", DeviceType: 26})
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(body, &got))
	assert.Equal(t, map[string]any{"socket": "/s", "device_type": float64(26)}, got, "queue_sizes, unknown to the release, is not sent as null")

	_, err = r.encodeBody("GenericVhostUserConfig", &GenericVhostUserConfig{Socket: "/s", QueueSizes: []uint16{1}})
	require.ErrorIs(t, err, ErrUnsupportedField)
	assert.ErrorContains(t, err, "first in CH v52.0")

	// Nested: a zero non-omitted member inside a list element.
	doc := map[string]any{"a": []any{map[string]any{"x": 1, "y": nil}}}
	deletePath(doc, jsonPath{"a", 0, "y"})
	assert.Equal(t, map[string]any{"a": []any{map[string]any{"x": 1}}}, doc)
	deletePath(doc, jsonPath{"a", 5, "x"}) // out of range: nothing
	deletePath(doc, jsonPath{"b", "x"})    // absent: nothing
	assert.Equal(t, map[string]any{"a": []any{map[string]any{"x": 1}}}, doc)

	body, err = (&Release{Version: "v48.0"}).encodeBody("", &VMResize{DesiredVcpus: ptr(2)})
	require.NoError(t, err)
	assert.JSONEq(t, `{"desired_vcpus":2}`, string(body))
}

// TestCheckFieldsCarriedMember: core's SerialConfig keeps iommu, which
// VmConfig.serial had while it was a ConsoleConfig (until v51.2); a release
// whose serial is a SerialConfig without it refuses it, naming v51.2.
func TestCheckFieldsCarriedMember(t *testing.T) {
	type newSerialConfig struct {
		Mode string `json:"mode"`
	}
	type newVMConfig struct {
		Payload oldPayloadConfig `json:"payload"`
		Serial  *newSerialConfig `json:"serial,omitempty"`
	}
	r := &Release{Version: "v53.0", Schemas: map[string]reflect.Type{
		"VmConfig":     reflect.TypeFor[newVMConfig](),
		"SerialConfig": reflect.TypeFor[newSerialConfig](),
	}}
	cfg := &VMConfig{Serial: &SerialConfig{Mode: ConsoleModeNull, Iommu: ptr(true)}}
	err := r.checkFields("VmConfig", cfg)
	require.ErrorIs(t, err, ErrUnsupportedField)
	assert.ErrorContains(t, err, "vmConfig.serial.iommu (SerialConfig.iommu, last in CH v51.2)")
}
