package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// A fixup repairs one known defect of official Cloud Hypervisor specs, in
// memory, before generation. The official file is never edited: its SHA-256
// stays the one spec.lock pins, and the generated files name every fix-up
// applied to them.
//
// A fix-up must match the spec of every tag it lists; one that no longer
// matches (the defect is gone or moved) is an error, so a stale fix-up is
// noticed and removed rather than silently kept.
type fixup struct {
	// Name identifies the fix-up in generated headers; it never changes.
	Name string
	// Tags lists the release tags whose spec has the defect.
	Tags []string
	// AndLater: the defect is not fixed upstream yet, so the spec of a
	// release newer than every tag listed may inherit it: there the fix-up
	// is applied where it matches, and left out where it does not (the
	// spec was fixed). Listed tags must match.
	AndLater bool
	// Description says what is wrong and what the fix-up does.
	Description string
	// Apply repairs the spec's top-level mapping. It returns an error
	// wrapping errFixupNoMatch when the spec does not have the defect.
	Apply func(root *yaml.Node) error
}

// errFixupNoMatch: a fix-up's target is not in the spec as the fix-up expects.
var errFixupNoMatch = errors.New("fix-up no longer matches its spec")

// fixups is the list of every fix-up, applied in this order.
var fixups = []fixup{
	{
		Name: "v52-generic-vhost-user-queue-size-items-type",
		Tags: []string{"v52.0"},
		Description: "GenericVhostUserConfig.queue_size.items has `type: uint16`, which is not an " +
			"OpenAPI type (oapi-codegen: unhandled Schema type; kin-openapi refuses it); " +
			"it becomes `type: integer, format: uint16`, as v53.0 writes it.",
		Apply: integerFormat("uint16", "components", "schemas", "GenericVhostUserConfig", "properties", "queue_size", "items"),
	},
	{
		Name: "v52-generic-vhost-user-virtio-id-type",
		Tags: []string{"v52.0"},
		Description: "GenericVhostUserConfig.virtio_id has `type: uint32`, which is not an OpenAPI " +
			"type (oapi-codegen: unhandled Schema type; kin-openapi refuses it); it becomes " +
			"`type: integer, format: uint32`.",
		Apply: integerFormat("uint32", "components", "schemas", "GenericVhostUserConfig", "properties", "virtio_id"),
	},
	{
		Name: "platform-iommu-address-width-bits-name",
		Tags: []string{"v48.0", "v49.0", "v50.2", "v51.2", "v52.0"},
		Description: "PlatformConfig.iommu_address_width is named iommu_address_width_bits by the " +
			"server (vmm/src/vm_config.rs; upstream issue #8243, fixed in the v53.0 spec): CH " +
			"ignores the spec's name, so a client following the spec loses the setting " +
			"silently; the property is renamed iommu_address_width_bits.",
		Apply: renameProperty("iommu_address_width", "iommu_address_width_bits", "components", "schemas", "PlatformConfig"),
	},
	{
		Name: "nmi-route",
		Tags: []string{"v48.0", "v49.0", "v50.2", "v51.2", "v52.0"},
		Description: "The spec's PUT /vmm.nmi is routed by every server as PUT /vm.nmi " +
			"(vmm/src/api/http/mod.rs at each tag; real CH answers /vmm.nmi with 404 " +
			"[\"Not Found\"]; the v53.0 spec has it right): the path is renamed /vm.nmi.",
		Apply: renamePath("/vmm.nmi", "/vm.nmi"),
	},
	{
		Name:     "vm-config-generic-vhost-user-name",
		Tags:     []string{"v52.0", "v53.0"},
		AndLater: true,
		Description: "VmConfig.generic-vhost-user is named generic_vhost_user by the server " +
			"(vmm/src/vm_config.rs): serde ignores the spec's name, so a config sent under it " +
			"loses its devices and vm.info reports them under a name a client following the " +
			"spec never reads; the property is renamed generic_vhost_user.",
		Apply: renameProperty("generic-vhost-user", "generic_vhost_user", "components", "schemas", "VmConfig"),
	},
	{
		Name:     "vm-counters-uint64",
		Tags:     []string{"v48.0", "v49.0", "v50.2", "v51.2", "v52.0", "v53.0"},
		AndLater: true,
		Description: "VmCounters' values are `format: int64`, but the server's counters are Rust " +
			"u64s and a latency not measured yet is u64::MAX (18446744073709551615, in every " +
			"real answer for a disk that did no I/O): a client following the spec cannot " +
			"decode vm.counters; the format becomes uint64.",
		Apply: replaceFormat("int64", "uint64", "components", "schemas", "VmCounters", "additionalProperties", "additionalProperties"),
	},
}

// replaceFormat returns a fix-up function that changes the format of the
// schema at path from from to to.
func replaceFormat(from, to string, path ...string) func(*yaml.Node) error {
	return func(root *yaml.Node) error {
		where := strings.Join(path, ".")
		format := mapGet(mapPath(root, path...), "format")
		if format == nil || format.Value != from {
			return fmt.Errorf("%w: %s has no format %s", errFixupNoMatch, where, from)
		}
		format.Value = to
		return nil
	}
}

// renamePath returns a fix-up function that renames the API path from to
// to, keeping its operations and place.
func renamePath(from, to string) func(*yaml.Node) error {
	return func(root *yaml.Node) error {
		paths := mapGet(root, "paths")
		if paths == nil || paths.Kind != yaml.MappingNode {
			return fmt.Errorf("%w: the spec has no paths", errFixupNoMatch)
		}
		if mapGet(paths, to) != nil {
			return fmt.Errorf("%w: paths already has %s", errFixupNoMatch, to)
		}
		for i := 0; i+1 < len(paths.Content); i += 2 {
			if paths.Content[i].Value == from {
				paths.Content[i].Value = to
				return nil
			}
		}
		return fmt.Errorf("%w: paths has no %s", errFixupNoMatch, from)
	}
}

// renameProperty returns a fix-up function that renames property from to to
// in the schema at path, keeping its definition and place.
func renameProperty(from, to string, path ...string) func(*yaml.Node) error {
	return func(root *yaml.Node) error {
		where := strings.Join(path, ".")
		props := mapGet(mapPath(root, path...), "properties")
		if props == nil || props.Kind != yaml.MappingNode {
			return fmt.Errorf("%w: %s has no properties", errFixupNoMatch, where)
		}
		if mapGet(props, to) != nil {
			return fmt.Errorf("%w: %s already has %s", errFixupNoMatch, where, to)
		}
		for i := 0; i+1 < len(props.Content); i += 2 {
			if props.Content[i].Value == from {
				props.Content[i].Value = to
				return nil
			}
		}
		return fmt.Errorf("%w: %s has no property %s", errFixupNoMatch, where, from)
	}
}

// integerFormat returns a fix-up function for the schema at path whose
// `type` is the invalid badType (such as uint16): it sets `type: integer`
// and `format: badType`.
func integerFormat(badType string, path ...string) func(*yaml.Node) error {
	return func(root *yaml.Node) error {
		where := strings.Join(path, ".")
		schema := mapPath(root, path...)
		if schema == nil || schema.Kind != yaml.MappingNode {
			return fmt.Errorf("%w: %s is not in the spec", errFixupNoMatch, where)
		}
		typ := mapGet(schema, "type")
		if typ == nil || typ.Value != badType {
			got := "<none>"
			if typ != nil {
				got = typ.Value
			}
			return fmt.Errorf("%w: %s.type is %s, want %s", errFixupNoMatch, where, got, badType)
		}
		if mapGet(schema, "format") != nil {
			return fmt.Errorf("%w: %s already has a format", errFixupNoMatch, where)
		}
		typ.Value, typ.Tag, typ.Style = "integer", "!!str", 0
		schema.Content = append(schema.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "format"},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: badType},
		)
		return nil
	}
}

// applyFixups applies, in order, every fix-up of list that lists tag, and
// returns their names. A fix-up that does not match is an error.
func applyFixups(tag string, root *yaml.Node, list []fixup) ([]string, error) {
	var applied []string
	for _, f := range list {
		later := f.later(tag)
		if !slices.Contains(f.Tags, tag) && !later {
			continue
		}
		if err := f.Apply(root); err != nil {
			if later && errors.Is(err, errFixupNoMatch) {
				continue // the newer spec has it right
			}
			return nil, fmt.Errorf("fix-up %s on the %s spec: %w; update or remove it in apigen/fixups.go", f.Name, tag, err)
		}
		applied = append(applied, f.Name)
	}
	return applied, nil
}

// later reports whether tag is newer than every tag f lists and f is
// applied to such tags (AndLater).
func (f fixup) later(tag string) bool {
	if !f.AndLater {
		return false
	}
	for _, t := range f.Tags {
		if !tagBefore(t, tag) {
			return false
		}
	}
	return true
}

// tagBefore reports whether release tag a ("v50.2") is older than b.
func tagBefore(a, b string) bool {
	var am, an, bm, bn int
	fmt.Sscanf(a, "v%d.%d", &am, &an)
	fmt.Sscanf(b, "v%d.%d", &bm, &bn)
	return am < bm || (am == bm && an < bn)
}
