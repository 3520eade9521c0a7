package main

// An index of the Rust items of a Cloud Hypervisor tree, and name
// resolution on it: which definition a name in a given module means,
// following use declarations, re-exports (pub use), module paths (crate::,
// super::, self::, other crates of the workspace) and module cfg gates.
// Where the module tree cannot be followed (a #[path] module), a name
// defined once in the crate, or once in the repository, is taken.

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// An rsCrate is one crate of the workspace.
type rsCrate struct {
	Name string // as Rust code names it: virtio_devices
	Dir  string // its directory: virtio-devices ("" for the repository root)
}

// An rsScope is one module: a file, or an inline mod inside one.
type rsScope struct {
	File  string
	Crate *rsCrate
	Mod   []string // module path inside the crate
	Uses  []scopedUse
	Cfg   cfgSet // the cfg gates of the module's declarations
	items []rsItem
}

// key identifies the module: crate::a::b.
func (s *rsScope) key() string { return modKey(s.Crate, s.Mod) }

// modKey is the key of module mod of crate c.
func modKey(c *rsCrate, mod []string) string {
	return strings.Join(append([]string{c.Name}, mod...), "::")
}

// A scopedUse is a use declaration's name with its visibility and gate.
type scopedUse struct {
	rsUse
	Pub bool
	Cfg cfgSet
}

// An rsDef is one item of the index with the module it is in.
type rsDef struct {
	Item  *rsItem
	Scope *rsScope
	Cfg   cfgSet // the module's gates and the item's own
	Self  string // for associated items: the impl's self type
}

// A resolved definition, with the gates of the re-exports that led to it.
type resolved struct {
	Def *rsDef
	Cfg cfgSet
}

// rsNamespace is what a name is looked up as.
type rsNamespace int

const (
	nsType  rsNamespace = iota // structs, enums, type aliases
	nsValue                    // constants, statics and functions
)

// rsIndex holds every item of the tree that resolution needs.
type rsIndex struct {
	crates  map[string]*rsCrate // by name
	byDir   []*rsCrate          // longest directory first
	modules map[string]*rsScope // by key
	declCfg map[string]cfgSet   // module key → gates of its `mod` declaration
	types   map[string][]*rsDef // by name
	values  map[string][]*rsDef // by name
	assoc   map[string][]*rsDef // "Type::name" → associated const or fn
	impls   map[string][]*rsDef // "Trait Type" → trait impl
}

// skipSourcePath reports whether a file is no part of the crates that make
// the server: tests, fuzzers, benchmarks and test infrastructure.
func skipSourcePath(p string) bool {
	for _, part := range strings.Split(p, "/") {
		switch part {
		case "tests", "fuzz", "benches", "examples", "test_infra", "performance-metrics":
			return true
		}
	}
	return false
}

// keepSourcePath selects the files apigen reads from a tree: Rust sources
// and Cargo manifests.
func keepSourcePath(p string) bool {
	return !skipSourcePath(p) && (strings.HasSuffix(p, ".rs") || path.Base(p) == "Cargo.toml")
}

// cargoNameRE matches the name line of a Cargo.toml section.
var cargoNameRE = regexp.MustCompile(`^name\s*=\s*"([^"]+)"`)

// cargoPackageName returns the name in a Cargo.toml's [package] section,
// or "" (a virtual workspace manifest).
func cargoPackageName(manifest string) string {
	inPackage := false
	for _, line := range strings.Split(manifest, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			inPackage = line == "[package]"
			continue
		}
		if m := cargoNameRE.FindStringSubmatch(line); inPackage && m != nil {
			return m[1]
		}
	}
	return ""
}

// newRsIndex parses every Rust file of tree (except skipSourcePath ones).
func newRsIndex(tree sourceTree) (*rsIndex, error) {
	x := &rsIndex{
		crates:  map[string]*rsCrate{},
		modules: map[string]*rsScope{},
		declCfg: map[string]cfgSet{},
		types:   map[string][]*rsDef{},
		values:  map[string][]*rsDef{},
		assoc:   map[string][]*rsDef{},
		impls:   map[string][]*rsDef{},
	}
	files := tree.Files()
	for _, p := range files {
		if path.Base(p) != "Cargo.toml" || skipSourcePath(p) {
			continue
		}
		src, err := tree.Read(p)
		if err != nil {
			return nil, err
		}
		name := cargoPackageName(src)
		if name == "" {
			continue // a virtual workspace manifest
		}
		dir := path.Dir(p)
		if dir == "." {
			dir = ""
		}
		c := &rsCrate{Name: strings.ReplaceAll(name, "-", "_"), Dir: dir}
		x.crates[c.Name] = c
		x.byDir = append(x.byDir, c)
	}
	if len(x.crates) == 0 {
		return nil, fmt.Errorf("no Cargo.toml with a [package] name: is this a Cloud Hypervisor tree?")
	}
	sort.Slice(x.byDir, func(i, j int) bool { return len(x.byDir[i].Dir) > len(x.byDir[j].Dir) })
	var scopes []*rsScope
	for _, p := range files {
		if !strings.HasSuffix(p, ".rs") || skipSourcePath(p) {
			continue
		}
		c, mod, ok := x.fileModule(p)
		if !ok {
			continue
		}
		src, err := tree.Read(p)
		if err != nil {
			return nil, err
		}
		items, err := parseRust(src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		sc := &rsScope{File: p, Crate: c, Mod: mod}
		scopes = append(scopes, x.addScope(sc, items)...)
	}
	// gates are known once every mod declaration is
	for _, sc := range scopes {
		for i := range sc.Mod {
			sc.Cfg = sc.Cfg.and(x.declCfg[modKey(sc.Crate, sc.Mod[:i+1])])
		}
	}
	for _, sc := range scopes {
		if err := x.indexItems(sc, sc.items, ""); err != nil {
			return nil, fmt.Errorf("%s: %w", sc.File, err)
		}
	}
	return x, nil
}

// fileModule returns the crate and module path of a source file: src/lib.rs
// is the crate root, src/a.rs and src/a/mod.rs are module a. Files outside
// a crate's src/ (build scripts) are not modules.
func (x *rsIndex) fileModule(p string) (*rsCrate, []string, bool) {
	for _, c := range x.byDir {
		prefix := "src/"
		if c.Dir != "" {
			prefix = c.Dir + "/src/"
		}
		if !strings.HasPrefix(p, prefix) {
			continue
		}
		rel := strings.TrimSuffix(strings.TrimPrefix(p, prefix), ".rs")
		parts := strings.Split(rel, "/")
		switch last := parts[len(parts)-1]; {
		case len(parts) == 1 && (last == "lib" || last == "main"):
			return c, nil, true
		case last == "mod":
			parts = parts[:len(parts)-1]
		case len(parts) > 1 && parts[0] == "bin":
			return nil, nil, false // a binary of the crate
		}
		return c, parts, true
	}
	return nil, nil, false
}

// addScope registers sc and the inline modules in items, recording use
// declarations and mod gates; it returns every scope added.
func (x *rsIndex) addScope(sc *rsScope, items []rsItem) []*rsScope {
	sc.items = items
	if _, dup := x.modules[sc.key()]; !dup {
		x.modules[sc.key()] = sc
	}
	out := []*rsScope{sc}
	for i := range items {
		it := &items[i]
		cfg, err := attrCfg(it.Attrs)
		if err != nil {
			continue // an unreadable gate on an item apigen does not need
		}
		switch it.Kind {
		case rsUseDecl:
			for _, u := range it.Uses {
				sc.Uses = append(sc.Uses, scopedUse{rsUse: u, Pub: it.Pub, Cfg: cfg})
			}
		case rsMod:
			sub := append(slices.Clone(sc.Mod), it.Name)
			x.declCfg[modKey(sc.Crate, sub)] = cfg
			if it.Items != nil {
				out = append(out, x.addScope(&rsScope{File: sc.File, Crate: sc.Crate, Mod: sub}, it.Items)...)
			}
		}
	}
	return out
}

// indexItems records the definitions of a module's items (inline modules
// are scopes of their own).
func (x *rsIndex) indexItems(sc *rsScope, items []rsItem, self string) error {
	for i := range items {
		it := &items[i]
		own, err := attrCfg(it.Attrs)
		if err != nil {
			if it.Kind == rsStruct || it.Kind == rsEnum {
				return fmt.Errorf("%s: %w", it.Name, err)
			}
			continue
		}
		cfg := sc.Cfg.and(own)
		if cfg.isTest() {
			continue
		}
		d := &rsDef{Item: it, Scope: sc, Cfg: cfg, Self: self}
		switch it.Kind {
		case rsStruct, rsEnum, rsTypeAlias:
			if self == "" {
				x.types[it.Name] = append(x.types[it.Name], d)
			}
		case rsConst, rsFn:
			if self != "" {
				x.assoc[self+"::"+it.Name] = append(x.assoc[self+"::"+it.Name], d)
			} else {
				x.values[it.Name] = append(x.values[it.Name], d)
			}
		case rsImpl:
			if it.Trait != "" {
				key := it.Trait + " " + it.Name
				x.impls[key] = append(x.impls[key], d)
			}
			if err := x.indexItems(&rsScope{File: sc.File, Crate: sc.Crate, Mod: sc.Mod, Uses: sc.Uses, Cfg: cfg}, it.Items, it.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// scopeFile returns the scope of the file at path p (its top module).
func (x *rsIndex) scopeFile(p string) (*rsScope, error) {
	c, mod, ok := x.fileModule(p)
	if !ok {
		return nil, fmt.Errorf("%s is not a module of any crate", p)
	}
	sc := x.modules[modKey(c, mod)]
	if sc == nil || sc.File != p {
		return nil, fmt.Errorf("%s was not read", p)
	}
	return sc, nil
}

// externalCrates are crates outside the repository whose names mark a
// path as external without further search.
var externalCrates = map[string]bool{"std": true, "core": true, "alloc": true}

// preludeTypes are the names a type uses without importing them, never
// types of the repository.
var preludeTypes = map[string]bool{
	"bool": true, "char": true, "str": true, "u8": true, "u16": true, "u32": true, "u64": true, "u128": true,
	"usize": true, "i8": true, "i16": true, "i32": true, "i64": true, "i128": true, "isize": true,
	"f32": true, "f64": true, "String": true, "Option": true, "Vec": true, "Box": true, "Result": true, "Self": true,
}

// maxResolveDepth bounds use and re-export chains.
const maxResolveDepth = 16

// resolve finds what path means in scope sc, in namespace ns. With no
// definition, external is the path as far as it is known ("std::path::
// PathBuf", or the bare name).
func (x *rsIndex) resolve(ns rsNamespace, segs []string, sc *rsScope) (defs []resolved, external string, err error) {
	return x.resolveDepth(ns, segs, sc, 0)
}

// resolveDepth is resolve, depth use declarations deep.
func (x *rsIndex) resolveDepth(ns rsNamespace, segs []string, sc *rsScope, depth int) ([]resolved, string, error) {
	if depth > maxResolveDepth {
		return nil, "", fmt.Errorf("resolving %s in %s: use declarations loop", strings.Join(segs, "::"), sc.key())
	}
	if len(segs) == 1 {
		name := segs[0]
		if defs := x.inModule(ns, sc, name); len(defs) > 0 {
			return defs, "", nil
		}
		for _, u := range sc.Uses {
			if u.Name != name {
				continue
			}
			defs, ext, err := x.resolveDepth(ns, u.Path, sc, depth+1)
			if err != nil || ext != "" {
				return nil, ext, err
			}
			return withCfg(defs, u.Cfg), "", nil
		}
		for _, u := range sc.Uses {
			if u.Name != "*" {
				continue
			}
			if m := x.modulePath(u.Path, sc, depth+1); m != nil {
				if defs := x.exported(ns, m, name, depth+1); len(defs) > 0 {
					return withCfg(defs, u.Cfg), "", nil
				}
			}
		}
		return x.fallback(ns, sc.Crate, name)
	}
	name := segs[len(segs)-1]
	head := segs[0]
	if externalCrates[head] {
		return nil, strings.Join(segs, "::"), nil
	}
	if m := x.modulePath(segs[:len(segs)-1], sc, depth+1); m != nil {
		if defs := x.exported(ns, m, name, depth+1); len(defs) > 0 {
			return defs, "", nil
		}
		return x.fallback(ns, m.Crate, name)
	}
	// a module that cannot be followed: the crate it names, if any
	if c := x.crateOf(head, sc); c != nil {
		return x.fallback(ns, c, name)
	}
	return nil, strings.Join(segs, "::"), nil
}

// crateOf returns the crate a path's first segment names from sc, or nil.
func (x *rsIndex) crateOf(head string, sc *rsScope) *rsCrate {
	switch head {
	case "crate", "self", "super":
		return sc.Crate
	}
	for _, u := range sc.Uses {
		if u.Name == head && len(u.Path) > 0 && u.Path[0] != head {
			return x.crateOf(u.Path[0], sc)
		}
	}
	return x.crates[head]
}

// modulePath returns the module a path of modules names from sc, or nil
// where it leaves the repository or cannot be followed.
func (x *rsIndex) modulePath(segs []string, sc *rsScope, depth int) *rsScope {
	if depth > maxResolveDepth || len(segs) == 0 {
		return nil
	}
	var c *rsCrate
	var mod []string
	rest := segs
	switch head := segs[0]; {
	case head == "crate":
		c, rest = sc.Crate, segs[1:]
	case head == "self":
		c, mod, rest = sc.Crate, slices.Clone(sc.Mod), segs[1:]
	case head == "super":
		c, mod = sc.Crate, slices.Clone(sc.Mod)
		for len(rest) > 0 && rest[0] == "super" {
			if len(mod) == 0 {
				return nil
			}
			mod, rest = mod[:len(mod)-1], rest[1:]
		}
	case x.modules[modKey(sc.Crate, append(slices.Clone(sc.Mod), head))] != nil:
		c, mod = sc.Crate, slices.Clone(sc.Mod)
	default:
		for _, u := range sc.Uses {
			if u.Name == head && len(u.Path) > 0 && !(len(u.Path) == 1 && u.Path[0] == head) {
				return x.modulePath(append(slices.Clone(u.Path), segs[1:]...), sc, depth+1)
			}
		}
		if externalCrates[head] || x.crates[head] == nil {
			return nil
		}
		c, rest = x.crates[head], segs[1:]
	}
	cur := x.modules[modKey(c, mod)]
	for _, seg := range rest {
		if cur == nil {
			return nil
		}
		if next := x.modules[modKey(c, append(slices.Clone(cur.Mod), seg))]; next != nil {
			cur = next
			continue
		}
		// a module re-exported by pub use
		var found *rsScope
		for _, u := range cur.Uses {
			if u.Pub && u.Name == seg {
				found = x.modulePath(u.Path, cur, depth+1)
				break
			}
		}
		cur = found
	}
	return cur
}

// inModule returns the definitions named name in module sc itself.
func (x *rsIndex) inModule(ns rsNamespace, sc *rsScope, name string) []resolved {
	pool := x.types[name]
	if ns == nsValue {
		pool = x.values[name]
	}
	var out []resolved
	for _, d := range pool {
		if d.Scope.key() == sc.key() {
			out = append(out, resolved{Def: d})
		}
	}
	return out
}

// exported returns what name means in module m to another module: its
// definitions and its pub use re-exports of that name.
func (x *rsIndex) exported(ns rsNamespace, m *rsScope, name string, depth int) []resolved {
	if depth > maxResolveDepth {
		return nil
	}
	out := x.inModule(ns, m, name)
	for _, u := range m.Uses {
		if !u.Pub {
			continue
		}
		switch {
		case u.Name == name:
			defs, _, err := x.resolveDepth(ns, u.Path, m, depth+1)
			if err == nil {
				out = append(out, withCfg(defs, u.Cfg)...)
			}
		case u.Name == "*":
			if sub := x.modulePath(u.Path, m, depth+1); sub != nil && sub != m {
				out = append(out, withCfg(x.exported(ns, sub, name, depth+1), u.Cfg)...)
			}
		}
	}
	return dedupResolved(out)
}

// fallback finds name where the module tree gave nothing: the definitions
// in crate c, else the only one in the repository (of types, only those
// with serde impls count). None is external; several are an error.
func (x *rsIndex) fallback(ns rsNamespace, c *rsCrate, name string) ([]resolved, string, error) {
	pool := x.types[name]
	if ns == nsValue {
		pool = x.values[name]
	}
	var inCrate, serde []resolved
	for _, d := range pool {
		if d.Scope.Crate == c {
			inCrate = append(inCrate, resolved{Def: d})
		}
		if ns == nsValue || x.hasSerde(d) {
			serde = append(serde, resolved{Def: d})
		}
	}
	switch {
	case len(inCrate) > 0:
		return inCrate, "", nil
	case len(serde) == 1:
		return serde, "", nil
	case len(serde) > 1:
		var where []string
		for _, r := range serde {
			where = append(where, r.Def.Scope.File)
		}
		return nil, "", fmt.Errorf("%s is defined in %s and apigen cannot tell which one %s means: teach apigen/rsindex.go the module path", name, strings.Join(where, ", "), c.Name)
	}
	return nil, name, nil
}

// hasSerde reports whether a definition derives or implements Serialize
// or Deserialize.
func (x *rsIndex) hasSerde(d *rsDef) bool {
	for _, t := range derives(d.Item.Attrs) {
		if t == "Serialize" || t == "Deserialize" {
			return true
		}
	}
	return len(x.traitImpl("Serialize", d)) > 0 || len(x.traitImpl("Deserialize", d)) > 0
}

// traitImpl returns the impls of trait for the type d defines (in d's crate).
func (x *rsIndex) traitImpl(trait string, d *rsDef) []*rsDef {
	var out []*rsDef
	for _, impl := range x.impls[trait+" "+d.Item.Name] {
		if impl.Scope.Crate == d.Scope.Crate {
			out = append(out, impl)
		}
	}
	return out
}

// withCfg adds gates to resolved definitions.
func withCfg(defs []resolved, cfg cfgSet) []resolved {
	out := make([]resolved, len(defs))
	for i, d := range defs {
		out[i] = resolved{Def: d.Def, Cfg: d.Cfg.and(cfg)}
	}
	return out
}

// dedupResolved drops repeated definitions, keeping the first.
func dedupResolved(defs []resolved) []resolved {
	var out []resolved
	for _, d := range defs {
		if !slices.ContainsFunc(out, func(o resolved) bool { return o.Def == d.Def }) {
			out = append(out, d)
		}
	}
	return out
}
