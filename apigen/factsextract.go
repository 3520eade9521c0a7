package main

// `apigen facts`: the facts of each embedded release's server, read from a
// Cloud Hypervisor git directory at the release's tag.

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

// runFacts is `apigen facts -ch DIR [vNN | vNN.N ...]`.
func runFacts(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("facts", flag.ContinueOnError)
	root := fl.String("root", ".", "repository root")
	ch := fl.String("ch", "", "a git directory of the Cloud Hypervisor repository with the release tags (a bare clone will do)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *ch == "" {
		return fmt.Errorf("%w: facts needs -ch DIR, a Cloud Hypervisor git directory (make facts CH_SRC=DIR)", errUsage)
	}
	r := repo{root: *root}
	tags, err := r.factsTags(fl.Args())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(r.root, factsDir), 0o755); err != nil {
		return err
	}
	for _, tag := range tags {
		f, err := factsFromGit(ctx, *ch, tag)
		if err != nil {
			return err
		}
		data, err := f.bytes()
		if err != nil {
			return err
		}
		if err := writeIfChanged(factsPath(r.root, tag), data); err != nil {
			return err
		}
		slog.Info("facts", "tag", f.Tag, "commit", f.Commit, "routes", len(f.Routes), "types", len(f.Types))
	}
	return nil
}

// factsTags resolves the releases named on apigen facts' command line: a
// release tag (v54.0, for a release new-version is about to add) as it is,
// a version module (v48) as the tag its spec.lock pins; none means every
// version module.
func (r repo) factsTags(args []string) ([]string, error) {
	var tags, modules []string
	for _, a := range args {
		if tagRE.MatchString(a) {
			tags = append(tags, a)
		} else {
			modules = append(modules, a)
		}
	}
	if len(modules) == 0 && len(tags) > 0 {
		return tags, nil
	}
	names, err := r.modules(modules)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		lock, err := readSpecLock(r.moduleDir(name))
		if err != nil {
			return nil, err
		}
		tags = append(tags, lock.Tag)
	}
	return tags, nil
}

// factsFromGit reads the facts of release tag from the git directory gitDir.
func factsFromGit(ctx context.Context, gitDir, tag string) (*chFacts, error) {
	commit, tree, err := readGitTree(ctx, gitDir, tag, keepSourcePath)
	if err != nil {
		return nil, err
	}
	f, err := extractFacts(tag, commit, tree)
	if err != nil {
		return nil, fmt.Errorf("the %s server (%s): %w", tag, commit, err)
	}
	return f, nil
}

// extractFacts reads the facts of a tree: its routes, and the types they
// take and return.
func extractFacts(tag, commit string, tree sourceTree) (*chFacts, error) {
	x, err := newRsIndex(tree)
	if err != nil {
		return nil, err
	}
	routes, roots, err := extractRoutes(x, tree)
	if err != nil {
		return nil, err
	}
	b := newTypeBuilder(x)
	for _, root := range roots {
		if err := b.visitType(root.typ, root.scope, root.dir, nil); err != nil {
			return nil, fmt.Errorf("the types of the routes: %w", err)
		}
	}
	types, external := b.facts()
	return &chFacts{Format: factsFormat, Tag: tag, Commit: commit, Routes: routes, Types: types, External: external}, nil
}
