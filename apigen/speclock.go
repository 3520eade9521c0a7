package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// specLockFile pins a version module's release tag and the SHA-256 of the
// official spec it is generated from, as one line "v48.0 <sha256>".
const specLockFile = "spec.lock"

// sha256RE matches a hex SHA-256.
var sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// A specLock is the content of a spec.lock.
type specLock struct {
	Tag    string // release tag, "v48.0"
	SHA256 string // hex SHA-256 of the official cloud-hypervisor.yaml
}

// readSpecLock reads the spec.lock of the version module in dir.
func readSpecLock(dir string) (specLock, error) {
	path := filepath.Join(dir, specLockFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return specLock{}, fmt.Errorf("reading spec lock: %w", err)
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 || !tagRE.MatchString(fields[0]) || !sha256RE.MatchString(fields[1]) {
		return specLock{}, fmt.Errorf("%s: want one line \"vMAJOR.MINOR <hex sha256>\", got %q", path, strings.TrimSpace(string(b)))
	}
	return specLock{Tag: fields[0], SHA256: fields[1]}, nil
}

// bytes returns the spec.lock content for l.
func (l specLock) bytes() []byte {
	return []byte(l.Tag + " " + l.SHA256 + "\n")
}
