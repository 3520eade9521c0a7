package main

// The types part of the facts: from the request and response types of the
// routes, every type they use that the repository defines, with its serde
// shape (typeFact), and default values resolved where they are literals or
// constants.

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// typeBuilder collects typeFacts by walking types from the routes' roots.
type typeBuilder struct {
	x        *rsIndex
	built    map[*rsDef]*typeFact
	external map[string]bool
}

// newTypeBuilder returns a typeBuilder on index x.
func newTypeBuilder(x *rsIndex) *typeBuilder {
	return &typeBuilder{x: x, built: map[*rsDef]*typeFact{}, external: map[string]bool{}}
}

// typeKeywords are identifiers in a type that name no type.
var typeKeywords = map[string]bool{
	"dyn": true, "impl": true, "mut": true, "const": true, "fn": true, "for": true, "where": true,
	"as": true, "unsafe": true, "extern": true, "Fn": true, "FnMut": true, "FnOnce": true,
}

// typePaths returns the paths a type names: Option<Box<[a::B]>> names
// Option, Box and a::B.
func typePaths(toks []rsToken) [][]string {
	var out [][]string
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.is(";") { // [T; LEN]: the length is no type
			for i+1 < len(toks) && !toks[i+1].is("]") {
				i++
			}
			continue
		}
		if t.Kind != rsIdent || typeKeywords[t.Text] {
			continue
		}
		path := []string{t.Text}
		for i+2 < len(toks) && toks[i+1].is("::") && toks[i+2].Kind == rsIdent {
			path = append(path, toks[i+2].Text)
			i += 2
		}
		if i+1 < len(toks) && toks[i+1].is("!") {
			continue // a macro in an array length
		}
		out = append(out, path)
	}
	return out
}

// visitType walks the types type tokens toks name, from scope sc, as used
// in dir ("request" or "response"); generics are the enclosing item's
// type parameters.
func (b *typeBuilder) visitType(toks []rsToken, sc *rsScope, dir string, generics []string) error {
	for _, path := range typePaths(toks) {
		if len(path) == 1 && (preludeTypes[path[0]] || slices.Contains(generics, path[0])) {
			continue
		}
		defs, ext, err := b.x.resolve(nsType, path, sc)
		if err != nil {
			return err
		}
		if ext != "" {
			b.external[ext] = true
			continue
		}
		for _, r := range defs {
			if err := b.visit(r, dir); err != nil {
				return err
			}
		}
	}
	return nil
}

// visit records the type r defines (once) and walks the types it uses.
func (b *typeBuilder) visit(r resolved, dir string) error {
	f, seen := b.built[r.Def]
	if seen && slices.Contains(f.UsedIn, dir) {
		return nil
	}
	if !seen {
		var err error
		if f, err = b.typeFact(r); err != nil {
			return fmt.Errorf("%s (%s): %w", r.Def.Item.Name, r.Def.Scope.File, err)
		}
		b.built[r.Def] = f
	}
	f.UsedIn = append(f.UsedIn, dir)
	sort.Strings(f.UsedIn)
	it := r.Def.Item
	walk := func(fields []rsField) error {
		for _, fld := range fields {
			metas, _, _ := serdeMetas(fld.Attrs)
			if hasMeta(metas, "skip") {
				continue
			}
			if err := b.visitType(fld.Type, r.Def.Scope, dir, it.Generics); err != nil {
				return fmt.Errorf("%s.%s: %w", it.Name, fld.Name, err)
			}
		}
		return nil
	}
	switch it.Kind {
	case rsTypeAlias:
		return b.visitType(it.Type, r.Def.Scope, dir, it.Generics)
	case rsStruct:
		return walk(it.Fields)
	case rsEnum:
		for _, v := range it.Variants {
			metas, _, _ := serdeMetas(v.Attrs)
			if hasMeta(metas, "skip") {
				continue
			}
			if err := walk(v.Fields); err != nil {
				return err
			}
		}
	}
	return nil
}

// hasMeta reports whether metas has a meta item named name.
func hasMeta(metas []rsMeta, name string) bool {
	return slices.ContainsFunc(metas, func(m rsMeta) bool { return m.Name == name })
}

// facts returns the collected types, sorted, and the external names.
func (b *typeBuilder) facts() ([]typeFact, []string) {
	var types []typeFact
	for _, f := range b.built {
		types = append(types, *f)
	}
	sort.Slice(types, func(i, j int) bool {
		if types[i].Name != types[j].Name {
			return types[i].Name < types[j].Name
		}
		return types[i].File < types[j].File
	})
	var ext []string
	for e := range b.external {
		ext = append(ext, e)
	}
	sort.Strings(ext)
	return types, ext
}

// typeFact describes the type r defines.
func (b *typeBuilder) typeFact(r resolved) (*typeFact, error) {
	d := r.Def
	it := d.Item
	cfg := d.Cfg.and(r.Cfg)
	f := &typeFact{Name: it.Name, File: d.Scope.File, Cfg: cfg.text(), Features: cfg.features()}
	for _, t := range derives(it.Attrs) {
		if t == "Serialize" || t == "Deserialize" || t == "Default" {
			f.Derives = append(f.Derives, t)
		}
	}
	if it.Kind == rsTypeAlias {
		f.Kind, f.Target = "alias", typeText(it.Type)
		return f, nil
	}
	ser := b.x.traitImpl("Serialize", d)
	f.CustomSerialize = len(ser) > 0
	f.CustomDeserialize = len(b.x.traitImpl("Deserialize", d)) > 0
	for _, impl := range ser {
		f.SerializeFields = append(f.SerializeFields, serializedFields(impl.Item)...)
	}
	switch {
	case slices.Contains(f.Derives, "Default"):
		f.DefaultImpl = "derive"
	case len(b.x.traitImpl("Default", d)) > 0:
		f.DefaultImpl = "impl"
	}
	f.SkipSerializingNone = hasAttr(it.Attrs, "serde_with::skip_serializing_none") || hasAttr(it.Attrs, "skip_serializing_none")
	metas, _, err := serdeMetas(it.Attrs)
	if err != nil {
		return nil, err
	}
	renameAllFields := ""
	values := map[string]*string{"tag": &f.Tag, "content": &f.Content, "from": &f.From, "try_from": &f.TryFrom, "into": &f.Into}
	flags := map[string]*bool{"deny_unknown_fields": &f.DenyUnknownFields, "transparent": &f.Transparent, "untagged": &f.Untagged}
	for _, m := range metas {
		switch {
		case values[m.Name] != nil:
			*values[m.Name] = m.str()
		case flags[m.Name] != nil:
			*flags[m.Name] = true
		case m.Name == "rename_all":
			f.RenameAll = readRename(m).de
		case m.Name == "rename_all_fields":
			renameAllFields = readRename(m).de
		case m.Name == "default":
			f.Default = "Default::default"
			if m.Value != nil {
				f.Default = m.str()
			}
		}
	}
	switch it.Kind {
	case rsStruct:
		f.Kind = map[string]string{"named": "struct", "tuple": "tuple", "unit": "unit"}[it.Form]
		literal := b.containerDefaults(d, f)
		// without a derive, serde's view of the fields is the hand-written impls'
		noMembers := it.Form == "tuple" || !slices.Contains(f.Derives, "Deserialize") && !slices.Contains(f.Derives, "Serialize")
		f.Fields, err = b.fieldFacts(d, it.Fields, f.RenameAll, noMembers, f.Default != "", literal)
		if err != nil {
			return nil, err
		}
	case rsEnum:
		f.Kind = "enum"
		for _, v := range it.Variants {
			vf, err := b.variantFact(d, v, f.RenameAll, renameAllFields)
			if err != nil {
				return nil, fmt.Errorf("variant %s: %w", v.Name, err)
			}
			if vf.Default {
				f.DefaultVariant = vf.JSON
			}
			f.Variants = append(f.Variants, vf)
		}
	}
	return f, nil
}

// serializedFields returns the member names a hand-written Serialize impl
// writes with serialize_field("name", …).
func serializedFields(impl *rsItem) []string {
	var out []string
	for _, fn := range impl.Items {
		for i := 0; i+2 < len(fn.Value); i++ {
			if fn.Value[i].is("serialize_field") && fn.Value[i+1].is("(") && fn.Value[i+2].Kind == rsString {
				out = append(out, fn.Value[i+2].Value)
			}
		}
	}
	return out
}

// containerDefaults returns, for a struct with a container-level
// #[serde(default)], the initializer of each field in the value serde
// starts from (Default::default() or the named function), where that is a
// struct literal; nil otherwise.
func (b *typeBuilder) containerDefaults(d *rsDef, f *typeFact) map[string][]rsToken {
	if f.Default == "" || f.DefaultImpl == "derive" && f.Default == "Default::default" {
		return nil
	}
	var body []rsToken
	if f.Default == "Default::default" {
		for _, impl := range b.x.traitImpl("Default", d) {
			for _, fn := range impl.Item.Items {
				if fn.Kind == rsFn && fn.Name == "default" {
					body = fn.Value
				}
			}
		}
	} else if fn := b.findFn(f.Default, d.Scope, d.Item.Name); fn != nil {
		body = fn.Item.Value
	}
	return structLiteral(body, d.Item.Name)
}

// structLiteral reads a function body that is one struct literal of type
// name (or Self): field name → initializer tokens.
func structLiteral(body []rsToken, name string) map[string][]rsToken {
	if len(body) < 3 || !(body[0].is("Self") || body[0].is(name)) || !body[1].is("{") {
		return nil
	}
	p := &rsParser{toks: body, pos: 1}
	inner, err := p.group()
	if err != nil || p.pos != len(body) {
		return nil
	}
	out := map[string][]rsToken{}
	for _, part := range splitTop(inner, ",") {
		if len(part) >= 3 && part[0].Kind == rsIdent && part[1].is(":") {
			out[part[0].Text] = part[2:]
		}
	}
	return out
}

// fieldFacts describes the fields of a struct or struct-like variant.
// With noMembers (a tuple struct, or a struct whose serde impls are written
// by hand) the fields are no JSON members: they get no JSON name and none
// is required.
func (b *typeBuilder) fieldFacts(d *rsDef, fields []rsField, renameAll string, noMembers, containerDefault bool, literal map[string][]rsToken) ([]fieldFact, error) {
	var out []fieldFact
	for _, fld := range fields {
		ff := fieldFact{Rust: fld.Name, Type: typeText(fld.Type), Option: isOptionType(fld.Type)}
		cfg, err := attrCfg(fld.Attrs)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", fld.Name, err)
		}
		ff.Cfg, ff.Features = cfg.text(), cfg.features()
		metas, conditional, err := serdeMetas(fld.Attrs)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", fld.Name, err)
		}
		ff.SerdeCfg = conditional
		rename := serdeRename{}
		values := map[string]*string{"skip_serializing_if": &ff.SkipSerializingIf, "deserialize_with": &ff.DeserializeWith,
			"serialize_with": &ff.SerializeWith, "with": &ff.With}
		for _, m := range metas {
			switch m.Name {
			case "rename":
				rename = readRename(m)
			case "alias":
				ff.Aliases = append(ff.Aliases, m.str())
			case "default":
				if m.Value == nil {
					ff.Default = b.typeDefault(fld.Type, d.Scope)
					ff.Default.Source = "field"
				} else {
					ff.Default = b.fnDefault(m.str(), d.Scope, d.Item.Name)
				}
			case "skip", "skip_deserializing", "skip_serializing":
				ff.Skip = m.Name
			case "flatten":
				ff.Flatten = true
			default:
				if v := values[m.Name]; v != nil {
					*v = m.str()
				}
			}
		}
		if ff.Default == nil && containerDefault {
			ff.Default = &defaultFact{Source: "container", Fn: d.Item.Name + "::default"}
			if literal != nil {
				if init, ok := literal[fld.Name]; ok {
					if v, via, ok := b.evalExpr(init, d.Scope, d.Item.Name, 0); ok {
						ff.Default.Value, ff.Default.Via = v, via
					}
				}
			} else if td := b.typeDefault(fld.Type, d.Scope); td.Value != nil {
				ff.Default.Value = td.Value
			}
		}
		if !noMembers && !ff.Flatten {
			json, err := applyRenameRule(renameAll, fld.Name, false)
			if err != nil {
				return nil, err
			}
			if rename.de != "" {
				json = rename.de
			}
			ff.JSON = json
			if rename.ser != "" && rename.ser != json {
				ff.JSONOut = rename.ser
			}
		}
		readByFn := ff.DeserializeWith != "" || ff.With != ""
		ff.Required = !noMembers && !ff.Flatten && ff.Default == nil &&
			ff.Skip != "skip" && ff.Skip != "skip_deserializing" && (!ff.Option || readByFn)
		out = append(out, ff)
	}
	return out, nil
}

// variantFact describes one enum variant.
func (b *typeBuilder) variantFact(d *rsDef, v rsVariant, renameAll, renameAllFields string) (variantFact, error) {
	vf := variantFact{Rust: v.Name, Form: v.Form, Default: hasAttr(v.Attrs, "default")}
	cfg, err := attrCfg(v.Attrs)
	if err != nil {
		return vf, err
	}
	vf.Cfg, vf.Features = cfg.text(), cfg.features()
	metas, _, err := serdeMetas(v.Attrs)
	if err != nil {
		return vf, err
	}
	if vf.JSON, err = applyRenameRule(renameAll, v.Name, true); err != nil {
		return vf, err
	}
	for _, m := range metas {
		switch m.Name {
		case "rename":
			if r := readRename(m); r.de != "" {
				vf.JSON = r.de
			}
		case "alias":
			vf.Aliases = append(vf.Aliases, m.str())
		case "skip", "skip_deserializing", "skip_serializing":
			vf.Skip = m.Name
		case "other":
			vf.Other = true
		case "untagged":
			vf.Untagged = true
		}
	}
	switch v.Form {
	case "tuple":
		for _, fld := range v.Fields {
			vf.Types = append(vf.Types, typeText(fld.Type))
		}
	case "named":
		if vf.Fields, err = b.fieldFacts(d, v.Fields, renameAllFields, false, false, nil); err != nil {
			return vf, err
		}
	}
	return vf, nil
}

// isOptionType reports whether a type is Option<…> (or std::option::Option<…>).
func isOptionType(toks []rsToken) bool {
	paths := typePaths(toks)
	return len(paths) > 0 && paths[0][len(paths[0])-1] == "Option" && slices.ContainsFunc(toks, func(t rsToken) bool { return t.is("<") })
}

// Type defaults, by the type's last path segment.
var (
	nullDefaultTypes   = map[string]bool{"Option": true}
	falseDefaultTypes  = map[string]bool{"bool": true}
	zeroDefaultTypes   = map[string]bool{"u8": true, "u16": true, "u32": true, "u64": true, "u128": true, "usize": true, "i8": true, "i16": true, "i32": true, "i64": true, "i128": true, "isize": true, "f32": true, "f64": true}
	emptyDefaultTypes  = map[string]bool{"String": true, "PathBuf": true, "OsString": true}
	listDefaultTypes   = map[string]bool{"Vec": true, "VecDeque": true, "HashSet": true, "BTreeSet": true}
	mapDefaultTypes    = map[string]bool{"HashMap": true, "BTreeMap": true}
	wrapperTypes       = map[string]bool{"Box": true, "Arc": true, "Rc": true}
	defaultTypeResults = []struct {
		types map[string]bool
		value string
	}{{nullDefaultTypes, "null"}, {falseDefaultTypes, "false"}, {zeroDefaultTypes, "0"}, {emptyDefaultTypes, `""`}, {listDefaultTypes, "[]"}, {mapDefaultTypes, "{}"}}
)

// typeDefault returns what Default::default() of a type serializes to,
// where apigen knows it: primitives, Option, collections, an enum's
// #[default] unit variant; otherwise just the function (<Type>::default).
func (b *typeBuilder) typeDefault(toks []rsToken, sc *rsScope) *defaultFact {
	paths := typePaths(toks)
	if len(paths) == 0 {
		return &defaultFact{Fn: "Default::default"}
	}
	name := paths[0][len(paths[0])-1]
	for _, r := range defaultTypeResults {
		if r.types[name] {
			return &defaultFact{Fn: "Default::default", Value: json.RawMessage(r.value)}
		}
	}
	if wrapperTypes[name] {
		inner := genericArgs(toks)
		if len(inner) > 0 && inner[0].is("[") {
			return &defaultFact{Fn: "Default::default", Value: json.RawMessage("[]")} // Box<[T]>
		}
		if len(inner) > 0 {
			return b.typeDefault(inner, sc)
		}
	}
	fn := &defaultFact{Fn: name + "::default"}
	defs, _, err := b.x.resolve(nsType, paths[0], sc)
	if err != nil || len(defs) == 0 {
		return fn
	}
	var value string
	for _, r := range defs {
		v, ok := enumDefaultJSON(r.Def.Item)
		if !ok || (value != "" && v != value) {
			return fn
		}
		value = v
	}
	fn.Value = json.RawMessage(value)
	return fn
}

// genericArgs returns the tokens inside a type's first <…>.
func genericArgs(toks []rsToken) []rsToken {
	start := slices.IndexFunc(toks, func(t rsToken) bool { return t.is("<") })
	if start < 0 || !toks[len(toks)-1].is(">") {
		return nil
	}
	return toks[start+1 : len(toks)-1]
}

// enumDefaultJSON returns the JSON of an enum's #[default] unit variant.
func enumDefaultJSON(it *rsItem) (string, bool) {
	if it.Kind != rsEnum {
		return "", false
	}
	metas, _, _ := serdeMetas(it.Attrs)
	renameAll := ""
	for _, m := range metas {
		if m.Name == "rename_all" {
			renameAll = readRename(m).de
		}
	}
	for _, v := range it.Variants {
		if !hasAttr(v.Attrs, "default") || v.Form != "unit" {
			continue
		}
		name, err := applyRenameRule(renameAll, v.Name, true)
		if err != nil {
			return "", false
		}
		vm, _, _ := serdeMetas(v.Attrs)
		for _, m := range vm {
			if m.Name == "rename" && readRename(m).de != "" {
				name = readRename(m).de
			}
		}
		js, _ := json.Marshal(name)
		return string(js), true
	}
	return "", false
}

// findFn finds the function a serde attribute names ("default_x",
// "Type::default_x") from scope sc; self is the type the attribute is on.
func (b *typeBuilder) findFn(path string, sc *rsScope, self string) *rsDef {
	segs := strings.Split(path, "::")
	if len(segs) >= 2 {
		owner := segs[len(segs)-2]
		if owner == "Self" {
			owner = self
		}
		for _, d := range b.x.assoc[owner+"::"+segs[len(segs)-1]] {
			if d.Item.Kind == rsFn && d.Scope.Crate == sc.Crate {
				return d
			}
		}
	}
	defs, _, err := b.x.resolve(nsValue, segs, sc)
	if err != nil {
		return nil
	}
	for _, r := range defs {
		if r.Def.Item.Kind == rsFn {
			return r.Def
		}
	}
	return nil
}

// fnDefault describes #[serde(default = "path")].
func (b *typeBuilder) fnDefault(path string, sc *rsScope, self string) *defaultFact {
	df := &defaultFact{Source: "fn", Fn: path}
	fn := b.findFn(path, sc, self)
	if fn == nil {
		return df
	}
	if v, via, ok := b.evalExpr(fn.Item.Value, fn.Scope, fn.Self, 0); ok {
		df.Value, df.Via = v, via
	}
	return df
}

// numberSuffixRE matches the type suffix of a numeric literal.
var (
	intSuffixRE   = regexp.MustCompile(`_?(u8|u16|u32|u64|u128|usize|i8|i16|i32|i64|i128|isize)$`)
	floatSuffixRE = regexp.MustCompile(`_?(f32|f64)$`)
)

// jsonNumber converts a Rust numeric literal to a JSON number.
func jsonNumber(text string) (string, bool) {
	s := intSuffixRE.ReplaceAllString(text, "")
	hex := strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X")
	if !hex {
		s = floatSuffixRE.ReplaceAllString(s, "")
	}
	if v, err := strconv.ParseInt(s, 0, 64); err == nil {
		return strconv.FormatInt(v, 10), true
	}
	if v, err := strconv.ParseUint(s, 0, 64); err == nil {
		return strconv.FormatUint(v, 10), true
	}
	if hex {
		return "", false
	}
	if v, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64); err == nil {
		return strconv.FormatFloat(v, 'f', -1, 64), true
	}
	return "", false
}

// maxEvalDepth bounds chains of constants.
const maxEvalDepth = 8

// evalExpr evaluates an expression that is a literal, a constant (followed
// through its definition), None, Some(…), a cast, a string conversion or
// an empty collection, to JSON; via lists the constants followed. Anything
// else (a call, arithmetic, a statement) is not evaluated.
func (b *typeBuilder) evalExpr(toks []rsToken, sc *rsScope, self string, depth int) (json.RawMessage, []string, bool) {
	if depth > maxEvalDepth {
		return nil, nil, false
	}
	for len(toks) >= 2 && toks[0].is("(") && toks[len(toks)-1].is(")") {
		toks = toks[1 : len(toks)-1]
	}
	// conversions that keep the value
	for len(toks) > 4 {
		n := len(toks)
		if toks[n-4].is(".") && (toks[n-3].is("to_string") || toks[n-3].is("to_owned") || toks[n-3].is("into")) &&
			toks[n-2].is("(") && toks[n-1].is(")") {
			toks = toks[:n-4]
			continue
		}
		break
	}
	if i := slices.IndexFunc(toks, func(t rsToken) bool { return t.is("as") }); i > 0 {
		return b.evalExpr(toks[:i], sc, self, depth+1)
	}
	if len(toks) == 2 && toks[0].is("-") && toks[1].Kind == rsNumber {
		if v, ok := jsonNumber(toks[1].Text); ok {
			return json.RawMessage("-" + v), nil, true
		}
	}
	if call, arg, ok := singleCall(toks); ok {
		switch call {
		case "Some", "String::from", "PathBuf::from", "String::from_str":
			return b.evalExpr(arg, sc, self, depth+1)
		case "Vec::new", "HashSet::new", "BTreeSet::new":
			if len(arg) == 0 {
				return json.RawMessage("[]"), nil, true
			}
		}
		return nil, nil, false
	}
	if len(toks) == 1 {
		t := toks[0]
		switch {
		case t.Kind == rsNumber:
			v, ok := jsonNumber(t.Text)
			return json.RawMessage(v), nil, ok
		case t.Kind == rsString:
			js, _ := json.Marshal(t.Value)
			return js, nil, true
		case t.is("true"), t.is("false"):
			return json.RawMessage(t.Text), nil, true
		case t.is("None"):
			return json.RawMessage("null"), nil, true
		}
	}
	segs, ok := plainPath(toks)
	if !ok {
		return nil, nil, false
	}
	return b.evalConst(segs, sc, self, depth)
}

// evalConst evaluates the constant a path names.
func (b *typeBuilder) evalConst(segs []string, sc *rsScope, self string, depth int) (json.RawMessage, []string, bool) {
	var defs []*rsDef
	if len(segs) >= 2 {
		owner := segs[len(segs)-2]
		if owner == "Self" {
			owner = self
		}
		for _, d := range b.x.assoc[owner+"::"+segs[len(segs)-1]] {
			if d.Item.Kind == rsConst {
				defs = append(defs, d)
			}
		}
	}
	if len(defs) == 0 && segs[0] != "Self" {
		res, _, err := b.x.resolve(nsValue, segs, sc)
		if err != nil {
			return nil, nil, false
		}
		for _, r := range res {
			if r.Def.Item.Kind == rsConst {
				defs = append(defs, r.Def)
			}
		}
	}
	if len(defs) == 0 {
		return nil, nil, false
	}
	var value json.RawMessage
	var via []string
	for _, d := range defs {
		v, more, ok := b.evalExpr(d.Item.Value, d.Scope, d.Self, depth+1)
		if !ok || (value != nil && string(v) != string(value)) {
			return nil, nil, false
		}
		value, via = v, more
	}
	return value, append([]string{strings.Join(segs, "::")}, via...), true
}

// plainPath returns the segments of an expression that is only a path.
func plainPath(toks []rsToken) ([]string, bool) {
	var segs []string
	for i, t := range toks {
		if i%2 == 1 {
			if !t.is("::") {
				return nil, false
			}
			continue
		}
		if t.Kind != rsIdent {
			return nil, false
		}
		segs = append(segs, t.Text)
	}
	return segs, len(segs) > 0 && len(toks)%2 == 1
}

// singleCall recognizes path(args) and returns the path and the arguments.
func singleCall(toks []rsToken) (string, []rsToken, bool) {
	i := slices.IndexFunc(toks, func(t rsToken) bool { return t.is("(") })
	if i <= 0 || !toks[len(toks)-1].is(")") {
		return "", nil, false
	}
	segs, ok := plainPath(toks[:i])
	if !ok {
		return "", nil, false
	}
	p := &rsParser{toks: toks, pos: i}
	args, err := p.group()
	if err != nil || p.pos != len(toks) {
		return "", nil, false
	}
	return strings.Join(segs, "::"), args, true
}
