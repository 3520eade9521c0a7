package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// diffSpec is a spec written to differ from diffFacts in every way the
// comparison knows.
const diffSpec = `
openapi: 3.0.1
info: {title: t, version: 0.3.0}
paths:
  /vm.create: {put: {}}
  /vm.gone: {put: {}}
  /vm.info: {get: {}}
components:
  schemas:
    VmConfig:
      required: [payload, ghost]
      type: object
      properties:
        payload: {type: string}
        cpus: {type: integer}
        spec_only: {type: boolean}
        old_name: {type: string}
        mode: {type: string, enum: [On, "Off", Maybe]}
    VmState:
      type: string
      enum: [Created, Running]
    Lonely:
      type: object
      properties: {a: {type: string}}
    Answer:
      required: [id]
      type: object
      properties:
        id: {type: string}
        extra: {type: string}
    Limits:
      type: object
      properties:
        unknown: {type: integer}
`

// diffFacts are the facts of the server diffSpec describes.
func diffFacts() *chFacts {
	return &chFacts{Format: factsFormat, Tag: "v90.0", Commit: strings.Repeat("a", 40),
		Routes: []routeFact{
			{Path: "/vm.create", Methods: []string{"PUT"}, Handler: "VmCreate", Body: "json", Request: "VmConfig"},
			{Path: "/vm.info", Methods: []string{"GET"}, Handler: "VmInfo", Response: "Answer"},
			{Path: "/vm.new", Methods: []string{"PUT"}, Handler: "VmActionHandler", Body: "none", Cfg: `feature = "x"`, Features: []string{"x"}},
		},
		Types: []typeFact{
			{Name: "Answer", File: "vmm/src/api/mod.rs", Kind: "struct", UsedIn: []string{"response"}, Derives: []string{"Serialize"}, SkipSerializingNone: true,
				Fields: []fieldFact{
					{Rust: "id", JSON: "id", Type: "Option<String>", Option: true},
					{Rust: "extra", JSON: "extra", Type: "String", Required: true},
				}},
			{Name: "Common", File: "vmm/src/vm_config.rs", Kind: "struct", UsedIn: []string{"request"}, Derives: []string{"Deserialize"},
				Fields: []fieldFact{{Rust: "id", JSON: "id", Type: "String", Required: true}}},
			{Name: "Limits", File: "vmm/src/vm_config.rs", Kind: "struct", UsedIn: []string{"request"}, Derives: []string{"Deserialize"}, DenyUnknownFields: true},
			{Name: "Mode", File: "vmm/src/vm_config.rs", Kind: "enum", UsedIn: []string{"request"}, Derives: []string{"Deserialize"},
				Variants: []variantFact{{Rust: "On", JSON: "On", Form: "unit"}, {Rust: "Off", JSON: "Off", Form: "unit"}, {Rust: "Auto", JSON: "Auto", Form: "unit"}}},
			{Name: "VmConfig", File: "vmm/src/vm_config.rs", Kind: "struct", UsedIn: []string{"request"}, Derives: []string{"Deserialize"},
				Fields: []fieldFact{
					{Rust: "common", Type: "Common", Flatten: true},
					{Rust: "payload", JSON: "payload", Type: "Option<String>", Option: true},
					{Rust: "cpus", JSON: "cpus", Type: "u8", Required: true},
					{Rust: "new_name", JSON: "new_name", Aliases: []string{"old_name"}, Type: "Option<String>", Option: true},
					{Rust: "server_only", JSON: "server_only", Type: "bool", Default: &defaultFact{Source: "field", Fn: "Default::default", Value: []byte("false")}, Cfg: `feature = "y"`, Features: []string{"y"}},
					{Rust: "mode", JSON: "mode", Type: "Option<Mode>", Option: true},
					{Rust: "hidden", JSON: "hidden", Type: "u8", Skip: "skip"},
				}},
			{Name: "VmState", File: "vmm/src/vm.rs", Kind: "enum", UsedIn: []string{"response"}, Derives: []string{"Serialize"},
				Variants: []variantFact{{Rust: "Created", JSON: "Created", Form: "unit"}, {Rust: "Running", JSON: "Running", Form: "unit"}, {Rust: "BreakPoint", JSON: "BreakPoint", Form: "unit"}}},
		}}
}

func diffKeys(diffs []difference) []string {
	var out []string
	for _, d := range diffs {
		out = append(out, d.where()+": "+string(d.Kind))
	}
	return out
}

func TestDifferencesFindEveryKind(t *testing.T) {
	s, err := parseSpec("v90.0", []byte(diffSpec))
	require.NoError(t, err)
	k, err := newReleaseKnowledge(s, diffFacts())
	require.NoError(t, err)
	diffs := differences(k)
	assert.Equal(t, []string{
		"route PUT /vm.gone: route-not-served",
		"route PUT /vm.new: route-not-in-spec",
		"schema Answer, member extra: required-only-in-server",
		"schema Answer, member id: required-only-in-spec",
		"schema Limits, member unknown: member-not-in-server",
		"schema Lonely: schema-not-in-server",
		"schema VmConfig, member ghost: required-undefined",
		"schema VmConfig, member cpus: required-only-in-server",
		"schema VmConfig, member id: member-not-in-spec",
		"schema VmConfig, member mode, value Maybe: enum-value-not-in-server",
		"schema VmConfig, member mode, value Auto: enum-value-not-in-spec",
		"schema VmConfig, member payload: required-only-in-spec",
		"schema VmConfig, member server_only: member-not-in-spec",
		"schema VmConfig, member spec_only: member-not-in-server",
		"schema VmState, value BreakPoint: enum-value-not-in-spec",
	}, diffKeys(diffs), "old_name is an alias of new_name; hidden is skipped")
	detail := map[string]string{}
	for _, d := range diffs {
		detail[d.where()+": "+string(d.Kind)] = d.Detail
	}
	assert.Contains(t, detail["route PUT /vm.new: route-not-in-spec"], `only with cfg(feature = "x")`)
	assert.Contains(t, detail["schema Answer, member extra: required-only-in-server"], "the server always writes it")
	assert.Contains(t, detail["schema Answer, member id: required-only-in-spec"], "may leave it out of its answers")
	assert.Contains(t, detail["schema Limits, member unknown: member-not-in-server"], "refuses a body with it (deny_unknown_fields)")
	assert.Contains(t, detail["schema VmConfig, member spec_only: member-not-in-server"], "serde ignores it")
	assert.Contains(t, detail["schema VmConfig, member server_only: member-not-in-spec"], `VmConfig.server_only (bool, vmm/src/vm_config.rs) (only with cfg(feature = "y"))`)
	assert.Contains(t, detail["schema VmConfig, member id: member-not-in-spec"], "VmConfig.common.id")
	assert.Contains(t, detail["schema Lonely: schema-not-in-server"], "schemaRustNames")
}

func TestEnumValuesServerReads(t *testing.T) {
	f, err := extractFacts("v90.0", "abc", miniCH())
	require.NoError(t, err)
	assert.Equal(t, []string{"created", "running", "shutdown", "stopped"}, enumValues(f.typesNamed("VmState")),
		"JSON names and aliases of the variants serde reads (BreakPoint is skipped)")
	assert.Equal(t, []string{"client", "server"}, memberEnum(f, "Option<VhostMode>"))
	assert.Nil(t, memberEnum(f, "Vec<NetConfig>"), "no enum")
	assert.Equal(t, "NumaConfig", namedTypeOf("Option<Box<[NumaConfig]>>"))
}

func TestKnowledgeMergesMembers(t *testing.T) {
	s, err := parseSpec("v90.0", []byte(diffSpec))
	require.NoError(t, err)
	k, err := newReleaseKnowledge(s, diffFacts())
	require.NoError(t, err)
	vm := k.schema("VmConfig")
	require.NotNil(t, vm)
	assert.True(t, vm.Request)
	old := vm.member("old_name")
	require.NotNil(t, old)
	assert.True(t, old.InSpec && old.InServer)
	assert.Equal(t, "new_name", old.JSON)
	assert.Equal(t, []string{"old_name"}, old.Aliases)
	assert.Nil(t, vm.member("new_name"), "the spec names it by its alias")
	mode := vm.member("mode")
	assert.Equal(t, []string{"On", "Off", "Maybe"}, mode.SpecEnum)
	assert.Equal(t, []string{"On", "Off", "Auto"}, mode.ServerEnum)
	server := vm.member("server_only")
	assert.Equal(t, []string{"y"}, server.Features)
	assert.Equal(t, "false", string(server.Default.Value))
	id := vm.member("id")
	assert.True(t, id.Required, "a required member of a flattened non-Option field")
	assert.Equal(t, "common.id", id.RustField)
	assert.Nil(t, vm.member("hidden"))
	answer := k.schema("Answer")
	assert.False(t, answer.Request)
	assert.False(t, answer.member("id").AlwaysSerialized, "an Option under skip_serializing_none")
	assert.True(t, answer.member("extra").AlwaysSerialized)
	assert.Equal(t, "", k.schema("Lonely").Rust)

	var routes []string
	for _, r := range k.Routes {
		routes = append(routes, r.Method+" "+r.Path)
	}
	assert.Equal(t, []string{"PUT /vm.create", "PUT /vm.gone", "GET /vm.info", "PUT /vm.new"}, routes)
}

func TestCompareWithServer(t *testing.T) {
	s, err := parseSpec("v90.0", []byte(diffSpec))
	require.NoError(t, err)
	k, err := newReleaseKnowledge(s, diffFacts())
	require.NoError(t, err)
	all := differences(k)
	var accepted []acceptedDifference
	for _, d := range all {
		accepted = append(accepted, acceptedDifference{Tags: []string{"v89.0", "v90.0"}, Schema: d.Schema, Member: d.Member, Route: d.Route, Value: d.Value, Kind: d.Kind, Reason: "test"})
	}
	_, ok, err := compareWithServer(s, diffFacts(), accepted)
	require.NoError(t, err)
	assert.Len(t, ok, len(all))

	// one difference unlisted
	i := slices.IndexFunc(accepted, func(a acceptedDifference) bool { return a.Member == "spec_only" })
	_, _, err = compareWithServer(s, diffFacts(), slices.Delete(slices.Clone(accepted), i, i+1))
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{"v90.0: schema VmConfig, member spec_only: member-not-in-server:", "commit aaaaaaaaaaaa",
		"apigen/fixups.go", "acceptedDifferences (apigen/accepted.go)", "make facts CH_SRC="} {
		assert.Contains(t, msg, want)
	}
	assert.NotContains(t, msg, "member cpus", "accepted differences are not reported")

	// an entry of this tag that accepts nothing; one of another tag is not checked
	stale := append(slices.Clone(accepted),
		acceptedDifference{Tags: []string{"v90.0"}, Schema: "VmConfig", Member: "cpus", Kind: diffMemberNotInServer, Reason: "gone"},
		acceptedDifference{Tags: []string{"v91.0"}, Schema: "VmConfig", Member: "nothing", Kind: diffMemberNotInServer, Reason: "other tag"})
	_, _, err = compareWithServer(s, diffFacts(), stale)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "accepted differences (apigen/accepted.go) that no longer occur between the v90.0 spec and its server: {v90.0; schema VmConfig, member cpus: member-not-in-server}")
	assert.Contains(t, err.Error(), "remove v90.0 from their tags")
	assert.NotContains(t, err.Error(), "nothing")
}

func TestGenerateRefusesAServerDifference(t *testing.T) {
	root, specs := newTestRoot(t)
	raw, err := os.ReadFile(factsPath(root, "v90.0"))
	require.NoError(t, err)
	renamed := strings.Replace(string(raw), `"json": "cpus"`, `"json": "vcpus"`, 1)
	require.NotEqual(t, string(raw), renamed)
	writeTestFile(t, factsPath(root, "v90.0"), renamed)
	err = run(t.Context(), []string{"generate", "-root", root, "-specs", specs})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "v90.0: schema VmConfig, member cpus: member-not-in-server")
	assert.Contains(t, err.Error(), "v90.0: schema VmConfig, member vcpus: member-not-in-spec")
	_, statErr := os.Stat(filepath.Join(root, versionsDir, "v90", "client.gen.go"))
	assert.ErrorIs(t, statErr, os.ErrNotExist, "nothing is generated")

	os.Remove(factsPath(root, "v90.0"))
	err = run(t.Context(), []string{"generate", "-root", root, "-specs", specs})
	assert.ErrorContains(t, err, "no facts of v90.0's server")
}

func TestNewVersionRefusesAServerDifference(t *testing.T) {
	root, specs := newTestRoot(t)
	copyFile(t, testSpec, specPath(specs, "v91.0"))
	writeFactsAs(t, root, "v91.0")
	raw, err := os.ReadFile(factsPath(root, "v91.0"))
	require.NoError(t, err)
	writeTestFile(t, factsPath(root, "v91.0"), strings.Replace(string(raw), `"json": "cpus"`, `"json": "vcpus"`, 1))

	err = run(t.Context(), []string{"new-version", "-root", root, "-specs", specs, "-V", "91.0"})
	assert.ErrorContains(t, err, "v91.0: schema VmConfig, member cpus: member-not-in-server")
	_, statErr := os.Stat(filepath.Join(root, versionsDir, "v91"))
	assert.ErrorIs(t, statErr, os.ErrNotExist, "a refused release leaves nothing behind")
}

// officialSpecsDir holds the official specs beside the repository, as CI has them.
var officialSpecsDir = filepath.Join("..", "..", "shared", "ch-specs")

// TestOfficialSpecsAgreeWithTheirServers runs the comparison of make
// generate on every embedded release: its official spec, fixed up, and its
// committed facts differ only where acceptedDifferences says why.
func TestOfficialSpecsAgreeWithTheirServers(t *testing.T) {
	if _, err := os.Stat(officialSpecsDir); err != nil {
		t.Skip("no official specs beside the repository (../shared/ch-specs)")
	}
	r := repo{root: ".."}
	names, err := r.modules(nil)
	require.NoError(t, err)
	for _, name := range names {
		lock, err := readSpecLock(r.moduleDir(name))
		require.NoError(t, err)
		s, err := loadLockedSpec(officialSpecsDir, lock)
		require.NoError(t, err)
		f, err := loadFacts(committedFactsDir, lock.Tag)
		require.NoError(t, err)
		k, ok, err := compareWithServer(s, f, acceptedDifferences)
		require.NoError(t, err)
		assert.NotEmpty(t, ok, lock.Tag)
		if lock.Tag == "v53.0" {
			serial := k.schema("PlatformConfig").member("serial_number")
			require.NotNil(t, serial)
			assert.True(t, serial.InServer, "v53.0 reads serial_number as an alias")
			assert.Equal(t, "system_serial_number", serial.JSON)
			payload := k.schema("VmConfig").member("payload")
			assert.True(t, payload.SpecRequired)
			assert.False(t, payload.Required)
			assert.Equal(t, "46", string(k.schema("CpusConfig").member("max_phys_bits").Default.Value))
			assert.Equal(t, []string{"igvm"}, k.schema("PayloadConfig").member("igvm").Features)
			assert.Contains(t, k.schema("DebugConsoleConfig").member("mode").ServerEnum, "Socket")
			assert.True(t, k.schema("VmConfig").member("generic_vhost_user").InSpec, "the fix-up's name")
		}
	}
}

func TestAcceptedDifferencesAreWellFormed(t *testing.T) {
	tags := embeddedTags(t)
	kinds := []diffKind{diffRouteNotServed, diffRouteNotInSpec, diffSchemaNotInServer, diffMemberNotInServer, diffMemberNotInSpec,
		diffRequiredOnlyInSpec, diffRequiredOnlyInServer, diffRequiredUndefined, diffEnumValueNotInServer, diffEnumValueNotInSpec}
	seen := map[string]bool{}
	for _, a := range acceptedDifferences {
		assert.NotEmpty(t, a.Tags, a.String())
		for _, tag := range a.Tags {
			assert.Contains(t, tags, tag, "%s names a release that is not embedded", a.String())
			key := strings.Join([]string{tag, a.Schema, a.Member, a.Route, a.Value, string(a.Kind)}, "|")
			assert.False(t, seen[key], "%s accepts a difference another entry accepts", a.String())
			seen[key] = true
		}
		assert.Contains(t, kinds, a.Kind, a.String())
		assert.True(t, a.Route != "" || a.Schema != "", "%s names neither a route nor a schema", a.String())
		assert.Greater(t, len(a.Reason), 20, "%s needs a reason", a.String())
	}
}
