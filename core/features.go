package core

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// ErrUnsupported: the VMM's CH release does not have the operation. The
// error names the first release that has it. It wraps the standard
// library's errors.ErrUnsupported, which errors.Is matches too.
var ErrUnsupported = fmt.Errorf("not supported by this Cloud Hypervisor release (%w)", errors.ErrUnsupported)

// ErrUnsupportedField: a config sets a member, or a value of a member, that
// the VMM's CH release does not know, or that its build ignores. The error
// names the member and the releases that have it. chvmm never drops such a
// member silently.
var ErrUnsupportedField = errors.New("field not supported by this Cloud Hypervisor release")

// A Feature is an endpoint, schema or schema member (see [Release.Has])
// that not every CH release chvmm was generated from has.
type Feature struct {
	// Name is "PUT /vm.resize-disk", "GenericVhostUserConfig" or
	// "NetConfig.offload_tso".
	Name string
	// Since is the first release that has it ("" when the oldest has it).
	Since string
	// Until is the last release that has it ("" when the newest has it).
	Until string
}

// Features lists every feature that differs between the CH releases chvmm
// was generated from (v48.0 … v53.0), registered or not, sorted by name.
func Features() []Feature {
	names := slices.Sorted(maps.Keys(featureSince))
	for n := range featureUntil {
		if _, ok := featureSince[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	fs := make([]Feature, 0, len(names))
	for _, n := range names {
		fs = append(fs, Feature{Name: n, Since: featureSince[n], Until: featureUntil[n]})
	}
	return fs
}

// supports returns nil when r serves method path, else an error matching
// ErrUnsupported that says which releases do.
func (r *Release) supports(method, path string) error {
	if r.Has(method + " " + path) {
		return nil
	}
	feature := method + " " + path
	msg := fmt.Sprintf("CH %s has no %s", r.tag, feature)
	if where := featureRange(feature); where != "" {
		msg += " (" + where + ")"
	}
	return fmt.Errorf("%s: %w", msg, ErrUnsupported)
}

// featureRange says which releases chvmm was generated from have feature:
// "first in CH v50.2", "last in CH v52.0", or both; "" when every one has
// it or it is unknown.
func featureRange(feature string) string {
	var where []string
	if since := featureSince[feature]; since != "" {
		where = append(where, "first in CH "+since)
	}
	if until := featureUntil[feature]; until != "" {
		where = append(where, "last in CH "+until)
	}
	return strings.Join(where, ", ")
}

// put is the method of every CH action.
const put = http.MethodPut
