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
// the template that renders it ("" for the client, which oapi-codegen
// writes, and for the API model, which model.go writes).
type generatedFile struct {
	Path     string
	Template string
	NotGo    bool  // not Go source: not gofmt'd
	Arch     *arch // for a per-architecture file: which one
	Model    bool  // the API model, api.gen.go
}

// An arch is a Go architecture CH publishes binaries for.
type arch struct {
	GOARCH string // "amd64"
	Name   string // CH's name, "x86_64"
}

// arches are the architectures CH publishes binaries for. A build for any
// other architecture embeds no binary (embed_other.go).
var arches = []arch{{GOARCH: "amd64", Name: "x86_64"}, {GOARCH: "arm64", Name: "aarch64"}}

// generatedFiles lists every file apigen generates in a version module.
var generatedFiles = func() []generatedFile {
	files := []generatedFile{
		{Path: "client.gen.go"},
		{Path: "api.gen.go", Model: true},
		{Path: "release.gen.go", Template: "release.gen.go.tmpl"},
		{Path: "release_gen_test.go", Template: "release_gen_test.go.tmpl"},
		{Path: "embed_other.go", Template: "embed_other.go.tmpl"},
		{Path: filepath.Join("spec", "spec.gen.go"), Template: "spec.gen.go.tmpl"},
		{Path: filepath.Join(binariesDir, "README.md"), Template: "binaries_README.md.tmpl", NotGo: true},
	}
	for i := range arches {
		a := &arches[i]
		files = append(files,
			generatedFile{Path: "embed_" + a.GOARCH + ".go", Template: "embed.go.tmpl", Arch: a},
			generatedFile{Path: filepath.Join(binariesDir, a.Name, "README.md"), Template: "binaries_arch_README.md.tmpl", NotGo: true, Arch: a})
	}
	return files
}()

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
	k, err := r.knowledge(s)
	if err != nil {
		return nil, err
	}
	d, err := newModuleData(s, pkg, client, k)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, f := range generatedFiles {
		switch {
		case f.Model:
			files[f.Path], err = renderModel(s.Tag, pkg, d.Endpoints, d.Model)
		case f.Template == "":
			files[f.Path] = client
		case f.Arch != nil:
			files[f.Path], err = render(f.Template, archData{moduleData: d, Arch: *f.Arch}, !f.NotGo)
		default:
			files[f.Path], err = render(f.Template, d, !f.NotGo)
		}
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// knowledge merges spec s with its server's committed facts, or is nil
// when the repository has no facts for its tag (apigen's own tests).
func (r repo) knowledge(s *spec) (*releaseKnowledge, error) {
	path := filepath.Join(r.root, factsDir)
	if _, err := os.Stat(filepath.Join(path, s.Tag+".json")); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	f, err := loadFacts(path, s.Tag)
	if err != nil {
		return nil, err
	}
	return newReleaseKnowledge(s, f)
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
