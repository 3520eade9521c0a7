package chsimtest

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
)

// apiRoot is a request body of core.Hypervisor: its spec schema, its
// endpoint, its core type and how to send a value of it (a pointer).
type apiRoot struct {
	schema   string
	endpoint string // "PUT /vm.create"
	typ      reflect.Type
	send     func(c context.Context, h core.Hypervisor, dir string, v any) error
}

func addRoot[T any](schema, endpoint string, add func(core.Hypervisor, context.Context, T) (*api.PciDeviceInfo, error)) apiRoot {
	return apiRoot{schema, endpoint, reflect.TypeFor[T](), func(c context.Context, h core.Hypervisor, _ string, v any) error {
		_, err := add(h, c, *v.(*T))
		return err
	}}
}

func putRoot[T any](schema, endpoint string, put func(core.Hypervisor, context.Context, T) error) apiRoot {
	return apiRoot{schema, endpoint, reflect.TypeFor[T](), func(c context.Context, h core.Hypervisor, _ string, v any) error {
		return put(h, c, *v.(*T))
	}}
}

// apiRoots are the request bodies through which the suite reaches every
// schema, the VM config first.
var apiRoots = []apiRoot{
	{"VmConfig", "PUT /vm.create", reflect.TypeFor[api.VMConfig](), func(c context.Context, h core.Hypervisor, _ string, v any) error {
		return h.CreateVM(c, v.(*api.VMConfig), nil)
	}},
	{"RestoreConfig", "PUT /vm.restore", reflect.TypeFor[api.RestoreConfig](), func(c context.Context, h core.Hypervisor, dir string, v any) error {
		rc := v.(*api.RestoreConfig)
		opts := core.RestoreOptions{Force: true, Prefault: rc.Prefault != nil && *rc.Prefault, Resume: rc.Resume != nil && *rc.Resume}
		if rc.MemoryRestoreMode != nil {
			opts.MemoryRestoreMode = *rc.MemoryRestoreMode
		}
		return h.Restore(c, dir, opts)
	}},
	addRoot("DiskConfig", "PUT /vm.add-disk", core.Hypervisor.AddDisk),
	addRoot("NetConfig", "PUT /vm.add-net", func(h core.Hypervisor, c context.Context, n api.NetConfig) (*api.PciDeviceInfo, error) {
		return h.AddNet(c, n)
	}),
	addRoot("FsConfig", "PUT /vm.add-fs", core.Hypervisor.AddFs),
	addRoot("PmemConfig", "PUT /vm.add-pmem", core.Hypervisor.AddPmem),
	addRoot("VsockConfig", "PUT /vm.add-vsock", core.Hypervisor.AddVsock),
	addRoot("VdpaConfig", "PUT /vm.add-vdpa", core.Hypervisor.AddVdpa),
	addRoot("DeviceConfig", "PUT /vm.add-device", core.Hypervisor.AddDevice),
	addRoot("VmAddUserDevice", "PUT /vm.add-user-device", core.Hypervisor.AddUserDevice),
	addRoot("GenericVhostUserConfig", "PUT /vm.add-generic-vhost-user", core.Hypervisor.AddGenericVhostUser),
	putRoot("VmResize", "PUT /vm.resize", core.Hypervisor.Resize),
	putRoot("VmResizeZone", "PUT /vm.resize-zone", core.Hypervisor.ResizeZone),
	putRoot("VmResizeDisk", "PUT /vm.resize-disk", core.Hypervisor.ResizeDisk),
	putRoot("SendMigrationData", "PUT /vm.send-migration", core.Hypervisor.SendMigration),
	putRoot("ReceiveMigrationData", "PUT /vm.receive-migration", core.Hypervisor.ReceiveMigration),
}

// step is one member on the way from a root type to a nested one.
type step struct {
	index int    // struct field index
	name  string // its JSON name
}

// jsonName returns the JSON member name of struct field f ("" if none).
func jsonName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		return f.Name
	}
	return name
}

// structOf strips pointers and slices off t.
func structOf(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	return t
}

// coreTypeNamed finds core's type for spec schema name among the types
// reachable from the roots. core's generator names types after their schema
// with Go initialisms (VmConfig → VMConfig, CpuAffinity → CPUAffinity), so
// the names match case-insensitively.
func coreTypeNamed(schema string) reflect.Type {
	seen := map[reflect.Type]bool{}
	var found reflect.Type
	var visit func(t reflect.Type)
	visit = func(t reflect.Type) {
		t = structOf(t)
		if t.Kind() != reflect.Struct || seen[t] || found != nil {
			return
		}
		seen[t] = true
		if strings.EqualFold(t.Name(), schema) {
			found = t
			return
		}
		for i := range t.NumField() {
			visit(t.Field(i).Type)
		}
	}
	for _, r := range apiRoots {
		visit(r.typ)
	}
	return found
}

// pathTo returns the shortest member path from root to struct type target.
func pathTo(root, target reflect.Type) ([]step, bool) {
	type node struct {
		t    reflect.Type
		path []step
	}
	queue := []node{{structOf(root), nil}}
	seen := map[reflect.Type]bool{}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if n.t == target {
			return n.path, true
		}
		if n.t.Kind() != reflect.Struct || seen[n.t] {
			continue
		}
		seen[n.t] = true
		for i := range n.t.NumField() {
			f := n.t.Field(i)
			if name := jsonName(f); name != "" {
				queue = append(queue, node{structOf(f.Type), append(append([]step(nil), n.path...), step{i, name})})
			}
		}
	}
	return nil, false
}

// sample returns a non-zero value of type t.
func sample(t reflect.Type, depth int) reflect.Value {
	v := reflect.New(t).Elem()
	if depth > 4 {
		return v
	}
	switch t.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(t.Elem()))
		v.Elem().Set(sample(t.Elem(), depth+1))
	case reflect.Slice:
		v.Set(reflect.Append(v, sample(t.Elem(), depth+1)))
	case reflect.Map:
		v.Set(reflect.MakeMap(t))
		v.SetMapIndex(sample(t.Key(), depth+1), sample(t.Elem(), depth+1))
	case reflect.Struct:
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				v.Field(i).Set(sample(t.Field(i).Type, depth+1))
				break
			}
		}
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	}
	return v
}

// valueWith returns a new *root whose member at path, then field, is set
// to a non-zero value; everything else is left zero.
func valueWith(root reflect.Type, path []step, field string) (any, bool) {
	top := reflect.New(root)
	v := top.Elem()
	for _, s := range path {
		v = descend(v.Field(s.index))
	}
	for i := range v.NumField() {
		if jsonName(v.Type().Field(i)) == field {
			v.Field(i).Set(sample(v.Field(i).Type(), 0))
			return top.Interface(), true
		}
	}
	return nil, false
}

// descend makes f (a struct, pointer to one or list of them) hold one
// struct and returns it.
func descend(f reflect.Value) reflect.Value {
	for {
		switch f.Kind() {
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
			f = f.Elem()
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
			f = f.Index(0)
		default:
			return f
		}
	}
}

// featureOf returns the core.Features entry named name.
func featureOf(name string) (core.Feature, bool) {
	for _, f := range core.Features() {
		if f.Name == name {
			return f, true
		}
	}
	return core.Feature{}, false
}

// testUnsupportedFields sets, one at a time, every schema field of
// core.Features that this version's spec lacks, in a value built by
// reflection over core's types, and sends it through the Hypervisor: each
// must be refused before it reaches CH, naming the field the release lacks
// and the release that has it. What the release lacks comes from its spec.
func testUnsupportedFields(t *testing.T, version string) {
	v := connect(t, version)
	rel := v.h.Release()
	doc, err := loadDoc(version)
	require.NoError(t, err)
	restoreDir := t.TempDir() // no metadata: Restore with Force reaches the field check
	checked, lacked := 0, 0
	for _, feat := range core.Features() {
		schema, field, isField := strings.Cut(feat.Name, ".")
		if !isField || strings.Contains(feat.Name, " ") {
			continue
		}
		s, inSpec := doc.Components.Schemas[schema]
		inSpec = inSpec && s.Properties[field] != nil
		assert.Equal(t, inSpec, rel.Has(feat.Name), "Release.Has(%q) disagrees with the %s spec", feat.Name, version)
		if inSpec || feat.Name == "RestoreConfig.resume" {
			// RestoreOptions.Resume maps to the server's field where the
			// release has it, else to vm.resume: never refused.
			continue
		}
		lacked++
		target := coreTypeNamed(schema)
		if !assert.NotNil(t, target, "core has no type for schema %s", schema) {
			continue
		}
		var root *apiRoot
		var path []step
		for i := range apiRoots {
			if p, ok := pathTo(apiRoots[i].typ, target); ok {
				root, path = &apiRoots[i], p
				break
			}
		}
		if !assert.NotNil(t, root, "no Hypervisor operation takes %s", schema) {
			continue
		}
		val, ok := valueWith(root.typ, path, field)
		if !assert.True(t, ok, "core.%s has no field %q", target.Name(), field) {
			continue
		}
		method, epPath, _ := strings.Cut(root.endpoint, " ")
		members := make([]string, 0, len(path)+1)
		for _, s := range path {
			members = append(members, s.name)
		}
		missing := doc.missingAlong(root.schema, append(members, field))
		_, served := doc.Paths[epPath]
		if served && missing == "" {
			// The release has the member under another schema (before
			// v52.0, VmConfig.serial is a ConsoleConfig, not a
			// SerialConfig): setting it is right.
			t.Logf("%s: CH %s has %s.%s under another schema", feat.Name, version, root.schema, strings.Join(append(members, field), "."))
			continue
		}
		err := root.send(ctx(t), v.h, restoreDir, val)
		if !served {
			assert.ErrorIs(t, err, core.ErrUnsupported, "%s through %s", feat.Name, root.endpoint)
			if since, ok := featureOf(root.endpoint); ok && since.Since != "" {
				assert.ErrorContains(t, err, "first in CH "+since.Since, feat.Name)
			}
			assert.False(t, rel.Has(method+" "+epPath))
			checked++
			continue
		}
		checked++
		if !assert.ErrorIs(t, err, core.ErrUnsupportedField, "%s through %s", feat.Name, root.endpoint) {
			continue
		}
		assert.ErrorContains(t, err, missing)
		if mf, ok := featureOf(missing); assert.True(t, ok, "%s is not in core.Features", missing) {
			if mf.Until != "" && version > mf.Until {
				assert.ErrorContains(t, err, "last in CH "+mf.Until)
			} else {
				assert.ErrorContains(t, err, "first in CH "+mf.Since)
			}
		}
	}
	assert.Equal(t, "", v.srv.State(), "a refused field must not reach CH")
	t.Logf("CH %s: %d fields refused", version, checked)
	if lacked > 0 { // the newest release lacks none when no spec dropped a field
		assert.Positive(t, checked, "a release that lacks fields refuses some")
	}
}
