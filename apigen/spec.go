package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// specFileName is the name of a release's spec inside a spec directory:
// DIR/<tag>/cloud-hypervisor.yaml, as upstream names it.
const specFileName = "cloud-hypervisor.yaml"

// errSpecMismatch: a spec file is not the one a spec.lock pins.
var errSpecMismatch = errors.New("spec does not match spec.lock")

// A spec is one release's OpenAPI spec, parsed and fixed up.
type spec struct {
	Tag    string     // release tag, "v48.0"
	SHA256 string     // hex SHA-256 of the official file, before fix-ups
	Root   *yaml.Node // the document's top-level mapping, fixed up
	Fixups []string   // names of the fix-ups applied, in order
}

// An endpoint is one operation of a spec.
type endpoint struct {
	Method string // "GET"
	Path   string // "/vmm.ping"
}

// fileSHA256 returns the hex SHA-256 of b.
func fileSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// specPath returns where the spec of tag lives under specsDir.
func specPath(specsDir, tag string) string {
	return filepath.Join(specsDir, tag, specFileName)
}

// loadLockedSpec reads the spec of lock.Tag from specsDir, refuses it unless
// its SHA-256 is the one lock pins, and parses and fixes it up.
func loadLockedSpec(specsDir string, lock specLock) (*spec, error) {
	path := specPath(specsDir, lock.Tag)
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the %s spec: %w (fetch it with make specs)", lock.Tag, err)
	}
	if sum := fileSHA256(raw); sum != lock.SHA256 {
		return nil, fmt.Errorf("%w: %s has sha256 %s but %s pins %s: fetch the official %s spec again (make specs), or, if upstream really changed it, review the change and update %s",
			errSpecMismatch, path, sum, specLockFile, lock.SHA256, lock.Tag, specLockFile)
	}
	return parseSpec(lock.Tag, raw)
}

// parseSpec parses the official spec raw of release tag and applies the
// fix-ups for tag.
func parseSpec(tag string, raw []byte) (*spec, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parsing the %s spec: %w", tag, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("the %s spec is not a YAML mapping", tag)
	}
	s := &spec{Tag: tag, SHA256: fileSHA256(raw), Root: doc.Content[0]}
	if mapGet(s.Root, "openapi") == nil || mapGet(s.Root, "paths") == nil {
		return nil, fmt.Errorf("the %s spec is not an OpenAPI document: it has no openapi or paths key", tag)
	}
	applied, err := applyFixups(tag, s.Root, fixups)
	if err != nil {
		return nil, err
	}
	s.Fixups = applied
	return s, nil
}

// mapGet returns the value of key in mapping n, or nil.
func mapGet(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// mapPath follows keys from mapping n, or returns nil where one is missing.
func mapPath(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		n = mapGet(n, k)
	}
	return n
}

// mapKeys returns the keys of mapping n, in document order.
func mapKeys(n *yaml.Node) []string {
	var keys []string
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		keys = append(keys, n.Content[i].Value)
	}
	return keys
}

// YAML returns the fixed-up spec as YAML.
func (s *spec) YAML() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(s.Root); err != nil {
		return nil, fmt.Errorf("encoding the %s spec: %w", s.Tag, err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// JSON returns the fixed-up spec as indented JSON with sorted keys.
func (s *spec) JSON() ([]byte, error) {
	v, err := nodeValue(s.Root)
	if err != nil {
		return nil, fmt.Errorf("converting the %s spec to JSON: %w", s.Tag, err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("converting the %s spec to JSON: %w", s.Tag, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// nodeValue converts a YAML node to the value encoding/json encodes the same
// way: mappings become map[string]any (keys as written, so a response code
// 200 becomes "200"), sequences []any, scalars their typed value.
func nodeValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("line %d: document with %d nodes", n.Line, len(n.Content))
		}
		return nodeValue(n.Content[0])
	case yaml.AliasNode:
		return nodeValue(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Value == "<<" {
				return nil, fmt.Errorf("line %d: unsupported mapping key", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			v, err := nodeValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := nodeValue(c)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node kind %d", n.Line, n.Kind)
}

// APIVersion returns info.version of the spec.
func (s *spec) APIVersion() (string, error) {
	v := mapPath(s.Root, "info", "version")
	if v == nil || v.Kind != yaml.ScalarNode || v.Value == "" {
		return "", fmt.Errorf("the %s spec has no info.version", s.Tag)
	}
	return v.Value, nil
}

// httpMethods are the OpenAPI operation keys of a path item.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Endpoints returns every operation of the spec, sorted by path and method.
func (s *spec) Endpoints() ([]endpoint, error) {
	paths := mapGet(s.Root, "paths")
	var eps []endpoint
	for _, p := range mapKeys(paths) {
		item := mapGet(paths, p)
		for _, m := range httpMethods {
			if mapGet(item, m) != nil {
				eps = append(eps, endpoint{Method: strings.ToUpper(m), Path: p})
			}
		}
	}
	if len(eps) == 0 {
		return nil, fmt.Errorf("the %s spec has no operations", s.Tag)
	}
	sort.Slice(eps, func(i, j int) bool {
		if eps[i].Path != eps[j].Path {
			return eps[i].Path < eps[j].Path
		}
		return eps[i].Method < eps[j].Method
	})
	return eps, nil
}

// SchemaNames returns the names of the spec's component schemas, sorted.
func (s *spec) SchemaNames() []string {
	names := mapKeys(mapPath(s.Root, "components", "schemas"))
	sort.Strings(names)
	return names
}
