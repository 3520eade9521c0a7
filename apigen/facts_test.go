package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// committedFactsDir is where the repository's facts files are, from apigen/.
const committedFactsDir = "facts"

// chMirror returns a Cloud Hypervisor git directory with every release tag:
// $CHVMM_CH_SRC, or where this project's machines keep one (CI has none).
func chMirror() string {
	if dir := os.Getenv("CHVMM_CH_SRC"); dir != "" {
		return dir
	}
	return "/work/.mirror/cloud-hypervisor+cloud-hypervisor/repo"
}

// embeddedTags returns the release tags of the repository's version modules.
func embeddedTags(t *testing.T) []string {
	t.Helper()
	r := repo{root: ".."}
	names, err := r.modules(nil)
	require.NoError(t, err)
	var tags []string
	for _, n := range names {
		lock, err := readSpecLock(r.moduleDir(n))
		require.NoError(t, err)
		tags = append(tags, lock.Tag)
	}
	return tags
}

func TestLoadFactsRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	_, err := loadFacts(dir, "v90.0")
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.ErrorContains(t, err, "make facts CH_SRC=")
	assert.ErrorContains(t, err, "apigen/facts/v90.0.json")

	good, err := os.ReadFile(testFacts)
	require.NoError(t, err)
	for name, tc := range map[string]struct{ content, want string }{
		"another tag":    {strings.Replace(string(good), `"tag": "v90.0"`, `"tag": "v91.0"`, 1), "holds the facts of v91.0, not v90.0"},
		"another format": {strings.Replace(string(good), `"format": 1`, `"format": 7`, 1), "has format 7, this apigen reads 1"},
		"unknown member": {strings.Replace(string(good), `"format": 1`, `"format": 1, "extra": true`, 1), `unknown field "extra"`},
		"no routes":      {`{"format": 1, "tag": "v90.0", "commit": "x", "routes": [], "types": []}`, "has no routes or no types"},
		"not JSON":       {"{", "regenerate it with make facts"},
	} {
		t.Run(name, func(t *testing.T) {
			writeTestFile(t, filepath.Join(dir, "v90.0.json"), tc.content)
			_, err := loadFacts(dir, "v90.0")
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestFactsRoundTrip(t *testing.T) {
	f, err := loadFacts(filepath.Dir(testFacts), "v90.0")
	require.NoError(t, err)
	b, err := f.bytes()
	require.NoError(t, err)
	var back chFacts
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, *f, back)
}

// TestCommittedFacts checks the committed facts of every embedded release
// for what the server is known to do (and its spec gets wrong).
func TestCommittedFacts(t *testing.T) {
	facts := map[string]*chFacts{}
	for _, tag := range embeddedTags(t) {
		f, err := loadFacts(committedFactsDir, tag)
		require.NoError(t, err, "every embedded release has committed facts")
		assert.Len(t, f.Commit, 40, tag)
		facts[tag] = f
	}
	for tag, f := range facts {
		nmi := f.route("/vm.nmi")
		if assert.NotNil(t, nmi, "%s routes /vm.nmi", tag) {
			assert.Equal(t, []string{"PUT"}, nmi.Methods)
			assert.Equal(t, "none", nmi.Body)
		}
		assert.Nil(t, f.route("/vmm.nmi"), "%s routes no /vmm.nmi", tag)
		dump := f.route("/vm.coredump")
		if assert.NotNil(t, dump, tag) {
			assert.Equal(t, []string{"guest_debug"}, dump.Features, "%s: coredump needs cargo feature guest_debug", tag)
		}
		assert.Equal(t, []string{"GET"}, f.route("/vm.info").Methods)
		assert.Equal(t, "VmInfoResponse", f.route("/vm.info").Response)
		assert.Equal(t, "PciDeviceInfo", f.route("/vm.add-disk").Response)
		assert.Equal(t, "VmConfig", f.route("/vm.create").Request)

		platform := f.typesNamed("PlatformConfig")
		require.Len(t, platform, 1)
		width := fieldOf(platform[0], "iommu_address_width_bits")
		if assert.NotNil(t, width, "%s: PlatformConfig.iommu_address_width_bits", tag) {
			assert.Equal(t, "64", string(width.Default.Value))
			assert.False(t, width.Required)
		}
		assert.Nil(t, fieldOf(platform[0], "iommu_address_width"), tag)

		vm := f.typesNamed("VmConfig")[0]
		for _, member := range []string{"payload", "cpus", "memory", "serial", "console", "rng"} {
			fld := fieldOf(vm, member)
			if assert.NotNil(t, fld, "%s: VmConfig.%s", tag, member) {
				assert.False(t, fld.Required, "%s: VmConfig.%s is defaulted: vm.create takes {}", tag, member)
			}
		}
		assert.Equal(t, "skip", fieldOf(vm, "preserved_fds").Skip)
		cpus := f.typesNamed("CpusConfig")[0]
		assert.Equal(t, "46", string(fieldOf(cpus, "max_phys_bits").Default.Value), tag)
		assert.True(t, fieldOf(cpus, "boot_vcpus").Required, tag)
		assert.Equal(t, []string{"tdx"}, fieldOf(platform[0], "tdx").Features, tag)
	}
	for _, tag := range []string{"v52.0", "v53.0"} {
		vm := facts[tag].typesNamed("VmConfig")[0]
		gvu := fieldOf(vm, "generic_vhost_user")
		require.NotNil(t, gvu, "%s: VmConfig.generic_vhost_user", tag)
		assert.Equal(t, "generic_vhost_user", gvu.JSON, "%s: no serde rename to generic-vhost-user", tag)
		cfg := facts[tag].typesNamed("GenericVhostUserConfig")[0]
		assert.Equal(t, "Vec<u16>", fieldOf(cfg, "queue_sizes").Type, tag)
		assert.True(t, fieldOf(cfg, "queue_sizes").Required, tag)
		assert.Equal(t, "u32", fieldOf(cfg, "device_type").Type, tag)
		assert.Nil(t, fieldOf(cfg, "queue_size"), tag)
		assert.Nil(t, fieldOf(cfg, "virtio_id"), tag)
		assert.NotNil(t, facts[tag].route("/vm.add-generic-vhost-user"), tag)
	}
	assert.Nil(t, facts["v51.2"].route("/vm.add-generic-vhost-user"))
	assert.Nil(t, facts["v49.0"].route("/vm.resize-disk"))
	assert.NotNil(t, facts["v50.2"].route("/vm.resize-disk"))
	p53 := facts["v53.0"].typesNamed("PlatformConfig")[0]
	assert.Equal(t, []string{"serial_number"}, fieldOf(p53, "system_serial_number").Aliases, "v53.0 reads the old name as an alias")
	assert.True(t, facts["v53.0"].typesNamed("RateLimiterConfig")[0].DenyUnknownFields)
}

func fieldOf(t *typeFact, rust string) *fieldFact {
	for i := range t.Fields {
		if t.Fields[i].Rust == rust {
			return &t.Fields[i]
		}
	}
	return nil
}

// TestFactsFromTheMirror reads every embedded release's facts from the
// Cloud Hypervisor git directory and compares them with the committed
// files: they are reproducible, and up to date with apigen.
func TestFactsFromTheMirror(t *testing.T) {
	mirror := chMirror()
	if _, err := os.Stat(mirror); err != nil {
		t.Skipf("no Cloud Hypervisor git directory at %s (set CHVMM_CH_SRC; CI has none): the committed facts are checked by TestCommittedFacts", mirror)
	}
	for _, tag := range embeddedTags(t) {
		f, err := factsFromGit(t.Context(), mirror, tag)
		require.NoError(t, err)
		got, err := f.bytes()
		require.NoError(t, err)
		want, err := os.ReadFile(filepath.Join(committedFactsDir, tag+".json"))
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), "apigen/facts/%s.json differs from what make facts writes: run make facts CH_SRC=%s", tag, mirror)
	}
	_, err := factsFromGit(t.Context(), mirror, "v0.0")
	assert.ErrorContains(t, err, "v0.0 is not a tag of the Cloud Hypervisor repository")
}

func TestRunFactsNeedsAGitDir(t *testing.T) {
	err := run(t.Context(), []string{"facts"})
	require.ErrorIs(t, err, errUsage)
	assert.ErrorContains(t, err, "make facts CH_SRC=DIR")
	root, _ := newTestRoot(t)
	err = run(t.Context(), []string{"facts", "-root", root, "-ch", t.TempDir()})
	assert.ErrorContains(t, err, "v90.0 is not a tag of the Cloud Hypervisor repository")
	err = run(t.Context(), []string{"facts", "-root", root, "-ch", t.TempDir(), "v91.0"})
	assert.ErrorContains(t, err, "v91.0 is not a tag", "a release tag need not be a version module yet")

	r := repo{root: root}
	tags, err := r.factsTags(nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"v90.0"}, tags)
	tags, err = r.factsTags([]string{"v54.0"})
	require.NoError(t, err)
	assert.Equal(t, []string{"v54.0"}, tags)
	tags, err = r.factsTags([]string{"v90", "v54.0"})
	require.NoError(t, err)
	assert.Equal(t, []string{"v54.0", "v90.0"}, tags)
}
