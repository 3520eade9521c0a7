package main

// A lexer for the subset of Rust that apigen reads from Cloud Hypervisor's
// source (see facts.go): enough to find items, attributes and types in any
// file of the repository without failing on the rest (closures, macros,
// lifetimes, raw strings). It never interprets expressions.

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// rsTokKind is the kind of a Rust token.
type rsTokKind int

const (
	rsIdent    rsTokKind = iota // identifier or keyword; Text is the name (r#type is "type")
	rsLifetime                  // 'a, 'static; Text includes the quote
	rsString                    // "…", r#"…"#, b"…", c"…"; Value is the decoded content
	rsChar                      // 'x', b'x'; Text as written
	rsNumber                    // 46, 0x3f8, 1_000u32, 1.5; Text as written
	rsPunct                     // one punctuation character, or "::", "=>", "->"
)

// String names the kind, for messages and tests.
func (k rsTokKind) String() string {
	switch k {
	case rsIdent:
		return "identifier"
	case rsLifetime:
		return "lifetime"
	case rsString:
		return "string"
	case rsChar:
		return "char"
	case rsNumber:
		return "number"
	case rsPunct:
		return "punctuation"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// A rsToken is one token of Rust source. Comments (doc comments included)
// and whitespace produce none.
type rsToken struct {
	Kind  rsTokKind
	Text  string // as written (identifiers without r#)
	Value string // decoded content of a string literal
	Line  int    // 1-based line of its first character
}

// is reports whether t is the punctuation or identifier s.
func (t rsToken) is(s string) bool {
	return (t.Kind == rsPunct || t.Kind == rsIdent) && t.Text == s
}

// lexRust splits src into tokens. It fails only on source that is not
// Rust: an unterminated string, character or block comment.
func lexRust(src string) ([]rsToken, error) {
	l := rsLexer{src: src, line: 1}
	for {
		l.skipSpaceAndComments()
		if l.err != nil {
			return nil, l.err
		}
		if l.pos >= len(l.src) {
			return l.toks, nil
		}
		if err := l.next(); err != nil {
			return nil, err
		}
	}
}

// rsLexer is lexRust's state.
type rsLexer struct {
	src  string
	pos  int
	line int
	toks []rsToken
	err  error
}

// peek returns the byte off places on, or 0 past the end.
func (l *rsLexer) peek(off int) byte {
	if l.pos+off < len(l.src) {
		return l.src[l.pos+off]
	}
	return 0
}

// advance moves n bytes on, counting lines.
func (l *rsLexer) advance(n int) {
	end := min(l.pos+n, len(l.src))
	l.line += strings.Count(l.src[l.pos:end], "\n")
	l.pos = end
}

// errorf makes an error naming line.
func (l *rsLexer) errorf(line int, format string, args ...any) error {
	return fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
}

// skipSpaceAndComments moves past white space and (nested) comments.
func (l *rsLexer) skipSpaceAndComments() {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			l.advance(1)
		case c == '/' && l.peek(1) == '/':
			end := strings.IndexByte(l.src[l.pos:], '\n')
			if end < 0 {
				end = len(l.src) - l.pos
			}
			l.advance(end)
		case c == '/' && l.peek(1) == '*':
			start := l.line
			depth := 0
			for {
				if l.pos >= len(l.src) {
					l.err = l.errorf(start, "unterminated block comment")
					return
				}
				if l.peek(0) == '/' && l.peek(1) == '*' {
					depth++
					l.advance(2)
				} else if l.peek(0) == '*' && l.peek(1) == '/' {
					depth--
					l.advance(2)
					if depth == 0 {
						break
					}
				} else {
					l.advance(1)
				}
			}
		default:
			if r, size := utf8.DecodeRuneInString(l.src[l.pos:]); r != utf8.RuneError && unicode.IsSpace(r) {
				l.advance(size)
				continue
			}
			return
		}
	}
}

// isIdentStart reports whether ASCII byte c may start an identifier.
func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// isIdentChar reports whether ASCII byte c may continue an identifier.
func isIdentChar(c byte) bool {
	return isIdentStart(c) || (c >= '0' && c <= '9')
}

// identEnd returns where the identifier starting at i of s ends: ASCII
// letters, digits and _, and non-ASCII letters and digits.
func identEnd(s string, i int) int {
	for i < len(s) {
		if isIdentChar(s[i]) {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r < utf8.RuneSelf || !(unicode.IsLetter(r) || unicode.IsDigit(r)) {
			break
		}
		i += size
	}
	return i
}

// identStartsAt reports whether an identifier starts at i of s.
func identStartsAt(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	if isIdentStart(s[i]) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return r >= utf8.RuneSelf && unicode.IsLetter(r)
}

// emit appends a token.
func (l *rsLexer) emit(kind rsTokKind, text, value string, line int) {
	l.toks = append(l.toks, rsToken{Kind: kind, Text: text, Value: value, Line: line})
}

// next lexes one token at l.pos, which is not space or a comment.
func (l *rsLexer) next() error {
	c, line := l.src[l.pos], l.line
	switch {
	case c == '"':
		return l.lexString(0, false)
	case (c == 'b' || c == 'c') && l.peek(1) == '"':
		return l.lexString(1, false)
	case c == 'r' && (l.peek(1) == '"' || (l.peek(1) == '#' && (l.peek(2) == '"' || l.peek(2) == '#'))):
		return l.lexString(1, true)
	case (c == 'b' || c == 'c') && l.peek(1) == 'r' && (l.peek(2) == '"' || l.peek(2) == '#'):
		return l.lexString(2, true)
	case c == 'b' && l.peek(1) == '\'':
		l.advance(1)
		if err := l.lexCharOrLifetime(); err != nil {
			return err
		}
		l.toks[len(l.toks)-1].Text = "b" + l.toks[len(l.toks)-1].Text
		return nil
	case c == 'r' && l.peek(1) == '#' && identStartsAt(l.src, l.pos+2):
		l.advance(2)
		start := l.pos
		l.pos = identEnd(l.src, l.pos)
		l.emit(rsIdent, l.src[start:l.pos], "", line)
		return nil
	case identStartsAt(l.src, l.pos):
		start := l.pos
		l.pos = identEnd(l.src, l.pos)
		l.emit(rsIdent, l.src[start:l.pos], "", line)
		return nil
	case c >= '0' && c <= '9':
		l.lexNumber()
		return nil
	case c == '\'':
		return l.lexCharOrLifetime()
	}
	for _, p := range []string{"::", "=>", "->"} {
		if strings.HasPrefix(l.src[l.pos:], p) {
			l.advance(len(p))
			l.emit(rsPunct, p, "", line)
			return nil
		}
	}
	_, size := utf8.DecodeRuneInString(l.src[l.pos:])
	text := l.src[l.pos : l.pos+size]
	l.advance(size)
	l.emit(rsPunct, text, "", line)
	return nil
}

// lexString lexes a string literal whose quote (or, raw, first #) is
// prefix bytes on: "…" with escapes, or r#"…"# without.
func (l *rsLexer) lexString(prefix int, raw bool) error {
	start, line := l.pos, l.line
	l.advance(prefix)
	if raw {
		hashes := 0
		for l.peek(0) == '#' {
			hashes++
			l.advance(1)
		}
		if l.peek(0) != '"' {
			return l.errorf(line, "malformed raw string")
		}
		l.advance(1)
		closing := "\"" + strings.Repeat("#", hashes)
		end := strings.Index(l.src[l.pos:], closing)
		if end < 0 {
			return l.errorf(line, "unterminated raw string")
		}
		value := l.src[l.pos : l.pos+end]
		l.advance(end + len(closing))
		l.emit(rsString, l.src[start:l.pos], value, line)
		return nil
	}
	l.advance(1) // the opening quote
	var b strings.Builder
	for {
		if l.pos >= len(l.src) {
			return l.errorf(line, "unterminated string")
		}
		c := l.src[l.pos]
		if c == '"' {
			l.advance(1)
			break
		}
		if c != '\\' {
			b.WriteByte(c)
			l.advance(1)
			continue
		}
		r, n, err := rsEscape(l.src[l.pos:])
		if err != nil {
			return l.errorf(l.line, "%v", err)
		}
		if r >= 0 {
			b.WriteRune(r)
		}
		l.advance(n)
	}
	// a literal suffix ("…"suffix) is not used by the code apigen reads
	l.emit(rsString, l.src[start:l.pos], b.String(), line)
	return nil
}

// rsEscape decodes the escape at the start of s (which starts with a
// backslash): the rune (-1 for a line continuation) and the bytes used.
func rsEscape(s string) (rune, int, error) {
	if len(s) < 2 {
		return 0, 0, fmt.Errorf("unterminated escape")
	}
	switch s[1] {
	case 'n':
		return '\n', 2, nil
	case 't':
		return '\t', 2, nil
	case 'r':
		return '\r', 2, nil
	case '0':
		return 0, 2, nil
	case '\\', '\'', '"':
		return rune(s[1]), 2, nil
	case 'x':
		if len(s) < 4 {
			return 0, 0, fmt.Errorf("short \\x escape")
		}
		v, err := strconv.ParseUint(s[2:4], 16, 8)
		if err != nil {
			return 0, 0, fmt.Errorf("bad \\x escape %q", s[:4])
		}
		return rune(v), 4, nil
	case 'u':
		end := strings.IndexByte(s, '}')
		if len(s) < 4 || s[2] != '{' || end < 0 {
			return 0, 0, fmt.Errorf("bad \\u escape")
		}
		v, err := strconv.ParseUint(strings.ReplaceAll(s[3:end], "_", ""), 16, 32)
		if err != nil {
			return 0, 0, fmt.Errorf("bad \\u escape %q", s[:end+1])
		}
		return rune(v), end + 1, nil
	case '\n', '\r':
		// line continuation: the newline and the next line's leading space go
		n := 1
		for n < len(s) && (s[n] == ' ' || s[n] == '\t' || s[n] == '\n' || s[n] == '\r') {
			n++
		}
		return -1, n, nil
	}
	return 0, 0, fmt.Errorf("unknown escape \\%c", s[1])
}

// lexCharOrLifetime lexes at a single quote: a char literal ('x', '\n',
// '\u{1F600}') or a lifetime ('a, 'static).
func (l *rsLexer) lexCharOrLifetime() error {
	start, line := l.pos, l.line
	rest := l.src[l.pos+1:]
	if strings.HasPrefix(rest, "\\") {
		_, n, err := rsEscape(rest)
		if err != nil {
			return l.errorf(line, "%v", err)
		}
		if len(rest) <= n || rest[n] != '\'' {
			return l.errorf(line, "unterminated character literal")
		}
		l.advance(1 + n + 1)
		l.emit(rsChar, l.src[start:l.pos], "", line)
		return nil
	}
	r, size := utf8.DecodeRuneInString(rest)
	if r == utf8.RuneError && size <= 1 {
		return l.errorf(line, "bad character literal")
	}
	if len(rest) > size && rest[size] == '\'' {
		l.advance(1 + size + 1)
		l.emit(rsChar, l.src[start:l.pos], "", line)
		return nil
	}
	if !identStartsAt(rest, 0) {
		return l.errorf(line, "unterminated character literal")
	}
	l.advance(1)
	l.pos = identEnd(l.src, l.pos)
	l.emit(rsLifetime, l.src[start:l.pos], "", line)
	return nil
}

// lexNumber lexes an integer or float literal with its suffix; "1..2" is
// 1, '.', '.', 2 and "x.0.1" tuple indexes stay integers.
func (l *rsLexer) lexNumber() {
	start, line := l.pos, l.line
	hex := strings.HasPrefix(l.src[l.pos:], "0x") || strings.HasPrefix(l.src[l.pos:], "0X")
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case isIdentChar(c):
			l.pos++
			if !hex && (c == 'e' || c == 'E') && (l.peek(0) == '+' || l.peek(0) == '-') {
				l.pos++
			}
		case c == '.' && l.pos+1 < len(l.src) && l.src[l.pos+1] >= '0' && l.src[l.pos+1] <= '9' &&
			!hex && !strings.Contains(l.src[start:l.pos], ".") && !l.afterDot(start):
			l.pos++
		default:
			l.emit(rsNumber, l.src[start:l.pos], "", line)
			return
		}
	}
	l.emit(rsNumber, l.src[start:l.pos], "", line)
}

// afterDot reports whether the number starting at start follows a '.'
// (a tuple index, as in x.0.1), so its own '.' is punctuation.
func (l *rsLexer) afterDot(start int) bool {
	n := len(l.toks)
	return n > 0 && l.toks[n-1].Kind == rsPunct && l.toks[n-1].Text == "." && start > 0 && l.src[start-1] == '.'
}
