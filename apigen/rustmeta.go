package main

// Attribute arguments as meta items (serde(default, rename = "x"),
// cfg(all(feature = "a", not(test)))), and what serde and cfg attributes
// say about an item, a field or a variant.

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// An rsMeta is one meta item of an attribute's arguments: a path (default),
// a name-value pair (rename = "x"), or a list (rename(serialize = "a")).
type rsMeta struct {
	Name   string   // the path, segments joined with "::"
	Value  *rsToken // after "=": a literal or a path's first token
	List   []rsMeta // inside (…)
	IsList bool
}

// str returns the meta's value as a string: a string literal's content, or
// the token as written (default = path without quotes is not serde's form,
// but cfg values and numbers read the same way).
func (m rsMeta) str() string {
	if m.Value == nil {
		return ""
	}
	if m.Value.Kind == rsString {
		return m.Value.Value
	}
	return m.Value.Text
}

// parseMetas parses comma-separated meta items.
func parseMetas(toks []rsToken) ([]rsMeta, error) {
	var out []rsMeta
	for _, part := range splitTop(toks, ",") {
		if len(part) == 0 {
			continue
		}
		var m rsMeta
		i := 0
		var path []string
		for ; i < len(part); i++ {
			if part[i].Kind == rsIdent {
				path = append(path, part[i].Text)
			} else if !part[i].is("::") {
				break
			}
		}
		if len(path) == 0 {
			return nil, fmt.Errorf("line %d: want a meta item, got %q", part[0].Line, part[0].Text)
		}
		m.Name = strings.Join(path, "::")
		switch {
		case i == len(part):
		case part[i].is("=") && i+1 < len(part):
			v := part[i+1]
			m.Value = &v
		case part[i].is("(") && part[len(part)-1].is(")"):
			list, err := parseMetas(part[i+1 : len(part)-1])
			if err != nil {
				return nil, err
			}
			m.List, m.IsList = list, true
		default:
			return nil, fmt.Errorf("line %d: unexpected %q after %s", part[i].Line, part[i].Text, m.Name)
		}
		out = append(out, m)
	}
	return out, nil
}

// cfgText renders a cfg predicate as Rust writes it: feature = "igvm",
// all(target_arch = "x86_64", feature = "guest_debug").
func cfgText(m rsMeta) string {
	switch {
	case m.IsList:
		parts := make([]string, len(m.List))
		for i, c := range m.List {
			parts[i] = cfgText(c)
		}
		return m.Name + "(" + strings.Join(parts, ", ") + ")"
	case m.Value != nil:
		return fmt.Sprintf("%s = %q", m.Name, m.str())
	}
	return m.Name
}

// cfgFeatures returns the cargo features a predicate requires (those it
// names outside not(…)), sorted.
func cfgFeatures(m rsMeta) []string {
	var out []string
	var walk func(rsMeta)
	walk = func(m rsMeta) {
		switch {
		case m.Name == "not":
		case m.IsList:
			for _, c := range m.List {
				walk(c)
			}
		case m.Name == "feature" && m.Value != nil:
			out = append(out, m.str())
		}
	}
	walk(m)
	slices.Sort(out)
	return slices.Compact(out)
}

// A cfgSet is the conjunction of the cfg predicates that gate something:
// its own #[cfg] attributes and those of what encloses it.
type cfgSet []rsMeta

// and returns the conjunction of s and o.
func (s cfgSet) and(o cfgSet) cfgSet {
	out := append(cfgSet(nil), s...)
	for _, m := range o {
		if !slices.ContainsFunc(out, func(x rsMeta) bool { return cfgText(x) == cfgText(m) }) {
			out = append(out, m)
		}
	}
	return out
}

// text renders the set as one predicate ("" when nothing gates).
func (s cfgSet) text() string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return cfgText(s[0])
	}
	return cfgText(rsMeta{Name: "all", List: s, IsList: true})
}

// features returns the cargo features the set requires, sorted.
func (s cfgSet) features() []string {
	var out []string
	for _, m := range s {
		out = append(out, cfgFeatures(m)...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// isTest reports whether the set includes cfg(test): test-only code.
func (s cfgSet) isTest() bool {
	for _, m := range s {
		if m.Name == "test" && !m.IsList && m.Value == nil {
			return true
		}
	}
	return false
}

// attrCfg returns the cfg predicates of attrs.
func attrCfg(attrs []rsAttr) (cfgSet, error) {
	var out cfgSet
	for _, a := range attrs {
		if a.Path != "cfg" || !a.Paren {
			continue
		}
		metas, err := parseMetas(a.Args)
		if err != nil {
			return nil, fmt.Errorf("#[cfg]: %w", err)
		}
		if len(metas) != 1 {
			return nil, fmt.Errorf("#[cfg] with %d predicates", len(metas))
		}
		out = out.and(cfgSet{metas[0]})
	}
	return out, nil
}

// serdeMetas returns the meta items of every #[serde(…)] in attrs, and
// those of #[cfg_attr(pred, serde(…))] (serde attributes under a
// condition: their predicates are returned too).
func serdeMetas(attrs []rsAttr) (metas []rsMeta, conditional []string, err error) {
	for _, a := range attrs {
		switch a.Path {
		case "serde":
			ms, err := parseMetas(a.Args)
			if err != nil {
				return nil, nil, fmt.Errorf("#[serde]: %w", err)
			}
			metas = append(metas, ms...)
		case "cfg_attr":
			ms, err := parseMetas(a.Args)
			if err != nil {
				return nil, nil, fmt.Errorf("#[cfg_attr]: %w", err)
			}
			if len(ms) < 2 {
				continue
			}
			for _, inner := range ms[1:] {
				if inner.Name == "serde" {
					metas = append(metas, inner.List...)
					conditional = append(conditional, cfgText(ms[0]))
				}
			}
		}
	}
	return metas, conditional, nil
}

// derives returns the trait names of every #[derive(…)] in attrs, last
// path segments only (serde::Deserialize is Deserialize).
func derives(attrs []rsAttr) []string {
	var out []string
	for _, a := range attrs {
		if a.Path != "derive" {
			continue
		}
		for _, part := range splitTop(a.Args, ",") {
			if name := lastPathIdent(part); name != "" {
				out = append(out, name)
			}
		}
	}
	return out
}

// hasAttr reports whether attrs has an attribute with path (#[default]).
func hasAttr(attrs []rsAttr, path string) bool {
	return slices.ContainsFunc(attrs, func(a rsAttr) bool { return a.Path == path })
}

// serdeRename is serde's rename / rename_all: one name for deserializing,
// one for serializing (the same unless written rename(serialize = …)).
type serdeRename struct{ de, ser string }

// readRename reads rename = "x" or rename(serialize = "a", deserialize = "b").
func readRename(m rsMeta) serdeRename {
	if !m.IsList {
		return serdeRename{m.str(), m.str()}
	}
	var r serdeRename
	for _, c := range m.List {
		switch c.Name {
		case "serialize":
			r.ser = c.str()
		case "deserialize":
			r.de = c.str()
		}
	}
	return r
}

// renameRules are serde's rename_all rules.
var renameRules = []string{"lowercase", "UPPERCASE", "PascalCase", "camelCase", "snake_case",
	"SCREAMING_SNAKE_CASE", "kebab-case", "SCREAMING-KEBAB-CASE"}

// applyRenameRule renames a Rust name as serde's rename_all = rule does; a
// variant's name is PascalCase, a field's snake_case. An unknown rule is
// an error.
func applyRenameRule(rule, name string, variant bool) (string, error) {
	if rule == "" {
		return name, nil
	}
	if !slices.Contains(renameRules, rule) {
		return "", fmt.Errorf("unknown rename_all rule %q", rule)
	}
	if variant {
		switch rule {
		case "lowercase":
			return strings.ToLower(name), nil
		case "UPPERCASE":
			return strings.ToUpper(name), nil
		case "PascalCase":
			return name, nil
		case "camelCase":
			return strings.ToLower(name[:1]) + name[1:], nil
		}
		var b strings.Builder
		for i, r := range name {
			if i > 0 && unicode.IsUpper(r) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
		}
		return applyRenameRule(rule, b.String(), false)
	}
	switch rule {
	case "lowercase", "snake_case":
		return name, nil
	case "UPPERCASE", "SCREAMING_SNAKE_CASE":
		return strings.ToUpper(name), nil
	case "kebab-case":
		return strings.ReplaceAll(name, "_", "-"), nil
	case "SCREAMING-KEBAB-CASE":
		return strings.ToUpper(strings.ReplaceAll(name, "_", "-")), nil
	}
	var b strings.Builder
	upper := rule == "PascalCase"
	for _, r := range name {
		if r == '_' {
			upper = true
			continue
		}
		if upper {
			b.WriteRune(unicode.ToUpper(r))
			upper = false
		} else {
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}
