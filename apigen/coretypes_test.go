package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func specDoc(t *testing.T, s string) map[string]any {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &doc))
	return doc
}

// TestUnionSpec: the union has every member of every release, knows when
// each appeared and disappeared, and keeps the members of a schema a
// property stopped naming (VmConfig.serial: ConsoleConfig → SerialConfig).
func TestUnionSpec(t *testing.T) {
	v1 := specDoc(t, `{"openapi":"3.0.1","info":{"version":"0.3.0"},
	  "paths":{"/vm.info":{"get":{}},"/vmm.nmi":{"put":{}}},
	  "components":{"schemas":{
	    "VmConfig":{"required":["payload","serial"],"properties":{"payload":{"type":"string"},"serial":{"$ref":"#/components/schemas/ConsoleConfig"}}},
	    "ConsoleConfig":{"properties":{"mode":{"type":"string"},"iommu":{"type":"boolean"}}},
	    "NetConfig":{"properties":{"tap":{"type":"string"}}}}}}`)
	v2 := specDoc(t, `{"openapi":"3.0.1","info":{"version":"0.3.0"},
	  "paths":{"/vm.info":{"get":{}},"/vm.nmi":{"put":{}}},
	  "components":{"schemas":{
	    "VmConfig":{"required":["payload"],"properties":{"payload":{"type":"string"},"serial":{"$ref":"#/components/schemas/SerialConfig"},"disks":{"type":"array","items":{"type":"string"}}}},
	    "ConsoleConfig":{"properties":{"mode":{"type":"string"},"iommu":{"type":"boolean"},"id":{"type":"string"}}},
	    "SerialConfig":{"properties":{"mode":{"type":"string"}}},
	    "NetConfig":{"properties":{"tap":{"type":"string"},"offload_tso":{"type":"boolean"}}}}}}`)

	union, f, err := unionSpec([]taggedSpec{{tag: "v1.0", doc: v1}, {tag: "v2.0", doc: v2}})
	require.NoError(t, err)

	schemas := union["components"].(map[string]any)["schemas"].(map[string]any)
	props := func(name string) []string {
		var keys []string
		for k := range schemas[name].(map[string]any)["properties"].(map[string]any) {
			keys = append(keys, k)
		}
		return keys
	}
	assert.ElementsMatch(t, []string{"tap", "offload_tso"}, props("NetConfig"))
	assert.ElementsMatch(t, []string{"mode", "iommu"}, props("SerialConfig"), "serial keeps ConsoleConfig's iommu")
	assert.ElementsMatch(t, []string{"payload", "serial", "disks"}, props("VmConfig"))
	assert.Equal(t, []any{"payload"}, schemas["VmConfig"].(map[string]any)["required"], "required only where every release requires it")
	disks := schemas["VmConfig"].(map[string]any)["properties"].(map[string]any)["disks"].(map[string]any)
	assert.Equal(t, true, disks["x-go-type-skip-optional-pointer"], "lists need no pointer")

	assert.Equal(t, map[string]string{
		"PUT /vm.nmi": "v2.0", "NetConfig.offload_tso": "v2.0", "VmConfig.disks": "v2.0",
		"ConsoleConfig.id": "v2.0", "SerialConfig": "v2.0", "SerialConfig.mode": "v2.0",
	}, f.since)
	assert.Equal(t, map[string]string{"PUT /vmm.nmi": "v1.0"}, f.until)
	assert.Equal(t, map[string]string{"SerialConfig.iommu": "v1.0"}, f.carried)
}
