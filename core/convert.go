package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	goversion "github.com/hashicorp/go-version"
)

// checkFields reports the first field set in v (a value of one of this
// package's API types, such as VMConfig) that release r's API does not know,
// as an error matching ErrUnsupportedField that names the field and the
// release that first (or, for a removed field, last) has it. CH would reject
// or, worse, silently ignore such a field, so chvmm refuses to send it.
func (r *Release) checkFields(schema string, v any) error {
	_, err := r.unknownZeroFields(schema, v)
	return err
}

// encodeBody returns the JSON of v as the body of a request whose spec
// schema is schema: it checks v's fields against release r (checkFields)
// and leaves out the fields r does not know that v leaves at their zero
// value but that encoding/json would still write (fields without omitempty,
// such as a list another release requires). An unknown schema ("") is
// encoded as it is.
func (r *Release) encodeBody(schema string, v any) ([]byte, error) {
	prune, err := r.unknownZeroFields(schema, v)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(v)
	if err != nil || len(prune) == 0 {
		return data, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	for _, p := range prune {
		deletePath(doc, p)
	}
	return json.Marshal(doc)
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

// unknownZeroFields walks v against release r's type for schema: it returns
// an ErrUnsupportedField error for the first field r does not know that v
// sets, and the paths of the fields r does not know that v leaves at their
// zero value without omitempty (they must not be sent).
func (r *Release) unknownZeroFields(schema string, v any) ([]jsonPath, error) {
	want, ok := r.Schemas[schema]
	if !ok || schema == "" {
		return nil, nil
	}
	w := fieldWalk{r: r}
	err := w.walk(reflect.ValueOf(v), want, schema, strings.ToLower(schema[:1])+schema[1:], nil)
	return w.prune, err
}

// fieldWalk is one walk of a value against a release's types.
type fieldWalk struct {
	r     *Release
	prune []jsonPath
}

func (w *fieldWalk) walk(v reflect.Value, want reflect.Type, schema, path string, at jsonPath) error {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	for want.Kind() == reflect.Pointer {
		want = want.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		if want.Kind() != reflect.Struct {
			return nil
		}
		have := jsonFields(v.Type())
		known := jsonFields(want)
		for _, f := range have {
			fv := v.Field(f.index)
			if f.omitEmpty && fv.IsZero() {
				continue
			}
			fieldAt := append(slices.Clip(at), f.name)
			kf, ok := known.byName(f.name)
			if !ok {
				if fv.IsZero() {
					w.prune = append(w.prune, fieldAt)
					continue
				}
				return w.r.unsupportedField(schema, f.name, path+"."+f.name)
			}
			ft := want.Field(kf.index).Type
			if err := w.walk(fv, ft, schemaName(w.r, ft, schema), path+"."+f.name, fieldAt); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		elem := want
		if want.Kind() == reflect.Slice || want.Kind() == reflect.Array {
			elem = want.Elem()
		}
		sub := schemaName(w.r, elem, schema)
		for i := range v.Len() {
			if err := w.walk(v.Index(i), elem, sub, fmt.Sprintf("%s[%d]", path, i), append(slices.Clip(at), i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// unsupportedField builds the error for a field release r lacks: it says
// which release first has it, or, for a field later releases dropped, which
// last had it.
func (r *Release) unsupportedField(schema, field, path string) error {
	feature := schema + "." + field
	until, ok := featureUntil[feature]
	if !ok {
		until, ok = carriedUntil[feature]
	}
	if ok && laterThan(r, until) {
		return fmt.Errorf("%w: CH %s has no field %s (%s, last in CH %s); use an older release or leave the field unset", ErrUnsupportedField, r.Version, path, feature, until)
	}
	since := FeatureSince(feature)
	if since == "" {
		return fmt.Errorf("%w: CH %s has no field %s (%s)", ErrUnsupportedField, r.Version, path, feature)
	}
	return fmt.Errorf("%w: CH %s has no field %s (%s, first in CH %s); use a newer release or leave the field unset", ErrUnsupportedField, r.Version, path, feature, since)
}

// laterThan reports whether release r is newer than version tag v.
func laterThan(r *Release, v string) bool {
	mine := r.SemVer()
	if mine == nil { // not registered
		var err error
		if mine, err = goversion.NewVersion(strings.TrimPrefix(r.Version, "v")); err != nil {
			return false
		}
	}
	other, err := goversion.NewVersion(strings.TrimPrefix(v, "v"))
	return err == nil && mine.GreaterThan(other)
}

// schemaName returns the spec schema name of generated type t in release r,
// or fallback when t is not a component schema.
func schemaName(r *Release, t reflect.Type, fallback string) string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	for name, st := range r.Schemas {
		if st == t {
			return name
		}
	}
	return fallback
}

type jsonField struct {
	name      string
	index     int
	omitEmpty bool
}

type fieldList []jsonField

func (l fieldList) byName(name string) (jsonField, bool) {
	for _, f := range l {
		if f.name == name {
			return f, true
		}
	}
	return jsonField{}, false
}

var fieldCache sync.Map // reflect.Type -> fieldList

// jsonFields lists the JSON-visible fields of struct type t.
func jsonFields(t reflect.Type) fieldList {
	if l, ok := fieldCache.Load(t); ok {
		return l.(fieldList)
	}
	var l fieldList
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
