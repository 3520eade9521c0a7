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
		Name: "v52-generic-vhost-user-queue-sizes-name",
		Tags: []string{"v52.0"},
		Description: "GenericVhostUserConfig.queue_size is named queue_sizes by the server " +
			"(vmm/src/vm_config.rs: queue_sizes: Vec<u16>, required by serde; the spec's own " +
			"required list says queue_sizes, and the v53.0 spec has it right): a client " +
			"following the spec sends a member the server ignores and the device is refused " +
			"for a missing one; the property is renamed queue_sizes.",
		Apply: renameProperty("queue_size", "queue_sizes", "components", "schemas", "GenericVhostUserConfig"),
	},
	{
		Name: "v52-generic-vhost-user-device-type-name",
		Tags: []string{"v52.0"},
		Description: "GenericVhostUserConfig.virtio_id is named device_type by the server " +
			"(vmm/src/vm_config.rs: device_type: u32, required by serde; the v53.0 spec has " +
			"it right): the property, and its entry in the required list, are renamed device_type.",
		Apply: renameProperty("virtio_id", "device_type", "components", "schemas", "GenericVhostUserConfig"),
	},
	{
		Name: "v52-generic-vhost-user-required-tag",
		Tags: []string{"v52.0"},
		Description: "GenericVhostUserConfig's required list names tag, which neither its " +
			"properties nor the server's GenericVhostUserConfig have (a leftover of FsConfig; " +
			"the v53.0 spec dropped it): a validator following the spec refuses every body; " +
			"tag leaves the required list.",
		Apply: removeRequired("tag", "components", "schemas", "GenericVhostUserConfig"),
	},
	{
		Name: "generic-vhost-user-member-name",
		Tags: []string{"v52.0", "v53.0"},
		Description: "VmConfig.generic-vhost-user is named generic_vhost_user by the server " +
			"(vmm/src/vm_config.rs, no serde rename): serde ignores the spec's name, so a " +
			"client following the spec loses its generic vhost-user devices silently; the " +
			"property is renamed generic_vhost_user.",
		Apply: renameProperty("generic-vhost-user", "generic_vhost_user", "components", "schemas", "VmConfig"),
	},
	{
		Name: "memory-zone-mergeable-not-read",
		Tags: []string{"v48.0", "v49.0", "v50.2", "v51.2"},
		Description: "MemoryZoneConfig.mergeable is no member of these servers' MemoryZoneConfig " +
			"(vmm/src/vm_config.rs; the v52.0 server adds it): serde ignores it, so a client " +
			"following the spec loses the setting silently; the property is removed, and core " +
			"refuses it on these releases instead.",
		Apply: removeProperty("mergeable", "components", "schemas", "MemoryZoneConfig"),
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
		Name: "vm-counters-uint64",
		Tags: []string{"v48.0", "v49.0", "v50.2", "v51.2", "v52.0", "v53.0"},
		Description: "VmCounters values are `format: int64`, but the server writes u64 counters " +
			"(virtio-devices: HashMap<&str, Wrapping<u64>>) and a disk's latency counters hold " +
			"u64::MAX (18446744073709551615) until its first request, which no int64 holds: " +
			"decoding GET /vm.counters failed for every VM with a disk (real CH v48.0 to v53.0). " +
			"The format becomes uint64.",
		Apply: replaceFormat("int64", "uint64", "components", "schemas", "VmCounters", "additionalProperties", "additionalProperties"),
	},
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
// in the schema at path, keeping its definition and place, and renames it
// in the schema's required list too.
func renameProperty(from, to string, path ...string) func(*yaml.Node) error {
	return func(root *yaml.Node) error {
		schema := mapPath(root, path...)
		props, err := schemaProperties(schema, path)
		if err != nil {
			return err
		}
		where := strings.Join(path, ".")
		if mapGet(props, to) != nil {
			return fmt.Errorf("%w: %s already has %s", errFixupNoMatch, where, to)
		}
		for i := 0; i+1 < len(props.Content); i += 2 {
			if props.Content[i].Value == from {
				props.Content[i].Value = to
				if req := mapGet(schema, "required"); req != nil && req.Kind == yaml.SequenceNode {
					for _, r := range req.Content {
						if r.Value == from {
							r.Value = to
						}
					}
				}
				return nil
			}
		}
		return fmt.Errorf("%w: %s has no property %s", errFixupNoMatch, where, from)
	}
}

// removeProperty returns a fix-up function that removes property name
// from the schema at path (and from its required list).
func removeProperty(name string, path ...string) func(*yaml.Node) error {
	return func(root *yaml.Node) error {
		schema := mapPath(root, path...)
		props, err := schemaProperties(schema, path)
		if err != nil {
			return err
		}
		for i := 0; i+1 < len(props.Content); i += 2 {
			if props.Content[i].Value == name {
				props.Content = slices.Delete(props.Content, i, i+2)
				if req := mapGet(schema, "required"); req != nil && req.Kind == yaml.SequenceNode {
					req.Content = slices.DeleteFunc(req.Content, func(n *yaml.Node) bool { return n.Value == name })
				}
				return nil
			}
		}
		return fmt.Errorf("%w: %s has no property %s", errFixupNoMatch, strings.Join(path, "."), name)
	}
}

// removeRequired returns a fix-up function that removes name from the
// required list of the schema at path, where no property defines it.
func removeRequired(name string, path ...string) func(*yaml.Node) error {
	return func(root *yaml.Node) error {
		schema := mapPath(root, path...)
		where := strings.Join(path, ".")
		if mapGet(mapGet(schema, "properties"), name) != nil {
			return fmt.Errorf("%w: %s has a property %s", errFixupNoMatch, where, name)
		}
		req := mapGet(schema, "required")
		if req == nil || req.Kind != yaml.SequenceNode ||
			!slices.ContainsFunc(req.Content, func(n *yaml.Node) bool { return n.Value == name }) {
			return fmt.Errorf("%w: %s does not require %s", errFixupNoMatch, where, name)
		}
		req.Content = slices.DeleteFunc(req.Content, func(n *yaml.Node) bool { return n.Value == name })
		return nil
	}
}

// replaceFormat returns a fix-up function for the integer schema at path
// whose `format` is from: it becomes to.
func replaceFormat(from, to string, path ...string) func(*yaml.Node) error {
	return func(root *yaml.Node) error {
		where := strings.Join(path, ".")
		format := mapGet(mapPath(root, path...), "format")
		if format == nil || format.Value != from {
			got := "<none>"
			if format != nil {
				got = format.Value
			}
			return fmt.Errorf("%w: %s.format is %s, want %s", errFixupNoMatch, where, got, from)
		}
		format.Value = to
		return nil
	}
}

// schemaProperties returns the properties mapping of schema (found at path).
func schemaProperties(schema *yaml.Node, path []string) (*yaml.Node, error) {
	props := mapGet(schema, "properties")
	if props == nil || props.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: %s has no properties", errFixupNoMatch, strings.Join(path, "."))
	}
	return props, nil
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
		if !slices.Contains(f.Tags, tag) {
			continue
		}
		if err := f.Apply(root); err != nil {
			return nil, fmt.Errorf("fix-up %s on the %s spec: %w; update or remove it in apigen/fixups.go", f.Name, tag, err)
		}
		applied = append(applied, f.Name)
	}
	return applied, nil
}
