package core

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// ErrUnsupported: the VMM's CH release does not have the operation. The
// error names the first release that has it.
var ErrUnsupported = errors.New("not supported by this Cloud Hypervisor release")

// ErrUnsupportedField: a config sets a field the VMM's CH release does not
// know. The error names the field and the first release that has it. chvmm
// never drops such a field silently.
var ErrUnsupportedField = errors.New("field not supported by this Cloud Hypervisor release")

// Has reports whether release r has feature, which is one of
//   - an endpoint: "PUT /vm.resize-disk", "PUT /vm.nmi";
//   - a schema of its spec: "GenericVhostUserConfig";
//   - a schema field, by its JSON name: "NetConfig.offload_tso".
//
// Features come from the release's spec at generation time.
func (r *Release) Has(feature string) bool {
	if method, path, ok := strings.Cut(feature, " "); ok {
		return r.Supports(method, path)
	}
	schema, field, isField := strings.Cut(feature, ".")
	t, ok := r.Schemas[schema]
	if !ok || !isField {
		return ok
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	_, ok = jsonFields(t).byName(field)
	return ok
}

// Supporting returns the registered releases that have feature (see
// [Release.Has]), oldest first: "which versions can resize a disk?" is
// Supporting("PUT /vm.resize-disk").
func Supporting(feature string) []*Release {
	var rs []*Release
	for _, r := range Releases() {
		if r.Has(feature) {
			rs = append(rs, r)
		}
	}
	return rs
}

// FeatureSince returns the first CH release, among those chvmm was generated
// from, that has feature (see [Release.Has]), or "" when the oldest already
// had it or the feature is unknown.
func FeatureSince(feature string) string {
	if v, ok := featureSince[feature]; ok {
		return v
	}
	if rs := Supporting(feature); len(rs) > 0 && rs[0] != Releases()[0] {
		return rs[0].Version
	}
	return ""
}

// supports returns nil when r serves method path, else an error matching
// ErrUnsupported that says which releases do.
func (r *Release) supports(method, path string) error {
	if r.Supports(method, path) {
		return nil
	}
	feature := method + " " + path
	var where []string
	if since := FeatureSince(feature); since != "" {
		where = append(where, "first in CH "+since)
	}
	if until, ok := featureUntil[feature]; ok {
		where = append(where, "last in CH "+until)
	}
	msg := fmt.Sprintf("CH %s has no %s", r.Version, feature)
	if len(where) > 0 {
		msg += " (" + strings.Join(where, ", ") + ")"
	}
	return fmt.Errorf("%s: %w", msg, ErrUnsupported)
}

// A Feature is an endpoint, schema or schema field (see [Release.Has]) that
// not every CH release chvmm was generated from has.
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
// was generated from (v48.0 … v53.0), sorted by name. It is generated from
// their specs (make generate).
func Features() []Feature {
	names := map[string]bool{}
	for n := range featureSince {
		names[n] = true
	}
	for n := range featureUntil {
		names[n] = true
	}
	fs := make([]Feature, 0, len(names))
	for _, n := range slices.Sorted(maps.Keys(names)) {
		fs = append(fs, Feature{Name: n, Since: featureSince[n], Until: featureUntil[n]})
	}
	return fs
}
