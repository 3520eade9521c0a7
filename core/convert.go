package core

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// checkFields reports the first field set in v (a value of one of this
// package's API types, such as VMConfig) that release r's API does not know,
// as an error matching ErrUnsupportedField that names the field and the
// first release that has it. CH would reject or, worse, silently ignore such
// a field, so chvmm refuses to send it.
func (r *Release) checkFields(schema string, v any) error {
	want, ok := r.Schemas[schema]
	if !ok {
		return nil
	}
	return r.walkFields(reflect.ValueOf(v), want, schema, strings.ToLower(schema[:1])+schema[1:])
}

func (r *Release) walkFields(v reflect.Value, want reflect.Type, schema, path string) error {
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
			kf, ok := known.byName(f.name)
			if !ok {
				return r.unsupportedField(schema, f.name, path+"."+f.name)
			}
			sub := schemaName(r, want.Field(kf.index).Type, schema)
			if err := r.walkFields(fv, want.Field(kf.index).Type, sub, path+"."+f.name); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		elem := want
		if want.Kind() == reflect.Slice || want.Kind() == reflect.Array {
			elem = want.Elem()
		}
		sub := schemaName(r, elem, schema)
		for i := range v.Len() {
			if err := r.walkFields(v.Index(i), elem, sub, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// unsupportedField builds the error for a field release r lacks.
func (r *Release) unsupportedField(schema, field, path string) error {
	since := FeatureSince(schema + "." + field)
	if since == "" {
		return fmt.Errorf("%w: CH %s has no field %s (%s.%s)", ErrUnsupportedField, r.Version, path, schema, field)
	}
	return fmt.Errorf("%w: CH %s has no field %s (%s.%s, first in CH %s); use a newer release or leave the field unset", ErrUnsupportedField, r.Version, path, schema, field, since)
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
