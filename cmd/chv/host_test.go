package main

import (
	"encoding/json"
	"path/filepath"
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
	for _, v := range core.Versions() {
		assert.Regexp(t, `(?m)^`+strings.ReplaceAll(v, ".", `\.`)+`\s+0\.\d+\.\d+\s`, r.stdout)
	}
	assert.Contains(t, r.stdout, "Capabilities that differ")
	assert.Regexp(t, `(?m)^PUT /vm\.resize-disk\s+-\s+-\s+yes\s+yes\s+yes\s+yes$`, r.stdout)

	var out versionsJSON
	okJSON(t, d, &out, "versions")
	assert.Equal(t, core.HostArch(), out.HostArch)
	require.Len(t, out.Versions, len(core.Releases()))
	require.NotEmpty(t, out.Features)
	for i, v := range out.Versions {
		rel := core.Releases()[i]
		assert.Equal(t, rel.Version, v.Version)
		assert.Equal(t, rel.APIVersion, v.APIVersion)
		assert.Equal(t, rel.HasBinary(core.HostArch()), v.Embedded)
		// Each differing feature is listed exactly for the versions
		// between its Since and Until.
		for _, f := range out.Features {
			inRange := (f.Since == "" || rel.SemVer().Compare(mustLookup(t, f.Since).SemVer()) >= 0) &&
				(f.Until == "" || rel.SemVer().Compare(mustLookup(t, f.Until).SemVer()) <= 0)
			assert.Equal(t, inRange, contains(v.Features, f.Name), "%s %s", v.Version, f.Name)
		}
	}
}

func mustLookup(t *testing.T, v string) *core.Release {
	r, err := core.Lookup(v)
	require.NoError(t, err)
	return r
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestExtract: without binaries (this tree has none), every version fails
// and says how to get one.
func TestExtract(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	data := filepath.Join(d, "data")
	if core.Releases()[0].HasBinary(core.HostArch()) {
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
	hostStatus := map[string]string{}
	for _, c := range out.Host {
		hostStatus[c.Name] = c.Status
	}
	assert.Equal(t, map[string]string{"kvm device": statusSkip, "kvm group": statusSkip, "data dir": statusOK, "socket dir": statusOK}, hostStatus)

	r := ok(t, d, "doctor", "--simulate", "--data-dir", filepath.Join(d, "data"), "--socket-dir", d)
	for _, v := range core.Versions() {
		assert.Regexp(t, `(?m)^`+strings.ReplaceAll(v, ".", `\.`)+`\s+skip\s+ok \S+\s+ok \S+\s+ok \S+\s+ok \S+\s+ok \S+\s+\S+$`, r.stdout)
	}
	assert.Contains(t, r.stdout, "all checks passed")
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

	if core.Releases()[0].HasBinary(core.HostArch()) {
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
