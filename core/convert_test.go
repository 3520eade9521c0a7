package core

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core/api"
	"github.com/chvmm/chvmm/core/driver"
)

// newModel is shaped like v53's: a SerialConfig without iommu, disks with
// image_type and backing_files.
func newModel(t *testing.T) *Release {
	return modelRelease(t, "v53.0", map[string]*driver.Schema{
		"VmConfig": {Members: []driver.Member{
			{Name: "disks", Type: driver.Array, Items: driver.Object, Ref: "DiskConfig"},
			{Name: "payload", Type: driver.Object, Ref: "PayloadConfig", Required: true},
			{Name: "serial", Type: driver.Object, Ref: "SerialConfig"},
		}},
		"PayloadConfig": {Members: []driver.Member{{Name: "kernel", Type: driver.String}}},
		"SerialConfig":  {Members: []driver.Member{{Name: "file", Type: driver.String}, {Name: "mode", Type: driver.Object, Ref: "ConsoleMode"}}},
		"ConsoleMode":   {Enum: []string{"Off", "Pty", "Tty", "File", "Socket", "Null"}},
		"DiskConfig": {Members: []driver.Member{
			{Name: "backing_files", Type: driver.Boolean, Default: "false"}, {Name: "image_type", Type: driver.Object, Ref: "ImageType"},
			{Name: "path", Type: driver.String},
		}},
		"ImageType": {Enum: []string{"FixedVhd", "Qcow2", "Raw", "Vhdx", "Unknown"}},
	})
}

func TestConvertDropsDefaultsAndAppliesBehaviourChanges(t *testing.T) {
	from := oldModel(t, "v48.0")
	vm := from.api.Schemas["VmConfig"]
	vm.Members = append(vm.Members, driver.Member{Name: "disks", Type: driver.Array, Items: driver.Object, Ref: "DiskConfig"})
	slices.SortFunc(vm.Members, func(a, b driver.Member) int { return strings.Compare(a.Name, b.Name) }) // Member looks them up sorted
	from.api.Schemas["DiskConfig"] = &driver.Schema{Members: []driver.Member{{Name: "path", Type: driver.String}}}
	to := newModel(t)
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw.img")
	require.NoError(t, os.WriteFile(raw, make([]byte, 4096), 0o600))
	qcow := filepath.Join(dir, "overlay.qcow2")
	header := make([]byte, 16)
	copy(header, "QFI\xfb")
	binary.BigEndian.PutUint64(header[8:], 512) // a backing file name at offset 512
	require.NoError(t, os.WriteFile(qcow, header, 0o600))

	// What v48's vm.info reports: every default filled in.
	cfg := &api.VMConfig{
		Payload: api.PayloadConfig{Kernel: ptr("/k")},
		Serial:  &api.SerialConfig{Mode: api.ConsoleModeFile, File: ptr("/s"), Iommu: ptr(false)},
		Disks:   []api.DiskConfig{{Path: &raw}, {Path: &qcow}},
	}
	got, changes, err := to.Convert(cfg, from)
	require.NoError(t, err)
	assert.Nil(t, got.Serial.Iommu, "dropped")
	assert.Equal(t, ptr(false), cfg.Serial.Iommu, "the source config is not changed")
	assert.Equal(t, ptr(api.ImageTypeRaw), got.Disks[0].ImageType)
	assert.Nil(t, got.Disks[1].ImageType, "a qcow2 image is detected as such")
	assert.Equal(t, ptr(true), got.Disks[1].BackingFiles)
	var list []string
	for _, c := range changes {
		list = append(list, c.String())
	}
	assert.Equal(t, []string{
		"dropped vmConfig.serial.iommu (false)",
		`set vmConfig.disks[0].image_type ("Raw"): from CH v50.1 an auto-detected raw image refuses writes to its first sector`,
		"set vmConfig.disks[1].backing_files (true): from CH v50.1 qcow2 backing files are off unless asked for; this image has one",
	}, list)
}

func TestConvertRefusesWhatItCannotDrop(t *testing.T) {
	from, to := oldModel(t, "v48.0"), newModel(t)
	cfg := &api.VMConfig{Serial: &api.SerialConfig{Mode: api.ConsoleModeFile, Iommu: ptr(true)}}
	_, _, err := to.Convert(cfg, from)
	require.ErrorIs(t, err, ErrUnsupportedField)
	assert.ErrorContains(t, err, "vmConfig.serial.iommu is true, not CH v48.0's default")
	assert.ErrorContains(t, err, "last in CH v51.2")

	_, _, err = to.Convert(nil, from)
	require.ErrorIs(t, err, ErrBadConfig)
}
