package chsim

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/chversion"
)

// Versions lists the CH releases the simulator models, oldest first.
var Versions = []string{"v48.0", "v49.0", "v50.2", "v51.2", "v52.0", "v53.0"}

// release holds what differs between the modelled CH releases.
type release struct {
	tag   string // "v50.2"
	major int
	minor int
}

// ping values of a release build: build_version is the tag, version the
// Cargo version.
func (r release) cargoVersion() string { return fmt.Sprintf("%d.%d.0", r.major, r.minor) }

// atLeast reports whether the release is major.minor or newer.
func (r release) atLeast(major, minor int) bool {
	return r.major > major || (r.major == major && r.minor >= minor)
}

// restoreWording is the ApiError text of a failed vm.restore: v50.2 fixed
// its grammar.
func (r release) restoreWording() string {
	if r.atLeast(50, 2) {
		return "The VM could not be restored"
	}
	return "The VM could not restored"
}

// nestedCPUs: from v50.2 the config carries cpus.nested (default true).
func (r release) nestedCPUs() bool { return r.atLeast(50, 2) }

// notCreatedIs404: from v53.0 an ApiError whose cause is VmNotCreated or
// VmMissingConfig answers 404 instead of 500 (CH PR #8320).
func (r release) notCreatedIs404() bool { return r.atLeast(53, 0) }

// socketLock: from v53.0 CH holds an exclusive lock on "<socket>.lock" while
// it serves the API socket (CH PR #8325).
func (r release) socketLock() bool { return r.atLeast(53, 0) }

// resolveVersion maps what the caller asked for ("v50.2", "50.2", "50.2.0",
// "50", "v50", or anything core.Lookup accepts among registered releases) to
// a modelled release.
func resolveVersion(want string) (release, error) {
	want = strings.TrimSpace(want)
	if want == "" || want == "latest" {
		return parseTag(Versions[len(Versions)-1]), nil
	}
	if tag, err := chversion.Normalize(want); err == nil {
		for _, v := range Versions {
			if v == tag {
				return parseTag(v), nil
			}
		}
	}
	if major, err := strconv.Atoi(strings.TrimPrefix(want, "v")); err == nil {
		for i := len(Versions) - 1; i >= 0; i-- {
			if r := parseTag(Versions[i]); r.major == major {
				return r, nil
			}
		}
	}
	if r, err := core.Lookup(want); err == nil {
		for _, v := range Versions {
			if v == r.Version() {
				return parseTag(v), nil
			}
		}
	}
	return release{}, fmt.Errorf("%w %q: the simulator models %s", core.ErrUnknownVersion, want, strings.Join(Versions, ", "))
}

func parseTag(tag string) release {
	var r release
	r.tag = tag
	fmt.Sscanf(tag, "v%d.%d", &r.major, &r.minor)
	return r
}
