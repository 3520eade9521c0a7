package api

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDirectBootDefaults(t *testing.T) {
	cfg := DirectBoot{Kernel: "/k"}.Config()
	require.NotNil(t, cfg.Payload.Kernel)
	assert.Equal(t, "/k", *cfg.Payload.Kernel)
	assert.Nil(t, cfg.Payload.Initramfs, "no initramfs")
	assert.Nil(t, cfg.Payload.Cmdline, "no command line")
	assert.Equal(t, &CpusConfig{BootVcpus: 1, MaxVcpus: 1}, cfg.Cpus)
	assert.Equal(t, int64(512<<20), cfg.Memory.Size)
	assert.Equal(t, &ConsoleConfig{Mode: ConsoleModeOff}, cfg.Console)
	assert.Equal(t, &SerialConfig{Mode: ConsoleModeNull}, cfg.Serial)
	assert.Empty(t, cfg.Disks)
	assert.Nil(t, cfg.Net)
}

func TestDirectBootConfig(t *testing.T) {
	d := DirectBoot{
		Kernel: "/k", Initramfs: "/i", Cmdline: "console=ttyS0",
		VCPUs: 2, MaxVCPUs: 1, MemoryMiB: 256, SerialFile: "/s", Disks: []string{"/a", "/b"},
	}
	cfg := d.Config()
	assert.Equal(t, "/i", *cfg.Payload.Initramfs)
	assert.Equal(t, "console=ttyS0", *cfg.Payload.Cmdline)
	assert.Equal(t, 2, cfg.Cpus.BootVcpus)
	assert.Equal(t, 2, cfg.Cpus.MaxVcpus, "max is at least the boot vCPUs")
	assert.Equal(t, int64(256<<20), cfg.Memory.Size)
	assert.Equal(t, &SerialConfig{Mode: ConsoleModeFile, File: optional("/s")}, cfg.Serial)
	require.Len(t, cfg.Disks, 2)
	assert.Equal(t, "/a", *cfg.Disks[0].Path)
	assert.Equal(t, "/b", *cfg.Disks[1].Path)

	cfg2 := DirectBoot{VCPUs: 2, MaxVCPUs: 8, MemoryMiB: -1}.Config()
	assert.Equal(t, 8, cfg2.Cpus.MaxVcpus)
	assert.Equal(t, int64(512<<20), cfg2.Memory.Size, "a non-positive size takes the default")
	assert.Nil(t, cfg2.Payload.Kernel)

	d.Disks[0] = "/changed"
	d.SerialFile = "/changed"
	assert.Equal(t, "/a", *cfg.Disks[0].Path, "the config does not alias the DirectBoot")
	assert.Equal(t, "/s", *cfg.Serial.File)
}
