package core

import (
	"fmt"
	"slices"
	"strings"
)

// buildFeatureFields are VMConfig fields that CH reads only when it was built
// with a cargo feature: vmm/src/vm_config.rs declares them under
// #[cfg(feature = "…")], so a build without the feature ignores them
// silently. Release builds have none of these features.
var buildFeatureFields = []struct {
	path    string // as the error names it
	feature string // the cargo feature, as vmm.ping lists it
	set     func(*VMConfig) bool
}{
	{"payload.igvm", "igvm", func(c *VMConfig) bool { return c.Payload.Igvm != nil }},
	{"payload.host_data", "sev_snp", func(c *VMConfig) bool { return c.Payload.HostData != nil }},
	{"platform.sev_snp", "sev_snp", func(c *VMConfig) bool { return c.Platform != nil && isTrue(c.Platform.SevSnp) }},
	{"platform.tdx", "tdx", func(c *VMConfig) bool { return c.Platform != nil && isTrue(c.Platform.Tdx) }},
}

func isTrue(b *bool) bool { return b != nil && *b }

// checkBuildFeatures refuses a config that sets a field the VMM's build
// would ignore, given the features its vmm.ping listed (nil: not known, no
// check).
func checkBuildFeatures(r *Release, features []string, cfg *VMConfig) error {
	if features == nil {
		return nil
	}
	for _, f := range buildFeatureFields {
		if f.set(cfg) && !slices.Contains(features, f.feature) {
			return fmt.Errorf("%w: this CH %s was built without the %q feature (vmm.ping lists: %s), so it would ignore %s; use a build with the feature or leave the field unset",
				ErrUnsupportedField, r.Version, f.feature, strings.Join(features, ", "), "vmConfig."+f.path)
		}
	}
	return nil
}
