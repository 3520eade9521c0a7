package main

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// unknownFieldPath returns the dotted path ("cpus.bogus", "disks[1].pth")
// of the first member of the JSON document data that type t has no field
// for, or "" when there is none or data is not valid JSON. encoding/json
// names only the member, not where it is.
func unknownFieldPath(data []byte, t reflect.Type) string {
	var v any
	if json.Unmarshal(data, &v) != nil {
		return ""
	}
	return unknownIn(v, t, "")
}

func unknownIn(v any, t reflect.Type, path string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch val := v.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Map:
			for _, k := range slices.Sorted(maps.Keys(val)) {
				if p := unknownIn(val[k], t.Elem(), path+"."+k); p != "" {
					return p
				}
			}
		case reflect.Struct:
			fields := jsonFieldTypes(t)
			for _, k := range slices.Sorted(maps.Keys(val)) {
				ft, ok := fields[strings.ToLower(k)]
				if !ok {
					return strings.TrimPrefix(path+"."+k, ".")
				}
				if p := unknownIn(val[k], ft, path+"."+k); p != "" {
					return p
				}
			}
		}
	case []any:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for i, e := range val {
				if p := unknownIn(e, t.Elem(), path+"["+strconv.Itoa(i)+"]"); p != "" {
					return p
				}
			}
		}
	}
	return ""
}

// jsonFieldTypes maps the lower-cased JSON names (encoding/json matches
// them case-insensitively) of struct t's fields to their types.
func jsonFieldTypes(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			if f.Anonymous {
				maps.Copy(m, jsonFieldTypes(f.Type))
				continue
			}
			name = f.Name
		}
		m[strings.ToLower(name)] = f.Type
	}
	return m
}
