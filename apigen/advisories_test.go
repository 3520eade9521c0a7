package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAdvisoriesAreSourced: the committed table loads for the embedded
// releases, and entries without a source, kind or known release are
// refused.
func TestAdvisoriesAreSourced(t *testing.T) {
	tags := []string{"v48.0", "v49.0", "v50.2", "v51.2", "v52.0", "v53.0"}
	list, err := loadAdvisories(advisoriesFile, tags)
	require.NoError(t, err)
	require.NotEmpty(t, list)
	ids := map[string]bool{}
	for _, a := range list {
		ids[a.ID] = true
		assert.NotEmpty(t, a.Sources, a.ID)
	}
	assert.True(t, ids["CVE-2026-27211"] && ids["CVE-2026-45782"] && ids["CH#8358"] && ids["CH#8606"])
	src, err := renderAdvisories(list)
	require.NoError(t, err)
	assert.Contains(t, string(src), `ID:       "CVE-2026-27211"`)

	dir := t.TempDir()
	for name, entry := range map[string]string{
		"no source":       `{"id":"X","kind":"security","summary":"s","affected":["v48.0"],"sources":[]}`,
		"bad kind":        `{"id":"X","kind":"bug","summary":"s","affected":["v48.0"],"sources":["u"]}`,
		"unknown release": `{"id":"X","kind":"security","summary":"s","affected":["v47.0"],"sources":["u"]}`,
		"affects nothing": `{"id":"X","kind":"security","summary":"s","affected":[],"sources":["u"]}`,
		"no summary":      `{"id":"X","kind":"security","affected":["v48.0"],"sources":["u"]}`,
	} {
		path := filepath.Join(dir, "a.json")
		writeTestFile(t, path, "["+entry+"]")
		_, err := loadAdvisories(path, tags)
		assert.Error(t, err, name)
	}
}

// TestReadmeAdvisoryTable: generate rewrites exactly what stands between the
// README's markers, with every advisory, and refuses a README without them.
func TestReadmeAdvisoryTable(t *testing.T) {
	list := []advisory{
		{ID: "CVE-1", Kind: "security", Summary: "a | b", Affected: []string{"v48.0", "v49.0"}, FixedIn: "v50.1", Sources: []string{"https://example.com/1"}},
		{ID: "CH#2", Kind: "data-loss", Summary: "c", Affected: []string{"v53.0"}, Sources: []string{"https://example.com/2"}},
	}
	r := repo{root: t.TempDir()}
	readme := filepath.Join(r.root, "README.md")
	writeTestFile(t, readme, "# x\n\nbefore\n"+readmeAdvisoriesBegin+"| stale |\n"+readmeAdvisoriesEnd+"after\n")
	require.NoError(t, r.writeReadmeAdvisories(list))
	got, err := os.ReadFile(readme)
	require.NoError(t, err)
	assert.Equal(t, "# x\n\nbefore\n"+readmeAdvisoriesBegin+
		"| advisory | kind | embedded releases affected | fixed in | what goes wrong |\n| --- | --- | --- | --- | --- |\n"+
		"| [CVE-1](https://example.com/1) | security | v48.0, v49.0 | v50.1 | a \\| b |\n"+
		"| [CH#2](https://example.com/2) | data-loss | v53.0 | not yet | c |\n"+
		readmeAdvisoriesEnd+"after\n", string(got))

	writeTestFile(t, readme, "# no table\n")
	err = r.writeReadmeAdvisories(list)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "README.md: no advisory table to rewrite")
}
