package chsim

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The shape tables of shapes.go are a hand-written model of each release's
// serde types. apigen reads the same types from CH's Rust source at each
// tag into apigen/facts/<tag>.json (make facts); this test holds the tables
// to those facts, struct by struct and field by field, so that the two
// cannot drift apart: member names and their order, aliases, flatten, skip,
// which members serde requires, which have defaults and the value of every
// default the facts resolve (or that derive(Default) implies), the Rust
// type of every member, the variants and #[default] of every enum,
// skip_serializing_none, deny_unknown_fields, skip_serializing_if and the
// deserialize_with/serialize_with functions. It also holds the routes the
// simulator serves, and the type it reads each body into, to the facts'
// routes. Everything is compared as a release build for x86_64 sees it:
// definitions and fields behind a cfg that build lacks are left out.

// rustPrimitives are the shapes of the std types CH's API types use.
var rustPrimitives = map[string]*shape{
	"u8": tU8, "u16": tU16, "u32": tU32, "u64": tU64, "usize": tUsize, "i32": tI32, "i64": tI64,
	"NonZeroU32": tNZ32, "NonZeroU64": tNZ64, "bool": tBool, "String": tString, "PathBuf": tPath,
	"IpAddr": tIP,
}

// rustSequences are the std collections serde (de)serialises as sequences.
var rustSequences = map[string]bool{"Vec": true, "HashSet": true, "BTreeSet": true, "[]": true}

// customShapes are the types with hand-written Serialize and Deserialize
// impls, and the primitive shape that models them.
var customShapes = map[string]*shape{
	"MacAddr": tMAC, // net_util/src/mac.rs: a "xx:xx:xx:xx:xx:xx" string
}

// Attribute values this test knows how chsim models.
const skipIfFalse = "<&bool as std::ops::Not>::not"

// factsChecker compares one release's shapes with its facts.
type factsChecker struct {
	t      *testing.T
	tag    string
	shapes *shapes
	types  map[string]*factType // the release build's types, by name
	seen   map[string]bool      // structs and enums compared
	// counts
	structs, fields, enums, variants, defaultValues int
	// defaults the facts do not resolve (a function's body, a Default impl)
	unresolved []string
}

func (c *factsChecker) errorf(format string, args ...any) {
	c.t.Helper()
	c.t.Errorf(c.tag+": "+format, args...)
}

func newFactsChecker(t *testing.T, f *factsFile) *factsChecker {
	c := &factsChecker{t: t, tag: f.Tag, shapes: shapesFor(parseTag(f.Tag)), types: map[string]*factType{}, seen: map[string]bool{}}
	for i := range f.Types {
		ft := &f.Types[i]
		holds, err := cfgHolds(ft.Cfg)
		require.NoError(t, err, "%s: type %s (%s)", f.Tag, ft.Name, ft.File)
		if !holds {
			continue
		}
		if prev := c.types[ft.Name]; prev != nil {
			require.Failf(t, "a type defined twice for one build", "%s: %s in %s and %s", f.Tag, ft.Name, prev.File, ft.File)
		}
		c.types[ft.Name] = ft
	}
	return c
}

// buildFields returns the fields of ft a release build has.
func (c *factsChecker) buildFields(ft *factType) []*factField {
	var out []*factField
	for i := range ft.Fields {
		holds, err := cfgHolds(ft.Fields[i].Cfg)
		if err != nil {
			c.errorf("%s.%s: %v", ft.Name, ft.Fields[i].Rust, err)
			continue
		}
		if holds {
			out = append(out, &ft.Fields[i])
		}
	}
	return out
}

// memberKey names a field as the shapes do: its JSON name, or
// "(flatten Type)".
func memberKey(ff *factField) string {
	if ff.Flatten {
		rt, err := parseRustType(ff.Type)
		if err != nil {
			return "(flatten " + ff.Type + ")"
		}
		return "(flatten " + rt.name + ")"
	}
	return ff.JSON
}

// checkType compares shape sh with Rust type rt, at where ("VmConfig.disks").
func (c *factsChecker) checkType(where string, sh *shape, rt *rustType) {
	c.t.Helper()
	if sh == nil {
		c.errorf("%s: chsim has no shape for %s", where, rt)
		return
	}
	switch {
	case rt.name == "Option":
		if sh.kind != kindOption {
			c.errorf("%s: the server's type is %s, chsim's is no Option", where, rt)
			return
		}
		c.checkType(where, sh.elem, rt.args[0])
		return
	case rt.name == "Box": // Box<T> is T; Box<[T]> a sequence
		c.checkType(where, sh, rt.args[0])
		return
	case rustSequences[rt.name]:
		if sh.kind != kindSeq {
			c.errorf("%s: the server's type is %s, chsim's is no sequence", where, rt)
			return
		}
		c.checkType(where, sh.elem, rt.args[0])
		return
	}
	if p := rustPrimitives[rt.name]; p != nil {
		if sh.kind != p.kind || sh.name != p.name || sh.bits != p.bits {
			c.errorf("%s: the server's type is %s, chsim's is %s", where, rt, sh.describe())
		}
		return
	}
	ft := c.types[rt.name]
	if ft == nil {
		c.errorf("%s: type %s is not in the facts of a release build", where, rt)
		return
	}
	if ft.Kind == "alias" {
		target, err := parseRustType(ft.Target)
		if err != nil {
			c.errorf("%s: alias %s: %v", where, ft.Name, err)
			return
		}
		c.checkType(where, sh, target)
		return
	}
	if custom := customShapes[ft.Name]; custom != nil {
		if !ft.CustomDeserialize || !ft.CustomSerialize {
			c.errorf("%s: chsim models %s as a primitive, but the server derives its serde impls", where, ft.Name)
		}
		if sh != custom {
			c.errorf("%s: %s is modelled by %s, chsim has %s", where, ft.Name, custom.describe(), sh.describe())
		}
		return
	}
	if ft.CustomDeserialize || ft.CustomSerialize {
		c.errorf("%s: %s has hand-written serde impls: chsim must model it in customShapes", where, ft.Name)
		return
	}
	switch ft.Kind {
	case "struct":
		if sh.kind != kindStruct || sh.name != ft.Name {
			c.errorf("%s: the server's type is struct %s, chsim's is %s", where, ft.Name, sh.describe())
			return
		}
		if c.shapes.byName[ft.Name] != sh {
			c.errorf("%s: chsim's shape of %s is not the release's table entry", where, ft.Name)
		}
		c.checkStruct(ft)
	case "enum":
		if sh.kind != kindEnum || sh.name != ft.Name {
			c.errorf("%s: the server's type is enum %s, chsim's is %s", where, ft.Name, sh.describe())
			return
		}
		c.checkEnum(sh, ft)
	default:
		c.errorf("%s: %s is a %s, which chsim does not model", where, ft.Name, ft.Kind)
	}
}

// checkStruct compares the shape of struct ft with its facts.
func (c *factsChecker) checkStruct(ft *factType) {
	c.t.Helper()
	if c.seen[ft.Name] {
		return
	}
	c.seen[ft.Name] = true
	c.structs++
	sh := c.shapes.byName[ft.Name]
	name := ft.Name
	if ft.Transparent || ft.Tag != "" || ft.Untagged || ft.From != "" || ft.TryFrom != "" || ft.Into != "" || ft.Default != "" {
		c.errorf("%s: container attributes chsim does not model (transparent, tag, untagged, from, try_from, into, default)", name)
	}
	if sh.skipNone != ft.SkipSerializingNone {
		c.errorf("%s: skip_serializing_none is %v on the server, %v in chsim", name, ft.SkipSerializingNone, sh.skipNone)
	}
	if sh.denyUnknown != ft.DenyUnknownFields {
		c.errorf("%s: deny_unknown_fields is %v on the server, %v in chsim", name, ft.DenyUnknownFields, sh.denyUnknown)
	}
	if sh.defaultJSON != "" && ft.DefaultImpl != "impl" {
		c.errorf("%s: chsim has a Default impl (%s), the server's is %q", name, sh.defaultJSON, ft.DefaultImpl)
	}

	facts := c.buildFields(ft)
	var want, got []string
	byKey := map[string]*factField{}
	for _, ff := range facts {
		want = append(want, memberKey(ff))
		byKey[memberKey(ff)] = ff
	}
	for _, fl := range sh.fields {
		got = append(got, fl.name)
	}
	if !slices.Equal(want, got) {
		var missing, extra []string
		for _, w := range want {
			if !slices.Contains(got, w) {
				missing = append(missing, w)
			}
		}
		for _, g := range got {
			if !slices.Contains(want, g) {
				extra = append(extra, g)
			}
		}
		c.errorf("%s: fields differ: chsim lacks %v, has %v the server does not; server order %v, chsim order %v", name, missing, extra, want, got)
	}
	for _, fl := range sh.fields {
		if ff := byKey[fl.name]; ff != nil {
			c.checkField(name, fl, ff)
		}
	}
}

// checkField compares field fl of struct name with its facts ff.
func (c *factsChecker) checkField(name string, fl *field, ff *factField) {
	c.t.Helper()
	c.fields++
	where := name + "." + fl.name
	if ff.JSONOut != "" || ff.With != "" || len(ff.SerdeCfg) > 0 {
		c.errorf("%s: attributes chsim does not model (json_out %q, with %q, serde_cfg %v)", where, ff.JSONOut, ff.With, ff.SerdeCfg)
	}
	var aliases []string
	if fl.alias != "" {
		aliases = []string{fl.alias}
	}
	if !slices.Equal(aliases, ff.Aliases) {
		c.errorf("%s: aliases are %v on the server, %v in chsim", where, ff.Aliases, aliases)
	}
	switch ff.Skip {
	case "":
		if fl.skip {
			c.errorf("%s: chsim skips it, the server does not", where)
		}
	case "skip":
		if !fl.skip {
			c.errorf("%s: the server skips it (#[serde(skip)]), chsim does not", where)
		}
	default:
		c.errorf("%s: #[serde(%s)] is not modelled", where, ff.Skip)
	}
	switch ff.SkipSerializingIf {
	case "":
		if fl.skipFalse {
			c.errorf("%s: chsim leaves it out when false, the server always writes it", where)
		}
	case skipIfFalse:
		if !fl.skipFalse {
			c.errorf("%s: the server leaves it out when false (skip_serializing_if), chsim does not", where)
		}
	default:
		c.errorf("%s: skip_serializing_if = %q is not modelled", where, ff.SkipSerializingIf)
	}
	if fl.deserializeWith != ff.DeserializeWith {
		c.errorf("%s: deserialize_with is %q on the server, %q in chsim", where, ff.DeserializeWith, fl.deserializeWith)
	}
	if fl.serializeWith != ff.SerializeWith {
		c.errorf("%s: serialize_with is %q on the server, %q in chsim", where, ff.SerializeWith, fl.serializeWith)
	}
	for _, fn := range []string{ff.DeserializeWith, ff.SerializeWith} {
		if _, ok := serdeWith[fn]; fn != "" && !ok {
			c.errorf("%s: serde function %s is not in chsim's serdeWith", where, fn)
		}
	}
	rt, err := parseRustType(ff.Type)
	if err != nil {
		c.errorf("%s: %v", where, err)
		return
	}
	c.checkType(where, fl.sh, rt)
	if fl.flatten || fl.skip {
		// serde ignores a default on a flattened field (the members of
		// the flattened struct have their own), and never reads a skipped one.
		return
	}
	required := !fl.hasDefault && fl.sh.kind != kindOption
	if required != ff.Required {
		c.errorf("%s: required is %v on the server, %v in chsim", where, ff.Required, required)
	}
	if (ff.Default != nil) != fl.hasDefault {
		c.errorf("%s: a serde default on the server: %v, in chsim: %v", where, ff.Default != nil, fl.hasDefault)
		return
	}
	if ff.Default != nil {
		c.checkDefault(where, fl, ff, rt)
	}
}

// checkDefault compares the default of field fl with the facts' one: its
// value when the facts resolve it, or the Default that derive(Default)
// gives the field's type.
func (c *factsChecker) checkDefault(where string, fl *field, ff *factField, rt *rustType) {
	c.t.Helper()
	d := ff.Default
	got := fl.defaultValue()
	if len(d.Value) > 0 {
		want, msg := decodeBody(d.Value, fl.sh)
		if msg != "" {
			c.errorf("%s: the server's default %s does not fit chsim's shape: %s", where, d.Value, msg)
			return
		}
		if !reflect.DeepEqual(want, got) {
			c.errorf("%s: default is %s on the server (%s), chsim's is %s", where, d.Value, d.Fn, encodeJSON(fl.sh, got))
		}
		c.defaultValues++
		return
	}
	if base := strings.TrimSuffix(d.Fn, "::default"); d.Fn == "Default::default" || base == rt.name {
		want, why := c.derivedDefault(rt)
		if why == "" {
			if !reflect.DeepEqual(want, got) {
				c.errorf("%s: default is %s's derive(Default), %v; chsim's is %s", where, rt, want, encodeJSON(fl.sh, got))
			}
			c.defaultValues++
			return
		}
		c.unresolved = append(c.unresolved, where+" ("+why+")")
		return
	}
	c.unresolved = append(c.unresolved, where+" ("+d.Fn+")")
}

// derivedDefault is the value Default::default() gives type rt, in the
// JSON view, where the facts determine it; else why not.
func (c *factsChecker) derivedDefault(rt *rustType) (any, string) {
	switch {
	case rt.name == "Option":
		return nil, ""
	case rustSequences[rt.name] || (rt.name == "Box" && rt.args[0].name == "[]"):
		return []any{}, ""
	case rt.name == "Box":
		return c.derivedDefault(rt.args[0])
	}
	switch rt.name {
	case "u8", "u16", "u32", "u64", "usize":
		return uint64(0), ""
	case "i32", "i64":
		return int64(0), ""
	case "bool":
		return false, ""
	case "String", "PathBuf":
		return "", ""
	}
	ft := c.types[rt.name]
	switch {
	case ft == nil:
		return nil, rt.name + " has no Default the facts know"
	case ft.Kind == "enum" && ft.DefaultVariant != "":
		return ft.DefaultVariant, ""
	case ft.Kind != "struct" || ft.DefaultImpl != "derive":
		return nil, "the Default impl of " + ft.Name
	}
	out := map[string]any{}
	for _, ff := range c.buildFields(ft) {
		if ff.Skip != "" {
			continue
		}
		frt, err := parseRustType(ff.Type)
		if err != nil {
			return nil, err.Error()
		}
		v, why := c.derivedDefault(frt)
		if why != "" {
			return nil, why
		}
		if ff.Flatten {
			for k, x := range v.(map[string]any) {
				out[k] = x
			}
			continue
		}
		out[ff.JSON] = v
	}
	return out, ""
}

// checkEnum compares enum shape sh with its facts.
func (c *factsChecker) checkEnum(sh *shape, ft *factType) {
	c.t.Helper()
	if c.seen[ft.Name] {
		return
	}
	c.seen[ft.Name] = true
	c.enums++
	if ft.Tag != "" || ft.Content != "" || ft.Untagged || ft.From != "" || ft.TryFrom != "" {
		c.errorf("%s: an enum representation chsim does not model (tag, content, untagged, from, try_from)", ft.Name)
	}
	var want []string
	for _, v := range ft.Variants {
		holds, err := cfgHolds(v.Cfg)
		if err != nil {
			c.errorf("%s::%s: %v", ft.Name, v.Rust, err)
			continue
		}
		if !holds {
			continue
		}
		if v.Form != "unit" || len(v.Aliases) > 0 || v.Skip != "" || v.Other || v.Untagged {
			c.errorf("%s::%s: chsim models unit variants only, without alias, skip, other or untagged", ft.Name, v.Rust)
		}
		want = append(want, v.JSON)
	}
	c.variants += len(want)
	if !slices.Equal(want, sh.variants) {
		c.errorf("%s: variants are %v on the server, %v in chsim", ft.Name, want, sh.variants)
	}
	if ft.DefaultVariant != sh.dflt {
		c.errorf("%s: the #[default] variant is %q on the server, %q in chsim", ft.Name, ft.DefaultVariant, sh.dflt)
	}
}

// checkRoutes compares the endpoints the simulator serves (with and without
// the guest_debug feature) and the type it reads each body into with the
// facts' routes.
func (c *factsChecker) checkRoutes(f *factsFile) []string {
	c.t.Helper()
	spec, err := loadSpec(f.Tag)
	require.NoError(c.t, err)
	var roots []string
	for _, guestDebug := range []bool{false, true} {
		var extra []string
		if guestDebug {
			extra = []string{"guest_debug"}
		}
		srv := &Server{spec: spec, opts: options{guestDebug: guestDebug}}
		facts := map[string]*factRoute{}
		for i := range f.Routes {
			r := &f.Routes[i]
			holds, err := cfgHolds(r.Cfg, extra...)
			if err != nil {
				c.errorf("route %s: %v", r.Path, err)
				continue
			}
			if holds {
				facts[r.Path] = r
			}
		}
		for path := range endpoints {
			ep, served := srv.routes(path)
			r := facts[path]
			switch {
			case served && r == nil:
				c.errorf("chsim serves %s (guest_debug %v), the server does not route it", path, guestDebug)
			case !served && r != nil:
				c.errorf("the server routes %s (guest_debug %v), chsim does not", path, guestDebug)
			case served:
				if !slices.Equal(r.Methods, []string{ep.method}) {
					c.errorf("%s: methods %v on the server, %s in chsim", path, r.Methods, ep.method)
				}
				if r.Request != requestShapes[path] {
					c.errorf("%s: the server reads the body into %q, chsim into %q", path, r.Request, requestShapes[path])
				}
				if (r.Body == "json" && ep.kind != putBody && ep.kind != special) || (r.Body == "none" && ep.kind != putNoBody && ep.kind != special) {
					c.errorf("%s: the server takes body %q, chsim's handler kind is %d", path, r.Body, ep.kind)
				}
				if guestDebug && r.Request != "" && !slices.Contains(roots, r.Request) {
					roots = append(roots, r.Request)
				}
			}
		}
		for path := range facts {
			if _, known := endpoints[path]; !known {
				c.errorf("the server routes %s, which chsim does not know", path)
			}
		}
	}
	slices.Sort(roots)
	return roots
}

// TestShapesFollowFacts holds every release's shape tables to its server's
// facts.
func TestShapesFollowFacts(t *testing.T) {
	for _, tag := range Versions {
		t.Run(tag, func(t *testing.T) {
			f := loadFactsFile(t, tag)
			c := newFactsChecker(t, f)
			roots := c.checkRoutes(f)
			require.NotEmpty(t, roots)
			for _, root := range roots {
				ft := c.types[root]
				if !assert.NotNil(t, ft, "%s: the request type %s is not in the facts", tag, root) {
					continue
				}
				sh := c.shapes.byName[root]
				if !assert.NotNil(t, sh, "%s: chsim has no shape for the request type %s", tag, root) {
					continue
				}
				c.checkType(root, sh, &rustType{name: root})
			}
			// Every request type of the build was reached, and chsim
			// models no struct the server lacks.
			for name, ft := range c.types {
				if slices.Contains(ft.UsedIn, "request") && customShapes[name] == nil && ft.Kind != "alias" && !c.seen[name] {
					t.Errorf("%s: the server reads %s (%s), which no modelled field reaches", tag, name, ft.File)
				}
			}
			for name := range c.shapes.byName {
				if !c.seen[name] {
					t.Errorf("%s: chsim models %s, which no request of the server reads", tag, name)
				}
			}
			slices.Sort(c.unresolved)
			t.Logf("%s: %d request bodies, %d structs, %d fields, %d enums (%d variants) checked against the facts; %d default values compared; defaults the facts do not resolve (checked by the recordings only): %v",
				tag, len(roots), c.structs, c.fields, c.enums, c.variants, c.defaultValues, c.unresolved)
		})
	}
}
