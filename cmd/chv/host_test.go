package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core"
)

func TestVersions(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	r := ok(t, d, "versions")
	assert.Regexp(t, `(?m)^VERSION\s+BINARY FOR `+strings.ToUpper(hostArch())+`\s+ADVISORIES$`, r.stdout)
	for _, rel := range core.Releases() {
		bin := `missing \(make binaries\)`
		if rel.HasBinary() {
			bin = "embedded"
		}
		count := `-`
		if n := len(rel.Advisories()); n > 0 {
			count = fmt.Sprintf(`%d \(\d+ [a-z-]+(, \d+ [a-z-]+)?\)`, n)
		}
		assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(rel.Version())+`\s+`+bin+`\s+`+count+`$`, r.stdout)
		for _, a := range rel.Advisories() {
			assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(a.ID)+`( \([^)]*\))?: `+string(a.Kind)+`, `, r.stdout, "the detail section lists %s", a.ID)
		}
	}
	assert.Equal(t, 1, strings.Count(r.stdout, "\nCVE-2026-45782 "), "each advisory is listed once")
	assert.Contains(t, r.stdout, "CVE-2026-45782 (GHSA-f47p-p25q-83rh): security, fixed in v51.2; affects v48.0, v49.0, v50.2\n    A malicious guest")
	assert.Contains(t, r.stdout, "CH#8606: data-loss, no fixed release yet; affects v52.0, v53.0\n")
	assert.Contains(t, r.stdout, "Capabilities that differ")
	assert.Regexp(t, `(?m)^PUT /vm\.resize-disk\s+-\s+-\s+yes\s+yes\s+yes\s+yes$`, r.stdout)

	var out versionsJSON
	okJSON(t, d, &out, "versions")
	assert.Equal(t, hostArch(), out.HostArch)
	rels := core.Releases()
	require.Len(t, out.Versions, len(rels))
	require.NotEmpty(t, out.Features)
	index := map[string]int{} // releases are oldest first
	for i, rel := range rels {
		index[rel.Version()] = i
	}
	for i, v := range out.Versions {
		rel := rels[i]
		assert.Equal(t, rel.Version(), v.Version)
		assert.Equal(t, rel.HasBinary(), v.Embedded)
		require.Len(t, v.Advisories, len(rel.Advisories()))
		for j, a := range rel.Advisories() {
			got := v.Advisories[j]
			assert.Equal(t, []any{a.ID, string(a.Kind), a.Summary, a.Affected, a.FixedIn, a.Sources, len(a.Aliases)},
				[]any{got.ID, got.Kind, got.Summary, got.Affected, got.FixedIn, got.Sources, len(got.Aliases)})
			assert.Contains(t, got.Affected, v.Version)
		}
		// Each differing feature is listed exactly for the versions
		// between its Since and Until.
		for _, f := range out.Features {
			inRange := (f.Since == "" || i >= index[f.Since]) && (f.Until == "" || i <= index[f.Until])
			assert.Equal(t, inRange, slices.Contains(v.Features, f.Name), "%s %s", v.Version, f.Name)
		}
	}
	var raw struct {
		Versions []map[string]json.RawMessage `json:"versions"`
	}
	okJSON(t, d, &raw, "versions")
	assert.JSONEq(t, `"v50.1"`, string(must(t, raw.Versions[0]["advisories"])[0]["fixed_in"]), "snake_case members")
}

// must decodes a JSON array of objects.
func must(t *testing.T, m json.RawMessage) []map[string]json.RawMessage {
	t.Helper()
	var v []map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(m, &v))
	return v
}

func mustLookup(t *testing.T, v string) *core.Release {
	r, err := core.Lookup(v)
	require.NoError(t, err)
	return r
}

// TestExtract: without binaries (this tree has none), every version fails
// and says how to get one.
func TestExtract(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	data := filepath.Join(d, "data")
	if core.Releases()[0].HasBinary() {
		var out []extractJSON
		okJSON(t, d, &out, "extract", "--data-dir", data)
		for _, r := range out {
			assert.FileExists(t, r.Path)
		}
		return
	}
	r := chv(t, d, "extract", "--data-dir", data, "--version", "v49.0")
	assert.Equal(t, exitFailed, r.code)
	assert.Regexp(t, `(?m)^v49\.0\s+-$`, r.stdout)
	assert.Contains(t, r.stdout, "run `make binaries`")
	assert.Contains(t, r.stderr, "chv: 1 of 1 version(s) could not be extracted")

	r = chv(t, d, "extract", "--data-dir", data, "--json")
	assert.Equal(t, exitFailed, r.code)
	var out []extractJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.String())
	require.Len(t, out, len(core.Releases()))
	for _, e := range out {
		assert.Empty(t, e.Path)
		assert.Contains(t, e.Error, "make binaries")
	}

	r = chv(t, d, "extract", "--version", "v47.0")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, `"v47.0"; registered: v48.0`)
}

func TestDoctorSimulate(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	var out doctorJSON
	okJSON(t, d, &out, "doctor", "--simulate", "--data-dir", filepath.Join(d, "data"), "--socket-dir", d, "--version", ">= 52")
	assert.True(t, out.OK)
	assert.True(t, out.Simulated)
	require.Len(t, out.Versions, 1, "a constraint picks the newest match")
	assert.Equal(t, "v53.0", out.Versions[0].Version)
	var names []string
	for _, s := range out.Versions[0].Steps {
		names = append(names, s.Name)
		want := statusOK
		if s.Name == "binary" {
			want = statusSkip
		}
		assert.Equal(t, want, s.Status, "%+v", s)
	}
	assert.Equal(t, doctorSteps, names)
	assert.Contains(t, out.Versions[0].Steps[2].Detail, "cloud-hypervisor v53.0")
	v53 := mustLookup(t, "v53.0")
	require.NotEmpty(t, v53.Advisories(), "this test wants a release with advisories")
	assert.Equal(t, advisoriesOf(v53), out.Versions[0].Advisories, "advisories are warnings: ok stays true")
	assert.Equal(t, len(v53.Advisories()), out.Warnings)
	hostStatus := map[string]string{}
	for _, c := range out.Host {
		hostStatus[c.Name] = c.Status
	}
	assert.Equal(t, map[string]string{"kvm device": statusSkip, "kvm group": statusSkip, "data dir": statusOK, "socket dir": statusOK}, hostStatus)

	r := ok(t, d, "doctor", "--simulate", "--data-dir", filepath.Join(d, "data"), "--socket-dir", d)
	for _, rel := range core.Releases() {
		adv := "ok"
		if n := len(rel.Advisories()); n > 0 {
			adv = fmt.Sprintf("warn %d", n)
		}
		assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(rel.Version())+`\s+skip\s+ok \S+\s+ok \S+\s+ok \S+\s+ok \S+\s+ok \S+\s+\S+\s+`+adv+`$`, r.stdout)
	}
	assert.Contains(t, r.stdout, "\nWarnings: known advisories")
	assert.Contains(t, r.stdout, "CH#8606: data-loss, no fixed release yet; affects v52.0, v53.0\n")
	assert.Regexp(t, `all checks passed, with \d+ warning\(s\) \(above\)\n$`, r.stdout)
}

// TestDoctorFailures: a missing binary and an unwritable data directory
// fail with what to do, and exit 1.
func TestDoctorFailures(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	notDir := writeFile(t, d, "file", "x")
	r := chv(t, d, "doctor", "--simulate", "--data-dir", filepath.Join(notDir, "data"), "--socket-dir", d, "--version", "v48.0")
	assert.Equal(t, exitFailed, r.code, "%s", r)
	assert.Regexp(t, `(?m)^data dir\s+FAIL\s+see below$`, r.stdout)
	assert.Contains(t, r.stdout, "fix: create it writable for you")
	assert.Regexp(t, `(?m)^v48\.0\s+skip\s+FAIL \S+\s+skip\s+skip\s+skip\s+skip`, r.stdout)
	assert.Contains(t, r.stderr, "chv: doctor: 2 check(s) failed")

	if core.Releases()[0].HasBinary() {
		t.Skip("binaries are embedded: the missing-binary failure cannot happen")
	}
	r = chv(t, d, "doctor", "--data-dir", filepath.Join(d, "data"), "--socket-dir", d, "--version", "v49.0", "--json")
	assert.Equal(t, exitFailed, r.code)
	var out doctorJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.String())
	assert.False(t, out.OK)
	bin := out.Versions[0].Steps[0]
	assert.Equal(t, "binary", bin.Name)
	assert.Equal(t, statusFail, bin.Status)
	assert.Contains(t, bin.Fix, "make binaries")
	assert.Contains(t, bin.Fix, "--simulate")
	for _, s := range out.Versions[0].Steps[1:] {
		assert.Equal(t, statusSkip, s.Status)
	}
}

func TestHelpAndUsageErrors(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	r := ok(t, d, "help")
	for _, c := range commands {
		assert.Regexp(t, `(?m)^  `+c.name+`\s`, r.stdout)
	}
	r = ok(t, d, "pause", "-h")
	assert.True(t, strings.HasPrefix(r.stdout, "Usage: chv pause --socket S\n"), r.stdout)
	assert.Contains(t, r.stdout, "-socket string")
	assert.Contains(t, r.stdout, "-json")
	r = ok(t, d, "help", "create")
	assert.Contains(t, r.stdout, "--config takes the JSON body")
	assert.Contains(t, r.stdout, "-memory string")

	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "Usage: chv"},
		{[]string{"frob"}, `chv: unknown command "frob"`},
		{[]string{"pause", "--sock", "x"}, "flag provided but not defined: -sock"},
		{[]string{"pause"}, "chv: pause needs --socket"},
		{[]string{"snapshot", "--socket", "s"}, "snapshot takes 1 argument(s)"},
		{[]string{"create", "--socket", "s"}, "create needs --kernel"},
		{[]string{"create", "--socket", "s", "--kernel", "k", "--memory", "lots"}, `--memory: "lots" is not a size`},
		{[]string{"resize", "--socket", "s"}, "resize needs --cpus, --memory or --balloon"},
		{[]string{"start", "--simulate", "--socket", "s", "--version", "v47.0"}, `"v47.0"; registered: v48.0`},
		{[]string{"start", "--simulate", "--socket", "s", "--version", "not a version"}, "--version:"},
		{[]string{"start", "--simulate", "--binary", "b", "--socket", "s"}, "--simulate and --binary exclude each other"},
		{[]string{"help", "frob"}, `unknown command "frob"`},
		{[]string{"start", "--simulate", "--socket", "s", "--", "--api-socket=fd=3"}, `--api-socket after "--": chv gives CH its API socket`},
		{[]string{"start", "--simulate", "--detach", "--events", "--socket", "s"}, "--events prints the events of a VMM in the foreground; it excludes --detach"},
	} {
		r := chv(t, d, c.args...)
		assert.Equal(t, exitUsage, r.code, "%v: %s", c.args, r)
		assert.Contains(t, r.stderr, c.want, "%v", c.args)
	}
	e := failJSON(t, d, exitUsage, "start", "--simulate", "--socket", "s", "--version", "v47.0")
	assert.Contains(t, e.Error, "v47.0")
	assert.Nil(t, e.API)
}

// TestBadSocket: a socket nobody serves is an operation failure that says
// how to start a VMM.
func TestBadSocket(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	sock := filepath.Join(d, "none.sock")
	for _, cmd := range []string{"ping", "info", "boot", "shutdown-vmm"} {
		r := chv(t, d, cmd, "--socket", sock)
		assert.Equal(t, exitFailed, r.code, "%s: %s", cmd, r)
		assert.Contains(t, r.stderr, "chv: connecting to cloud-hypervisor at "+sock)
		assert.Contains(t, r.stderr, "to start one: chv start --socket "+sock)
	}
	notSock := writeFile(t, d, "plain", "")
	r := chv(t, d, "ping", "--socket", notSock, "--timeout", "2s")
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "connect")
}
