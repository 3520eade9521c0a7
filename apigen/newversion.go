package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// runNewVersion is `apigen new-version -V 54.0 -specs DIR`.
func runNewVersion(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("new-version", flag.ContinueOnError)
	root := fl.String("root", ".", "repository root")
	specs := fl.String("specs", "specs", "directory holding <tag>/cloud-hypervisor.yaml")
	ver := fl.String("V", "", "the Cloud Hypervisor release to add, such as 54.0")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *ver == "" || fl.NArg() != 0 {
		return fmt.Errorf("%w: new-version needs -V MAJOR.MINOR and no other argument", errUsage)
	}
	tag, err := normalizeTag(*ver)
	if err != nil {
		return err
	}
	return repo{root: *root}.newVersion(ctx, *specs, tag)
}

// newVersion creates the version module for release tag from its spec in
// specsDir: go.mod and go.sum (shaped as the newest existing version
// module's), spec.lock, binaries.lock, the generated files, and the go.work
// use line. It refuses to touch an existing module.
func (r repo) newVersion(ctx context.Context, specsDir, tag string) (err error) {
	name, err := moduleName(tag)
	if err != nil {
		return err
	}
	dir := r.moduleDir(name)
	if _, err := os.Stat(dir); err == nil {
		lock, _ := readSpecLock(dir)
		return fmt.Errorf("versions/%s already exists (at %s): a major has one module; to move it to %s, put %s and the spec's sha256 in its %s, empty its %s and run make generate",
			name, lock.Tag, tag, tag, specLockFile, binariesLockFile)
	}
	raw, err := os.ReadFile(specPath(specsDir, tag))
	if err != nil {
		return fmt.Errorf("reading the %s spec: %w (fetch it with make specs, or pass -specs)", tag, err)
	}
	lock := specLock{Tag: tag, SHA256: fileSHA256(raw)}
	if _, err := parseSpec(tag, raw); err != nil {
		return err
	}
	goMod, goSum, err := r.moduleFilesLike(name)
	if err != nil {
		return err
	}

	if err := os.MkdirAll(filepath.Join(dir, binariesDir), 0o755); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	for path, data := range map[string][]byte{
		"go.mod":     goMod,
		"go.sum":     goSum,
		specLockFile: lock.bytes(),
	} {
		if data == nil {
			continue
		}
		if err := writeFileAtomic(filepath.Join(dir, path), data, 0o644); err != nil {
			return err
		}
	}
	if err := r.generate(ctx, specsDir, name); err != nil {
		return err
	}
	if err := r.generateCore(ctx, specsDir); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "work", "use", "./"+versionsDir+"/"+name)
	cmd.Dir = r.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go work use: %w\n%s", err, out)
	}
	slog.Info("created version module; review it, then fetch its binaries (make binaries) and commit", "module", name, "tag", tag)
	return nil
}

// moduleFilesLike returns go.mod and go.sum for new version module name,
// copied from the newest existing version module with the module path
// replaced, so every version module requires the same dependencies.
func (r repo) moduleFilesLike(name string) (goMod, goSum []byte, err error) {
	existing, err := r.modules(nil)
	if err != nil {
		return nil, nil, fmt.Errorf("no version module to copy go.mod from: %w", err)
	}
	from := r.moduleDir(existing[len(existing)-1])
	goMod, err = os.ReadFile(filepath.Join(from, "go.mod"))
	if err != nil {
		return nil, nil, err
	}
	first, rest, _ := bytes.Cut(goMod, []byte("\n"))
	if !strings.HasPrefix(string(first), "module "+modulePathPrefix) {
		return nil, nil, fmt.Errorf("%s does not start with a module line for %s*", filepath.Join(from, "go.mod"), modulePathPrefix)
	}
	goMod = append([]byte("module "+modulePathPrefix+name+"\n"), rest...)
	goSum, err = os.ReadFile(filepath.Join(from, "go.sum"))
	if errors.Is(err, fs.ErrNotExist) {
		return goMod, nil, nil
	}
	return goMod, goSum, err
}
