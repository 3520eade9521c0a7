package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// generatedFile pairs a generated file, relative to its version module, with
// the template that renders it ("" for the client, which oapi-codegen writes).
type generatedFile struct {
	Path     string
	Template string
	NotGo    bool // not Go source: not gofmt'd
}

// generatedFiles lists every file apigen generates in a version module.
var generatedFiles = []generatedFile{
	{Path: "client.gen.go"},
	{Path: "release.gen.go", Template: "release.gen.go.tmpl"},
	{Path: "release_gen_test.go", Template: "release_gen_test.go.tmpl"},
	{Path: filepath.Join("spec", "spec.gen.go"), Template: "spec.gen.go.tmpl"},
	{Path: filepath.Join(binariesDir, "README.md"), Template: "binaries_README.md.tmpl", NotGo: true},
}

// runGenerate is `apigen generate -specs DIR [vNN ...]`.
func runGenerate(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("generate", flag.ContinueOnError)
	root := fl.String("root", ".", "repository root")
	specs := fl.String("specs", "specs", "directory holding <tag>/cloud-hypervisor.yaml (make specs fills ./specs)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	r := repo{root: *root}
	names, err := r.modules(fl.Args())
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := r.generate(ctx, *specs, name); err != nil {
			return err
		}
	}
	if fl.NArg() > 0 {
		return nil // core's tables need every release
	}
	return r.generateCore(ctx, *specs)
}

// generate regenerates version module name from its locked spec in specsDir.
func (r repo) generate(ctx context.Context, specsDir, name string) error {
	dir := r.moduleDir(name)
	lock, err := readSpecLock(dir)
	if err != nil {
		return err
	}
	if want, err := moduleName(lock.Tag); err != nil || want != name {
		return fmt.Errorf("%s pins %s, which belongs in versions/%s, not versions/%s", filepath.Join(dir, specLockFile), lock.Tag, want, name)
	}
	s, err := loadLockedSpec(specsDir, lock)
	if err != nil {
		return err
	}
	if err := r.checkServer(s); err != nil {
		return err
	}
	files, err := r.renderModule(ctx, s, name)
	if err != nil {
		return err
	}
	for _, f := range generatedFiles {
		path := filepath.Join(dir, f.Path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := writeIfChanged(path, files[f.Path]); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, binariesLockFile)); errors.Is(err, fs.ErrNotExist) {
		if err := writeFileAtomic(filepath.Join(dir, binariesLockFile), binariesLock{}.bytes(lock.Tag), 0o644); err != nil {
			return err
		}
	}
	slog.Info("generated", "module", name, "tag", lock.Tag, "fixups", fixupList(s.Fixups))
	return nil
}

// renderModule returns every generated file of version module pkg for spec
// s, by path relative to the module.
func (r repo) renderModule(ctx context.Context, s *spec, pkg string) (map[string][]byte, error) {
	client, err := r.generateClient(ctx, s, pkg)
	if err != nil {
		return nil, err
	}
	d, err := newModuleData(s, pkg, client)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, f := range generatedFiles {
		if f.Template == "" {
			files[f.Path] = client
			continue
		}
		if files[f.Path], err = render(f.Template, d, !f.NotGo); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// checkServer compares spec s with the committed facts of its server
// (apigen/facts/<tag>.json): a difference that no fix-up removes and no
// acceptedDifferences entry accepts, or an entry that accepts nothing, is
// an error.
func (r repo) checkServer(s *spec) error {
	f, err := loadFacts(filepath.Join(r.root, factsDir), s.Tag)
	if err != nil {
		return err
	}
	_, accepted, err := compareWithServer(s, f, acceptedDifferences)
	if err != nil {
		return err
	}
	slog.Debug("the spec and its server differ only where accepted", "tag", s.Tag, "accepted", len(accepted))
	return nil
}
