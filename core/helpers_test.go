package core

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core/api"
	"github.com/chvmm/chvmm/core/driver"
)

// coreTypes are core's API types, by the spec's schema name.
var coreTypes = []reflect.Type{
	reflect.TypeFor[api.VMConfig](), reflect.TypeFor[api.NetConfig](), reflect.TypeFor[api.DiskConfig](),
	reflect.TypeFor[api.RestoreConfig](), reflect.TypeFor[api.VMSnapshotConfig](), reflect.TypeFor[api.VMResize](),
	reflect.TypeFor[api.VMResizeZone](), reflect.TypeFor[api.VMResizeDisk](), reflect.TypeFor[api.VMRemoveDevice](),
	reflect.TypeFor[api.VMCoredumpData](), reflect.TypeFor[api.SendMigrationData](), reflect.TypeFor[api.ReceiveMigrationData](),
	reflect.TypeFor[api.DeviceConfig](), reflect.TypeFor[api.FsConfig](), reflect.TypeFor[api.PmemConfig](),
	reflect.TypeFor[api.VsockConfig](), reflect.TypeFor[api.VdpaConfig](), reflect.TypeFor[api.VMAddUserDevice](),
	reflect.TypeFor[api.GenericVhostUserConfig](),
}

// schemaNameOf is the spec's name of core type t: VMConfig → VmConfig.
func schemaNameOf(t reflect.Type) string {
	n := t.Name()
	for _, p := range [][2]string{{"VM", "Vm"}, {"CPU", "Cpu"}} {
		if strings.HasPrefix(n, p[0]) {
			return p[1] + n[len(p[0]):]
		}
	}
	return n
}

// unionAPI is a model in which every member of core's types exists: the
// API of a release that has them all.
var unionAPI = sync.OnceValue(func() *driver.API {
	api := &driver.API{Schemas: map[string]*driver.Schema{}}
	var add func(t reflect.Type) string
	add = func(t reflect.Type) string {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		name := schemaNameOf(t)
		if _, ok := api.Schemas[name]; ok {
			return name
		}
		s := &driver.Schema{}
		api.Schemas[name] = s
		for _, f := range jsonFields(t) {
			ft := t.Field(f.index).Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			m := driver.Member{Name: f.name}
			switch ft.Kind() {
			case reflect.Struct:
				m.Type, m.Ref = driver.Object, add(ft)
			case reflect.Slice:
				m.Type = driver.Array
				if et := ft.Elem(); et.Kind() == reflect.Struct {
					m.Items, m.Ref = driver.Object, add(et)
				} else {
					m.Items = driver.Integer
				}
			case reflect.Map:
				m.Type, m.Map = driver.Object, true
			case reflect.Bool:
				m.Type = driver.Boolean
			case reflect.String:
				m.Type = driver.String
			default:
				m.Type = driver.Integer
			}
			s.Members = append(s.Members, m)
		}
		slices.SortFunc(s.Members, func(a, b driver.Member) int { return strings.Compare(a.Name, b.Name) })
		return name
	}
	for _, t := range coreTypes {
		add(t)
	}
	for _, e := range []string{"GET /vmm.ping", "PUT /vmm.shutdown", "PUT /vm.create", "PUT /vm.boot", "PUT /vm.pause",
		"PUT /vm.resume", "PUT /vm.shutdown", "PUT /vm.reboot", "PUT /vm.power-button", "PUT /vm.delete", "GET /vm.info",
		"GET /vm.counters", "PUT /vm.resize", "PUT /vm.resize-zone", "PUT /vm.resize-disk", "PUT /vm.add-device",
		"PUT /vm.add-disk", "PUT /vm.add-net", "PUT /vm.add-fs", "PUT /vm.add-pmem", "PUT /vm.add-vsock", "PUT /vm.add-vdpa",
		"PUT /vm.add-user-device", "PUT /vm.add-generic-vhost-user", "PUT /vm.remove-device", "PUT /vm.snapshot",
		"PUT /vm.restore", "PUT /vm.coredump", "PUT /vm.nmi", "PUT /vm.send-migration", "PUT /vm.receive-migration"} {
		method, path, _ := strings.Cut(e, " ")
		api.Endpoints = append(api.Endpoints, driver.Endpoint{Method: method, Path: path})
	}
	return api
})

// testDriver is a release of version with unionAPI, embedding bin (none
// when nil) for the host architecture.
func testDriver(version string, bin []byte) *driver.Release {
	d := &driver.Release{Version: version, Arch: hostArch(), API: unionAPI()}
	if bin != nil {
		d.Binary = fstest.MapFS{driver.BinaryName: {Data: bin, Mode: 0o755}}
	}
	return d
}

// testRelease is an unregistered release of version embedding bin.
func testRelease(version string, bin []byte) *Release {
	r, err := newRelease(testDriver(version, bin))
	if err != nil {
		panic(err)
	}
	return r
}

var registerMu sync.Mutex

// registered returns the registered release of d.Version, registering d
// first if there is none.
func registered(t testing.TB, d *driver.Release) *Release {
	t.Helper()
	registerMu.Lock()
	defer registerMu.Unlock()
	v, err := parseReleaseVersion(d.Version)
	require.NoError(t, err)
	if r, err := Lookup("v" + v.Original()); err == nil && r.tag == "v"+v.Original() {
		return r
	}
	return Register(d)
}

// newTestHypervisor is the Hypervisor of release r at socket.
func newTestHypervisor(r *Release, socket string) Hypervisor { return newVMMClient(r, socket, nil) }

// newTestHTTPClient is an HTTP client over chvmm's transport to socket.
func newTestHTTPClient(socket string) *http.Client {
	return &http.Client{Transport: newAPITransport(socket, false)}
}
