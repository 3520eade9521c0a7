package core

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"syscall"

	"github.com/chvmm/chvmm/core/api"
	"github.com/chvmm/chvmm/core/driver"
)

// A Change is one thing [Release.Convert] changed in a config.
type Change struct {
	// Path names the member: "vmConfig.serial.iommu", "vmConfig.disks[0].image_type".
	Path string
	// Action is "dropped" (the target release has no such member, and it
	// held the source release's default) or "set" (the target release
	// behaves differently unless the member is set).
	Action string
	// Value is the JSON of the value dropped or set.
	Value string
	// Reason says why, for a member set.
	Reason string
}

// String returns "dropped vmConfig.serial.iommu (false)".
func (c Change) String() string {
	s := fmt.Sprintf("%s %s (%s)", c.Action, c.Path, c.Value)
	if c.Reason != "" {
		s += ": " + c.Reason
	}
	return s
}

// Convert returns cfg, a config of a VM of release from (as its vm.info
// reports it, with every default filled in), made fit to create the VM on
// release r: the way to move a VM that was shut down to another release.
// cfg itself is not changed.
//
// Members r does not have that hold from's default are dropped; any other
// member or value r does not have is an error matching
// ErrUnsupportedField that names it. Where r behaves differently from from
// unless a member is set, Convert sets it:
//   - from CH v50.1 an auto-detected raw disk image refuses writes to its
//     first sector: a disk whose image has no qcow2, VHD or VHDX signature
//     gets image_type Raw (the file is read for its signature);
//   - from CH v50.1 qcow2 backing files are off by default: a qcow2 disk
//     with a backing file gets backing_files true.
//
// Every member dropped or set is listed in the Changes.
func (r *Release) Convert(cfg *api.VMConfig, from *Release) (*api.VMConfig, []Change, error) {
	if cfg == nil || from == nil {
		return nil, nil, fmt.Errorf("Convert: config or source release is nil: %w", ErrBadConfig)
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, nil, err
	}
	out := new(api.VMConfig)
	if err := json.Unmarshal(data, out); err != nil {
		return nil, nil, err
	}
	var changes []Change
	root, ok := r.api.Schemas["VmConfig"]
	if !ok {
		return nil, nil, fmt.Errorf("chvmm has no model of VmConfig in CH %s's API", r.tag)
	}
	w := fieldWalk{r: r, unknown: func(v reflect.Value, at jsonPath, path, feature string) error {
		value, _ := json.Marshal(v.Interface())
		if !from.holdsDefault(at, value) {
			schema, member, _ := strings.Cut(feature, ".")
			return fmt.Errorf("converting a CH %s config for CH %s: %s is %s, not CH %s's default, so it cannot be dropped: %w",
				from.tag, r.tag, path, value, from.tag, r.unsupportedMember(schema, member, path))
		}
		v.SetZero()
		changes = append(changes, Change{Path: path, Action: "dropped", Value: string(value)})
		return nil
	}}
	if err := w.object(reflect.ValueOf(out), root, "VmConfig", "vmConfig", nil); err != nil {
		return nil, nil, err
	}
	changes = append(changes, r.convertDisks(out, from)...)
	// What is left must pass the release's check as it is.
	if _, err := r.encodeBody("VmConfig", out, nil); err != nil {
		return nil, nil, err
	}
	return out, changes, nil
}

// holdsDefault reports whether value (JSON) is what release r's server
// uses for the member at path of a VmConfig when it is absent: its
// default, or, without a known default, false, 0, "" or an empty list.
func (r *Release) holdsDefault(path jsonPath, value []byte) bool {
	m := r.memberAt("VmConfig", path)
	if m == nil {
		return false
	}
	if m.Default != "" {
		return jsonEqual([]byte(m.Default), value)
	}
	switch strings.TrimSpace(string(value)) {
	case "false", "0", `""`, "[]", "null":
		return true
	}
	return false
}

// memberAt returns the member at path below schema in r's model, or nil.
func (r *Release) memberAt(schema string, path jsonPath) *driver.Member {
	var m *driver.Member
	for _, seg := range path {
		name, ok := seg.(string)
		if !ok {
			continue // an index: same schema
		}
		if m != nil {
			schema = m.Ref
		}
		s := r.api.Schemas[schema]
		if s == nil {
			return nil
		}
		if m, ok = s.Member(name); !ok {
			return nil
		}
	}
	return m
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// convertDisks applies the disk behaviour changes of v50.1 to cfg's disks
// for release r, moving from release from.
func (r *Release) convertDisks(cfg *api.VMConfig, from *Release) []Change {
	var changes []Change
	imageType := r.Has("DiskConfig.image_type") && !from.Has("DiskConfig.image_type")
	backing := r.Has("DiskConfig.backing_files") && !from.Has("DiskConfig.backing_files")
	for i := range cfg.Disks {
		d := &cfg.Disks[i]
		if d.Path == nil || (!imageType && !backing) {
			continue
		}
		format, hasBacking := diskFormat(*d.Path)
		path := fmt.Sprintf("vmConfig.disks[%d]", i)
		if imageType && d.ImageType == nil && format == "raw" {
			d.ImageType = ptr(api.ImageTypeRaw)
			changes = append(changes, Change{Path: path + ".image_type", Action: "set", Value: `"Raw"`,
				Reason: "from CH v50.1 an auto-detected raw image refuses writes to its first sector"})
		}
		if backing && d.BackingFiles == nil && format == "qcow2" && hasBacking {
			d.BackingFiles = ptr(true)
			changes = append(changes, Change{Path: path + ".backing_files", Action: "set", Value: "true",
				Reason: "from CH v50.1 qcow2 backing files are off unless asked for; this image has one"})
		}
	}
	return changes
}

// diskFormat reads the image at path for its format's signature: "qcow2"
// (and whether it names a backing file), "vhdx", "vhd", "raw" for none, ""
// when it cannot be read.
func diskFormat(path string) (format string, backing bool) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	head := make([]byte, 16)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("QFI\xfb")):
		return "qcow2", len(head) >= 16 && binary.BigEndian.Uint64(head[8:16]) != 0
	case bytes.HasPrefix(head, []byte("vhdxfile")):
		return "vhdx", false
	}
	// A fixed VHD has its footer, "conectix", in its last 512 bytes.
	if fi, err := f.Stat(); err == nil && fi.Size() >= 512 {
		foot := make([]byte, 8)
		if _, err := f.ReadAt(foot, fi.Size()-512); err == nil && string(foot) == "conectix" {
			return "vhd", false
		}
	}
	return "raw", false
}
