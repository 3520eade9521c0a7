package main

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"go/format"
	"slices"
	"strings"
	"text/template"
)

// templateFS holds the templates of the generated files other than the
// client, which oapi-codegen writes.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.ParseFS(templateFS, "templates/*.tmpl"))

// modulePathPrefix is the module path of version modules, before "vNN".
const modulePathPrefix = "github.com/chvmm/chvmm/versions/"

// A schemaType pairs a component schema with its generated Go type.
type schemaType struct {
	Name   string // schema name in the spec, "VmConfig"
	GoType string // generated type name, "VmConfig"
}

// moduleData is what the templates of a version module are rendered from.
type moduleData struct {
	Package    string // "v48"
	ModulePath string // "github.com/chvmm/chvmm/versions/v48"
	Tag        string // "v48.0"
	APIVersion string // info.version, "0.3.0"
	SpecSHA256 string
	FixupList  string // names of the fix-ups applied, or "none"
	Endpoints  []endpoint
	Schemas    []schemaType
	SpecJSON   string // Go string literal of the spec as JSON
	HasPing    bool   // GET /vmm.ping answers a VmmPingResponse
	Fixups     []string
	Model      []modelSchema // the API model (api.gen.go)
	Arches     []arch        // the architectures with binaries
}

// archData is what a per-architecture template is rendered from.
type archData struct {
	*moduleData
	Arch arch
}

// newModuleData collects what the templates need from spec s, the client
// source generated for it, and what is known of its server (k; nil when
// its facts are not there, as in tests).
func newModuleData(s *spec, pkg string, client []byte, k *releaseKnowledge) (*moduleData, error) {
	apiVersion, err := s.APIVersion()
	if err != nil {
		return nil, err
	}
	eps, err := s.Endpoints()
	if err != nil {
		return nil, err
	}
	types, err := typeNames(client)
	if err != nil {
		return nil, fmt.Errorf("parsing the generated %s client: %w", s.Tag, err)
	}
	var schemas []schemaType
	for _, name := range s.SchemaNames() {
		goType := strings.ToUpper(name[:1]) + name[1:]
		if !types[goType] {
			return nil, fmt.Errorf("the %s spec has schema %q but the generated client has no type %s: teach apigen oapi-codegen's naming for it (apigen/render.go)", s.Tag, name, goType)
		}
		schemas = append(schemas, schemaType{Name: name, GoType: goType})
	}
	if len(schemas) == 0 {
		return nil, fmt.Errorf("the %s spec has no component schemas", s.Tag)
	}
	js, err := s.JSON()
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil {
		return nil, fmt.Errorf("decoding the %s spec: %w", s.Tag, err)
	}
	model, err := apiModel(s.Tag, doc)
	if err != nil {
		return nil, err
	}
	if k != nil {
		serverTruth(model, k)
	}
	return &moduleData{
		Fixups:     s.Fixups,
		Model:      model,
		Arches:     arches,
		Package:    pkg,
		ModulePath: modulePathPrefix + pkg,
		Tag:        s.Tag,
		APIVersion: apiVersion,
		SpecSHA256: s.SHA256,
		FixupList:  fixupList(s.Fixups),
		Endpoints:  eps,
		Schemas:    schemas,
		SpecJSON:   rawStringLiteral(string(js)),
		HasPing:    slices.Contains(eps, endpoint{Method: "GET", Path: "/vmm.ping"}) && types["VmmPingResponse"],
	}, nil
}

// rawStringLiteral returns a Go expression for s, as a raw string literal
// (joined with interpreted "`" where s has backquotes).
func rawStringLiteral(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "` + \"`\" + `") + "`"
}

// render executes template name with d and, for Go source, gofmts the
// result.
func render(name string, d any, isGo bool) ([]byte, error) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, d); err != nil {
		return nil, fmt.Errorf("rendering %s: %w", name, err)
	}
	if !isGo {
		return buf.Bytes(), nil
	}
	out, err := format.Source(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("formatting %s: %w", name, err)
	}
	return out, nil
}
