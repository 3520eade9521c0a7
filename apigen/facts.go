package main

// Facts: what a Cloud Hypervisor server really routes and deserializes, read
// from its Rust source at a release tag (`apigen facts`, factsextract.go) and
// committed as apigen/facts/<tag>.json, so that `apigen generate` can compare
// each release's spec with its server (compare.go) without the CH source.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// factsFormat is the version of the facts file format; loadFacts refuses
// another one.
const factsFormat = 1

// factsDir is where the facts files live, relative to the repository root.
const factsDir = "apigen/facts"

// chFacts is the content of one facts file: the server of one release.
type chFacts struct {
	Format int    `json:"format"`
	Tag    string `json:"tag"`    // release tag, "v48.0"
	Commit string `json:"commit"` // the commit the tag names
	// Routes are the endpoints the HTTP server routes, sorted by path.
	Routes []routeFact `json:"routes"`
	// Types are the Rust types the routes take or return and every type
	// their members use that is defined in the repository, sorted by name
	// (then file: a name defined once per target arch appears twice).
	Types []typeFact `json:"types"`
	// External lists the types API types use that are defined outside the
	// repository (std, other crates), by path where a use declaration names
	// it; prelude and primitive types are left out.
	External []string `json:"external,omitempty"`
}

// A routeFact is one endpoint of vmm/src/api/http/mod.rs.
type routeFact struct {
	Path     string   `json:"path"`               // "/vm.add-disk" (under /api/v1)
	Methods  []string `json:"methods"`            // the methods its handler serves, sorted: ["PUT"]
	Handler  string   `json:"handler"`            // "VmActionHandler", or a special handler: "VmCreate"
	Action   string   `json:"action,omitempty"`   // the API action it sends: "AddDisk"
	Body     string   `json:"body,omitempty"`     // PUT: "json" (a JSON body is read), "none" (a body is refused)
	Request  string   `json:"request,omitempty"`  // Rust type of the JSON body
	Response string   `json:"response,omitempty"` // Rust type of the JSON body of a success
	Cfg      string   `json:"cfg,omitempty"`      // the cfg predicate that gates the route
	Features []string `json:"features,omitempty"` // the cargo features it needs
}

// A typeFact is one Rust struct, enum or type alias and its serde shape.
type typeFact struct {
	Name     string   `json:"name"`
	File     string   `json:"file"`
	Kind     string   `json:"kind"`               // "struct", "tuple", "unit", "enum", "alias"
	Target   string   `json:"target,omitempty"`   // alias: the aliased type
	Cfg      string   `json:"cfg,omitempty"`      // the cfg predicate that gates the definition
	Features []string `json:"features,omitempty"` // the cargo features it needs
	UsedIn   []string `json:"used_in"`            // "request" (reached from a request body), "response"
	Derives  []string `json:"derives,omitempty"`  // Serialize, Deserialize, Default among its derives
	// CustomSerialize and CustomDeserialize: hand-written serde impls.
	CustomSerialize   bool `json:"custom_serialize,omitempty"`
	CustomDeserialize bool `json:"custom_deserialize,omitempty"`
	// SerializeFields are the members a custom Serialize writes
	// (serialize_field("name", …)), in order.
	SerializeFields []string `json:"serialize_fields,omitempty"`
	// DefaultImpl is "derive" or "impl" when the type implements Default.
	DefaultImpl string `json:"default_impl,omitempty"`
	// Container attributes.
	RenameAll           string `json:"rename_all,omitempty"`
	DenyUnknownFields   bool   `json:"deny_unknown_fields,omitempty"`
	Default             string `json:"default,omitempty"` // #[serde(default)]: "Default::default" or the function
	Transparent         bool   `json:"transparent,omitempty"`
	Tag                 string `json:"tag,omitempty"`      // enum representation: internally tagged by Tag,
	Content             string `json:"content,omitempty"`  // adjacently with Content,
	Untagged            bool   `json:"untagged,omitempty"` // or untagged (externally tagged when none)
	From                string `json:"from,omitempty"`     // from, try_from, into: serde goes through that type
	TryFrom             string `json:"try_from,omitempty"`
	Into                string `json:"into,omitempty"`
	SkipSerializingNone bool   `json:"skip_serializing_none,omitempty"` // #[serde_with::skip_serializing_none]
	// Fields of a struct (tuple fields are named 0, 1, …).
	Fields []fieldFact `json:"fields,omitempty"`
	// Variants of an enum.
	Variants []variantFact `json:"variants,omitempty"`
	// DefaultVariant is the JSON name of the #[default] variant of an enum.
	DefaultVariant string `json:"default_variant,omitempty"`
}

// A fieldFact is one field of a struct or a struct-like variant.
type fieldFact struct {
	Rust    string   `json:"rust"`               // Rust name
	JSON    string   `json:"json,omitempty"`     // the member name serde reads (none for a flattened field)
	JSONOut string   `json:"json_out,omitempty"` // the name serde writes, where it differs
	Aliases []string `json:"aliases,omitempty"`  // further names serde reads
	Type    string   `json:"type"`               // as written: Option<Box<[u16]>>
	Option  bool     `json:"option"`             // the type is Option<…>
	// Required: serde refuses a body without this member: the field is
	// not an Option (or is one read by deserialize_with/with), has no
	// field- or container-level default and is not skipped. A flattened
	// field is not itself required: its type's members are.
	Required          bool         `json:"required"`
	Default           *defaultFact `json:"default,omitempty"`
	Skip              string       `json:"skip,omitempty"` // "skip", "skip_deserializing" or "skip_serializing"
	SkipSerializingIf string       `json:"skip_serializing_if,omitempty"`
	Flatten           bool         `json:"flatten,omitempty"`
	DeserializeWith   string       `json:"deserialize_with,omitempty"`
	SerializeWith     string       `json:"serialize_with,omitempty"`
	With              string       `json:"with,omitempty"`
	Cfg               string       `json:"cfg,omitempty"`
	Features          []string     `json:"features,omitempty"`
	// SerdeCfg lists the predicates of cfg_attr(…, serde(…)) that apply
	// some of the serde attributes above only under a condition.
	SerdeCfg []string `json:"serde_cfg,omitempty"`
}

// A defaultFact is where a missing member's value comes from.
type defaultFact struct {
	// Source: "field" (#[serde(default)]), "fn" (#[serde(default = "f")]),
	// "container" (the struct's #[serde(default)]).
	Source string `json:"source"`
	// Fn is the function serde calls: the one named by default = "…", or
	// "<Type>::default" / "Default::default".
	Fn string `json:"fn"`
	// Value is the resolved value as JSON, where the function's body (or
	// the Default of a primitive, an Option, a collection or an enum's
	// #[default] variant) is a literal or a constant.
	Value json.RawMessage `json:"value,omitempty"`
	// Via names the constants followed to reach Value, in order.
	Via []string `json:"via,omitempty"`
}

// A variantFact is one variant of an enum.
type variantFact struct {
	Rust     string      `json:"rust"`
	JSON     string      `json:"json"`              // its name in JSON (after rename / rename_all)
	Aliases  []string    `json:"aliases,omitempty"` // further names serde reads
	Form     string      `json:"form"`              // "unit", "tuple" or "named"
	Types    []string    `json:"types,omitempty"`   // tuple: the field types
	Fields   []fieldFact `json:"fields,omitempty"`  // named: the fields
	Default  bool        `json:"default,omitempty"` // #[default]
	Skip     string      `json:"skip,omitempty"`
	Other    bool        `json:"other,omitempty"`    // #[serde(other)]
	Untagged bool        `json:"untagged,omitempty"` // #[serde(untagged)]
	Cfg      string      `json:"cfg,omitempty"`
	Features []string    `json:"features,omitempty"`
}

// factsPath returns the facts file of tag under the repository root.
func factsPath(root, tag string) string {
	return filepath.Join(root, factsDir, tag+".json")
}

// loadFacts reads and checks the facts file of release tag from dir (the
// repository's apigen/facts).
func loadFacts(dir, tag string) (*chFacts, error) {
	path := filepath.Join(dir, tag+".json")
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no facts of %s's server: %w; write them with make facts CH_SRC=<cloud-hypervisor git dir> (apigen facts -ch DIR %s) and commit %s",
			tag, err, tag, filepath.ToSlash(filepath.Join(factsDir, tag+".json")))
	}
	if err != nil {
		return nil, err
	}
	var f chFacts
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w (regenerate it with make facts)", path, err)
	}
	if f.Format != factsFormat {
		return nil, fmt.Errorf("%s has format %d, this apigen reads %d: regenerate it with make facts", path, f.Format, factsFormat)
	}
	if f.Tag != tag {
		return nil, fmt.Errorf("%s holds the facts of %s, not %s", path, f.Tag, tag)
	}
	if len(f.Routes) == 0 || len(f.Types) == 0 {
		return nil, fmt.Errorf("%s has no routes or no types: regenerate it with make facts", path)
	}
	return &f, nil
}

// bytes returns the facts file content: indented JSON, one trailing newline.
func (f *chFacts) bytes() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// typesNamed returns every definition of the Rust type name.
func (f *chFacts) typesNamed(name string) []*typeFact {
	var out []*typeFact
	for i := range f.Types {
		if f.Types[i].Name == name {
			out = append(out, &f.Types[i])
		}
	}
	return out
}

// route returns the route of path, or nil.
func (f *chFacts) route(path string) *routeFact {
	return find(f.Routes, func(r *routeFact) bool { return r.Path == path })
}

// find returns the first element of s that match accepts, or nil.
func find[T any](s []T, match func(*T) bool) *T {
	for i := range s {
		if match(&s[i]) {
			return &s[i]
		}
	}
	return nil
}

// gateText says what gates something, for messages: "" or " (only with
// cfg(feature = "igvm"))".
func gateText(cfg string) string {
	if cfg == "" {
		return ""
	}
	return " (only with cfg(" + strings.TrimSpace(cfg) + "))"
}
