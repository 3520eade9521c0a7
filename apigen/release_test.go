package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReleaseModulesAndTags(t *testing.T) {
	mods, err := repo{root: ".."}.releaseModules(3)
	require.NoError(t, err)
	var tags []string
	for _, m := range mods {
		tags = append(tags, m.Tag())
	}
	assert.Equal(t, []string{"core/v0.3.0", "versions/v48.0.3", "versions/v49.0.3", "versions/v50.2.3", "versions/v51.2.3",
		"versions/v52.0.3", "versions/v53.0.3", "chsim/v0.3.0", "cmd/chv/v0.3.0"}, tags, "dependency order; the go command's tag names")
	assert.Equal(t, modulePathPrefix+"v50", mods[3].Path)
}
