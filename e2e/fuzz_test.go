package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
	v48 "github.com/chvmm/chvmm/versions/v48"
	v49 "github.com/chvmm/chvmm/versions/v49"
	v50 "github.com/chvmm/chvmm/versions/v50"
	v51 "github.com/chvmm/chvmm/versions/v51"
	v52 "github.com/chvmm/chvmm/versions/v52"
	v53 "github.com/chvmm/chvmm/versions/v53"
)

// FuzzConstraint: core.Lookup of any string never panics; it either finds a
// registered release (which Lookup of its own version finds again) or fails
// with ErrBadVersion or ErrUnknownVersion.
func FuzzConstraint(f *testing.F) {
	for _, s := range []string{
		"", "latest", "v48.0", "48.0", "48.0.0", "48", "v50", ">= 49, < 52", "~> 50.0", "> 99", "< 1",
		"v50.2-rc1", "v48.0+meta", "vx.y", ">=", ",", "!= 53.0", "= 51.2", "v", "1.2.3.4.5", " 53 ", "~>",
		"99999999999999999999", ">= 49, < 52, != 50.2", "latest2", "v48.0\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, want string) {
		r, err := core.Lookup(want)
		if err != nil {
			if !errors.Is(err, core.ErrBadVersion) && !errors.Is(err, core.ErrUnknownVersion) {
				t.Fatalf("Lookup(%q): %v is neither ErrBadVersion nor ErrUnknownVersion", want, err)
			}
			require.Nil(t, r)
			return
		}
		require.Contains(t, core.Releases(), r)
		again, err := core.Lookup(r.Version())
		require.NoError(t, err)
		require.Same(t, r, again)
	})
}

// captureServer answers vmm.ping as CH version, every other request 204,
// and keeps the last request body.
type captureServer struct {
	version string
	mu      sync.Mutex
	body    []byte
}

func (s *captureServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/api/v1/vmm.ping" {
		_, _ = fmt.Fprintf(w, `{"build_version":%q,"version":%q,"pid":1,"features":["kvm"]}`, s.version, s.version)
		return
	}
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *captureServer) last() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.body
}

// serveCapture serves a captureServer on a unix socket until tb ends.
func serveCapture(tb testing.TB, version string) (string, *captureServer) {
	tb.Helper()
	sock := filepath.Join(tb.TempDir(), "capture.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(tb, err)
	cs := &captureServer{version: version}
	srv := &http.Server{Handler: cs}
	go func() { _ = srv.Serve(l) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return sock, cs
}

// FuzzVMConfigConvert decodes arbitrary JSON into api.VMConfig and creates
// the VM with it through every release's Hypervisor: it never panics; a
// config a release refuses is refused with ErrUnsupportedField (or
// ErrRequestTooLarge); a config it accepts reaches the VMM as JSON that
// decodes into that release's generated VmConfig with
// DisallowUnknownFields.
func FuzzVMConfigConvert(f *testing.F) {
	for _, s := range []string{
		`{"payload":{"kernel":"/vmlinux","cmdline":"console=ttyS0"},"cpus":{"boot_vcpus":1,"max_vcpus":1},"memory":{"size":268435456},"serial":{"mode":"File","file":"/tmp/s"},"console":{"mode":"Off"}}`,
		`{}`,
		`{"payload":{}}`,
		`{"generic-vhost-user":[{"socket":"/s","virtio_id":1,"queue_sizes":[256]}]}`,
		`{"net":[{"tap":"tap0","offload_tso":true}]}`,
		`{"disks":[{"path":"/d","serial":"x","queue_affinity":[{"queue_index":0,"host_cpus":[0]}]}]}`,
		`{"cpus":{"boot_vcpus":2,"max_vcpus":4,"topology":{},"nested":true,"affinity":[{"vcpu":0,"host_cpus":[1]}]}}`,
		`{"platform":{"num_pci_segments":1,"iommu_segments":[0]},"landlock_enable":true,"landlock_rules":[{"path":"/","access":"r"}]}`,
		`{"memory":{"size":1,"zones":[{"id":"z","size":1}]},"numa":[{"guest_numa_id":0}]}`,
		`{"rate_limit_groups":[{"id":"g","rate_limiter_config":{"bandwidth":{"size":1,"refill_time":1}}}]}`,
		`{"tpm":{"socket":"/t"},"rtc":{},"debug_console":{"mode":"Off"}}`,
		`{"balloon":{"size":0,"free_page_reporting":true},"vsock":{"cid":3,"socket":"/v"}}`,
		`{"cpus":{"boot_vcpus":99999999999}}`,
		`null`, `[]`, `{"payload":null}`, `{"unknown_field":1}`,
	} {
		f.Add([]byte(s))
	}
	type target struct {
		rel     *core.Release
		h       core.Hypervisor
		vm      reflect.Type
		capture *captureServer
	}
	// Each release's own generated VmConfig.
	vmConfigs := map[string]reflect.Type{
		"v48.0": reflect.TypeFor[v48.VmConfig](), "v49.0": reflect.TypeFor[v49.VmConfig](),
		"v50.2": reflect.TypeFor[v50.VmConfig](), "v51.2": reflect.TypeFor[v51.VmConfig](),
		"v52.0": reflect.TypeFor[v52.VmConfig](), "v53.0": reflect.TypeFor[v53.VmConfig](),
	}
	var targets []target
	for _, r := range core.Releases() {
		vm, ok := vmConfigs[r.Version()]
		require.True(f, ok, "no generated VmConfig for %s", r)
		sock, capture := serveCapture(f, r.Version())
		h, err := core.Connect(context.Background(), sock)
		require.NoError(f, err)
		f.Cleanup(func() { h.Close() })
		targets = append(targets, target{rel: r, h: h, vm: vm, capture: capture})
	}
	require.Len(f, targets, 6, "every release chvmm ships is registered")
	f.Fuzz(func(t *testing.T, data []byte) {
		var cfg api.VMConfig
		if json.Unmarshal(data, &cfg) != nil {
			return
		}
		if _, err := json.Marshal(&cfg); err != nil {
			return // a value JSON cannot hold, such as a NaN: nothing to send
		}
		for _, tg := range targets {
			err := tg.h.CreateVM(context.Background(), &cfg, nil)
			if err != nil {
				if !errors.Is(err, core.ErrUnsupportedField) && !errors.Is(err, core.ErrRequestTooLarge) {
					t.Fatalf("CH %s refused %s with %v, not ErrUnsupportedField", tg.rel, data, err)
				}
				continue
			}
			sent := tg.capture.last()
			dec := json.NewDecoder(bytes.NewReader(sent))
			dec.DisallowUnknownFields()
			if err := dec.Decode(reflect.New(tg.vm).Interface()); err != nil {
				t.Fatalf("CH %s accepted the config, but what it was sent does not decode into its VmConfig: %v\ninput %s\nsent  %s",
					tg.rel, err, data, sent)
			}
		}
	})
}

// TestFuzzTargetsSeeSixReleases guards the fuzz targets' premise: all six
// releases are registered, oldest first.
func TestFuzzTargetsSeeSixReleases(t *testing.T) {
	var versions []string
	for _, r := range core.Releases() {
		versions = append(versions, r.Version())
	}
	require.Equal(t, []string{"v48.0", "v49.0", "v50.2", "v51.2", "v52.0", "v53.0"}, versions, "oldest first")
}
