package chsim

import (
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
)

// serdeCheck reports a body that CH's serde_json would refuse, with
// serde_json's message ("EOF while parsing an object at line 1 column 25"),
// or "" if the body parses. It checks JSON syntax and, with schema, that
// objects hold their required fields (serde's "missing field `x`").
func serdeCheck(body []byte, schema *openapi3.Schema) string {
	p := &serdeParser{b: body, line: 1}
	p.ws()
	if err := p.value(schema); err != "" {
		return err
	}
	p.ws()
	if p.i < len(p.b) {
		p.advance()
		return p.errAt("trailing characters")
	}
	return ""
}

type serdeParser struct {
	b    []byte
	i    int
	line int
	col  int // column of the last consumed byte
}

func (p *serdeParser) advance() byte {
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

func (p *serdeParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.advance()
		default:
			return
		}
	}
}

func (p *serdeParser) errAt(msg string) string {
	return fmt.Sprintf("%s at line %d column %d", msg, p.line, p.col)
}

func (p *serdeParser) eof(what string) string { return p.errAt("EOF while parsing " + what) }

func (p *serdeParser) value(schema *openapi3.Schema) string {
	if p.i >= len(p.b) {
		return p.eof("a value")
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(schema)
	case c == '[':
		return p.list(schema)
	case c == '"':
		p.advance()
		return p.str()
	case c == 't':
		return p.ident("true")
	case c == 'f':
		return p.ident("false")
	case c == 'n':
		return p.ident("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		p.advance()
		return p.errAt("expected value")
	}
}

func (p *serdeParser) ident(word string) string {
	for k := 0; k < len(word); k++ {
		if p.i >= len(p.b) {
			return p.eof("a value")
		}
		if p.advance() != word[k] {
			return p.errAt("expected ident")
		}
	}
	return ""
}

func (p *serdeParser) number() string {
	if p.b[p.i] == '-' {
		p.advance()
	}
	digits := 0
	for p.i < len(p.b) && (isDigit(p.b[p.i]) || p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E' || p.b[p.i] == '+' || p.b[p.i] == '-') {
		p.advance()
		digits++
	}
	if digits == 0 {
		if p.i >= len(p.b) {
			return p.eof("a value")
		}
		p.advance()
		return p.errAt("invalid number")
	}
	return ""
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (p *serdeParser) str() string {
	for {
		if p.i >= len(p.b) {
			return p.eof("a string")
		}
		c := p.advance()
		switch {
		case c == '"':
			return ""
		case c == '\\':
			if p.i >= len(p.b) {
				return p.eof("a string")
			}
			e := p.advance()
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				for k := 0; k < 4; k++ {
					if p.i >= len(p.b) {
						return p.eof("a string")
					}
					if !isHex(p.advance()) {
						return p.errAt("invalid escape")
					}
				}
			default:
				return p.errAt("invalid escape")
			}
		case c < 0x20:
			return p.errAt("control character (\\u0000-\\u001F) found while parsing a string")
		}
	}
}

func isHex(c byte) bool { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') }

func (p *serdeParser) object(schema *openapi3.Schema) string {
	p.advance() // '{'
	seen := map[string]bool{}
	p.ws()
	if p.i >= len(p.b) {
		return p.eof("an object")
	}
	if p.b[p.i] == '}' {
		p.advance()
		return p.missing(schema, seen)
	}
	for {
		p.ws()
		if p.i >= len(p.b) {
			return p.eof("an object")
		}
		if p.b[p.i] != '"' {
			p.advance()
			return p.errAt("key must be a string")
		}
		p.advance()
		start := p.i
		if err := p.str(); err != "" {
			return err
		}
		key := string(p.b[start : p.i-1])
		seen[key] = true
		p.ws()
		if p.i >= len(p.b) {
			return p.eof("an object")
		}
		if p.advance() != ':' {
			return p.errAt("expected `:`")
		}
		p.ws()
		if err := p.value(propertySchema(schema, key)); err != "" {
			return err
		}
		p.ws()
		if p.i >= len(p.b) {
			return p.eof("an object")
		}
		switch p.advance() {
		case ',':
			p.ws()
			if p.i < len(p.b) && p.b[p.i] == '}' {
				p.advance()
				return p.errAt("trailing comma")
			}
		case '}':
			return p.missing(schema, seen)
		default:
			return p.errAt("expected `,` or `}`")
		}
	}
}

// missing reports the first required property (in spec order, as serde
// reports struct fields in declaration order) absent from the object.
func (p *serdeParser) missing(schema *openapi3.Schema, seen map[string]bool) string {
	if schema == nil {
		return ""
	}
	var req []string
	for _, r := range schema.Required {
		if !seen[r] {
			req = append(req, r)
		}
	}
	if len(req) == 0 {
		return ""
	}
	return p.errAt(fmt.Sprintf("missing field `%s`", req[0]))
}

func (p *serdeParser) list(schema *openapi3.Schema) string {
	p.advance() // '['
	var items *openapi3.Schema
	if schema != nil && schema.Items != nil {
		items = schema.Items.Value
	}
	p.ws()
	if p.i >= len(p.b) {
		return p.eof("a list")
	}
	if p.b[p.i] == ']' {
		p.advance()
		return ""
	}
	for {
		p.ws()
		if err := p.value(items); err != "" {
			return err
		}
		p.ws()
		if p.i >= len(p.b) {
			return p.eof("a list")
		}
		switch p.advance() {
		case ',':
			p.ws()
			if p.i < len(p.b) && p.b[p.i] == ']' {
				p.advance()
				return p.errAt("trailing comma")
			}
		case ']':
			return ""
		default:
			return p.errAt("expected `,` or `]`")
		}
	}
}

func propertySchema(s *openapi3.Schema, key string) *openapi3.Schema {
	if s == nil {
		return nil
	}
	if ref := s.Properties[key]; ref != nil {
		return ref.Value
	}
	return nil
}
