package main

// A parser for the items of a Rust file, on the tokens of lexRust: structs,
// enums, functions, constants, statics, type aliases, use declarations,
// impl blocks, inline modules, macro_rules! definitions and item-level
// macro calls, each with its outer attributes. Bodies of functions,
// constants and macros are kept as tokens, never parsed as expressions.
// Anything else at item level (traits, unions, extern blocks) is skipped as
// a balanced group, so that one unusual construct does not stop a file.

import (
	"fmt"
	"strings"
)

// rsItemKind is the kind of a Rust item.
type rsItemKind int

const (
	rsStruct rsItemKind = iota
	rsEnum
	rsFn
	rsConst // const and static
	rsTypeAlias
	rsUseDecl
	rsImpl
	rsMod
	rsMacroRules
	rsMacroCall
)

// An rsAttr is one outer attribute, #[path(args)] or #[path = value].
type rsAttr struct {
	Path  string    // "serde", "cfg", "derive", "default", "serde_with::skip_serializing_none"
	Args  []rsToken // tokens inside the parentheses (nil without them)
	Paren bool      // the attribute has (…) arguments, maybe empty
	Value *rsToken  // the literal after "=", if any
}

// An rsItem is one item of a file (or of an impl block or inline module).
type rsItem struct {
	Kind  rsItemKind
	Name  string // item name; for impls the self type; for macro calls the macro's path
	Attrs []rsAttr
	Line  int

	Generics []string    // struct, enum, fn, type alias: generic type parameter names
	Form     string      // struct: "named", "tuple" or "unit"
	Fields   []rsField   // struct fields (tuple fields are named "0", "1", …)
	Variants []rsVariant // enum variants

	Type  []rsToken // const/static: its type; type alias: the aliased type; fn: the return type
	Value []rsToken // const/static: the initializer; fn: the body inside the braces; macros: their tokens

	Uses []rsUse // use declarations: one per imported name

	Trait string   // impl: the trait's last path segment ("" for an inherent impl)
	Items []rsItem // impl blocks and inline modules: their items
	Pub   bool     // the item is pub (in any form)
}

// An rsField is a field of a struct or of a struct-like enum variant.
type rsField struct {
	Name  string
	Attrs []rsAttr
	Type  []rsToken
	Line  int
}

// An rsVariant is one variant of an enum.
type rsVariant struct {
	Name   string
	Attrs  []rsAttr
	Form   string // "unit", "tuple" or "named"
	Fields []rsField
	Line   int
}

// An rsUse is one name a use declaration brings in scope: use a::b::C as D
// is Path [a b C], Name D; a glob use a::b::* is Path [a b], Name "*".
type rsUse struct {
	Path []string
	Name string
}

// parseRust lexes and parses the items of one file.
func parseRust(src string) ([]rsItem, error) {
	toks, err := lexRust(src)
	if err != nil {
		return nil, err
	}
	p := &rsParser{toks: toks}
	items, err := p.items(false)
	if err != nil {
		return nil, err
	}
	return items, nil
}

// rsParser is parseRust's state.
type rsParser struct {
	toks []rsToken
	pos  int
}

// at returns the token off places on, or an "<eof>" token past the end.
func (p *rsParser) at(off int) rsToken {
	if p.pos+off < len(p.toks) {
		return p.toks[p.pos+off]
	}
	return rsToken{Kind: rsPunct, Text: "<eof>"}
}

// eof reports whether every token is consumed.
func (p *rsParser) eof() bool { return p.pos >= len(p.toks) }

// errorf makes an error naming the line of the current token.
func (p *rsParser) errorf(format string, args ...any) error {
	line := 0
	if !p.eof() {
		line = p.toks[p.pos].Line
	} else if len(p.toks) > 0 {
		line = p.toks[len(p.toks)-1].Line
	}
	return fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
}

// expect consumes the token s or fails.
func (p *rsParser) expect(s string) error {
	if !p.at(0).is(s) {
		return p.errorf("want %q, got %q", s, p.at(0).Text)
	}
	p.pos++
	return nil
}

// closers pairs each opening bracket with its closing one.
var closers = map[string]string{"(": ")", "[": "]", "{": "}"}

// group consumes the bracketed group at p.pos (which must open one) and
// returns the tokens inside it.
func (p *rsParser) group() ([]rsToken, error) {
	open := p.at(0).Text
	if _, ok := closers[open]; !ok || p.at(0).Kind != rsPunct {
		return nil, p.errorf("want a bracketed group, got %q", open)
	}
	start := p.pos
	var stack []string
	for !p.eof() {
		t := p.toks[p.pos]
		p.pos++
		if t.Kind != rsPunct {
			continue
		}
		if c, ok := closers[t.Text]; ok {
			stack = append(stack, c)
			continue
		}
		if t.Text == ")" || t.Text == "]" || t.Text == "}" {
			if len(stack) == 0 || stack[len(stack)-1] != t.Text {
				return nil, fmt.Errorf("line %d: unbalanced %q", t.Line, t.Text)
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return p.toks[start+1 : p.pos-1], nil
			}
		}
	}
	return nil, fmt.Errorf("line %d: unclosed %q", p.toks[start].Line, open)
}

// until consumes tokens up to (not including) the first of stops (a
// punctuation or a keyword) at bracket depth 0 (angle brackets count when
// angles is set) and returns them. It stops at the end of input or at an unopened closing bracket.
func (p *rsParser) until(angles bool, stops ...string) []rsToken {
	start := p.pos
	depth, angle := 0, 0
	for !p.eof() {
		t := p.toks[p.pos]
		if depth == 0 && angle == 0 && (t.Kind == rsPunct || t.Kind == rsIdent) {
			for _, s := range stops {
				if t.Text == s {
					return p.toks[start:p.pos]
				}
			}
		}
		if t.Kind == rsPunct {
			switch t.Text {
			case "(", "[", "{":
				depth++
			case ")", "]", "}":
				if depth == 0 {
					return p.toks[start:p.pos]
				}
				depth--
			case "<":
				if angles {
					angle++
				}
			case ">":
				if angles && angle > 0 {
					angle--
				}
			}
		}
		p.pos++
	}
	return p.toks[start:p.pos]
}

// attrs consumes outer attributes (#[…]) and skips inner ones (#![…]).
func (p *rsParser) attrs() ([]rsAttr, error) {
	var out []rsAttr
	for p.at(0).is("#") {
		inner := p.at(1).is("!")
		if inner {
			p.pos++
		}
		p.pos++
		body, err := p.group()
		if err != nil {
			return nil, err
		}
		if inner {
			continue
		}
		out = append(out, parseAttr(body))
	}
	return out, nil
}

// parseAttr reads the inside of #[…].
func parseAttr(body []rsToken) rsAttr {
	var a rsAttr
	var path []string
	i := 0
	for ; i < len(body); i++ {
		t := body[i]
		if t.Kind == rsIdent {
			path = append(path, t.Text)
			continue
		}
		if t.is("::") {
			continue
		}
		break
	}
	a.Path = strings.Join(path, "::")
	if i < len(body) && body[i].is("(") && body[len(body)-1].is(")") {
		a.Paren = true
		a.Args = body[i+1 : len(body)-1]
	} else if i+1 < len(body) && body[i].is("=") {
		v := body[i+1]
		a.Value = &v
	}
	return a
}

// visibility skips pub, pub(crate), pub(super), pub(in path) and reports
// whether there was one.
func (p *rsParser) visibility() (bool, error) {
	if !p.at(0).is("pub") {
		return false, nil
	}
	p.pos++
	if p.at(0).is("(") {
		if _, err := p.group(); err != nil {
			return false, err
		}
	}
	return true, nil
}

// generics consumes <…> if present and returns its type parameter names
// (lifetimes left out; const parameters included).
func (p *rsParser) generics() []string {
	if !p.at(0).is("<") {
		return nil
	}
	var names []string
	depth := 0
	expectParam := true
	for !p.eof() {
		t := p.toks[p.pos]
		p.pos++
		switch {
		case t.is("<"):
			depth++
			if depth == 1 {
				expectParam = true
			}
			continue
		case t.is(">"):
			depth--
			if depth == 0 {
				return names
			}
		case t.is(",") && depth == 1:
			expectParam = true
			continue
		case depth == 1 && expectParam && t.Kind == rsIdent:
			if t.Text != "const" {
				names = append(names, t.Text)
				expectParam = false
			}
			continue
		}
		if depth == 1 {
			expectParam = false
		}
	}
	return names
}

// items parses items up to the end of input or, with inBraces, up to the
// closing brace of the enclosing block (consumed by the caller).
func (p *rsParser) items(inBraces bool) ([]rsItem, error) {
	var out []rsItem
	for !p.eof() {
		if inBraces && p.at(0).is("}") {
			return out, nil
		}
		attrs, err := p.attrs()
		if err != nil {
			return nil, err
		}
		if p.eof() || (inBraces && p.at(0).is("}")) {
			return out, nil
		}
		line := p.at(0).Line
		pub, err := p.visibility()
		if err != nil {
			return nil, err
		}
		it, ok, err := p.item()
		if err != nil {
			return nil, err
		}
		if ok {
			it.Attrs, it.Line, it.Pub = attrs, line, pub
			out = append(out, it)
		}
	}
	if inBraces {
		return nil, p.errorf("unclosed block")
	}
	return out, nil
}

// item parses one item after its attributes and visibility. ok is false
// for something apigen does not model, which is skipped.
func (p *rsParser) item() (it rsItem, ok bool, err error) {
	// qualifiers that may precede fn, impl and trait
	for {
		t := p.at(0)
		if (t.is("const") && (p.at(1).is("fn") || p.at(1).is("unsafe") || p.at(1).is("async") || p.at(1).is("extern"))) ||
			t.is("async") || t.is("default") && (p.at(1).is("fn") || p.at(1).is("unsafe")) ||
			t.is("unsafe") && !p.at(1).is("{") {
			p.pos++
			continue
		}
		if t.is("extern") && p.at(1).Kind == rsString && (p.at(2).is("fn") || p.at(2).is("unsafe")) {
			p.pos += 2
			continue
		}
		break
	}
	t := p.at(0)
	switch {
	case t.is("struct"):
		p.pos++
		return p.structItem()
	case t.is("enum"):
		p.pos++
		return p.enumItem()
	case t.is("fn"):
		p.pos++
		return p.fnItem()
	case (t.is("const") || t.is("static")) && p.at(1).Kind == rsIdent:
		p.pos++
		if p.at(0).is("mut") {
			p.pos++
		}
		return p.constItem()
	case t.is("type") && p.at(1).Kind == rsIdent:
		p.pos++
		return p.typeAliasItem()
	case t.is("use"):
		p.pos++
		return p.useItem()
	case t.is("impl"):
		p.pos++
		return p.implItem()
	case t.is("mod") && p.at(1).Kind == rsIdent:
		p.pos++
		return p.modItem()
	case t.is("macro_rules") && p.at(1).is("!"):
		p.pos += 2
		name := p.at(0).Text
		p.pos++
		body, err := p.group()
		if err != nil {
			return it, false, err
		}
		if p.at(0).is(";") {
			p.pos++
		}
		return rsItem{Kind: rsMacroRules, Name: name, Value: body}, true, nil
	case t.Kind == rsIdent && p.macroCallAhead():
		return p.macroCallItem()
	case t.is(";"):
		p.pos++
		return it, false, nil
	}
	// anything else: skip to the end of the construct
	p.pos++
	for !p.eof() {
		t := p.at(0)
		if t.is(";") {
			p.pos++
			return it, false, nil
		}
		if t.is("{") {
			_, err := p.group()
			return it, false, err
		}
		if t.is("(") || t.is("[") {
			if _, err := p.group(); err != nil {
				return it, false, err
			}
			continue
		}
		if t.is("}") || t.is("#") {
			return it, false, nil
		}
		p.pos++
	}
	return it, false, nil
}

// macroCallAhead reports whether a path followed by "!" starts at p.pos.
func (p *rsParser) macroCallAhead() bool {
	for i := 0; ; i += 2 {
		if p.at(i).Kind != rsIdent {
			return false
		}
		if p.at(i + 1).is("!") {
			return true
		}
		if !p.at(i + 1).is("::") {
			return false
		}
	}
}

// macroCallItem parses an item-level macro call: path!(…); path![…]; path!{…}.
func (p *rsParser) macroCallItem() (rsItem, bool, error) {
	var path []string
	for !p.at(0).is("!") {
		if p.at(0).Kind == rsIdent {
			path = append(path, p.at(0).Text)
		}
		p.pos++
	}
	p.pos++                      // !
	if p.at(0).Kind == rsIdent { // macro_rules-like forms with a name: skip it
		p.pos++
	}
	body, err := p.group()
	if err != nil {
		return rsItem{}, false, err
	}
	if p.at(0).is(";") {
		p.pos++
	}
	return rsItem{Kind: rsMacroCall, Name: strings.Join(path, "::"), Value: body}, true, nil
}

// itemHead consumes an item's name and generic parameters (what names the
// item kind for a message) and returns the item of kind with them.
func (p *rsParser) itemHead(kind rsItemKind, what string) (rsItem, error) {
	name, err := p.ident(what)
	if err != nil {
		return rsItem{}, err
	}
	return rsItem{Kind: kind, Name: name, Generics: p.generics()}, nil
}

// ident consumes the name of what (an item kind, for the message).
func (p *rsParser) ident(what string) (string, error) {
	t := p.at(0)
	if t.Kind != rsIdent {
		return "", p.errorf("want the name of %s, got %q", what, t.Text)
	}
	p.pos++
	return t.Text, nil
}

// structItem parses a struct after its keyword: named, tuple or unit.
func (p *rsParser) structItem() (rsItem, bool, error) {
	it, err := p.itemHead(rsStruct, "a struct")
	if err != nil {
		return it, false, err
	}
	name := it.Name
	p.until(true, "{", "(", ";") // where clause
	switch {
	case p.at(0).is("{"):
		it.Form = "named"
		body, err := p.group()
		if err != nil {
			return it, false, err
		}
		if it.Fields, err = parseFields(body); err != nil {
			return it, false, fmt.Errorf("struct %s: %w", name, err)
		}
	case p.at(0).is("("):
		it.Form = "tuple"
		body, err := p.group()
		if err != nil {
			return it, false, err
		}
		if it.Fields, err = parseTupleFields(body); err != nil {
			return it, false, fmt.Errorf("struct %s: %w", name, err)
		}
		p.until(true, ";")
		if p.at(0).is(";") {
			p.pos++
		}
	default:
		it.Form = "unit"
		if err := p.expect(";"); err != nil {
			return it, false, err
		}
	}
	return it, true, nil
}

// parseFields parses the named fields inside a struct's braces.
func parseFields(body []rsToken) ([]rsField, error) {
	p := &rsParser{toks: body}
	var fields []rsField
	for !p.eof() {
		attrs, err := p.attrs()
		if err != nil {
			return nil, err
		}
		if p.eof() {
			break
		}
		if _, err := p.visibility(); err != nil {
			return nil, err
		}
		line := p.at(0).Line
		name, err := p.ident("a field")
		if err != nil {
			return nil, err
		}
		if err := p.expect(":"); err != nil {
			return nil, fmt.Errorf("field %s: %w", name, err)
		}
		typ := p.until(true, ",")
		if len(typ) == 0 {
			return nil, fmt.Errorf("field %s: line %d: no type", name, line)
		}
		fields = append(fields, rsField{Name: name, Attrs: attrs, Type: typ, Line: line})
		if p.at(0).is(",") {
			p.pos++
		}
	}
	return fields, nil
}

// parseTupleFields parses the fields inside a tuple struct's parentheses.
func parseTupleFields(body []rsToken) ([]rsField, error) {
	p := &rsParser{toks: body}
	var fields []rsField
	for !p.eof() {
		attrs, err := p.attrs()
		if err != nil {
			return nil, err
		}
		if _, err := p.visibility(); err != nil {
			return nil, err
		}
		line := p.at(0).Line
		typ := p.until(true, ",")
		if len(typ) == 0 {
			return nil, fmt.Errorf("line %d: empty tuple field", line)
		}
		fields = append(fields, rsField{Name: fmt.Sprint(len(fields)), Attrs: attrs, Type: typ, Line: line})
		if p.at(0).is(",") {
			p.pos++
		}
	}
	return fields, nil
}

// enumItem parses an enum after its keyword.
func (p *rsParser) enumItem() (rsItem, bool, error) {
	it, err := p.itemHead(rsEnum, "an enum")
	if err != nil {
		return it, false, err
	}
	name := it.Name
	p.until(true, "{")
	body, err := p.group()
	if err != nil {
		return it, false, err
	}
	q := &rsParser{toks: body}
	for !q.eof() {
		attrs, err := q.attrs()
		if err != nil {
			return it, false, err
		}
		if q.eof() {
			break
		}
		line := q.at(0).Line
		vname, err := q.ident("a variant")
		if err != nil {
			return it, false, fmt.Errorf("enum %s: %w", name, err)
		}
		v := rsVariant{Name: vname, Attrs: attrs, Form: "unit", Line: line}
		switch {
		case q.at(0).is("{"):
			inner, err := q.group()
			if err != nil {
				return it, false, err
			}
			v.Form = "named"
			if v.Fields, err = parseFields(inner); err != nil {
				return it, false, fmt.Errorf("enum %s variant %s: %w", name, vname, err)
			}
		case q.at(0).is("("):
			inner, err := q.group()
			if err != nil {
				return it, false, err
			}
			v.Form = "tuple"
			if v.Fields, err = parseTupleFields(inner); err != nil {
				return it, false, fmt.Errorf("enum %s variant %s: %w", name, vname, err)
			}
		}
		q.until(false, ",") // a discriminant
		if q.at(0).is(",") {
			q.pos++
		}
		it.Variants = append(it.Variants, v)
	}
	return it, true, nil
}

// fnItem parses a function after its keyword: return type and body tokens.
func (p *rsParser) fnItem() (rsItem, bool, error) {
	it, err := p.itemHead(rsFn, "a function")
	if err != nil {
		return it, false, err
	}
	name := it.Name
	if !p.at(0).is("(") {
		return it, false, p.errorf("fn %s: want its parameters", name)
	}
	if _, err := p.group(); err != nil {
		return it, false, err
	}
	if p.at(0).is("->") {
		p.pos++
		it.Type = p.until(true, "{", ";", "where")
	}
	p.until(true, "{", ";")
	if p.at(0).is(";") {
		p.pos++
		return it, true, nil
	}
	body, err := p.group()
	if err != nil {
		return it, false, err
	}
	it.Value = body
	return it, true, nil
}

// constItem parses a const or static after its keyword.
func (p *rsParser) constItem() (rsItem, bool, error) {
	it, err := p.itemHead(rsConst, "a constant")
	if err != nil {
		return it, false, err
	}
	name := it.Name
	if err := p.expect(":"); err != nil {
		return it, false, err
	}
	it.Type = p.until(true, "=", ";")
	if it.Value, err = p.initializer(false, "const "+name); err != nil {
		return it, false, err
	}
	return it, true, nil
}

// initializer consumes an item's optional "= …" and its closing ";" and
// returns the tokens after "=" (angle brackets nest with angles); what
// names the item for a message.
func (p *rsParser) initializer(angles bool, what string) ([]rsToken, error) {
	var out []rsToken
	if p.at(0).is("=") {
		p.pos++
		out = p.until(angles, ";")
	}
	if err := p.expect(";"); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// typeAliasItem parses a type alias (or an associated type) after its keyword.
func (p *rsParser) typeAliasItem() (rsItem, bool, error) {
	it, err := p.itemHead(rsTypeAlias, "a type alias")
	if err != nil {
		return it, false, err
	}
	name := it.Name
	p.until(true, "=", ";") // bounds
	if it.Type, err = p.initializer(true, "type "+name); err != nil {
		return it, false, err
	}
	return it, true, nil
}

// useItem parses a use declaration after its keyword.
func (p *rsParser) useItem() (rsItem, bool, error) {
	tree := p.until(false, ";")
	if err := p.expect(";"); err != nil {
		return rsItem{}, false, err
	}
	uses, err := parseUseTree(tree, nil)
	if err != nil {
		return rsItem{}, false, err
	}
	return rsItem{Kind: rsUseDecl, Uses: uses}, true, nil
}

// parseUseTree flattens a use tree (after "use", without ";") under prefix.
func parseUseTree(toks []rsToken, prefix []string) ([]rsUse, error) {
	var out []rsUse
	path := append([]string(nil), prefix...)
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.is("::"):
		case t.is("*"):
			return append(out, rsUse{Path: path, Name: "*"}), nil
		case t.is("{"):
			q := &rsParser{toks: toks, pos: i}
			inner, err := q.group()
			if err != nil {
				return nil, err
			}
			for _, part := range splitTop(inner, ",") {
				if len(part) == 0 {
					continue
				}
				sub, err := parseUseTree(part, path)
				if err != nil {
					return nil, err
				}
				out = append(out, sub...)
			}
			return out, nil
		case t.Kind == rsIdent && t.Text == "as":
			if i+1 >= len(toks) || len(path) == 0 {
				return nil, fmt.Errorf("line %d: malformed use … as", t.Line)
			}
			name := toks[i+1].Text
			return append(out, rsUse{Path: path, Name: name}), nil
		case t.Kind == rsIdent:
			if t.Text == "self" && len(path) > 0 && len(path) == len(prefix) {
				// use a::{self} imports a itself
				break
			}
			path = append(path, t.Text)
		default:
			return nil, fmt.Errorf("line %d: unexpected %q in a use declaration", t.Line, t.Text)
		}
	}
	if len(path) == 0 {
		return out, nil
	}
	return append(out, rsUse{Path: path, Name: path[len(path)-1]}), nil
}

// splitTop splits toks at sep tokens outside brackets.
func splitTop(toks []rsToken, sep string) [][]rsToken {
	var parts [][]rsToken
	depth, start := 0, 0
	for i, t := range toks {
		if t.Kind != rsPunct {
			continue
		}
		switch t.Text {
		case "(", "[", "{", "<":
			depth++
		case ")", "]", "}", ">":
			depth--
		default:
			if t.Text == sep && depth == 0 {
				parts = append(parts, toks[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, toks[start:])
}

// implItem parses an impl block after its keyword: trait, self type, items.
func (p *rsParser) implItem() (rsItem, bool, error) {
	p.generics()
	if p.at(0).is("!") {
		p.pos++
	}
	head := p.until(true, "{", "where")
	p.until(true, "{")
	if !p.at(0).is("{") {
		return rsItem{}, false, p.errorf("impl without a body")
	}
	it := rsItem{Kind: rsImpl}
	selfType := head
	for i, t := range head {
		if t.is("for") {
			it.Trait = lastPathIdent(head[:i])
			selfType = head[i+1:]
			break
		}
	}
	it.Name = lastPathIdent(selfType)
	p.pos++
	items, err := p.items(true)
	if err != nil {
		return it, false, err
	}
	p.pos++ // }
	it.Items = items
	return it, true, nil
}

// lastPathIdent returns the last identifier of a path before its generic
// arguments: serde::Deserialize<'de> → Deserialize; &'a Foo → Foo.
func lastPathIdent(toks []rsToken) string {
	name := ""
	depth := 0
	for _, t := range toks {
		switch {
		case t.is("<"):
			depth++
		case t.is(">"):
			depth--
		case depth == 0 && t.Kind == rsIdent && t.Text != "dyn" && t.Text != "mut":
			name = t.Text
		}
	}
	return name
}

// modItem parses a module declaration or an inline module after its keyword.
func (p *rsParser) modItem() (rsItem, bool, error) {
	it, err := p.itemHead(rsMod, "a module")
	if err != nil {
		return it, false, err
	}
	name := it.Name
	if p.at(0).is(";") {
		p.pos++
		return it, true, nil
	}
	if err := p.expect("{"); err != nil {
		return it, false, err
	}
	if it.Items, err = p.items(true); err != nil {
		return it, false, fmt.Errorf("mod %s: %w", name, err)
	}
	p.pos++ // }
	return it, true, nil
}

// typeText renders type tokens as Rust source with conventional spacing:
// Option<Box<[u16]>>, HashMap<String, u64>, &'static str, dyn Fn() + Send.
func typeText(toks []rsToken) string {
	var b strings.Builder
	for i, t := range toks {
		if i > 0 {
			prev := toks[i-1]
			word := func(t rsToken) bool {
				return t.Kind == rsIdent || t.Kind == rsLifetime || t.Kind == rsNumber
			}
			switch {
			case word(prev) && word(t):
				b.WriteByte(' ')
			case t.is("+") || prev.is("+") || t.is("=") || prev.is("="):
				b.WriteByte(' ')
			case prev.is(","), prev.is(";") && !t.is("]"):
				b.WriteByte(' ')
			case prev.is("->") || t.is("->"):
				b.WriteByte(' ')
			}
		}
		b.WriteString(t.Text)
	}
	return b.String()
}
