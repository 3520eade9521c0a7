package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// testSpec is a small spec in Cloud Hypervisor's shape, written for these
// tests, and testFacts the facts of a server that agrees with it.
const (
	testSpec  = "testdata/spec.yaml"
	testFacts = "testdata/facts/v90.0.json"
)

// newTestRoot returns a temporary repository root holding the tools module
// (for oapi-codegen), a go.work, version module v90 locked to testSpec as
// release v90.0 with testFacts as its server's facts, and the spec under
// <root>/specs.
func newTestRoot(t *testing.T) (root, specsDir string) {
	t.Helper()
	root = t.TempDir()
	for _, f := range []string{"go.mod", "go.sum"} {
		copyFile(t, filepath.Join("..", toolsDir, f), filepath.Join(root, toolsDir, f))
	}
	specsDir = filepath.Join(root, "specs")
	raw := copyFile(t, testSpec, specPath(specsDir, "v90.0"))
	mod := filepath.Join(root, versionsDir, "v90")
	writeTestFile(t, filepath.Join(mod, "go.mod"), "module "+modulePathPrefix+"v90\n\ngo 1.26.0\n\nrequire github.com/chvmm/chvmm/core v0.0.0\n")
	writeTestFile(t, filepath.Join(mod, specLockFile), string(specLock{Tag: "v90.0", SHA256: fileSHA256(raw)}.bytes()))
	writeTestFile(t, filepath.Join(root, "go.work"), "go 1.26.0\n\nuse ./versions/v90\n")
	copyFile(t, testFacts, factsPath(root, "v90.0"))
	require.NoError(t, os.MkdirAll(filepath.Join(root, coreDir), 0o755)) // core's generated types go here
	writeTestFile(t, filepath.Join(root, "apigen", advisoriesFile), "[]\n")
	writeTestFile(t, filepath.Join(root, "README.md"), "# test\n\n"+readmeAdvisoriesBegin+readmeAdvisoriesEnd)
	return root, specsDir
}

// copyFile copies src to dst, creating dst's directory, and returns the bytes.
func copyFile(t *testing.T, src, dst string) []byte {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	writeTestFile(t, dst, string(b))
	return b
}

// writeTestFile writes content to path, creating its directory.
func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

// readTree returns every regular file under dir, by slash path relative to dir.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	}))
	return files
}

// writeFactsAs writes testFacts as the facts of release tag under root.
func writeFactsAs(t *testing.T, root, tag string) {
	t.Helper()
	f, err := loadFacts(filepath.Dir(testFacts), "v90.0")
	require.NoError(t, err)
	f.Tag = tag
	b, err := f.bytes()
	require.NoError(t, err)
	writeTestFile(t, factsPath(root, tag), string(b))
}
