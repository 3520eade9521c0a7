package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// binariesLockFile pins the SHA-256 of a version module's binaries, one line
// "<arch> <sha256>" each, like go.sum: written when an arch is first fetched,
// verified on every later fetch.
const binariesLockFile = "binaries.lock"

// errBinaryMismatch: a binary is not the one binaries.lock pins.
var errBinaryMismatch = errors.New("binary does not match binaries.lock")

// binariesLock is the content of a binaries.lock: SHA-256 by arch.
type binariesLock map[string]string

// readBinariesLock reads the binaries.lock of the version module in dir; a
// missing file is an empty lock.
func readBinariesLock(dir string) (binariesLock, error) {
	path := filepath.Join(dir, binariesLockFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return binariesLock{}, nil
	}
	if err != nil {
		return nil, err
	}
	l := binariesLock{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 || !sha256RE.MatchString(f[1]) {
			return nil, fmt.Errorf("%s:%d: want \"<arch> <hex sha256>\", got %q", path, i+1, line)
		}
		if _, dup := l[f[0]]; dup {
			return nil, fmt.Errorf("%s:%d: arch %s listed twice", path, i+1, f[0])
		}
		l[f[0]] = f[1]
	}
	return l, nil
}

// bytes returns the binaries.lock content for release tag.
func (l binariesLock) bytes(tag string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# SHA-256 of the Cloud Hypervisor %s binaries, binaries/<arch>/cloud-hypervisor.\n", tag)
	b.WriteString("# Written by `make binaries` when an arch is first fetched, verified on every later\n")
	b.WriteString("# fetch; a binary that does not match is refused. Commit this file.\n")
	arches := make([]string, 0, len(l))
	for a := range l {
		arches = append(arches, a)
	}
	slices.Sort(arches)
	for _, a := range arches {
		fmt.Fprintf(&b, "%s %s\n", a, l[a])
	}
	return []byte(b.String())
}
