package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// repo is the chvmm repository apigen works on.
type repo struct {
	root string // repository root, holding versions/ and go.work
}

// versionsDir is where the version modules live, relative to the root.
const versionsDir = "versions"

// moduleDirRE matches the directory name of a version module.
var moduleDirRE = regexp.MustCompile(`^v\d+$`)

// tagRE matches a Cloud Hypervisor release tag as apigen accepts it.
var tagRE = regexp.MustCompile(`^v(\d+)\.(\d+)$`)

// moduleName returns the version module ("v48") that holds release tag
// ("v48.0").
func moduleName(tag string) (string, error) {
	m := tagRE.FindStringSubmatch(tag)
	if m == nil {
		return "", fmt.Errorf("%q is not a Cloud Hypervisor release tag (want vMAJOR.MINOR, such as v48.0)", tag)
	}
	return "v" + m[1], nil
}

// normalizeTag turns "54.0" or "v54.0" into "v54.0".
func normalizeTag(s string) (string, error) {
	tag := "v" + strings.TrimPrefix(strings.TrimSpace(s), "v")
	if !tagRE.MatchString(tag) {
		return "", fmt.Errorf("%q is not a Cloud Hypervisor release (want MAJOR.MINOR, such as 54.0)", s)
	}
	return tag, nil
}

// moduleDir returns the directory of version module name ("v48").
func (r repo) moduleDir(name string) string {
	return filepath.Join(r.root, versionsDir, name)
}

// modules resolves the version modules named on the command line ("v48",
// "48" or a tag "v48.0"), or lists every module under versions/ that has a
// spec.lock when none is named. The result is sorted by major version.
func (r repo) modules(args []string) ([]string, error) {
	var names []string
	if len(args) == 0 {
		entries, err := os.ReadDir(filepath.Join(r.root, versionsDir))
		if err != nil {
			return nil, fmt.Errorf("listing version modules: %w (run apigen from the repository root or pass -root)", err)
		}
		for _, e := range entries {
			if !e.IsDir() || !moduleDirRE.MatchString(e.Name()) {
				continue
			}
			if _, err := os.Stat(filepath.Join(r.moduleDir(e.Name()), specLockFile)); err == nil {
				names = append(names, e.Name())
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("no version module with a %s under %s", specLockFile, filepath.Join(r.root, versionsDir))
		}
	}
	for _, a := range args {
		major, _, _ := strings.Cut(strings.TrimPrefix(a, "v"), ".")
		if _, err := strconv.Atoi(major); err != nil {
			return nil, fmt.Errorf("%w: %q is not a version module (want vNN, such as v48)", errUsage, a)
		}
		name := "v" + major
		if _, err := os.Stat(filepath.Join(r.moduleDir(name), specLockFile)); err != nil {
			return nil, fmt.Errorf("version module %s: %w (create it with apigen new-version)", name, err)
		}
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		a, _ := strconv.Atoi(names[i][1:])
		b, _ := strconv.Atoi(names[j][1:])
		return a < b
	})
	return names, nil
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory and a rename, so readers see the old or the new content, never
// a part. The directory must exist.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// writeIfChanged writes data to path atomically unless path already holds
// exactly data, so that regenerating leaves unchanged files untouched.
func writeIfChanged(path string, data []byte) error {
	old, err := os.ReadFile(path)
	if err == nil && string(old) == string(data) {
		return nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return writeFileAtomic(path, data, 0o644)
}
