package main

import (
	"context"
	"fmt"
	"io"
)

// extractJSON is one version in `chv extract --json`.
type extractJSON struct {
	Version string `json:"version"`
	Path    string `json:"path,omitempty"`
	Error   string `json:"error,omitempty"`
}

func runExtract(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	version := fs.String("version", "", "CH version or constraint (v50.2, 50, \">= 51\"); default: every registered version")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	rels, err := selectReleases(*version)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.global.timeout)
	defer cancel()
	var out []extractJSON
	failed := 0
	for _, r := range rels {
		res := extractJSON{Version: r.Version()}
		path, err := r.BinaryPath(ctx, e.global.dataDir)
		if err != nil {
			res.Error = err.Error()
			failed++
		} else {
			res.Path = path
		}
		out = append(out, res)
	}
	if err := e.emit(out, func(w io.Writer) {
		t := newTable(w)
		t.row("VERSION", "PATH")
		for _, r := range out {
			t.row(r.Version, orDash(r.Path))
		}
		t.flush()
		for _, r := range out {
			if r.Error != "" {
				fmt.Fprintf(w, "%s: %s\n", r.Version, r.Error)
			}
		}
	}); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d version(s) could not be extracted into %s (see above)", failed, len(rels), e.global.dataDir)
	}
	return nil
}
