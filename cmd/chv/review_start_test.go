package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

// --simulate with --binary is a usage error even when --version names no
// registered release (it used to dereference the missing release and panic).
func TestReviewStartSimulateBinaryUnknownVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	sock := filepath.Join(t.TempDir(), "vm.sock")
	code := run(t.Context(), []string{"--data-dir", t.TempDir(), "start", "--simulate", "--binary", "/bin/true",
		"--version", "v99.0", "--socket", sock}, &stdout, &stderr)
	assert.Equal(t, exitUsage, code, "stderr: %s", stderr.String())
	assert.Contains(t, stderr.String(), "--simulate and --binary exclude each other")
	assert.NoFileExists(t, sock)
}
