package main

import (
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
