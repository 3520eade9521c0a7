package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadLockedSpecRefusesAnotherSHA(t *testing.T) {
	dir := t.TempDir()
	raw := copyFile(t, testSpec, specPath(dir, "v90.0"))

	s, err := loadLockedSpec(dir, specLock{Tag: "v90.0", SHA256: fileSHA256(raw)})
	require.NoError(t, err)
	assert.Equal(t, fileSHA256(raw), s.SHA256)

	wrong := specLock{Tag: "v90.0", SHA256: fileSHA256([]byte("something else"))}
	_, err = loadLockedSpec(dir, wrong)
	require.ErrorIs(t, err, errSpecMismatch)
	assert.Contains(t, err.Error(), wrong.SHA256)
	assert.Contains(t, err.Error(), fileSHA256(raw))

	_, err = loadLockedSpec(dir, specLock{Tag: "v91.0", SHA256: wrong.SHA256})
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), "make specs")
}

func TestSpecFacts(t *testing.T) {
	raw, err := os.ReadFile(testSpec)
	require.NoError(t, err)
	s, err := parseSpec("v90.0", raw)
	require.NoError(t, err)

	v, err := s.APIVersion()
	require.NoError(t, err)
	assert.Equal(t, "0.3.0", v)

	eps, err := s.Endpoints()
	require.NoError(t, err)
	assert.Equal(t, []endpoint{{"PUT", "/vm.create"}, {"GET", "/vm.info"}, {"GET", "/vmm.ping"}}, eps)
	assert.Equal(t, []string{"Unused", "VmConfig", "VmmPingResponse"}, s.SchemaNames())

	js, err := s.JSON()
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(js, &doc))
	responses := doc["paths"].(map[string]any)["/vmm.ping"].(map[string]any)["get"].(map[string]any)["responses"].(map[string]any)
	assert.Contains(t, responses, "200", "integer response codes become string keys")
	assert.Equal(t, "0.3.0", doc["info"].(map[string]any)["version"])
}

func TestParseSpecRefusesNonOpenAPI(t *testing.T) {
	_, err := parseSpec("v90.0", []byte("just: a map\n"))
	assert.ErrorContains(t, err, "not an OpenAPI document")
	_, err = parseSpec("v90.0", []byte("- a\n- list\n"))
	assert.ErrorContains(t, err, "not a YAML mapping")
}

func TestReadSpecLock(t *testing.T) {
	dir := t.TempDir()
	sum := fileSHA256([]byte("x"))
	writeTestFile(t, filepath.Join(dir, specLockFile), "v48.0 "+sum+"\n")
	l, err := readSpecLock(dir)
	require.NoError(t, err)
	assert.Equal(t, specLock{Tag: "v48.0", SHA256: sum}, l)
	assert.Equal(t, "v48.0 "+sum+"\n", string(l.bytes()))

	writeTestFile(t, filepath.Join(dir, specLockFile), "48.0 "+sum+"\n")
	_, err = readSpecLock(dir)
	assert.ErrorContains(t, err, "want one line")
}

func TestRawStringLiteral(t *testing.T) {
	assert.Equal(t, "`a`", rawStringLiteral("a"))
	assert.Equal(t, "`a` + \"`\" + `b`", rawStringLiteral("a`b"))
}
