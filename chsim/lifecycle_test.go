package chsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/chsim"
	"github.com/chvmm/chvmm/chsim/chsimtest"
)

// step is one call of a scenario and its expected status (and body, if set).
type step struct {
	method, endpoint, body string
	status                 int
	body200                string // exact expected body, "" to skip
}

func TestLifecycleAllVersions(t *testing.T) {
	for _, version := range chsim.Versions {
		t.Run(version, func(t *testing.T) {
			dir := t.TempDir()
			kernel := filepath.Join(dir, "vmlinux")
			require.NoError(t, os.WriteFile(kernel, []byte("kernel"), 0o600))
			snap := filepath.Join(dir, "snap")
			require.NoError(t, os.Mkdir(snap, 0o700))
			events := &syncBuffer{}
			sock, srv := chsimtest.Start(t, version, chsim.WithEventMonitor(events))
			c := newClient(t, sock)
			create := fmt.Sprintf(`{"cpus":{"boot_vcpus":1,"max_vcpus":2},"memory":{"size":268435456},"payload":{"kernel":%q}}`, kernel)
			steps := []step{
				{"PUT", "vm.create", create, 204, ""},
				{"PUT", "vm.boot", "", 204, ""},
				{"PUT", "vm.add-disk", `{"path":"/dev/null"}`, 200, `{"bdf":"0000:00:03.0","id":"_disk0"}`},
				{"PUT", "vm.add-net", `{"tap":"tap0"}`, 200, `{"bdf":"0000:00:04.0","id":"_net1"}`},
				{"PUT", "vm.add-disk", `{"path":"/dev/null","id":"_disk0"}`, 500, `["Error from API","The disk could not be added to the VM","Failed to validate config","Identifier _disk0 is not unique"]`},
				{"PUT", "vm.pause", "", 204, ""},
				{"PUT", "vm.snapshot", fmt.Sprintf(`{"destination_url":"file://%s"}`, snap), 204, ""},
				{"PUT", "vm.resume", "", 204, ""},
				{"PUT", "vm.reboot", "", 204, ""},
				{"PUT", "vm.shutdown", "", 204, ""},
				{"PUT", "vm.boot", "", 204, ""},
				{"PUT", "vm.delete", "", 204, ""},
			}
			for _, s := range steps {
				status, body := c.do(s.method, s.endpoint, s.body)
				assert.Equal(t, s.status, status, "%s %s: %s", s.method, s.endpoint, body)
				if s.body200 != "" {
					assert.JSONEq(t, s.body200, body, "%s %s", s.method, s.endpoint)
				}
			}
			assert.Equal(t, "", srv.State())
			for _, f := range []string{"config.json", "state.json", "memory-ranges"} {
				assert.FileExists(t, filepath.Join(snap, f))
			}
			assert.Contains(t, events.String(), "\"event\": \"booted\"")
			assert.Contains(t, events.String(), "\"event\": \"deleted\"")

			// Restore into a fresh server: the VM comes back paused.
			// (The absent-endpoint probes below are request violations on
			// purpose: this server collects them instead of failing.)
			var mu sync.Mutex
			var violations []string
			sock2 := filepath.Join(t.TempDir(), "api.sock")
			srv2, err := chsim.Start(context.Background(), version, sock2, chsim.WithViolationHook(func(v chsim.Violation) {
				mu.Lock()
				defer mu.Unlock()
				violations = append(violations, v.Kind.String()+" "+v.Method+" "+v.Path)
			}))
			require.NoError(t, err)
			t.Cleanup(func() { srv2.Close() })
			c2 := newClient(t, sock2)
			status, body := c2.do("PUT", "vm.restore", fmt.Sprintf(`{"source_url":"file://%s"}`, snap))
			require.Equal(t, 204, status, body)
			assert.Equal(t, "Paused", srv2.State())
			status, body = c2.do("GET", "vm.info", "")
			require.Equal(t, 200, status)
			var info struct {
				Config struct {
					Cpus  map[string]any   `json:"cpus"`
					Disks []map[string]any `json:"disks"`
				} `json:"config"`
			}
			require.NoError(t, json.Unmarshal([]byte(body), &info))
			require.Len(t, info.Config.Disks, 1)
			assert.Equal(t, "_disk0", info.Config.Disks[0]["id"])
			nested, hasNested := info.Config.Cpus["nested"]
			if version >= "v50.2" {
				assert.Equal(t, true, nested)
			} else {
				assert.False(t, hasNested, "cpus.nested before v50.2")
			}
			status, _ = c2.do("PUT", "vm.resume", "")
			assert.Equal(t, 204, status)

			// Endpoints present per version; the others are 404.
			v50plus, v52plus := version >= "v50.2", version >= "v52.0"
			resizeDisk := `{"id":"_disk0","desired_size":1048576}`
			checkPresence(t, c2, "vm.resize-disk", resizeDisk, v50plus)
			checkPresence(t, c2, "vm.add-generic-vhost-user", `{"socket":"/tmp/x.sock","tag":"gvu","virtio_id":26,"device_type":26,"queue_sizes":[256]}`, v52plus)
			checkPresence(t, c2, "vm.nmi", "", true)   // every server routes vm.nmi
			checkPresence(t, c2, "vmm.nmi", "", false) // the v48–v52 specs' name is a 404
			var wantViolations []string
			for endpoint, present := range map[string]bool{"vm.resize-disk": v50plus, "vm.add-generic-vhost-user": v52plus, "vmm.nmi": false} {
				if !present {
					wantViolations = append(wantViolations, "request PUT /api/v1/"+endpoint)
				}
			}
			mu.Lock()
			assert.ElementsMatch(t, wantViolations, violations)
			mu.Unlock()

			// Without a VM, v53 answers "not created" errors with 404.
			sock3, _ := chsimtest.Start(t, version)
			status, _ = newClient(t, sock3).do("GET", "vm.info", "")
			if version == "v53.0" {
				assert.Equal(t, 404, status)
				assert.FileExists(t, sock3+".lock")
			} else {
				assert.Equal(t, 500, status)
				assert.NoFileExists(t, sock3+".lock")
			}
		})
	}
}

// checkPresence calls an endpoint that exists only in some versions; it is
// only checked for 404 where absent (where present, any answer of the VMM:
// the generic vhost-user device is refused, as the VM has no shared memory).
func checkPresence(t *testing.T, c *apiClient, endpoint, body string, present bool) {
	t.Helper()
	status, got := c.do("PUT", endpoint, body)
	if present {
		assert.NotEqual(t, 404, status, "%s: %s", endpoint, got)
		assert.NotEqual(t, `["Not Found"]`, got, endpoint)
	} else {
		assert.Equal(t, 404, status, endpoint)
		assert.Equal(t, `["Not Found"]`, got)
	}
}

// syncBuffer is a goroutine-safe bytes.Buffer.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Clone(b.buf.String())
}
