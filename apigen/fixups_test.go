package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// v52Shape is the part of the official v52.0 spec the v52 fix-ups repair.
const v52Shape = `
openapi: 3.0.1
paths:
  /vm.info:
    get: {}
  /vmm.nmi:
    put: {}
components:
  schemas:
    VmConfig:
      type: object
      properties:
        fs:
          type: array
        generic-vhost-user:
          type: array
    GenericVhostUserConfig:
      required:
        - queue_sizes
        - socket
        - tag
        - virtio_id
      type: object
      properties:
        socket:
          type: string
        queue_size:
          type: array
          items:
            type: uint16
        virtio_id:
          type: uint32
    PlatformConfig:
      type: object
      properties:
        num_pci_segments:
          type: integer
        iommu_address_width:
          type: integer
          format: uint8
    VmCounters:
      type: object
      additionalProperties:
        type: object
        additionalProperties:
          type: integer
          format: int64
`

func parseYAML(t *testing.T, s string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(s), &doc))
	return doc.Content[0]
}

func TestFixupsRepairV52(t *testing.T) {
	root := parseYAML(t, v52Shape)
	applied, err := applyFixups("v52.0", root, fixups)
	require.NoError(t, err)
	assert.Equal(t, []string{
		"v52-generic-vhost-user-queue-size-items-type", "v52-generic-vhost-user-virtio-id-type",
		"v52-generic-vhost-user-queue-sizes-name", "v52-generic-vhost-user-device-type-name",
		"v52-generic-vhost-user-required-tag", "generic-vhost-user-member-name",
		"platform-iommu-address-width-bits-name", "nmi-route", "vm-counters-uint64",
	}, applied)
	assert.Equal(t, []string{"/vm.info", "/vm.nmi"}, mapKeys(mapGet(root, "paths")), "the server's NMI route, in place")
	platform := mapPath(root, "components", "schemas", "PlatformConfig", "properties")
	assert.Equal(t, []string{"num_pci_segments", "iommu_address_width_bits"}, mapKeys(platform), "renamed in place")
	assert.Equal(t, "uint8", mapGet(mapGet(platform, "iommu_address_width_bits"), "format").Value)
	assert.Equal(t, []string{"fs", "generic_vhost_user"}, mapKeys(mapPath(root, "components", "schemas", "VmConfig", "properties")))

	gvu := mapPath(root, "components", "schemas", "GenericVhostUserConfig")
	assert.Equal(t, []string{"socket", "queue_sizes", "device_type"}, mapKeys(mapGet(gvu, "properties")), "the server's names, in place")
	var required []string
	for _, n := range mapGet(gvu, "required").Content {
		required = append(required, n.Value)
	}
	assert.Equal(t, []string{"queue_sizes", "socket", "device_type"}, required, "virtio_id renamed, tag (no property) gone")
	items := mapPath(gvu, "properties", "queue_sizes", "items")
	assert.Equal(t, "integer", mapGet(items, "type").Value)
	assert.Equal(t, "uint16", mapGet(items, "format").Value)
	deviceType := mapPath(gvu, "properties", "device_type")
	assert.Equal(t, "integer", mapGet(deviceType, "type").Value)
	assert.Equal(t, "uint32", mapGet(deviceType, "format").Value)
	counter := mapPath(root, "components", "schemas", "VmCounters", "additionalProperties", "additionalProperties")
	assert.Equal(t, "integer", mapGet(counter, "type").Value)
	assert.Equal(t, "uint64", mapGet(counter, "format").Value, "CH's counters are u64")

	s := &spec{Tag: "v52.0", Root: root}
	js, err := s.JSON()
	require.NoError(t, err)
	assert.Contains(t, string(js), `"format": "uint16",`+"\n"+`              "type": "integer"`)
}

// fixupNamed returns the fix-up called name.
func fixupNamed(t *testing.T, name string) fixup {
	t.Helper()
	for _, f := range fixups {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no fix-up %s", name)
	return fixup{}
}

// TestNewFixupsNoLongerMatching: each fix-up of the server's names fails,
// naming itself, on a spec that already has the server's shape or lacks
// its target.
func TestNewFixupsNoLongerMatching(t *testing.T) {
	for _, tc := range []struct {
		fixup string
		tag   string
		docs  map[string]string
	}{
		{"generic-vhost-user-member-name", "v53.0", map[string]string{
			"already renamed": "components:\n  schemas:\n    VmConfig:\n      properties:\n        generic_vhost_user:\n          type: array\n",
			"property gone":   "components:\n  schemas:\n    VmConfig:\n      properties:\n        fs:\n          type: array\n",
		}},
		{"v52-generic-vhost-user-queue-sizes-name", "v52.0", map[string]string{
			"already renamed": "components:\n  schemas:\n    GenericVhostUserConfig:\n      properties:\n        queue_size: {}\n        queue_sizes: {}\n",
			"schema gone":     "components:\n  schemas:\n    VmConfig:\n      type: object\n",
		}},
		{"v52-generic-vhost-user-device-type-name", "v52.0", map[string]string{
			"property gone": "components:\n  schemas:\n    GenericVhostUserConfig:\n      properties:\n        device_type: {}\n",
		}},
		{"v52-generic-vhost-user-required-tag", "v52.0", map[string]string{
			"not required": "components:\n  schemas:\n    GenericVhostUserConfig:\n      required: [socket]\n      properties:\n        socket: {}\n",
			"a property":   "components:\n  schemas:\n    GenericVhostUserConfig:\n      required: [tag]\n      properties:\n        tag: {}\n",
		}},
		{"memory-zone-mergeable-not-read", "v48.0", map[string]string{
			"property gone": "components:\n  schemas:\n    MemoryZoneConfig:\n      properties:\n        id: {}\n",
			"no properties": "components:\n  schemas:\n    MemoryZoneConfig:\n      type: object\n",
		}},
	} {
		f := fixupNamed(t, tc.fixup)
		assert.Contains(t, f.Tags, tc.tag)
		for name, doc := range tc.docs {
			t.Run(tc.fixup+"/"+name, func(t *testing.T) {
				_, err := applyFixups(tc.tag, parseYAML(t, doc), []fixup{f})
				require.ErrorIs(t, err, errFixupNoMatch)
				assert.Contains(t, err.Error(), tc.fixup)
				assert.Contains(t, err.Error(), "apigen/fixups.go")
			})
		}
	}
}

func TestRemovePropertyFixup(t *testing.T) {
	root := parseYAML(t, `
components:
  schemas:
    MemoryZoneConfig:
      required: [id, mergeable]
      properties:
        id: {type: string}
        mergeable: {type: boolean}
        shared: {type: boolean}
`)
	applied, err := applyFixups("v51.2", root, []fixup{fixupNamed(t, "memory-zone-mergeable-not-read")})
	require.NoError(t, err)
	assert.Equal(t, []string{"memory-zone-mergeable-not-read"}, applied)
	zone := mapPath(root, "components", "schemas", "MemoryZoneConfig")
	assert.Equal(t, []string{"id", "shared"}, mapKeys(mapGet(zone, "properties")))
	require.Len(t, mapGet(zone, "required").Content, 1)
	assert.Equal(t, "id", mapGet(zone, "required").Content[0].Value)
	assert.NotContains(t, fixupNamed(t, "memory-zone-mergeable-not-read").Tags, "v52.0", "the v52.0 server reads it")
}

func TestFixupsLeaveOtherTagsAlone(t *testing.T) {
	root := parseYAML(t, v52Shape)
	applied, err := applyFixups("v53.0", root, fixups)
	require.NoError(t, err)
	assert.Equal(t, []string{"generic-vhost-user-member-name", "vm-counters-uint64"}, applied, "v53.0 has only VmConfig's name and the counters' format wrong")
	items := mapPath(root, "components", "schemas", "GenericVhostUserConfig", "properties", "queue_size", "items")
	assert.Equal(t, "uint16", mapGet(items, "type").Value)
	assert.NotNil(t, mapPath(root, "components", "schemas", "PlatformConfig", "properties", "iommu_address_width"))
}

func TestFixupThatNoLongerMatchesIsAnError(t *testing.T) {
	f := fixupNamed(t, "v52-generic-vhost-user-queue-size-items-type")
	for name, doc := range map[string]string{
		"already fixed": `
components:
  schemas:
    GenericVhostUserConfig:
      properties:
        queue_size:
          items:
            type: integer
            format: uint16
`,
		"schema gone": "components:\n  schemas:\n    VmConfig:\n      type: object\n",
		"has a format": `
components:
  schemas:
    GenericVhostUserConfig:
      properties:
        queue_size:
          items:
            type: uint16
            format: uint16
`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := applyFixups("v52.0", parseYAML(t, doc), []fixup{f})
			require.ErrorIs(t, err, errFixupNoMatch)
			assert.Contains(t, err.Error(), "v52-generic-vhost-user-queue-size-items-type")
			assert.Contains(t, err.Error(), "apigen/fixups.go")
		})
	}
}

func TestRenameFixupNoLongerMatching(t *testing.T) {
	f := fixupNamed(t, "platform-iommu-address-width-bits-name")
	for name, doc := range map[string]string{
		"already renamed": "components:\n  schemas:\n    PlatformConfig:\n      properties:\n        iommu_address_width_bits:\n          type: integer\n",
		"property gone":   "components:\n  schemas:\n    PlatformConfig:\n      properties:\n        num_pci_segments:\n          type: integer\n",
		"schema gone":     "components:\n  schemas:\n    VmConfig:\n      type: object\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := applyFixups("v48.0", parseYAML(t, doc), []fixup{f})
			require.ErrorIs(t, err, errFixupNoMatch)
			assert.Contains(t, err.Error(), f.Name)
		})
	}
}

func TestRenamePathNoLongerMatching(t *testing.T) {
	for name, doc := range map[string]string{
		"already renamed": "paths:\n  /vm.nmi:\n    put: {}\n",
		"route gone":      "paths:\n  /vm.info:\n    get: {}\n",
		"no paths":        "components: {}\n",
	} {
		t.Run(name, func(t *testing.T) {
			err := renamePath("/vmm.nmi", "/vm.nmi")(parseYAML(t, doc))
			require.ErrorIs(t, err, errFixupNoMatch)
		})
	}
}

func TestReplaceFormatNoLongerMatching(t *testing.T) {
	f := fixupNamed(t, "vm-counters-uint64")
	for name, doc := range map[string]string{
		"already uint64": "components:\n  schemas:\n    VmCounters:\n      additionalProperties:\n        additionalProperties:\n          type: integer\n          format: uint64\n",
		"no format":      "components:\n  schemas:\n    VmCounters:\n      additionalProperties:\n        additionalProperties:\n          type: integer\n",
		"schema gone":    "components:\n  schemas:\n    VmConfig:\n      type: object\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := applyFixups("v53.0", parseYAML(t, doc), []fixup{f})
			require.ErrorIs(t, err, errFixupNoMatch)
			assert.Contains(t, err.Error(), "vm-counters-uint64")
		})
	}
}

func TestFixupsAreWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range fixups {
		assert.NotEmpty(t, f.Name)
		assert.False(t, seen[f.Name], "duplicate fix-up %s", f.Name)
		seen[f.Name] = true
		assert.NotEmpty(t, f.Tags, f.Name)
		for _, tag := range f.Tags {
			assert.Regexp(t, tagRE, tag, f.Name)
		}
		assert.NotEmpty(t, f.Description, f.Name)
		assert.NotNil(t, f.Apply, f.Name)
	}
}

// TestFixupsMatchTheOfficialSpecs applies every fix-up to the official spec of
// each tag it lists, as CI has them in ../shared/ch-specs.
func TestFixupsMatchTheOfficialSpecs(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "ch-specs")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("no official specs beside the repository (../shared/ch-specs)")
	}
	for _, f := range fixups {
		for _, tag := range f.Tags {
			raw, err := os.ReadFile(specPath(dir, tag))
			require.NoError(t, err)
			s, err := parseSpec(tag, raw)
			require.NoError(t, err)
			assert.Contains(t, s.Fixups, f.Name)
		}
	}
}
