package main

// Generation of core's version-neutral API types: the union of every embedded
// release's component schemas, and the table of which release first (and
// last) has each endpoint and schema field.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/format"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// taggedSpec is one release's spec after fix-ups, decoded from JSON.
type taggedSpec struct {
	tag string
	doc map[string]any
}

// features records, per endpoint ("PUT /vm.resize-disk") and per schema
// field ("NetConfig.offload_tso"), the first and the last release that has
// it among specs (oldest first).
type features struct {
	since map[string]string
	until map[string]string // only for features the newest release lacks
	// carried maps members the union keeps from a schema a property stopped
	// naming ("SerialConfig.iommu", from ConsoleConfig) to the last release
	// that had them there. They are no feature of any release's own schema
	// (Release.Has cannot see them), only of core's types: errors name them.
	carried map[string]string
}

// unionSpec merges specs (oldest first) into one document whose schemas have
// every property any release has (a later release's definition wins), and
// lists when each feature appeared and disappeared.
func unionSpec(specs []taggedSpec) (map[string]any, features, error) {
	if len(specs) == 0 {
		return nil, features{}, fmt.Errorf("no specs")
	}
	f := features{since: map[string]string{}, until: map[string]string{}}
	last := map[string]string{}
	union := map[string]any{
		"openapi": specs[len(specs)-1].doc["openapi"],
		"info":    specs[len(specs)-1].doc["info"],
		"paths":   map[string]any{},
	}
	schemas := map[string]any{}
	// A property whose $ref changes between releases (VmConfig.serial:
	// ConsoleConfig until v51.2, SerialConfig from v52.0) keeps in the union
	// the members of the schema it used to name that the new one lacks
	// (serial.iommu), so core's type can carry them to the old releases.
	refOf := map[string]string{}           // "Schema.prop" → schema it names
	carried := map[string]map[string]any{} // schema → members it gains
	carriedUntil := map[string]string{}    // "Schema.member" → last release
	var prevSchemas map[string]any         // the previous release's schemas
	prevTag := ""                          // and its tag
	for _, s := range specs {
		note := func(key string) {
			if _, ok := f.since[key]; !ok {
				f.since[key] = s.tag
			}
			last[key] = s.tag
		}
		paths, _ := s.doc["paths"].(map[string]any)
		for p, item := range paths {
			ops, _ := item.(map[string]any)
			for m := range ops {
				note(strings.ToUpper(m) + " " + p)
			}
		}
		comps, _ := s.doc["components"].(map[string]any)
		ss, _ := comps["schemas"].(map[string]any)
		for name, sch := range ss {
			note(name)
			m, _ := sch.(map[string]any)
			props, _ := m["properties"].(map[string]any)
			prev, _ := schemas[name].(map[string]any)
			merged := maps.Clone(m)
			if prev != nil {
				mp := map[string]any{}
				pp, _ := prev["properties"].(map[string]any)
				maps.Copy(mp, pp)
				maps.Copy(mp, props)
				if len(mp) > 0 {
					merged["properties"] = mp
				}
				// a field required only by some releases is optional in the union
				merged["required"] = intersect(prev["required"], m["required"])
			}
			for p, def := range props {
				note(name + "." + p)
				ref := refName(def)
				if ref == "" {
					continue
				}
				if old, ok := refOf[name+"."+p]; ok && old != ref {
					oldSchema, _ := prevSchemas[old].(map[string]any)
					oldProps, _ := oldSchema["properties"].(map[string]any)
					newSchema, _ := ss[ref].(map[string]any)
					newProps, _ := newSchema["properties"].(map[string]any)
					for member, mdef := range oldProps {
						if _, has := newProps[member]; has {
							continue
						}
						if carried[ref] == nil {
							carried[ref] = map[string]any{}
						}
						carried[ref][member] = mdef
						carriedUntil[ref+"."+member] = prevTag
					}
				}
				refOf[name+"."+p] = ref
			}
			schemas[name] = merged
		}
		prevSchemas, prevTag = ss, s.tag
	}
	for name, members := range carried {
		m := schemas[name].(map[string]any)
		props, _ := m["properties"].(map[string]any)
		for member, def := range members {
			if _, has := props[member]; !has {
				props[member] = def
			}
		}
	}
	newest := specs[len(specs)-1].tag
	for k, v := range last {
		if v != newest {
			f.until[k] = v
		}
	}
	for k, v := range f.since {
		if v == specs[0].tag {
			delete(f.since, k)
		}
	}
	f.carried = carriedUntil
	for _, sch := range schemas {
		m := sch.(map[string]any)
		if req, ok := m["required"].([]any); ok && len(req) == 0 {
			delete(m, "required")
		}
		props, _ := m["properties"].(map[string]any)
		for _, p := range props {
			pm, _ := p.(map[string]any)
			// Lists and nested objects need no pointer to keep a zero value.
			if pm["type"] == "array" {
				pm["x-go-type-skip-optional-pointer"] = true
			}
		}
	}
	union["components"] = map[string]any{"schemas": schemas}
	return union, f, nil
}

// refName returns the component schema a property definition refers to
// ("#/components/schemas/SerialConfig" → "SerialConfig"), or "".
func refName(def any) string {
	m, _ := def.(map[string]any)
	ref, _ := m["$ref"].(string)
	return strings.TrimPrefix(ref, "#/components/schemas/")
}

func intersect(a, b any) []any {
	as, _ := a.([]any)
	bs, _ := b.([]any)
	var out []any
	for _, x := range as {
		if slices.Contains(bs, x) {
			out = append(out, x)
		}
	}
	return out
}

// coreDir is where core's generated files go, relative to the root.
const coreDir = "core"

// coreTypesConfig makes core's version-neutral types: models only, Go names
// with initialisms (VMConfig, not VmConfig).
const coreTypesConfig = `package: api
generate:
  models: true
output-options:
  skip-prune: true
  name-normalizer: ToCamelCaseWithInitialisms
compatibility:
  always-prefix-enum-values: true
output: %s
`

// generateCore writes core/api/api.gen.go (the union of every version module's
// schemas as plain Go types) and core/features.gen.go (which release first
// and last has each endpoint, schema and field).
func (r repo) generateCore(ctx context.Context, specsDir string) error {
	names, err := r.modules(nil)
	if err != nil {
		return err
	}
	var specs []taggedSpec
	var sources []string
	for _, name := range names {
		lock, err := readSpecLock(r.moduleDir(name))
		if err != nil {
			return err
		}
		s, err := loadLockedSpec(specsDir, lock)
		if err != nil {
			return err
		}
		js, err := s.JSON()
		if err != nil {
			return err
		}
		var doc map[string]any
		if err := json.Unmarshal(js, &doc); err != nil {
			return fmt.Errorf("the %s spec: %w", s.Tag, err)
		}
		specs = append(specs, taggedSpec{tag: s.Tag, doc: doc})
		sources = append(sources, fmt.Sprintf("//   %s sha256 %s (fix-ups: %s)", s.Tag, s.SHA256, fixupList(s.Fixups)))
	}
	union, feats, err := unionSpec(specs)
	if err != nil {
		return err
	}
	doc, err := json.MarshalIndent(union, "", " ")
	if err != nil {
		return err
	}
	code, err := r.oapiCodegen(ctx, doc, "union.json", coreTypesConfig)
	if err != nil {
		return fmt.Errorf("oapi-codegen on the union of the specs: %w", err)
	}
	m := oapiVersionRE.FindSubmatch(code)
	i := bytes.Index(code, []byte("\npackage api\n"))
	if m == nil || i < 0 {
		return fmt.Errorf("oapi-codegen output for core has no version header or package clause")
	}
	header := fmt.Sprintf(`// Code generated by apigen with github.com/oapi-codegen/oapi-codegen/v2 version %s. DO NOT EDIT.
//
// Package api holds the version-neutral types of Cloud Hypervisor's REST
// API that core's Hypervisor takes and returns: every component schema of
// every version module's spec, each with the union of the properties the
// releases give it (a later release's definition wins). A member a
// release lacks is refused by core for that release, never dropped.
// Sources:
%s
// Regenerate with: make generate
`, m[1], strings.Join(sources, "\n"))
	api, err := format.Source(append([]byte(header), code[i:]...))
	if err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `// Code generated by apigen from the specs of %s. DO NOT EDIT.
// Regenerate with: make generate

package core

// featureSince maps each endpoint ("PUT /vm.resize-disk"), schema
// ("VmResizeDisk") and schema field ("NetConfig.offload_tso") that the
// oldest embedded release (%s) lacks to the first release that has it.
var featureSince = map[string]string{
`, strings.Join(tagsOf(specs), ", "), specs[0].tag)
	writeMap(&b, feats.since)
	fmt.Fprintf(&b, `}

// featureUntil maps each endpoint, schema and schema field that the newest
// embedded release (%s) no longer has to the last release that has it.
var featureUntil = map[string]string{
`, specs[len(specs)-1].tag)
	writeMap(&b, feats.until)
	b.WriteString(`}

// carriedUntil maps each member core's types keep from a schema that a
// property of a later release no longer names (VmConfig.serial was a
// ConsoleConfig, then a SerialConfig) to the last release that had it.
var carriedUntil = map[string]string{
`)
	writeMap(&b, feats.carried)
	b.WriteString("}\n")
	features, err := format.Source(b.Bytes())
	if err != nil {
		return err
	}
	for file, data := range map[string][]byte{filepath.Join("api", "api.gen.go"): api, "features.gen.go": features} {
		path := filepath.Join(r.root, coreDir, file)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := writeIfChanged(path, data); err != nil {
			return err
		}
	}
	return r.generateAdvisories(tagsOf(specs))
}

func tagsOf(specs []taggedSpec) []string {
	tags := make([]string, len(specs))
	for i, s := range specs {
		tags[i] = s.tag
	}
	return tags
}

func writeMap(b *bytes.Buffer, m map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(b, "\t%q: %q,\n", k, m[k])
	}
}
