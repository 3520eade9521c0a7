package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// SnapshotMetadataFile is the file chvmm writes into a snapshot directory,
// beside CH's own files, to record which CH release and arch wrote it.
const SnapshotMetadataFile = "chvmm-snapshot.json"

// ErrNoSnapshotMetadata: a snapshot directory has no SnapshotMetadataFile,
// so chvmm cannot tell which CH release wrote it. Restore it with
// RestoreOptions.Force on the release you know wrote it.
var ErrNoSnapshotMetadata = errors.New("snapshot has no chvmm metadata")

// SnapshotMetadata says which CH release wrote a snapshot. A VM paused or
// snapshotted under one CH release can only be restored by that release.
type SnapshotMetadata struct {
	// Version is the CH release that wrote the snapshot ("v50.2").
	Version string `json:"ch_version"`
	// Arch is the architecture it ran on ("x86_64").
	Arch string `json:"arch"`
	// Created is when the snapshot was taken.
	Created time.Time `json:"created"`
}

// ReadSnapshotMetadata reads the metadata chvmm wrote into snapshot
// directory dir. A directory without it is an error matching
// ErrNoSnapshotMetadata.
func ReadSnapshotMetadata(dir string) (*SnapshotMetadata, error) {
	data, err := os.ReadFile(filepath.Join(dir, SnapshotMetadataFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (was it taken with chvmm's Snapshot?)", dir, ErrNoSnapshotMetadata)
	}
	if err != nil {
		return nil, err
	}
	var md SnapshotMetadata
	if err := json.Unmarshal(data, &md); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, SnapshotMetadataFile), err)
	}
	v, err := NormalizeVersion(md.Version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, SnapshotMetadataFile), err)
	}
	md.Version = v
	return &md, nil
}

// Snapshot asks CH to write the snapshot into dir, then writes the
// metadata file, atomically.
func (c *vmmClient) Snapshot(ctx context.Context, dir string) error {
	abs, err := snapshotDir(dir)
	if err != nil {
		return err
	}
	// Metadata left from an older snapshot in dir must not vouch for files
	// a failed snapshot may have half replaced.
	meta := filepath.Join(abs, SnapshotMetadataFile)
	if err := os.Remove(meta); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("snapshot: removing the old %s: %w", meta, err)
	}
	url := "file://" + abs
	if err := c.call(ctx, http.MethodPut, "/vm.snapshot", "VmSnapshotConfig", &VMSnapshotConfig{DestinationURL: &url}, nil); err != nil {
		return err
	}
	md := SnapshotMetadata{Version: c.rel.Version, Arch: HostArch(), Created: time.Now().UTC()}
	data, err := json.MarshalIndent(md, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(meta, append(data, '\n'), 0o644)
}

// Restore checks the snapshot's metadata against this VMM's release, then
// asks CH to restore it.
func (c *vmmClient) Restore(ctx context.Context, dir string, opts RestoreOptions) error {
	abs, err := snapshotDir(dir)
	if err != nil {
		return err
	}
	if err := checkSnapshotRelease(abs, c.rel, opts.Force); err != nil {
		return err
	}
	cfg := RestoreConfig{}
	if opts.Config != nil {
		cfg = *opts.Config
	}
	cfg.SourceURL = "file://" + abs
	if opts.Prefault {
		cfg.Prefault = &opts.Prefault
	}
	if err := c.rel.checkFields("RestoreConfig", &cfg); err != nil {
		return err
	}
	if len(opts.NetFDs) == 0 {
		err = c.call(ctx, http.MethodPut, "/vm.restore", "", &cfg, nil)
	} else {
		err = c.restoreWithFDs(ctx, cfg, opts.NetFDs)
	}
	if err != nil || !opts.Resume {
		return err
	}
	return c.ResumeVM(ctx)
}

// restoreWithFDs restores with new TAP fds for the snapshot's net devices.
func (c *vmmClient) restoreWithFDs(ctx context.Context, cfg RestoreConfig, netFDs map[string][]*os.File) error {
	// CH takes new TAP fds for the snapshot's net devices as net_fds, a
	// field of its RestoreConfig its spec does not list, with the fds
	// themselves sent along the request.
	req := restoreRequest{RestoreConfig: cfg}
	var files []*os.File
	for _, id := range slices.Sorted(maps.Keys(netFDs)) {
		fds := netFDs[id]
		req.NetFDs = append(req.NetFDs, restoredNet{ID: id, NumFDs: len(fds)})
		files = append(files, fds...)
	}
	return c.callWithFiles(ctx, http.MethodPut, "/vm.restore", "", &req, files, nil)
}

type restoreRequest struct {
	RestoreConfig
	NetFDs []restoredNet `json:"net_fds,omitempty"`
}

type restoredNet struct {
	ID     string `json:"id"`
	NumFDs int    `json:"num_fds"`
}

// checkSnapshotRelease refuses a snapshot that release r did not write,
// unless force.
func checkSnapshotRelease(dir string, r *Release, force bool) error {
	md, err := ReadSnapshotMetadata(dir)
	if err != nil {
		if force && errors.Is(err, ErrNoSnapshotMetadata) {
			return nil
		}
		return err
	}
	if md.Arch != HostArch() {
		return fmt.Errorf("snapshot %s was taken on %s; this host is %s: %w", dir, md.Arch, HostArch(), ErrVersionMismatch)
	}
	if md.Version != r.Version && !force {
		return fmt.Errorf("snapshot %s was written by CH %s, this VMM runs CH %s: %w; restore it with core.RestoreProcess, which starts CH %s, or set RestoreOptions.Force",
			dir, md.Version, r.Version, ErrVersionMismatch, md.Version)
	}
	return nil
}

// snapshotDir returns dir as an absolute path, which must be a directory.
func snapshotDir(dir string) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("snapshot directory is empty: %w", ErrBadConfig)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("snapshot directory %s does not exist (create it first): %w", abs, err)
	}
	if err != nil {
		return "", fmt.Errorf("snapshot directory: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("snapshot directory %s is not a directory: %w", abs, ErrBadConfig)
	}
	return abs, nil
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, synced, then renamed over path, and syncs the directory:
// readers see the old file or the whole new one, and the new one survives a
// crash once writeFileAtomic has returned.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
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
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir fsyncs directory dir, making a rename in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// RestoreProcess starts a VMM of exactly the CH release that wrote the
// snapshot in snapshotDir (see [SnapshotMetadata]), restores the snapshot
// into it and returns the process with the VM paused, or resumed when the
// options say so ([WithRestoreOptions] with Resume). options are those of
// [StartProcess]. If the snapshot's release is not registered, the error
// names the module to import. On any failure the new VMM is killed.
func RestoreProcess(ctx context.Context, dataDir, snapshotDir, socketPath string, options ...ProcessOption) (*Process, error) {
	md, err := ReadSnapshotMetadata(snapshotDir)
	if err != nil {
		return nil, err
	}
	if _, err := Lookup(md.Version); err != nil {
		major, _, _ := strings.Cut(strings.TrimPrefix(md.Version, "v"), ".")
		return nil, fmt.Errorf("snapshot %s needs CH %s: %w; add import _ \"github.com/chvmm/chvmm/versions/v%s\"", snapshotDir, md.Version, err, major)
	}
	cfg := defaultProcessConfig()
	for _, o := range options {
		o(&cfg)
	}
	p, err := StartProcess(ctx, dataDir, md.Version, socketPath, options...)
	if err != nil {
		return nil, err
	}
	h := p.Hypervisor()
	if h == nil || h.Release().Version != md.Version {
		err = fmt.Errorf("VMM started for snapshot %s runs CH %s, not %s: %w", snapshotDir, p.Version(), md.Version, ErrVersionMismatch)
	} else {
		err = h.Restore(ctx, snapshotDir, cfg.restore)
	}
	if err != nil {
		_ = p.Kill()
		_ = p.Wait()
		return nil, fmt.Errorf("restoring %s: %w", snapshotDir, err)
	}
	return p, nil
}
