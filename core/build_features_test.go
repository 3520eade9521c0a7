package core

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckBuildFeatures(t *testing.T) {
	r := &Release{Version: "v50.2"}
	release := []string{"io_uring", "kvm"}
	yes, no := true, false
	igvm := "/boot/guest.igvm"

	cfg := DirectBoot{Kernel: "/k"}.Config()
	require.NoError(t, checkBuildFeatures(r, release, cfg), "a plain config needs no feature")

	cfg.Platform = &PlatformConfig{Tdx: &no, SevSnp: &no}
	require.NoError(t, checkBuildFeatures(r, release, cfg), "false is the default: nothing is lost")

	cfg.Platform.Tdx = &yes
	err := checkBuildFeatures(r, release, cfg)
	require.ErrorIs(t, err, ErrUnsupportedField)
	assert.ErrorContains(t, err, `built without the "tdx" feature (vmm.ping lists: io_uring, kvm), so it would ignore vmConfig.platform.tdx`)
	require.NoError(t, checkBuildFeatures(r, append(release, "tdx"), cfg), "a build with tdx reads it")
	require.NoError(t, checkBuildFeatures(r, nil, cfg), "unknown features: no check")

	cfg.Platform.Tdx = nil
	cfg.Payload.Igvm = &igvm
	require.ErrorContains(t, checkBuildFeatures(r, release, cfg), `"igvm" feature`)
	cfg.Payload.Igvm = nil
	cfg.Payload.HostData = &igvm
	require.ErrorContains(t, checkBuildFeatures(r, release, cfg), `"sev_snp" feature`)
}
