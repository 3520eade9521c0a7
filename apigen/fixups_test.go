package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// v52Shape is the part of the official v52.0 spec the v52.0 fix-ups repair
// (the v53.0 spec shares its VmConfig and VmCounters defects).
const v52Shape = `
openapi: 3.0.1
paths:
  /vm.info:
    get: {}
  /vmm.nmi:
    put: {}
components:
  schemas:
    GenericVhostUserConfig:
      type: object
      properties:
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
    VmConfig:
      type: object
      properties:
        fs:
          type: array
        generic-vhost-user:
          type: array
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
	assert.Equal(t, []string{"v52-generic-vhost-user-queue-size-items-type", "v52-generic-vhost-user-virtio-id-type", "platform-iommu-address-width-bits-name", "nmi-route", "vm-config-generic-vhost-user-name", "vm-counters-uint64"}, applied)
	vmConfig := mapPath(root, "components", "schemas", "VmConfig", "properties")
	assert.Equal(t, []string{"fs", "generic_vhost_user"}, mapKeys(vmConfig), "the server's name, in place")
	counter := mapPath(root, "components", "schemas", "VmCounters", "additionalProperties", "additionalProperties")
	assert.Equal(t, "uint64", mapGet(counter, "format").Value)
	assert.Equal(t, []string{"/vm.info", "/vm.nmi"}, mapKeys(mapGet(root, "paths")), "the server's NMI route, in place")
	platform := mapPath(root, "components", "schemas", "PlatformConfig", "properties")
	assert.Equal(t, []string{"num_pci_segments", "iommu_address_width_bits"}, mapKeys(platform), "renamed in place")
	assert.Equal(t, "uint8", mapGet(mapGet(platform, "iommu_address_width_bits"), "format").Value)

	items := mapPath(root, "components", "schemas", "GenericVhostUserConfig", "properties", "queue_size", "items")
	assert.Equal(t, "integer", mapGet(items, "type").Value)
	assert.Equal(t, "uint16", mapGet(items, "format").Value)
	virtio := mapPath(root, "components", "schemas", "GenericVhostUserConfig", "properties", "virtio_id")
	assert.Equal(t, "integer", mapGet(virtio, "type").Value)
	assert.Equal(t, "uint32", mapGet(virtio, "format").Value)

	s := &spec{Tag: "v52.0", Root: root}
	js, err := s.JSON()
	require.NoError(t, err)
	assert.Contains(t, string(js), `"format": "uint16",`+"\n"+`              "type": "integer"`)
}

func TestFixupsLeaveOtherTagsAlone(t *testing.T) {
	root := parseYAML(t, v52Shape)
	applied, err := applyFixups("v53.0", root, fixups)
	require.NoError(t, err)
	assert.Equal(t, []string{"vm-config-generic-vhost-user-name", "vm-counters-uint64"}, applied, "only the fix-ups that list v53.0")
	assert.Equal(t, []string{"/vm.info", "/vmm.nmi"}, mapKeys(mapGet(root, "paths")))
	items := mapPath(root, "components", "schemas", "GenericVhostUserConfig", "properties", "queue_size", "items")
	assert.Equal(t, "uint16", mapGet(items, "type").Value)
}

func TestFixupThatNoLongerMatchesIsAnError(t *testing.T) {
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
        virtio_id:
          type: uint32
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
			_, err := applyFixups("v52.0", parseYAML(t, doc), fixups)
			require.ErrorIs(t, err, errFixupNoMatch)
			assert.Contains(t, err.Error(), "v52-generic-vhost-user-queue-size-items-type")
			assert.Contains(t, err.Error(), "apigen/fixups.go")
		})
	}
}

func TestRenameFixupNoLongerMatching(t *testing.T) {
	for name, doc := range map[string]string{
		"already renamed": "components:\n  schemas:\n    PlatformConfig:\n      properties:\n        iommu_address_width_bits:\n          type: integer\n",
		"property gone":   "components:\n  schemas:\n    PlatformConfig:\n      properties:\n        num_pci_segments:\n          type: integer\n",
		"schema gone":     "components:\n  schemas:\n    VmConfig:\n      type: object\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := applyFixups("v48.0", parseYAML(t, doc), fixups)
			require.ErrorIs(t, err, errFixupNoMatch)
			assert.Contains(t, err.Error(), "platform-iommu-address-width-bits-name")
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

// TestFixupsAndLater: a fix-up for a defect upstream has not fixed repairs
// a newer release's spec that inherits it, and leaves out one that fixed it.
func TestFixupsAndLater(t *testing.T) {
	root := parseYAML(t, v52Shape)
	applied, err := applyFixups("v54.0", root, fixups)
	require.NoError(t, err)
	assert.Equal(t, []string{"vm-config-generic-vhost-user-name", "vm-counters-uint64"}, applied)

	fixed := parseYAML(t, "components:\n  schemas:\n    VmConfig:\n      properties:\n        generic_vhost_user:\n          type: array\n")
	applied, err = applyFixups("v54.0", fixed, fixups)
	require.NoError(t, err, "a newer spec without the defects")
	assert.Empty(t, applied)

	_, err = applyFixups("v53.0", fixed, fixups)
	require.ErrorIs(t, err, errFixupNoMatch, "a listed tag must match")
}
