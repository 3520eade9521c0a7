package main

// Knowledge: one release's spec (after fix-ups) and its server's facts
// merged member by member, for the comparison of compare.go and for
// generators that need the server's truth per release (defaults, serde
// required-ness, accepted names, enum values, cfg gates). A generator of
// per-release tables reads it as `apigen generate` does:
//
//	f, err := loadFacts(filepath.Join(root, factsDir), s.Tag) // s: a fixed-up spec (loadLockedSpec)
//	k, err := newReleaseKnowledge(s, f)
//	m := k.schema("CpusConfig").member("max_phys_bits")
//	// m.JSON, m.Aliases, m.Required (serde), m.Default.Value (46), m.ServerEnum, m.Features
//
// Members are keyed by the spec's property name (after fix-ups); a member
// only the server has is keyed by its JSON name, with InSpec false.

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// schemaRustNames maps the spec's component schemas to the server's Rust
// types where their names differ; every other schema has a type of its own
// name (or none: a difference of kind diffSchemaNotInServer).
var schemaRustNames = map[string]string{
	"ConsoleMode":          "ConsoleOutputMode",
	"CoreSchedulingMode":   "CoreScheduling",
	"LockGranularity":      "LockGranularityChoice",
	"RateLimitGroupConfig": "RateLimiterGroupConfig",
	"ReceiveMigrationData": "VmReceiveMigrationData",
	"SendMigrationData":    "VmSendMigrationData",
	"TokenBucket":          "TokenBucketConfig",
	"VmAddUserDevice":      "UserDeviceConfig",
	"VmInfo":               "VmInfoResponse",
	"VmRemoveDevice":       "VmRemoveDeviceData",
	"VmResize":             "VmResizeData",
	"VmResizeDisk":         "VmResizeDiskData",
	"VmResizeZone":         "VmResizeZoneData",
}

// rustTypeName returns the Rust type of spec schema name.
func rustTypeName(schema string) string {
	if r, ok := schemaRustNames[schema]; ok {
		return r
	}
	return schema
}

// releaseKnowledge is what apigen knows of one release: its spec and its
// server, merged.
type releaseKnowledge struct {
	Tag     string
	Schemas []schemaKnowledge // by spec schema name
	Routes  []routeKnowledge  // by path, then method
}

// schemaKnowledge is one spec component schema and the server type it
// corresponds to.
type schemaKnowledge struct {
	Schema string // the spec's name
	Rust   string // the server's Rust type; "" when the server has none
	File   string // where the Rust type is defined
	// Request: the type is read from a request body (so the spec's required
	// compares with serde's); otherwise it is only written in responses
	// (and required compares with always written).
	Request bool
	// DenyUnknownFields: the server refuses members it does not know
	// instead of ignoring them.
	DenyUnknownFields bool
	// Members are the spec's properties and the server's members, by name.
	Members []memberKnowledge
	// RequiredUndefined lists names the spec's required list has but its
	// properties lack.
	RequiredUndefined []string
	// SpecEnum and ServerEnum: the values of an enum schema and of the
	// server's enum (unit variants' JSON names and aliases).
	SpecEnum, ServerEnum []string
	// ServerEnumType says the Rust type is an enum.
	ServerEnumType bool
}

// memberKnowledge is one member of a schema: a spec property, a server
// member, or both.
type memberKnowledge struct {
	Name     string // the spec's property name; the server's JSON name when the spec lacks it
	InSpec   bool
	InServer bool

	JSON      string   // the name serde reads
	Aliases   []string // further names serde reads
	RustField string   // "payload"; "pci_common.iommu" for a flattened member
	RustType  string   // as written: Option<PayloadConfig>

	SpecRequired bool
	// Required: serde refuses a body without it (see fieldFact.Required);
	// a flattened member is required when its field is not an Option.
	Required bool
	// AlwaysSerialized: the server writes it in every answer (not skipped,
	// no skip_serializing_if, not an Option under skip_serializing_none).
	AlwaysSerialized bool
	Default          *defaultFact // what the server uses when it is missing

	SpecEnum   []string // the property's enum values (its items' for an array)
	ServerEnum []string // the JSON values of the member's enum type

	Cfg      string   // the cfg predicate gating the member in the server
	Features []string // the cargo features it needs
}

// routeKnowledge is one method of one path, in the spec or the server.
type routeKnowledge struct {
	Method, Path      string
	InSpec, InServer  bool
	Request, Response string // server Rust types of the bodies
	Cfg               string // the cfg predicate gating the route in the server
	Features          []string
}

// newReleaseKnowledge merges spec s (fixed up) with server facts f.
func newReleaseKnowledge(s *spec, f *chFacts) (*releaseKnowledge, error) {
	js, err := s.JSON()
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil {
		return nil, fmt.Errorf("the %s spec: %w", s.Tag, err)
	}
	k := &releaseKnowledge{Tag: s.Tag}
	eps, err := s.Endpoints()
	if err != nil {
		return nil, err
	}
	k.Routes = mergeRoutes(eps, f)
	comps, _ := doc["components"].(map[string]any)
	schemas, _ := comps["schemas"].(map[string]any)
	names := make([]string, 0, len(schemas))
	for name := range schemas {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		sch, _ := schemas[name].(map[string]any)
		sk, err := mergeSchema(name, sch, f)
		if err != nil {
			return nil, fmt.Errorf("%s: schema %s: %w", s.Tag, name, err)
		}
		k.Schemas = append(k.Schemas, sk)
	}
	return k, nil
}

// schema returns the knowledge of spec schema name, or nil.
func (k *releaseKnowledge) schema(name string) *schemaKnowledge {
	return find(k.Schemas, func(s *schemaKnowledge) bool { return s.Schema == name })
}

// member returns the knowledge of member name, or nil.
func (s *schemaKnowledge) member(name string) *memberKnowledge {
	return find(s.Members, func(m *memberKnowledge) bool { return m.Name == name })
}

// mergeRoutes pairs the spec's operations with the server's routes.
func mergeRoutes(eps []endpoint, f *chFacts) []routeKnowledge {
	byKey := map[string]*routeKnowledge{}
	get := func(method, path string) *routeKnowledge {
		key := path + " " + method
		if byKey[key] == nil {
			byKey[key] = &routeKnowledge{Method: method, Path: path}
		}
		return byKey[key]
	}
	for _, ep := range eps {
		get(ep.Method, ep.Path).InSpec = true
	}
	for _, rf := range f.Routes {
		for _, m := range rf.Methods {
			r := get(m, rf.Path)
			r.InServer = true
			r.Request, r.Response, r.Cfg, r.Features = rf.Request, rf.Response, rf.Cfg, rf.Features
		}
	}
	var out []routeKnowledge
	for _, r := range byKey {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// serverMember is one JSON member of a server type, flattening resolved.
type serverMember struct {
	field            *fieldFact
	rustField        string
	required         bool
	alwaysSerialized bool
	cfgText          string
	features         []string
}

// serverMembers returns the JSON members of the definitions of one Rust
// type (several when it is defined once per target arch), with flattened
// fields replaced by their type's members.
func serverMembers(f *chFacts, defs []*typeFact, depth int) ([]serverMember, error) {
	if depth > 8 {
		return nil, fmt.Errorf("flattened types nest too deep")
	}
	var out []serverMember
	seen := map[string]bool{}
	add := func(m serverMember) {
		if !seen[m.field.JSON] {
			seen[m.field.JSON] = true
			out = append(out, m)
		}
	}
	for _, t := range defs {
		if len(t.SerializeFields) > 0 && !slices.Contains(t.Derives, "Serialize") {
			// written by a hand-made Serialize only
			for _, name := range t.SerializeFields {
				add(serverMember{field: &fieldFact{Rust: name, JSON: name}, rustField: name, alwaysSerialized: true})
			}
			continue
		}
		for i := range t.Fields {
			fld := &t.Fields[i]
			if fld.Skip == "skip" {
				continue
			}
			if fld.Flatten {
				inner := f.typesNamed(namedTypeOf(fld.Type))
				if len(inner) == 0 {
					return nil, fmt.Errorf("%s.%s flattens %s, which the facts lack", t.Name, fld.Rust, fld.Type)
				}
				sub, err := serverMembers(f, inner, depth+1)
				if err != nil {
					return nil, err
				}
				for _, m := range sub {
					m.rustField = fld.Rust + "." + m.rustField
					m.required = m.required && !fld.Option
					m.cfgText = joinCfg(fld.Cfg, m.cfgText)
					m.features = unionSorted(fld.Features, m.features)
					add(m)
				}
				continue
			}
			if fld.JSON == "" {
				continue
			}
			always := fld.Skip != "skip_serializing" && fld.SkipSerializingIf == "" && !(fld.Option && t.SkipSerializingNone)
			add(serverMember{field: fld, rustField: fld.Rust, required: fld.Required, alwaysSerialized: always,
				cfgText: joinCfg(t.Cfg, fld.Cfg), features: unionSorted(t.Features, fld.Features)})
		}
	}
	return out, nil
}

// joinCfg is the conjunction of two cfg predicates as text.
func joinCfg(a, b string) string {
	switch {
	case a == "" || a == b:
		return b
	case b == "":
		return a
	}
	return "all(" + a + ", " + b + ")"
}

// unionSorted returns the sorted union of two sorted lists.
func unionSorted(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// namedTypeOf returns the first type a type names that is not a wrapper
// (Option, Box, Vec, Arc, collections): Option<Box<[NumaConfig]>> → NumaConfig.
func namedTypeOf(typ string) string {
	toks, err := lexRust(typ)
	if err != nil {
		return ""
	}
	for _, p := range typePaths(toks) {
		name := p[len(p)-1]
		if nullDefaultTypes[name] || wrapperTypes[name] || listDefaultTypes[name] {
			continue
		}
		return name
	}
	return ""
}

// enumValues returns the JSON names (and aliases) of an enum's unit
// variants that serde reads, in order.
func enumValues(defs []*typeFact) []string {
	var out []string
	for _, t := range defs {
		for _, v := range t.Variants {
			if v.Form != "unit" || v.Skip == "skip" || v.Skip == "skip_deserializing" {
				continue
			}
			for _, name := range append([]string{v.JSON}, v.Aliases...) {
				if !slices.Contains(out, name) {
					out = append(out, name)
				}
			}
		}
	}
	return out
}

// memberEnum returns the enum values of a member's type, if it is an enum.
func memberEnum(f *chFacts, typ string) []string {
	defs := f.typesNamed(namedTypeOf(typ))
	if len(defs) == 0 || defs[0].Kind != "enum" {
		return nil
	}
	return enumValues(defs)
}

// specStrings reads a spec list of strings (required, enum).
func specStrings(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// mergeSchema merges spec schema name (its JSON form sch) with its server type.
func mergeSchema(name string, sch map[string]any, f *chFacts) (schemaKnowledge, error) {
	sk := schemaKnowledge{Schema: name, SpecEnum: specStrings(sch["enum"])}
	props, _ := sch["properties"].(map[string]any)
	required := specStrings(sch["required"])
	for _, r := range required {
		if _, ok := props[r]; !ok {
			sk.RequiredUndefined = append(sk.RequiredUndefined, r)
		}
	}
	members := map[string]*memberKnowledge{}
	for p, def := range props {
		pm, _ := def.(map[string]any)
		enum := specStrings(pm["enum"])
		if items, ok := pm["items"].(map[string]any); ok && enum == nil {
			enum = specStrings(items["enum"])
		}
		members[p] = &memberKnowledge{Name: p, InSpec: true, SpecRequired: slices.Contains(required, p), SpecEnum: enum}
	}
	defs := f.typesNamed(rustTypeName(name))
	if len(defs) > 0 {
		t := defs[0]
		sk.Rust, sk.File = t.Name, t.File
		sk.Request = slices.ContainsFunc(defs, func(t *typeFact) bool { return slices.Contains(t.UsedIn, "request") })
		sk.DenyUnknownFields = t.DenyUnknownFields
		if t.Kind == "enum" {
			sk.ServerEnumType = true
			sk.ServerEnum = enumValues(defs)
		} else {
			sms, err := serverMembers(f, defs, 0)
			if err != nil {
				return sk, err
			}
			for _, sm := range sms {
				// every spec property the member accepts (its name or an
				// alias) is the member; without one, it is the server's alone
				var ms []*memberKnowledge
				for _, name := range append([]string{sm.field.JSON}, sm.field.Aliases...) {
					if m := members[name]; m != nil {
						ms = append(ms, m)
					}
				}
				if len(ms) == 0 {
					m := &memberKnowledge{Name: sm.field.JSON}
					members[sm.field.JSON] = m
					ms = append(ms, m)
				}
				for _, m := range ms {
					m.InServer = true
					m.JSON, m.Aliases, m.RustField, m.RustType = sm.field.JSON, sm.field.Aliases, sm.rustField, sm.field.Type
					m.Required, m.AlwaysSerialized, m.Default = sm.required, sm.alwaysSerialized, sm.field.Default
					m.Cfg, m.Features = sm.cfgText, sm.features
					m.ServerEnum = memberEnum(f, sm.field.Type)
				}
			}
		}
	}
	for _, m := range members {
		sk.Members = append(sk.Members, *m)
	}
	sort.Slice(sk.Members, func(i, j int) bool { return sk.Members[i].Name < sk.Members[j].Name })
	return sk, nil
}

// describeMember names a server member for messages: "VmConfig.payload
// (Option<PayloadConfig>, vmm/src/vm_config.rs)".
func describeMember(sk *schemaKnowledge, m *memberKnowledge) string {
	return fmt.Sprintf("%s.%s (%s, %s)%s", sk.Rust, m.RustField, m.RustType, sk.File, gateText(m.Cfg))
}

// joinQuoted renders names for a message: `a`, `b`.
func joinQuoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "`" + n + "`"
	}
	return strings.Join(q, ", ")
}
