package chsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Reading apigen's facts (apigen/facts/<tag>.json) for shapes_facts_test.go:
// the file, the cfg predicates of its definitions as a release build
// evaluates them, and the Rust types of its fields.

// factsDir holds apigen's facts, relative to this module. The facts are not
// part of the chsim module: outside this repository the test skips.
const factsDir = "../apigen/facts"

// factsFormat is the facts format this test reads (apigen/facts.go).
const factsFormat = 1

// simulatedArch is the target_arch of the modelled builds (the address
// layout of devtree.go is x86_64's).
const simulatedArch = "x86_64"

// The facts file, as apigen/facts.go writes it. Every member is declared and
// unknown ones are refused, so that an attribute apigen starts recording is
// an error here until this test compares it.
type (
	factsFile struct {
		Format   int         `json:"format"`
		Tag      string      `json:"tag"`
		Commit   string      `json:"commit"`
		Routes   []factRoute `json:"routes"`
		Types    []factType  `json:"types"`
		External []string    `json:"external"`
	}
	factRoute struct {
		Path     string   `json:"path"`
		Methods  []string `json:"methods"`
		Handler  string   `json:"handler"`
		Action   string   `json:"action"`
		Body     string   `json:"body"`
		Request  string   `json:"request"`
		Response string   `json:"response"`
		Cfg      string   `json:"cfg"`
		Features []string `json:"features"`
	}
	factType struct {
		Name                string        `json:"name"`
		File                string        `json:"file"`
		Kind                string        `json:"kind"`
		Target              string        `json:"target"`
		Cfg                 string        `json:"cfg"`
		Features            []string      `json:"features"`
		UsedIn              []string      `json:"used_in"`
		Derives             []string      `json:"derives"`
		CustomSerialize     bool          `json:"custom_serialize"`
		CustomDeserialize   bool          `json:"custom_deserialize"`
		SerializeFields     []string      `json:"serialize_fields"`
		DefaultImpl         string        `json:"default_impl"`
		RenameAll           string        `json:"rename_all"`
		DenyUnknownFields   bool          `json:"deny_unknown_fields"`
		Default             string        `json:"default"`
		Transparent         bool          `json:"transparent"`
		Tag                 string        `json:"tag"`
		Content             string        `json:"content"`
		Untagged            bool          `json:"untagged"`
		From                string        `json:"from"`
		TryFrom             string        `json:"try_from"`
		Into                string        `json:"into"`
		SkipSerializingNone bool          `json:"skip_serializing_none"`
		Fields              []factField   `json:"fields"`
		Variants            []factVariant `json:"variants"`
		DefaultVariant      string        `json:"default_variant"`
	}
	factField struct {
		Rust              string       `json:"rust"`
		JSON              string       `json:"json"`
		JSONOut           string       `json:"json_out"`
		Aliases           []string     `json:"aliases"`
		Type              string       `json:"type"`
		Option            bool         `json:"option"`
		Required          bool         `json:"required"`
		Default           *factDefault `json:"default"`
		Skip              string       `json:"skip"`
		SkipSerializingIf string       `json:"skip_serializing_if"`
		Flatten           bool         `json:"flatten"`
		DeserializeWith   string       `json:"deserialize_with"`
		SerializeWith     string       `json:"serialize_with"`
		With              string       `json:"with"`
		Cfg               string       `json:"cfg"`
		Features          []string     `json:"features"`
		SerdeCfg          []string     `json:"serde_cfg"`
	}
	factDefault struct {
		Source string          `json:"source"`
		Fn     string          `json:"fn"`
		Value  json.RawMessage `json:"value"`
		Via    []string        `json:"via"`
	}
	factVariant struct {
		Rust     string      `json:"rust"`
		JSON     string      `json:"json"`
		Aliases  []string    `json:"aliases"`
		Form     string      `json:"form"`
		Types    []string    `json:"types"`
		Fields   []factField `json:"fields"`
		Default  bool        `json:"default"`
		Skip     string      `json:"skip"`
		Other    bool        `json:"other"`
		Untagged bool        `json:"untagged"`
		Cfg      string      `json:"cfg"`
		Features []string    `json:"features"`
	}
)

// loadFactsFile reads the facts of release tag. Outside this repository (no
// ../apigen: chsim's module on its own) the test skips.
func loadFactsFile(t *testing.T, tag string) *factsFile {
	t.Helper()
	if _, err := os.Stat(filepath.Dir(factsDir)); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s is not here (chsim outside the chvmm repository): the shapes are checked against apigen's facts only in the repository", filepath.Dir(factsDir))
	}
	path := filepath.Join(factsDir, tag+".json")
	raw, err := os.ReadFile(path)
	require.NoError(t, err, "chsim models %s: its server's facts must be in %s (make facts)", tag, factsDir)
	var f factsFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&f), "%s: a member this test does not compare yet: teach it", path)
	require.Equal(t, factsFormat, f.Format, "%s: facts format", path)
	require.Equal(t, tag, f.Tag, "%s: tag", path)
	return &f
}

// cfgHolds evaluates a Rust cfg predicate for a release build of
// simulatedArch with the cargo features buildFeatures (plus extra).
func cfgHolds(pred string, extra ...string) (bool, error) {
	pred = strings.TrimSpace(pred)
	if pred == "" {
		return true, nil
	}
	if name, args, ok := cfgCall(pred); ok {
		parts, err := cfgArgs(args)
		if err != nil {
			return false, err
		}
		var holds []bool
		for _, p := range parts {
			h, err := cfgHolds(p, extra...)
			if err != nil {
				return false, err
			}
			holds = append(holds, h)
		}
		switch {
		case name == "not" && len(holds) == 1:
			return !holds[0], nil
		case name == "all":
			return !slices.Contains(holds, false), nil
		case name == "any":
			return slices.Contains(holds, true), nil
		}
		return false, fmt.Errorf("cfg %q: unknown predicate %s", pred, name)
	}
	key, value, ok := strings.Cut(pred, "=")
	if !ok {
		return false, fmt.Errorf("cfg %q: not a key = \"value\" predicate", pred)
	}
	key, value = strings.TrimSpace(key), strings.Trim(strings.TrimSpace(value), `"`)
	switch key {
	case "feature":
		return slices.Contains(buildFeatures, value) || slices.Contains(extra, value), nil
	case "target_arch":
		return value == simulatedArch, nil
	}
	return false, fmt.Errorf("cfg %q: this test does not know what a release build has for %s", pred, key)
}

// cfgCall splits "name(args)".
func cfgCall(pred string) (name, args string, ok bool) {
	open := strings.IndexByte(pred, '(')
	if open < 0 || !strings.HasSuffix(pred, ")") || strings.Contains(pred[:open], "=") {
		return "", "", false
	}
	return strings.TrimSpace(pred[:open]), pred[open+1 : len(pred)-1], true
}

// cfgArgs splits a cfg predicate's arguments at its top-level commas.
func cfgArgs(s string) ([]string, error) {
	var out []string
	depth, start, quoted := 0, 0, false
	for i, c := range s {
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if depth != 0 || quoted {
		return nil, fmt.Errorf("cfg arguments %q are unbalanced", s)
	}
	if last := strings.TrimSpace(s[start:]); last != "" {
		out = append(out, last)
	}
	return out, nil
}

// rustType is a Rust type as the facts write it: a path's last segment and
// its generic arguments; "[]" for a slice or array.
type rustType struct {
	name string
	args []*rustType
}

func (r *rustType) String() string {
	if r.name == "[]" {
		return "[" + r.args[0].String() + "]"
	}
	if len(r.args) == 0 {
		return r.name
	}
	var args []string
	for _, a := range r.args {
		args = append(args, a.String())
	}
	return r.name + "<" + strings.Join(args, ", ") + ">"
}

// parseRustType parses a type of the facts: Option<Box<[a::B]>>, [u8; N].
func parseRustType(s string) (*rustType, error) {
	p := &typeParser{s: s}
	rt := p.parse()
	if p.err == nil && strings.TrimSpace(p.s[p.i:]) != "" {
		p.err = fmt.Errorf("trailing %q", p.s[p.i:])
	}
	if p.err != nil {
		return nil, fmt.Errorf("type %q: %w", s, p.err)
	}
	return rt, nil
}

type typeParser struct {
	s   string
	i   int
	err error
}

func (p *typeParser) skipSpace() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *typeParser) parse() *rustType {
	p.skipSpace()
	if p.err != nil || p.i >= len(p.s) {
		p.err = errors.New("a type is missing")
		return nil
	}
	if p.s[p.i] == '[' {
		p.i++
		elem := p.parse()
		p.skipSpace()
		if p.i < len(p.s) && p.s[p.i] == ';' { // [T; LEN]: the length is no type
			end := strings.IndexByte(p.s[p.i:], ']')
			if end < 0 {
				p.err = errors.New("an unclosed [")
				return nil
			}
			p.i += end
		}
		if p.i >= len(p.s) || p.s[p.i] != ']' {
			p.err = errors.New("an unclosed [")
			return nil
		}
		p.i++
		return &rustType{name: "[]", args: []*rustType{elem}}
	}
	start := p.i
	for p.i < len(p.s) && (isIdent(p.s[p.i]) || p.s[p.i] == ':') {
		p.i++
	}
	path := p.s[start:p.i]
	if path == "" {
		p.err = fmt.Errorf("no type at %q", p.s[p.i:])
		return nil
	}
	rt := &rustType{name: path[strings.LastIndex(path, ":")+1:]}
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == '<' {
		p.i++
		for {
			rt.args = append(rt.args, p.parse())
			p.skipSpace()
			if p.err != nil || p.i >= len(p.s) {
				p.err = errors.New("an unclosed <")
				return nil
			}
			c := p.s[p.i]
			p.i++
			if c == '>' {
				break
			}
			if c != ',' {
				p.err = fmt.Errorf("%q in generic arguments", c)
				return nil
			}
		}
	}
	return rt
}

func isIdent(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// TestCfgHolds: the cfg predicates of the facts, as a release build for
// x86_64 evaluates them.
func TestCfgHolds(t *testing.T) {
	for pred, want := range map[string]bool{
		``:                            true,
		`target_arch = "x86_64"`:      true,
		`not(target_arch = "x86_64")`: false,
		`feature = "kvm"`:             true,
		`feature = "tdx"`:             false,
		`all(target_arch = "x86_64", feature = "guest_debug")`:  false,
		`any(target_arch = "aarch64", feature = "io_uring")`:    true,
		`all(target_arch = "x86_64", not(feature = "sev_snp"))`: true,
	} {
		got, err := cfgHolds(pred)
		require.NoError(t, err, pred)
		assert.Equal(t, want, got, "cfg(%s)", pred)
	}
	got, err := cfgHolds(`all(target_arch = "x86_64", feature = "guest_debug")`, "guest_debug")
	require.NoError(t, err)
	assert.True(t, got, "guest_debug given: cfg(all(x86_64, guest_debug)) holds")
	for _, bad := range []string{`target_os = "linux"`, `unix`, `all(feature = "kvm"`, `weird(feature = "kvm")`} {
		_, err := cfgHolds(bad)
		assert.Error(t, err, "cfg(%s)", bad)
	}
}
