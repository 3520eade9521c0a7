package core

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	goversion "github.com/hashicorp/go-version"

	"github.com/chvmm/chvmm/core/driver"
)

var (
	registryMu sync.RWMutex
	registry   = map[string]*Release{} // by canonical version "v48.0"
)

// Register makes a release available and returns it. Version modules call
// it when they are initialised, as database/sql drivers call sql.Register.
// It panics if d is nil, its Version is malformed, or a release of the same
// version is already registered.
func Register(d *driver.Release) *Release {
	r, err := newRelease(d)
	if err != nil {
		panic("chvmm/core: Register: " + err.Error())
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[r.tag]; dup {
		panic("chvmm/core: Register called twice for Cloud Hypervisor " + r.tag)
	}
	registry[r.tag] = r
	return r
}

// Releases returns every registered release, oldest first.
func Releases() []*Release {
	registryMu.RLock()
	defer registryMu.RUnlock()
	rs := make([]*Release, 0, len(registry))
	for _, r := range registry {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, (*Release).compare)
	return rs
}

// Lookup finds a registered release.
//
// want is either a version or a constraint:
//   - "v48.0", "48.0" and "48.0.0" match release v48.0 exactly;
//   - "48" or "v48" matches the newest registered release of major 48;
//   - a hashicorp/go-version constraint such as ">= 49, < 52" or "~> 50.0"
//     matches the newest registered release that satisfies it;
//   - "" and "latest" match the newest registered release.
//
// A malformed want is an error matching ErrBadVersion; one no registered
// release satisfies matches ErrUnknownVersion and lists what is registered.
func Lookup(want string) (*Release, error) {
	want = strings.TrimSpace(want)
	rs := Releases()
	if want == "" || want == "latest" {
		if len(rs) == 0 {
			return nil, unknownVersion("latest", rs)
		}
		return rs[len(rs)-1], nil
	}
	match, err := matcher(want)
	if err != nil {
		return nil, err
	}
	for i := len(rs) - 1; i >= 0; i-- {
		if match(rs[i].version) {
			return rs[i], nil
		}
	}
	return nil, unknownVersion(want, rs)
}

// matcher turns a Lookup request into a predicate over release versions.
func matcher(want string) (func(*goversion.Version) bool, error) {
	if v, err := goversion.NewVersion(want); err == nil && !strings.ContainsAny(want, "<>=~!,") {
		if len(v.Prerelease()) > 0 || v.Metadata() != "" {
			return nil, fmt.Errorf("%w: %q: CH releases have no pre-release or build suffix", ErrBadVersion, want)
		}
		segs := len(strings.Split(strings.TrimPrefix(want, "v"), "."))
		if segs == 1 { // "48": newest of that major
			major := v.Segments()[0]
			return func(c *goversion.Version) bool { return c.Segments()[0] == major }, nil
		}
		return func(c *goversion.Version) bool { return c.Equal(v) }, nil
	}
	c, err := goversion.NewConstraint(want)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is neither a version (v50.2, 50) nor a constraint (>= 49, < 52): %v", ErrBadVersion, want, err)
	}
	return c.Check, nil
}

func unknownVersion(want string, rs []*Release) error {
	if len(rs) == 0 {
		return fmt.Errorf("%w %q: none is registered; blank-import a version module such as github.com/chvmm/chvmm/versions/v53", ErrUnknownVersion, want)
	}
	vs := make([]string, len(rs))
	for i, r := range rs {
		vs[i] = r.tag
	}
	return fmt.Errorf("%w %q; registered: %s", ErrUnknownVersion, want, strings.Join(vs, ", "))
}
