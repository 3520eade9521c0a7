package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/chvmm/chvmm/core"
)

// snapshotCommands save and restore the VM: snapshot, restore.
// (restore-process, which starts a VMM, is with the process commands.)
func snapshotCommands() []*command {
	const g = "Snapshots"
	return []*command{
		{name: "snapshot", args: "--socket S DIR", summary: "write a snapshot of the paused VM into DIR (created if missing)", group: g, run: runSnapshot},
		{name: "restore", args: "--socket S [--force] [--resume] DIR", summary: "restore a snapshot into a VMM without a VM (same CH version unless --force)", group: g, run: runRestore},
	}
}

// snapshotJSON is `chv snapshot --json`.
type snapshotJSON struct {
	Dir    string `json:"dir"`
	Socket string `json:"socket"`
	core.SnapshotMetadata
}

func runSnapshot(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	socket := socketFlag(fs)
	pos, err := e.parse(fs, args, 1)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(pos[0])
	if err != nil {
		return err
	}
	h, ctx, done, err := e.connect(ctx, *socket)
	if err != nil {
		return err
	}
	defer done()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := h.Snapshot(ctx, dir); err != nil {
		if errors.Is(err, core.ErrInvalidState) {
			return fmt.Errorf("snapshot: %w; pause the VM first ('chv pause --socket %s')", err, *socket)
		}
		return fmt.Errorf("snapshot: %w", err)
	}
	md, err := core.ReadSnapshotMetadata(dir)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	out := snapshotJSON{Dir: dir, Socket: *socket, SnapshotMetadata: *md}
	return e.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "snapshot: ok (CH %s at %s)\n", md.Version, *socket)
		t := newTable(w)
		t.row("dir", out.Dir)
		t.row("ch version", md.Version)
		t.row("arch", md.Arch)
		t.row("created", md.Created.Format("2006-01-02 15:04:05Z07:00"))
		t.flush()
	})
}

func runRestore(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	socket := socketFlag(fs)
	force := fs.Bool("force", false, "restore a snapshot written by another CH version (or without chvmm metadata); CH does not promise this works")
	resume := fs.Bool("resume", false, "resume the VM once restored (CH restores it paused)")
	prefault := fs.Bool("prefault", false, "populate guest memory while restoring")
	pos, err := e.parse(fs, args, 1)
	if err != nil {
		return err
	}
	dir := pos[0]
	h, ctx, done, err := e.connect(ctx, *socket)
	if err != nil {
		return err
	}
	defer done()
	err = h.Restore(ctx, dir, core.RestoreOptions{Force: *force, Resume: *resume, Prefault: *prefault})
	switch {
	case errors.Is(err, core.ErrVersionMismatch):
		return fmt.Errorf("restore: %w\n(use 'chv restore-process --snapshot %s --socket NEW' to start the snapshot's own version, or --force)", err, dir)
	case errors.Is(err, core.ErrNoSnapshotMetadata):
		return fmt.Errorf("restore: %w; add --force if you know this VMM's version wrote it", err)
	case err != nil:
		return fmt.Errorf("restore: %w", err)
	}
	return e.report(ctx, h, *socket, true, actionJSON{})
}
