package chsim

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The simulator reads and writes JSON bodies the way CH's Rust structs do
// through serde and serde_json: a shape describes a Rust type as serde sees
// it (field order, defaults, flatten, aliases, skip_serializing_none), and
// decode/encode follow serde_json's rules and messages, positions included.
//
// Decoded values are in the JSON view: a struct is a map[string]any keyed
// by JSON member name (a flattened struct's members are the outer map's),
// integers are uint64 or int64, strings (paths, IPs, MACs, enum variants)
// are strings, sequences []any, and None is nil (or an absent key).

// kind is the serde data model kind of a shape.
type kind uint8

const (
	kindStruct kind = iota
	kindOption
	kindSeq
	kindUint
	kindInt
	kindBool
	kindString
	kindPath
	kindIP
	kindMAC
	kindEnum
	kindNonZero // NonZeroU32, NonZeroU64
)

// shape is a Rust type as serde (de)serialises it.
type shape struct {
	kind kind
	name string // struct or enum name; integer type name ("u32")
	bits int    // integer width
	elem *shape // Option, Vec

	fields      []*field // struct fields in declaration order
	skipNone    bool     // #[serde_with::skip_serializing_none]
	denyUnknown bool     // #[serde(deny_unknown_fields)]
	// defaultJSON is the struct's Default impl, as JSON of its members
	// (the members it omits take their serde defaults).
	defaultJSON string

	variants []string // enum unit variants
	dflt     string   // enum #[default] variant
}

// field is a struct field.
type field struct {
	name string
	sh   *shape
	// hasDefault: #[serde(default)] or #[serde(default = "…")]; def is the
	// JSON of the default function's value, "" for the type's Default.
	hasDefault bool
	def        string
	flatten    bool
	alias      string
	skipFalse  bool // skip_serializing_if = "<&bool as Not>::not"
	skip       bool // #[serde(skip)]
	// deserializeWith, serializeWith: the Rust functions of
	// #[serde(deserialize_with = "…")] and serialize_with, keys of serdeWith.
	deserializeWith string
	serializeWith   string
}

// serdeWith are the functions CH's structs name in deserialize_with and
// serialize_with, by Rust name, as they change a value of the JSON view.
// Every one of them is about file descriptors, which mean nothing outside
// the process that holds them: a value that is present becomes -1 (each
// element of a list, vmm/src/vm_config.rs and vmm/src/config.rs).
var serdeWith = map[string]func(any) any{
	"deserialize_netconfig_fds":             invalidFDs,
	"serialize_netconfig_fds":               invalidFDs,
	"deserialize_restorednetconfig_fds":     invalidFDs,
	"serialize_restorednetconfig_fds":       invalidFDs,
	"deserialize_platformconfig_iommufd_fd": invalidFDs,
	"deserialize_deviceconfig_fd":           invalidFDs,
}

// invalidFDs maps Some(fd) to Some(-1) and Some([fds]) to as many -1s.
func invalidFDs(v any) any {
	switch t := v.(type) {
	case nil:
		return nil
	case []any:
		out := make([]any, len(t))
		for i := range out {
			out[i] = int64(-1)
		}
		return out
	}
	return int64(-1)
}

// applyWith runs the serdeWith function fn ("" for none) on v.
func applyWith(fn string, v any) any {
	if fn == "" {
		return v
	}
	with, ok := serdeWith[fn]
	if !ok {
		panic("chsim: no serde function " + fn)
	}
	return with(v)
}

// describe is serde's "expected …" text for a shape.
func (s *shape) describe() string {
	switch s.kind {
	case kindStruct:
		return "struct " + s.name
	case kindOption:
		return "option"
	case kindSeq:
		return "a sequence"
	case kindUint, kindInt:
		return s.name
	case kindNonZero:
		return "a nonzero " + s.name
	case kindBool:
		return "a boolean"
	case kindString:
		return "a string"
	case kindPath:
		return "path string"
	case kindIP:
		return "IP address"
	case kindMAC:
		return "a string"
	case kindEnum:
		return "enum " + s.name
	}
	return s.name
}

// pos is a position in a body as serde_json reports it: line and column
// of the last byte it read.
type pos struct{ line, col, off int }

// jnode is a parsed JSON value with the positions serde_json would report
// errors about it at.
type jnode struct {
	kind  byte // '{', '[', '"', 'n' (number), 't', 'f', 'z' (null)
	str   string
	keys  []string
	kend  []pos // after each key
	vals  []*jnode
	elems []*jnode
	start pos // before its first byte (containers), or its first byte
	end   pos // its last byte ('}' or ']' for containers)
	// incomplete: the body ended, or broke, inside it.
	incomplete bool
}

// serdeError is a deserialisation error and where serde_json reports it.
type serdeError struct {
	msg string
	at  pos
	// mapLevel: an error a Deserialize impl raised after serde_json read
	// the value (MacAddr's): it carries no position until the enclosing
	// object's end has been read.
	mapLevel bool
}

func (e *serdeError) String() string {
	return fmt.Sprintf("%s at line %d column %d", e.msg, e.at.line, e.at.col)
}

// earlier returns the error serde_json, reading front to back, meets
// first.
func earlier(a, b *serdeError) *serdeError {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case b.at.off < a.at.off:
		return b
	}
	return a
}

// decodeBody deserialises body into sh as serde_json::from_slice does and
// returns the value or serde_json's error message.
func decodeBody(body []byte, sh *shape) (any, string) {
	p := &jsonParser{b: body, line: 1}
	p.ws()
	n := p.value()
	var err *serdeError
	if p.err == nil {
		p.ws()
		if p.i < len(p.b) {
			p.advance()
			p.fail("trailing characters")
		}
	}
	v, derr := decodeNode(sh, n, nil)
	err = earlier(p.err, derr)
	if err != nil {
		return nil, err.String()
	}
	return v, ""
}

// jsonParser parses JSON into jnodes, stopping at the first syntax error
// with serde_json's message and position.
type jsonParser struct {
	b    []byte
	i    int
	line int
	col  int
	err  *serdeError
}

func (p *jsonParser) here() pos { return pos{p.line, p.col, p.i} }

func (p *jsonParser) advance() byte {
	c := p.b[p.i]
	p.i++
	if c == '\n' {
		p.line++
		p.col = 0
	} else {
		p.col++
	}
	return c
}

func (p *jsonParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.advance()
		default:
			return
		}
	}
}

func (p *jsonParser) fail(msg string) {
	if p.err == nil {
		p.err = &serdeError{msg: msg, at: p.here()}
	}
}

func (p *jsonParser) eof(what string) { p.fail("EOF while parsing " + what) }

// value parses one value; nil when there is none (the error is set).
func (p *jsonParser) value() *jnode {
	if p.i >= len(p.b) {
		p.eof("a value")
		return nil
	}
	c := p.b[p.i]
	switch {
	case c == '{':
		return p.object()
	case c == '[':
		return p.list()
	case c == '"':
		n := &jnode{kind: '"'}
		p.advance()
		n.start = p.here()
		n.str = p.str()
		n.end = p.here()
		n.incomplete = p.err != nil
		return n
	case c == 't', c == 'f', c == 'n':
		word := map[byte]string{'t': "true", 'f': "false", 'n': "null"}[c]
		n := &jnode{kind: map[byte]byte{'t': 't', 'f': 'f', 'n': 'z'}[c]}
		p.advance()
		n.start = p.here()
		for k := 1; k < len(word); k++ {
			if p.i >= len(p.b) {
				p.eof("a value")
				return nil
			}
			if p.advance() != word[k] {
				p.fail("expected ident")
				return nil
			}
		}
		n.end = p.here()
		return n
	case c == '-' || isDigit(c):
		return p.number()
	}
	p.advance()
	p.fail("expected value")
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') }

func (p *jsonParser) number() *jnode {
	n := &jnode{kind: 'n'}
	from := p.i
	if p.b[p.i] == '-' {
		p.advance()
	}
	n.start = p.here()
	if p.i >= len(p.b) {
		p.eof("a value")
		return nil
	}
	if !isDigit(p.b[p.i]) {
		p.advance()
		p.fail("invalid number")
		return nil
	}
	for p.i < len(p.b) && (isDigit(p.b[p.i]) || strings.IndexByte(".eE+-", p.b[p.i]) >= 0) {
		p.advance()
	}
	n.str = string(p.b[from:p.i])
	n.end = p.here()
	return n
}

// str reads a string after its opening quote, decoding escapes.
func (p *jsonParser) str() string {
	var sb strings.Builder
	for {
		if p.i >= len(p.b) {
			p.eof("a string")
			return sb.String()
		}
		c := p.advance()
		switch {
		case c == '"':
			return sb.String()
		case c == '\\':
			if p.i >= len(p.b) {
				p.eof("a string")
				return sb.String()
			}
			switch e := p.advance(); e {
			case '"', '\\', '/':
				sb.WriteByte(e)
			case 'b':
				sb.WriteByte('\b')
			case 'f':
				sb.WriteByte('\f')
			case 'n':
				sb.WriteByte('\n')
			case 'r':
				sb.WriteByte('\r')
			case 't':
				sb.WriteByte('\t')
			case 'u':
				var r rune
				for k := 0; k < 4; k++ {
					if p.i >= len(p.b) {
						p.eof("a string")
						return sb.String()
					}
					h := p.advance()
					if !isHex(h) {
						p.fail("invalid escape")
						return sb.String()
					}
					v, _ := strconv.ParseUint(string(h), 16, 8)
					r = r<<4 | rune(v)
				}
				sb.WriteRune(r)
			default:
				p.fail("invalid escape")
				return sb.String()
			}
		case c < 0x20:
			p.fail("control character (\\u0000-\\u001F) found while parsing a string")
			return sb.String()
		default:
			sb.WriteByte(c)
		}
	}
}

// open reads a container's opening bracket and what follows; it reports
// whether the container is empty (closed by close right away).
func (p *jsonParser) open(n *jnode, close byte, what string) (empty bool) {
	n.start = p.here() // serde_json refuses a container on sight, before reading it
	p.advance()
	n.incomplete = true
	p.ws()
	switch {
	case p.i >= len(p.b):
		p.eof(what)
	case p.b[p.i] == close:
		p.advance()
		n.end, n.incomplete = p.here(), false
		return true
	}
	return false
}

// more reads what follows a member or element: a comma (it reports that
// more follow) or close (the container ends).
func (p *jsonParser) more(n *jnode, close byte, what string) bool {
	p.ws()
	if p.i >= len(p.b) {
		p.eof(what)
		return false
	}
	switch p.advance() {
	case ',':
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == close {
			p.advance()
			p.fail("trailing comma")
			return false
		}
		return true
	case close:
		n.end, n.incomplete = p.here(), false
		return false
	}
	p.fail(fmt.Sprintf("expected `,` or `%c`", close))
	return false
}

func (p *jsonParser) object() *jnode {
	n := &jnode{kind: '{'}
	if p.open(n, '}', "an object") || p.err != nil {
		return n
	}
	for {
		p.ws()
		if p.i >= len(p.b) {
			p.eof("an object")
			return n
		}
		if p.b[p.i] != '"' {
			p.advance()
			p.fail("key must be a string")
			return n
		}
		p.advance()
		key := p.str()
		if p.err != nil {
			return n
		}
		n.keys = append(n.keys, key)
		n.kend = append(n.kend, p.here())
		p.ws()
		if p.i >= len(p.b) {
			p.eof("an object")
			n.vals = append(n.vals, nil)
			return n
		}
		if p.advance() != ':' {
			p.fail("expected `:`")
			n.vals = append(n.vals, nil)
			return n
		}
		p.ws()
		n.vals = append(n.vals, p.value())
		if p.err != nil || !p.more(n, '}', "an object") {
			return n
		}
	}
}

func (p *jsonParser) list() *jnode {
	n := &jnode{kind: '['}
	if p.open(n, ']', "a list") || p.err != nil {
		return n
	}
	for {
		p.ws()
		n.elems = append(n.elems, p.value())
		if p.err != nil || !p.more(n, ']', "a list") {
			return n
		}
	}
}

// unexpected is serde's Unexpected text for a node.
func (n *jnode) unexpected() string {
	switch n.kind {
	case '{':
		return "map"
	case '[':
		return "sequence"
	case '"':
		return "string " + rustDebugString(n.str)
	case 't':
		return "boolean `true`"
	case 'f':
		return "boolean `false`"
	case 'z':
		return "null"
	case 'n':
		if u, err := strconv.ParseUint(n.str, 10, 64); err == nil {
			return fmt.Sprintf("integer `%d`", u)
		}
		if i, err := strconv.ParseInt(n.str, 10, 64); err == nil {
			return fmt.Sprintf("integer `%d`", i)
		}
		f, _ := strconv.ParseFloat(n.str, 64)
		return "floating point `" + rustFloat(f) + "`"
	}
	return "value"
}

// rustDebugString is Rust's {:?} of a str.
func rustDebugString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u{%x}`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// rustFloat is Rust's Display of an f64.
func rustFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e16 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// errAt is an error about node n: at override when set (a flattened
// struct's fields are read from a buffer once the enclosing object ended),
// else at the node's end (or start, for a container serde refused on
// sight).
func errAt(n *jnode, override *pos, msg string, atStart bool) *serdeError {
	if override != nil {
		return &serdeError{msg: msg, at: *override}
	}
	if atStart {
		return &serdeError{msg: msg, at: n.start}
	}
	return &serdeError{msg: msg, at: n.end}
}

func invalidType(n *jnode, sh *shape, override *pos) *serdeError {
	container := n.kind == '{' || n.kind == '['
	return errAt(n, override, "invalid type: "+n.unexpected()+", expected "+sh.describe(), container)
}

// decodeNode converts n to sh. A nil or incomplete node (the body broke
// there) yields no error of its own: the syntax error is reported.
func decodeNode(sh *shape, n *jnode, override *pos) (any, *serdeError) {
	if n == nil {
		return nil, nil
	}
	if sh == nil { // serde::de::IgnoredAny
		return nil, nil
	}
	switch sh.kind {
	case kindOption:
		if n.kind == 'z' {
			return nil, nil
		}
		return decodeNode(sh.elem, n, override)
	case kindStruct:
		return decodeStruct(sh, n, override)
	case kindSeq:
		if n.kind != '[' {
			return nil, invalidType(n, sh, override)
		}
		out := make([]any, 0, len(n.elems))
		for _, e := range n.elems {
			v, err := decodeNode(sh.elem, e, override)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case kindUint, kindInt, kindNonZero:
		return decodeInteger(sh, n, override)
	case kindBool:
		switch n.kind {
		case 't':
			return true, nil
		case 'f':
			return false, nil
		}
		return nil, invalidType(n, sh, override)
	case kindString, kindPath:
		if n.kind != '"' {
			return nil, invalidType(n, sh, override)
		}
		return n.str, nil
	case kindIP:
		if n.kind != '"' {
			return nil, invalidType(n, sh, override)
		}
		if !validIP(n.str) {
			return nil, errAt(n, override, "invalid IP address syntax", false)
		}
		return n.str, nil
	case kindMAC:
		if n.kind != '"' {
			return nil, invalidType(n, sh, override)
		}
		if !validMAC(n.str) {
			err := errAt(n, override, "The provided MAC address is invalid: parsing of "+n.str+" into a MAC address failed", false)
			err.mapLevel = override == nil
			return nil, err
		}
		return n.str, nil
	case kindEnum:
		if n.kind != '"' {
			return nil, invalidType(n, sh, override)
		}
		for _, v := range sh.variants {
			if v == n.str {
				return v, nil
			}
		}
		quoted := make([]string, len(sh.variants))
		for i, v := range sh.variants {
			quoted[i] = "`" + v + "`"
		}
		return nil, errAt(n, override, fmt.Sprintf("unknown variant `%s`, expected one of %s", n.str, strings.Join(quoted, ", ")), false)
	}
	return nil, nil
}

func decodeInteger(sh *shape, n *jnode, override *pos) (any, *serdeError) {
	if n.kind != 'n' {
		return nil, invalidType(n, sh, override)
	}
	u, uerr := strconv.ParseUint(n.str, 10, 64)
	i, ierr := strconv.ParseInt(n.str, 10, 64)
	if uerr != nil && ierr != nil {
		return nil, invalidType(n, sh, override) // a float
	}
	if sh.kind == kindInt {
		if ierr != nil || i < -(1<<(sh.bits-1)) || i >= 1<<(sh.bits-1) {
			return nil, errAt(n, override, "invalid value: "+n.unexpected()+", expected "+sh.describe(), false)
		}
		return i, nil
	}
	if uerr != nil || (sh.bits < 64 && u >= 1<<sh.bits) || (sh.kind == kindNonZero && u == 0) {
		return nil, errAt(n, override, "invalid value: "+n.unexpected()+", expected "+sh.describe(), false)
	}
	return u, nil
}

// decodeStruct reads a struct from an object (or, for a struct without
// flattened fields, from a sequence of its fields in order).
func decodeStruct(sh *shape, n *jnode, override *pos) (any, *serdeError) {
	flat := sh.hasFlatten()
	switch {
	case n.kind == '[' && !flat:
		return decodeStructSeq(sh, n, override)
	case n.kind != '{':
		return nil, invalidType(n, sh, override)
	}
	out := map[string]any{}
	seen := map[string]bool{}
	var buffered []int // members for the flattened fields
	for k, key := range n.keys {
		f := sh.lookup(key)
		if f == nil {
			if flat {
				buffered = append(buffered, k)
				continue
			}
			if sh.denyUnknown {
				at := n.kend[k] // serde refuses the key as it reads it
				if override != nil {
					at = *override
				}
				return nil, &serdeError{msg: fmt.Sprintf("unknown field `%s`, expected %s", key, sh.fieldList()), at: at}
			}
			continue // ignored, but a broken value still breaks the body
		}
		if seen[f.name] {
			at := n.kend[k]
			if override != nil {
				at = *override
			}
			return nil, &serdeError{msg: fmt.Sprintf("duplicate field `%s`", f.name), at: at}
		}
		seen[f.name] = true
		v, err := decodeNode(f.sh, n.vals[k], override)
		if err != nil {
			if err.mapLevel {
				// serde_json places it once it read past the value: at
				// the object's end when the value was its last member.
				err.mapLevel = false
				if k == len(n.keys)-1 && !n.incomplete {
					err.at = n.end
				}
			}
			return nil, err
		}
		out[f.name] = applyWith(f.deserializeWith, v)
	}
	if n.incomplete {
		return out, nil
	}
	end := n.end
	if override != nil {
		end = *override
	}
	for _, f := range sh.fields {
		switch {
		case f.skip:
		case f.flatten:
			sub := &jnode{kind: '{', start: n.start, end: n.end}
			for _, k := range buffered {
				sub.keys = append(sub.keys, n.keys[k])
				sub.kend = append(sub.kend, n.kend[k])
				sub.vals = append(sub.vals, n.vals[k])
			}
			v, err := decodeStruct(f.sh, sub, &end)
			if err != nil {
				return nil, err
			}
			for k, x := range v.(map[string]any) {
				out[k] = x
			}
		case seen[f.name]:
		case f.hasDefault:
			out[f.name] = f.defaultValue()
		case f.sh.kind == kindOption:
			out[f.name] = nil
		default:
			return nil, &serdeError{msg: fmt.Sprintf("missing field `%s`", f.name), at: end}
		}
	}
	return out, nil
}

// decodeStructSeq is serde's visit_seq: the fields in order; a field with a
// default may be left out at the end.
func decodeStructSeq(sh *shape, n *jnode, override *pos) (any, *serdeError) {
	out := map[string]any{}
	var fields []*field
	for _, f := range sh.fields {
		if !f.skip {
			fields = append(fields, f)
		}
	}
	for i, f := range fields {
		if i < len(n.elems) {
			v, err := decodeNode(f.sh, n.elems[i], override)
			if err != nil {
				return nil, err
			}
			out[f.name] = applyWith(f.deserializeWith, v)
			continue
		}
		if n.incomplete {
			return out, nil
		}
		if !f.hasDefault {
			return nil, errAt(n, override, fmt.Sprintf("invalid length %d, expected %s with %d elements", i, sh.describe(), len(fields)), false)
		}
		out[f.name] = f.defaultValue()
	}
	if len(n.elems) > len(fields) && !n.incomplete {
		return nil, errAt(n, override, fmt.Sprintf("invalid length %d, expected fewer elements in array", len(n.elems)), false)
	}
	return out, nil
}

func (s *shape) hasFlatten() bool {
	for _, f := range s.fields {
		if f.flatten {
			return true
		}
	}
	return false
}

// lookup finds the (not flattened) field a JSON member name or alias
// belongs to.
func (s *shape) lookup(key string) *field {
	for _, f := range s.fields {
		if !f.flatten && !f.skip && (f.name == key || (f.alias != "" && f.alias == key)) {
			return f
		}
	}
	return nil
}

// fieldList is serde's list of expected fields: "`a`", "`a` or `b`",
// "one of `a`, `b`, `c`".
func (s *shape) fieldList() string {
	var names []string
	for _, f := range s.fields {
		if !f.skip {
			names = append(names, "`"+f.name+"`")
		}
	}
	switch len(names) {
	case 0:
		return "there are no fields"
	case 1:
		return names[0]
	case 2:
		return names[0] + " or " + names[1]
	}
	return "one of " + strings.Join(names, ", ")
}

// defaultValue is the value of an absent field with a serde default.
func (f *field) defaultValue() any {
	if f.def != "" {
		v, msg := decodeBody([]byte(f.def), f.sh)
		if msg != "" {
			panic("chsim: bad default of field " + f.name + ": " + msg)
		}
		return v
	}
	return f.sh.zero()
}

// zero is the type's Default::default().
func (s *shape) zero() any {
	switch s.kind {
	case kindStruct:
		def := s.defaultJSON
		if def == "" {
			def = "{}"
		}
		v, msg := decodeBody([]byte(def), s)
		if msg != "" {
			panic("chsim: bad Default of " + s.name + ": " + msg)
		}
		return v
	case kindSeq:
		return []any{}
	case kindUint, kindNonZero:
		return uint64(0)
	case kindInt:
		return int64(0)
	case kindBool:
		return false
	case kindString, kindPath:
		return ""
	case kindEnum:
		return s.dflt
	}
	return nil
}

// encodeJSON serialises v as sh with serde_json::to_string.
func encodeJSON(sh *shape, v any) []byte {
	var b bytes.Buffer
	encodeValue(&b, sh, v)
	return b.Bytes()
}

func encodeValue(b *bytes.Buffer, sh *shape, v any) {
	if v == nil && sh.kind != kindStruct {
		b.WriteString("null")
		return
	}
	switch sh.kind {
	case kindOption:
		encodeValue(b, sh.elem, v)
	case kindStruct:
		m, _ := v.(map[string]any)
		b.WriteByte('{')
		first := true
		encodeFields(b, sh, m, &first)
		b.WriteByte('}')
	case kindSeq:
		list, _ := v.([]any)
		b.WriteByte('[')
		for i, e := range list {
			if i > 0 {
				b.WriteByte(',')
			}
			encodeValue(b, sh.elem, e)
		}
		b.WriteByte(']')
	case kindUint, kindInt, kindNonZero:
		b.WriteString(integerText(v))
	case kindBool:
		if t, _ := v.(bool); t {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	default:
		s, _ := v.(string)
		writeJSONString(b, s)
	}
}

func encodeFields(b *bytes.Buffer, sh *shape, m map[string]any, first *bool) {
	for _, f := range sh.fields {
		if f.skip {
			continue
		}
		if f.flatten {
			encodeFields(b, f.sh, m, first)
			continue
		}
		v := applyWith(f.serializeWith, m[f.name])
		if v == nil && sh.skipNone && f.sh.kind == kindOption {
			continue
		}
		if f.skipFalse {
			if t, _ := v.(bool); !t {
				continue
			}
		}
		if !*first {
			b.WriteByte(',')
		}
		*first = false
		writeJSONString(b, f.name)
		b.WriteByte(':')
		encodeValue(b, f.sh, v)
	}
}

// integerText formats an integer of the JSON view.
func integerText(v any) string {
	switch n := v.(type) {
	case uint64:
		return strconv.FormatUint(n, 10)
	case int64:
		return strconv.FormatInt(n, 10)
	case int:
		return strconv.Itoa(n)
	case float64:
		return strconv.FormatFloat(n, 'f', -1, 64)
	}
	return "0"
}

// writeJSONString writes s as serde_json does: quotes, backslashes and
// control characters escaped, nothing else.
func writeJSONString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"':
			b.WriteString(`\"`)
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\f':
			b.WriteString(`\f`)
		case c < 0x20:
			fmt.Fprintf(b, `\u%04x`, c)
		default:
			_, size := utf8.DecodeRuneInString(s[i:])
			b.WriteString(s[i : i+size])
			i += size
			continue
		}
		i++
	}
	b.WriteByte('"')
}
