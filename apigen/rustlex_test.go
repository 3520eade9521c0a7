package main

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tokStrings renders tokens as kind:text (strings as string:"value").
func tokStrings(toks []rsToken) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		switch t.Kind {
		case rsString:
			out[i] = fmt.Sprintf("string:%q", t.Value)
		case rsIdent:
			out[i] = t.Text
		default:
			out[i] = t.Kind.String() + ":" + t.Text
		}
	}
	return out
}

func TestLexRust(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"path and generics", "Option<Box<[u16]>>", []string{"Option", "punctuation:<", "Box", "punctuation:<", "punctuation:[", "u16", "punctuation:]", "punctuation:>", "punctuation:>"}},
		{"two-char punctuation", "a::b => c -> d", []string{"a", "punctuation:::", "b", "punctuation:=>", "c", "punctuation:->", "d"}},
		{"raw identifier", "r#type: u8", []string{"type", "punctuation::", "u8"}},
		{"lifetime", "&'static str", []string{"punctuation:&", "lifetime:'static", "str"}},
		{"chars", `'a' '\n' '\'' '{' '\u{1F600}' b'x'`, []string{"char:'a'", `char:'\n'`, `char:'\''`, "char:'{'", `char:'\u{1F600}'`, "char:b'x'"}},
		{"lifetime then char", "fn f<'a>(c: char) { if c == 'a' {} }", []string{"fn", "f", "punctuation:<", "lifetime:'a", "punctuation:>", "punctuation:(", "c", "punctuation::", "char", "punctuation:)", "punctuation:{", "if", "c", "punctuation:=", "punctuation:=", "char:'a'", "punctuation:{", "punctuation:}", "punctuation:}"}},
		{"string escapes", `"a\"b\\c\n\x41\u{e9}"`, []string{`string:"a\"b\\c\nAé"`}},
		{"line continuation", "\"one \\\n    two\"", []string{`string:"one two"`}},
		{"raw strings", `r"C:\x" r#"say "hi""# r##"a "# b"##`, []string{`string:"C:\\x"`, `string:"say \"hi\""`, `string:"a \"# b"`}},
		{"byte and C strings", `b"ab" br"\d" c"z"`, []string{`string:"ab"`, `string:"\\d"`, `string:"z"`}},
		{"comments", "a // line\n/* block /* nested */ still */ b /// doc\n//! inner\nc", []string{"a", "b", "c"}},
		{"numbers", "46 0x3f8 1_000u32 1.5f64 2e-3 46u8", []string{"number:46", "number:0x3f8", "number:1_000u32", "number:1.5f64", "number:2e-3", "number:46u8"}},
		{"range is not a float", "0..2", []string{"number:0", "punctuation:.", "punctuation:.", "number:2"}},
		{"tuple index", "x.0.1", []string{"x", "punctuation:.", "number:0", "punctuation:.", "number:1"}},
		{"method on an integer", "1.max(2)", []string{"number:1", "punctuation:.", "max", "punctuation:(", "number:2", "punctuation:)"}},
		{"non-ASCII space and text", "a\u00a0b // é\n\"é\" ñame", []string{"a", "b", `string:"é"`, "ñame"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			toks, err := lexRust(tc.src)
			require.NoError(t, err)
			assert.Equal(t, tc.want, tokStrings(toks))
		})
	}
}

func TestLexRustLines(t *testing.T) {
	toks, err := lexRust("a\n/* x\n y */ b\n\"s\nt\" c")
	require.NoError(t, err)
	require.Len(t, toks, 4)
	assert.Equal(t, []int{1, 3, 4, 5}, []int{toks[0].Line, toks[1].Line, toks[2].Line, toks[3].Line})
}

func TestLexRustRefusesBrokenSource(t *testing.T) {
	for src, want := range map[string]string{
		`"open`:        "line 1: unterminated string",
		"a\n/* open":   "line 2: unterminated block comment",
		`r#"open"`:     "unterminated raw string",
		`"bad \q"`:     `unknown escape \q`,
		"x = '+":       "unterminated character literal",
		`x = "\u{zz}"`: "bad \\u escape",
	} {
		_, err := lexRust(src)
		assert.ErrorContains(t, err, want, src)
	}
}
