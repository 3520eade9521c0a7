package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/chvmm/chvmm/core/api"
	"golang.org/x/sys/unix"
)

// snapshotMetadataFile is the file chvmm writes into a snapshot directory,
// beside CH's own files, to record which CH build and arch wrote it.
const snapshotMetadataFile = "chvmm-snapshot.json"

// maxMetadataSize bounds what ReadSnapshotMetadata reads.
const maxMetadataSize = 64 << 10

// ErrNoSnapshotMetadata: a snapshot directory has no chvmm metadata
// (chvmm-snapshot.json), so chvmm cannot tell which CH release wrote it.
// Restore it with RestoreOptions.Force on the release you know wrote it.
var ErrNoSnapshotMetadata = errors.New("snapshot has no chvmm metadata")

// SnapshotMetadata says which CH build wrote a snapshot, as the VMM itself
// reported it. CH restores a snapshot only with a release of the same
// major version (its release notes: "Snapshot/restore support is not
// compatible across MAJOR versions").
type SnapshotMetadata struct {
	// Version is the CH release that wrote it ("v50.2"): Build, normalised.
	Version string `json:"ch_version"`
	// Build is the VMM's build_version from vmm.ping ("v50.2",
	// "v50.2-dirty"), as it was reported.
	Build string `json:"ch_build,omitempty"`
	// Arch is the architecture it ran on ("x86_64").
	Arch string `json:"arch"`
	// Created is when the snapshot was taken.
	Created time.Time `json:"created"`
}

// ReadSnapshotMetadata reads the metadata chvmm wrote into snapshot
// directory dir. A directory without it is an error matching
// ErrNoSnapshotMetadata. It reads a regular file of at most 64 KiB, never
// through a symlink.
func ReadSnapshotMetadata(dir string) (*SnapshotMetadata, error) {
	path := filepath.Join(dir, snapshotMetadataFile)
	data, err := readSmallFile(path, maxMetadataSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (was it taken with chvmm's Snapshot?)", dir, ErrNoSnapshotMetadata)
	}
	if err != nil {
		return nil, err
	}
	var md SnapshotMetadata
	if err := json.Unmarshal(data, &md); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	v, err := parseReleaseVersion(md.Version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	md.Version = "v" + v.Original()
	return &md, nil
}

// readSmallFile reads the regular file at path, of at most limit bytes,
// without following a symlink at its last component and without blocking
// on a FIFO or device put there.
func readSmallFile(path string, limit int64) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("%w: %s is a symlink; chvmm reads it only as a regular file", ErrUnsafePath, path)
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file (%v)", ErrUnsafePath, path, fi.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes: %w", path, limit, ErrBadConfig)
	}
	return data, nil
}

// Snapshot asks CH to write the snapshot into dir, then writes the
// metadata file, atomically, with the build the VMM reports.
func (c *vmmClient) Snapshot(ctx context.Context, dir string) error {
	abs, err := snapshotDir(dir)
	if err != nil {
		return err
	}
	// What wrote it: the VMM says, now.
	info, err := c.Ping(ctx)
	if err != nil {
		return fmt.Errorf("snapshot: asking the VMM its build: %w", err)
	}
	version, err := pingVersion(info)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	// Metadata left from an older snapshot in dir must not vouch for files
	// a failed snapshot may have half replaced.
	meta := filepath.Join(abs, snapshotMetadataFile)
	if err := os.Remove(meta); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("snapshot: removing the old %s: %w", meta, err)
	}
	url := "file://" + abs
	if err := c.call(ctx, http.MethodPut, "/vm.snapshot", "VmSnapshotConfig", &api.VMSnapshotConfig{DestinationURL: &url}, nil); err != nil {
		return err
	}
	md := SnapshotMetadata{Version: version, Build: info.BuildVersion, Arch: hostArch(), Created: time.Now().UTC()}
	data, err := json.MarshalIndent(md, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(meta, append(data, '\n'), 0o600)
}

// Restore checks the snapshot's metadata against this VMM's release, then
// asks CH to restore it.
func (c *vmmClient) Restore(ctx context.Context, dir string, opts RestoreOptions) error {
	abs, err := snapshotDir(dir)
	if err != nil {
		return err
	}
	if err := checkSnapshotRelease(abs, c.rel, opts.Force, c.log); err != nil {
		return err
	}
	cfg := api.RestoreConfig{SourceURL: "file://" + abs}
	if opts.Prefault {
		cfg.Prefault = &opts.Prefault
	}
	if opts.MemoryRestoreMode != "" {
		cfg.MemoryRestoreMode = &opts.MemoryRestoreMode
	}
	// One way to resume: the server's own field where it has it.
	serverResumes := opts.Resume && c.rel.Has("RestoreConfig.resume")
	if serverResumes {
		cfg.Resume = &opts.Resume
	}
	body, err := c.rel.encodeBody("RestoreConfig", &cfg, c.buildFeatures())
	if err != nil {
		return fmt.Errorf("PUT /vm.restore: %w", err)
	}
	if len(opts.NetFDs) == 0 {
		err = c.call(ctx, http.MethodPut, "/vm.restore", "RestoreConfig", &cfg, nil)
	} else {
		err = c.restoreWithFDs(ctx, body, opts.NetFDs)
	}
	if err != nil || !opts.Resume || serverResumes {
		return err
	}
	return c.ResumeVM(ctx)
}

// restoreWithFDs restores with new TAP fds for the snapshot's net devices.
func (c *vmmClient) restoreWithFDs(ctx context.Context, body []byte, netFDs NetFDs) error {
	// CH takes new TAP fds for the snapshot's net devices as net_fds, a
	// member of its RestoreConfig its spec does not list, with the fds
	// themselves sent along the request.
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return err
	}
	var files []*os.File
	var nets []map[string]any
	for _, id := range slices.Sorted(maps.Keys(netFDs)) {
		fds := netFDs[id]
		nets = append(nets, map[string]any{"id": id, "num_fds": len(fds)})
		files = append(files, fds...)
	}
	doc["net_fds"] = nets
	data, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return c.callWithFiles(ctx, http.MethodPut, "/vm.restore", data, files, nil)
}

// checkSnapshotRelease refuses a snapshot release r cannot restore: one
// taken on another architecture, always; one written by another major
// release of CH unless force. Another point release of the same major is
// restored, with a notice in log.
func checkSnapshotRelease(dir string, r *Release, force bool, log interface {
	Info(msg string, args ...any)
}) error {
	md, err := ReadSnapshotMetadata(dir)
	if err != nil {
		if force && errors.Is(err, ErrNoSnapshotMetadata) {
			return nil
		}
		return err
	}
	if md.Arch != hostArch() {
		return fmt.Errorf("snapshot %s was taken on %s; this host is %s: %w", dir, md.Arch, hostArch(), ErrArchMismatch)
	}
	if md.Version == r.tag {
		return nil
	}
	v, err := parseReleaseVersion(md.Version)
	if err != nil {
		return err
	}
	if v.Segments()[0] == r.major() {
		log.Info("restoring a snapshot of another point release of the same major CH release", "snapshot", dir, "written_by", md.Build, "vmm", r.tag)
		return nil
	}
	if force {
		return nil
	}
	return fmt.Errorf("snapshot %s was written by CH %s, this VMM runs CH %s: %w; CH restores snapshots only within a major release: restore it with core.RestoreProcess, which starts a v%d release, or set RestoreOptions.Force",
		dir, md.Version, r.tag, ErrVersionMismatch, v.Segments()[0])
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

// RestoreProcess starts a VMM of the CH release that wrote the snapshot in
// snapshotDir (see [SnapshotMetadata]): that exact release when it is
// registered, else the newest registered release of the same major, with
// a logged notice (CH restores snapshots within a major release; a program
// upgraded to a new point release of a version module restores what the
// old one wrote). It restores the snapshot into it and returns the process
// with the VM paused, or resumed when ro.Resume. If no release of that
// major is registered, the error names the module to import. On any
// failure the new VMM is killed and reaped.
func RestoreProcess(ctx context.Context, dataDir, snapshotDir, socketPath string, ro RestoreOptions, options ...StartOption) (*Process, error) {
	md, err := ReadSnapshotMetadata(snapshotDir)
	if err != nil {
		return nil, err
	}
	v, err := parseReleaseVersion(md.Version)
	if err != nil {
		return nil, err
	}
	major := v.Segments()[0]
	rel, err := Lookup(md.Version)
	if err != nil {
		if rel, err = Lookup(fmt.Sprint(major)); err != nil {
			return nil, fmt.Errorf("snapshot %s needs CH %s: %w; add import _ \"github.com/chvmm/chvmm/versions/v%d\"", snapshotDir, md.Version, err, major)
		}
	}
	p, err := StartProcess(ctx, rel, dataDir, socketPath, options...)
	if err != nil {
		return nil, err
	}
	if rel.tag != md.Version {
		p.log.Info("restoring a snapshot on another point release of its major CH release", "snapshot", snapshotDir, "written_by", md.Version, "vmm", rel.tag)
	}
	if err := p.h.Restore(ctx, snapshotDir, ro); err != nil {
		p.kill()
		return nil, fmt.Errorf("restoring %s: %w", snapshotDir, err)
	}
	return p, nil
}
