package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/chvmm/chvmm/core/driver"
)

// encodeBody returns the JSON body of a request whose schema, in release
// r's API, is schema, from v, a value of one of core's API types (VMConfig,
// DiskConfig, …). It checks every member v sets against r's model and
// fails closed:
//   - a member r does not know, set to anything but its zero value, is an
//     error matching ErrUnsupportedField that names its path and the
//     releases that have it;
//   - a string value outside the member's enum is such an error too;
//   - a member that only builds with a cargo feature the VMM lacks
//     (features, from vmm.ping; nil: not known) is such an error;
//   - a schema r has no model of is an error.
//
// Members r does not know that v leaves at their zero value without
// omitempty (core's types are the union of every release's) are left out
// of the body.
func (r *Release) encodeBody(schema string, v any, features []string) ([]byte, error) {
	s, ok := r.api.Schemas[schema]
	if !ok {
		return nil, fmt.Errorf("chvmm has no model of %s in CH %s's API; regenerate the version module (make generate)", schema, r.tag)
	}
	w := fieldWalk{r: r, features: features}
	if err := w.object(reflect.ValueOf(v), s, schema, lowerFirst(schema), nil); err != nil {
		return nil, err
	}
	data, err := json.Marshal(v)
	if err != nil || len(w.prune) == 0 {
		return data, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	for _, p := range w.prune {
		deletePath(doc, p)
	}
	return json.Marshal(doc)
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// jsonPath is the location of a member in a JSON document: object member
// names (string) and array indexes (int).
type jsonPath []any

// deletePath removes the object member at p from doc, if it is there.
func deletePath(doc any, p jsonPath) {
	for i, seg := range p {
		last := i == len(p)-1
		switch s := seg.(type) {
		case string:
			m, ok := doc.(map[string]any)
			if !ok {
				return
			}
			if last {
				delete(m, s)
				return
			}
			doc = m[s]
		case int:
			a, ok := doc.([]any)
			if !ok || s >= len(a) || last {
				return
			}
			doc = a[s]
		}
	}
}

// fieldWalk is one walk of a value against a release's model.
type fieldWalk struct {
	r        *Release
	features []string
	prune    []jsonPath
	// unknown, if set, decides about a member r does not know that v sets
	// (Convert); else such a member is an error.
	unknown func(v reflect.Value, at jsonPath, path, feature string) error
}

// object checks v, a struct (or pointer to one) of core's API types,
// against schema s (named name); path names it in errors, at in the JSON.
func (w *fieldWalk) object(v reflect.Value, s *driver.Schema, name, path string, at jsonPath) error {
	v, ok := deref(v)
	if !ok {
		return nil
	}
	if v.Kind() != reflect.Struct {
		return fmt.Errorf("%s: chvmm cannot check a %s against CH %s's %s", path, v.Type(), w.r.tag, name)
	}
	for _, f := range jsonFields(v.Type()) {
		fv := v.Field(f.index)
		if f.omitEmpty && fv.IsZero() {
			continue
		}
		fieldAt := append(slices.Clip(at), f.name)
		fieldPath := path + "." + f.name
		m, known := s.Member(f.name)
		if !known {
			if fv.IsZero() {
				w.prune = append(w.prune, fieldAt)
				continue
			}
			if w.unknown != nil {
				if err := w.unknown(fv, fieldAt, fieldPath, name+"."+f.name); err != nil {
					return err
				}
				continue
			}
			return w.r.unsupportedMember(name, f.name, fieldPath)
		}
		if err := w.member(fv, m, name, fieldPath, fieldAt); err != nil {
			return err
		}
	}
	return nil
}

// member checks the value v of member m of schema name.
func (w *fieldWalk) member(v reflect.Value, m *driver.Member, name, path string, at jsonPath) error {
	v, ok := deref(v)
	if !ok {
		return nil
	}
	if m.Feature != "" && w.features != nil && !slices.Contains(w.features, m.Feature) && !v.IsZero() {
		return fmt.Errorf("%w: this CH %s was built without the %q feature (vmm.ping lists: %s), so it would ignore %s; use a build with the feature or leave the field unset",
			ErrUnsupportedField, w.r.tag, m.Feature, strings.Join(w.features, ", "), path)
	}
	switch m.Type {
	case driver.Object:
		if m.Map {
			return w.values(v, m.Ref, m.Items, name, path, at)
		}
		return w.ref(v, m.Ref, path, at)
	case driver.Array:
		if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
			return fmt.Errorf("%s: chvmm cannot check a %s against CH %s's array %s.%s", path, v.Type(), w.r.tag, name, m.Name)
		}
		for i := range v.Len() {
			ip, iat := fmt.Sprintf("%s[%d]", path, i), append(slices.Clip(at), i)
			if err := w.item(v.Index(i), m.Ref, m.Enum, name+"."+m.Name, ip, iat); err != nil {
				return err
			}
		}
		return nil
	}
	return w.item(v, m.Ref, m.Enum, name+"."+m.Name, path, at)
}

// values checks the values of a map member.
func (w *fieldWalk) values(v reflect.Value, ref string, _ driver.Type, name, path string, at jsonPath) error {
	if v.Kind() != reflect.Map || ref == "" {
		return nil
	}
	for _, k := range v.MapKeys() {
		key := fmt.Sprint(k.Interface())
		if err := w.item(v.MapIndex(k), ref, nil, name, path+"["+key+"]", append(slices.Clip(at), key)); err != nil {
			return err
		}
	}
	return nil
}

// item checks a scalar or object value whose schema is ref ("" for a plain
// scalar, checked against enum when it lists values).
func (w *fieldWalk) item(v reflect.Value, ref string, enum []string, feature, path string, at jsonPath) error {
	if ref == "" {
		return w.enum(v, enum, feature, path)
	}
	s, ok := w.r.api.Schemas[ref]
	if !ok {
		return fmt.Errorf("%s: chvmm has no model of %s in CH %s's API; regenerate the version module (make generate)", path, ref, w.r.tag)
	}
	if s.Enum != nil {
		return w.enum(v, s.Enum, feature, path)
	}
	return w.object(v, s, ref, path, at)
}

// ref checks an object member's value against schema ref.
func (w *fieldWalk) ref(v reflect.Value, ref, path string, at jsonPath) error {
	if ref == "" {
		return nil // a free-form object
	}
	return w.item(v, ref, nil, ref, path, at)
}

// enum checks a string value against the values the release takes.
func (w *fieldWalk) enum(v reflect.Value, enum []string, feature, path string) error {
	v, ok := deref(v)
	if !ok || len(enum) == 0 || v.Kind() != reflect.String {
		return nil
	}
	// "" is a required member left unset: the server says what it misses.
	if s := v.String(); s != "" && !slices.Contains(enum, s) {
		return fmt.Errorf("%w: CH %s does not take %q for %s (%s takes %s); use a release that does or another value",
			ErrUnsupportedField, w.r.tag, s, path, feature, strings.Join(enum, ", "))
	}
	return nil
}

// deref follows pointers and interfaces; ok is false for a nil one.
func deref(v reflect.Value) (reflect.Value, bool) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return v, false
		}
		v = v.Elem()
	}
	return v, v.IsValid()
}

// unsupportedMember builds the error for a member release r lacks: it says
// which release first has it, or, for a member later releases dropped,
// which last had it.
func (r *Release) unsupportedMember(schema, member, path string) error {
	feature := schema + "." + member
	until, ok := featureUntil[feature]
	if !ok {
		until, ok = carriedUntil[feature]
	}
	if ok && laterThan(r, until) {
		return fmt.Errorf("%w: CH %s has no field %s (%s, last in CH %s); use an older release or leave the field unset", ErrUnsupportedField, r.tag, path, feature, until)
	}
	since := featureSince[feature]
	if since == "" {
		return fmt.Errorf("%w: CH %s has no field %s (%s)", ErrUnsupportedField, r.tag, path, feature)
	}
	return fmt.Errorf("%w: CH %s has no field %s (%s, first in CH %s); use a newer release or leave the field unset", ErrUnsupportedField, r.tag, path, feature, since)
}

// laterThan reports whether release r is newer than version tag v.
func laterThan(r *Release, v string) bool {
	other, err := parseReleaseVersion(v)
	return err == nil && r.version.GreaterThan(other)
}

type jsonField struct {
	name      string
	index     int
	omitEmpty bool
}

// fieldCache holds the JSON fields of the struct types fieldWalk meets:
// core's API types (package api) and the struct types of their fields, a
// set fixed at compile time. It has one entry per type, none per value,
// VMM or socket.
var fieldCache sync.Map // reflect.Type -> []jsonField

// jsonFields lists the JSON-visible fields of struct type t.
func jsonFields(t reflect.Type) []jsonField {
	if l, ok := fieldCache.Load(t); ok {
		return l.([]jsonField)
	}
	var l []jsonField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if !sf.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		l = append(l, jsonField{name: name, index: i, omitEmpty: strings.Contains(opts, "omitempty")})
	}
	fieldCache.Store(t, l)
	return l
}
