package chsimtest

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/chvmm/chvmm/chsim"
	"github.com/chvmm/chvmm/core"
)

// apiDoc is the part of an OpenAPI spec the suite reads.
type apiDoc struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]*schemaDoc `json:"schemas"`
	} `json:"components"`
}

// schemaDoc is a schema, or a reference to one.
type schemaDoc struct {
	Ref        string                `json:"$ref"`
	Properties map[string]*schemaDoc `json:"properties"`
	Items      *schemaDoc            `json:"items"`
	AllOf      []*schemaDoc          `json:"allOf"`
	Required   []string              `json:"required"`
	Type       string                `json:"type"`
	Format     string                `json:"format"`
	Enum       []any                 `json:"enum"`
	Default    any                   `json:"default"`
	Minimum    *float64              `json:"minimum"`
	Deprecated bool                  `json:"deprecated"`
}

var (
	docMu    sync.Mutex
	docCache = map[string]*apiDoc{}
)

// loadDoc parses the spec of CH version (a modelled release tag).
func loadDoc(version string) (*apiDoc, error) {
	docMu.Lock()
	defer docMu.Unlock()
	if d, ok := docCache[version]; ok {
		return d, nil
	}
	src, err := chsim.Spec(version)
	if err != nil {
		return nil, err
	}
	d := &apiDoc{}
	if err := json.Unmarshal(src, d); err != nil {
		return nil, fmt.Errorf("spec of CH %s: %w", version, err)
	}
	docCache[version] = d
	return d, nil
}

// refName returns the component schema s refers to ("" when s is inline).
func (s *schemaDoc) refName() string {
	if s == nil {
		return ""
	}
	if s.Ref != "" {
		return strings.TrimPrefix(s.Ref, "#/components/schemas/")
	}
	if s.Items != nil {
		return s.Items.refName()
	}
	for _, a := range s.AllOf {
		if n := a.refName(); n != "" {
			return n
		}
	}
	return ""
}

// missingAlong follows the JSON member names of path from component schema
// root through the spec and returns the first "Schema.member" (or "Schema",
// when root itself is missing) the spec does not have, or "" when it has the
// whole path.
func (d *apiDoc) missingAlong(root string, path []string) string {
	schema := root
	for _, member := range path {
		s, ok := d.Components.Schemas[schema]
		if !ok {
			return schema
		}
		p, ok := s.Properties[member]
		if !ok {
			return schema + "." + member
		}
		next := p.refName()
		if next == "" {
			return "" // an inline object: its members are not features
		}
		schema = next
	}
	if _, ok := d.Components.Schemas[schema]; !ok {
		return schema
	}
	return ""
}

// releaseFor returns the registered release of version.
func releaseFor(version string) (*core.Release, error) {
	r, err := core.Lookup(version)
	if err == nil && r.Version() != version {
		err = fmt.Errorf("CH %s is not registered (Lookup found %s): import its version module", version, r)
	}
	return r, err
}
