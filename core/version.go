package core

import (
	"fmt"
	"strings"

	goversion "github.com/hashicorp/go-version"

	"github.com/chvmm/chvmm/core/chversion"
)

// ErrBadVersion: a version or constraint string could not be parsed, or a
// binary's --version printed no CH version.
var ErrBadVersion = chversion.ErrBadVersion

// parseReleaseVersion parses a release tag such as "v48.0" (or "48.0.0");
// "v" + its Original() is the canonical tag ("v48.0").
func parseReleaseVersion(s string) (*goversion.Version, error) {
	tag, err := chversion.Normalize(s)
	if err != nil || strings.Contains(s, "-") {
		return nil, fmt.Errorf("%w: %q is not a Cloud Hypervisor release (want vMAJOR.MINOR)", ErrBadVersion, s)
	}
	return goversion.NewVersion(strings.TrimPrefix(tag, "v"))
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
