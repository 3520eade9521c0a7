package chsim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/chsim"
)

// realV48 is the listing of what a real CH v48.0 answered (REAL-BEHAVIOUR.md
// of the project's spec folder), copied verbatim.
const realV48 = `
GET vmm.ping                             200  {"build_version":"v48.0.0","version":"48.0.0","pid":<pid>,"features":["io_uring","kvm"]}
GET vm.info (no vm)                      500  ["Error from API","The VM info is not available","VM is not created"]
GET vm.counters (no vm)                  500  ["Error from API","The VM info is not available","VM is not running"]
PUT vm.boot (no vm)                      500  ["Error from API","The VM could not boot","VM config is missing"]
PUT vm.pause (no vm)                     500  ["Error from API","The VM could not be paused","VM is not running"]
PUT vm.shutdown (no vm)                  500  ["Error from API","The VM could not shutdown","VM is not running"]
PUT vm.delete (no vm)                    204  
PUT vm.snapshot (no vm)                  500  ["Error from API","The VM could not be snapshotted","VM is not running"]
PUT vm.create (bad json)                 400  ["Failed to deserialize JSON","EOF while parsing an object at line 1 column 25"]
PUT vm.create                            204  
PUT vm.create (again)                    500  ["Error from API","The VM could not be created","VM is already created"]
GET vm.info (created)                    200  state=Created memory_actual_size=268435456 keys=['config', 'device_tree', 'memory_actual_size', 'state']
PUT vm.pause (created)                   500  ["Error from API","The VM could not be paused","VM is not running"]
PUT vm.resume (created)                  500  ["Error from API","The VM could not resume","VM is not running"]
PUT vm.shutdown (created)                500  ["Error from API","The VM could not shutdown","VM is not running"]
GET vm.info (after shutdown created)     200  state=Created memory_actual_size=268435456 keys=['config', 'device_tree', 'memory_actual_size', 'state']
PUT vm.boot                              204  
PUT vm.boot (again)                      500  ["Error from API","The VM could not boot","invalid VM state transition: Running to Running"]
GET vm.info (running)                    200  state=Running memory_actual_size=268435456 keys=['config', 'device_tree', 'memory_actual_size', 'state']
GET vm.counters (running)                200  {}
PUT vm.resume (running)                  500  ["Error from API","The VM could not resume","Cannot resume VM","Failed to resume migratable component","Invalid transition: InvalidStateTransition(Running, Running)"]
PUT vm.snapshot (running)                500  ["Error from API","The VM could not be snapshotted","Cannot snapshot VM","Failed to snapshot migratable component","Trying to snapshot while VM is running"]
PUT vm.resize (above max)                500  ["Error from API","The VM could not be resized","Error from CPU manager","Requested vCPUs exceed maximum"]
PUT vm.resize (to max)                   204  
PUT vm.pause                             204  
PUT vm.pause (again)                     500  ["Error from API","The VM could not be paused","Cannot pause VM","Failed to pause migratable component","Invalid transition: InvalidStateTransition(Paused, Paused)"]
GET vm.info (paused)                     200  state=Paused memory_actual_size=268435456 keys=['config', 'device_tree', 'memory_actual_size', 'state']
PUT vm.snapshot (paused)                 204  
PUT vm.snapshot (bad dest)               500  ["Error from API","The VM could not be snapshotted","Cannot send VM snapshot","Failed to send migratable component snapshot","Destination is not a directory: \"/nonexistent/dir\""]
PUT vm.restore (with vm)                 500  ["Error from API","The VM could not restored","VM is already created"]
PUT vm.resume                            204  
PUT vm.reboot (running)                  204  
GET vm.info (after reboot)               200  state=Running memory_actual_size=268435456 keys=['config', 'device_tree', 'memory_actual_size', 'state']
PUT vm.shutdown (running)                204  
GET vm.info (after shutdown)             200  state=Created memory_actual_size=268435456 keys=['config', 'device_tree', 'memory_actual_size', 'state']
PUT vm.resume (shutdown)                 500  ["Error from API","The VM could not resume","VM is not running"]
PUT vm.boot (from shutdown)              204  
GET vm.info (rebooted from shutdown)     200  state=Running memory_actual_size=268435456 keys=['config', 'device_tree', 'memory_actual_size', 'state']
PUT vm.shutdown                          204  
PUT vm.delete                            204  
GET vm.info (after delete)               500  ["Error from API","The VM info is not available","VM is not created"]
PUT vm.nonexistent (unknown endpoint)    404  ["Not Found"]
GET vm.boot (GET on PUT endpoint)        400  ["Bad Request"]
POST vm.boot (POST)                      400  { "error": "Invalid HTTP Method: Unsupported HTTP method.All previous unanswered requests will be dropped." }
PUT vmm.ping (PUT on GET endpoint)       400  ["Bad Request"]
PUT vm.create (60000-byte body)          400  { "error": "Request payload with size 60102 is larger than the limit of 51200 allowed by server.All previous unanswered requests will be dropped." }
PUT vmm.shutdown                         200  
exit status 0
--- second VMM: missing kernel
PUT vm.create (missing kernel)           204  
GET vm.info (after create w/ missing kernel) 200  state=Created memory_actual_size=268435456 keys=['config', 'device_tree', 'memory_actual_size', 'state']
PUT vm.boot (missing kernel)             500  ["Error from API","The VM could not boot","Cannot open kernel file","No such file or directory (os error 2)"]
GET vm.info (after failed boot)          200  state=Created memory_actual_size=268435456 keys=['config', 'device_tree', 'memory_actual_size', 'state']
PUT vm.boot (again after failed boot)    204  
GET vmm.ping (after second boot)         000  curl: (7) Failed to connect to localhost port 80 after 0 ms: Couldn't connect to server
exit status 0
`

var lineRE = regexp.MustCompile(`^(GET|PUT|POST) (\S+)(?: \((.*?)\))?\s+(\d{3})\s*(.*)$`)

// replayEnv holds what request bodies of the listing refer to.
type replayEnv struct {
	kernel, snapDir string
}

func (e replayEnv) vmConfig() string {
	return fmt.Sprintf(`{"cpus":{"boot_vcpus":1,"max_vcpus":2},"memory":{"size":268435456},"payload":{"kernel":%q,"cmdline":"console=ttyS0"},"serial":{"mode":"File","file":%q},"console":{"mode":"Off"}}`,
		e.kernel, filepath.Join(filepath.Dir(e.kernel), "serial.log"))
}

// body returns the request body for a listing call.
func (e replayEnv) body(endpoint, situation string) string {
	switch {
	case endpoint == "vm.create" && situation == "bad json":
		return `{"cpus": {"boot_vcpus": 1`
	case endpoint == "vm.create" && situation == "60000-byte body":
		cfg := e.vmConfig()
		pad := 60102 - len(cfg) - len(`,"pad":""`)
		return cfg[:len(cfg)-1] + `,"pad":"` + strings.Repeat("x", pad) + `"}`
	case endpoint == "vm.create":
		return e.vmConfig()
	case endpoint == "vm.resize" && situation == "above max":
		return `{"desired_vcpus":3}`
	case endpoint == "vm.resize":
		return `{"desired_vcpus":2}`
	case endpoint == "vm.snapshot" && situation == "bad dest":
		return `{"destination_url":"file:///nonexistent/dir"}`
	case endpoint == "vm.snapshot":
		return fmt.Sprintf(`{"destination_url":"file://%s"}`, e.snapDir)
	case endpoint == "vm.restore":
		return fmt.Sprintf(`{"source_url":"file://%s"}`, e.snapDir)
	}
	return ""
}

// summarise turns a vm.info body into the listing's summary.
func summarise(t *testing.T, body string) string {
	var info map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &info), body)
	keys := make([]string, 0, len(info))
	for k := range info {
		keys = append(keys, "'"+k+"'")
	}
	sort.Strings(keys)
	return fmt.Sprintf("state=%v memory_actual_size=%s keys=[%s]", info["state"],
		strconv.FormatFloat(info["memory_actual_size"].(float64), 'f', -1, 64), strings.Join(keys, ", "))
}

func TestReplayRealV48(t *testing.T) {
	dir := t.TempDir()
	env := replayEnv{kernel: filepath.Join(dir, "vmlinux"), snapDir: filepath.Join(dir, "snap")}
	require.NoError(t, os.WriteFile(env.kernel, []byte("kernel"), 0o600))
	require.NoError(t, os.Mkdir(env.snapDir, 0o700))

	var mu sync.Mutex
	var violations []chsim.Violation
	hook := chsim.WithViolationHook(func(v chsim.Violation) {
		mu.Lock()
		violations = append(violations, v)
		mu.Unlock()
	})
	var sock string
	start := func() (*chsim.Server, *apiClient) {
		sock = filepath.Join(t.TempDir(), "api.sock")
		srv, err := chsim.Start(context.Background(), "v48.0", sock, hook, chsim.WithBuildVersion("v48.0.0"))
		require.NoError(t, err)
		t.Cleanup(func() { srv.Close() })
		return srv, newClient(t, sock)
	}
	srv, c := start()
	for _, line := range strings.Split(strings.TrimSpace(realV48), "\n") {
		switch {
		case line == "exit status 0":
			select {
			case <-srv.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("vmm.shutdown did not end the server")
			}
			continue
		case strings.HasPrefix(line, "--- second VMM"):
			srv, c = start()
			env.kernel = filepath.Join(dir, "missing-vmlinux")
			continue
		}
		m := lineRE.FindStringSubmatch(line)
		require.NotNil(t, m, "unparsed listing line %q", line)
		method, endpoint, situation, status, want := m[1], m[2], m[3], m[4], strings.TrimSpace(m[5])
		if status == "000" { // the VMM is gone: nothing accepts the connection
			select {
			case <-srv.Done():
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: the server still runs", line)
			}
			_, err := net.Dial("unix", sock)
			assert.Error(t, err, line)
			continue
		}
		gotStatus, got := c.do(method, endpoint, env.body(endpoint, situation))
		if endpoint == "vm.info" && gotStatus == 200 {
			got = summarise(t, got)
		}
		want = strings.ReplaceAll(want, "<pid>", strconv.Itoa(os.Getpid()))
		// The listing prints micro_http's transport errors on one line; the
		// body has a raw newline before "All previous …".
		got = strings.ReplaceAll(got, ".\nAll previous", ".All previous")
		assert.Equal(t, status, strconv.Itoa(gotStatus), line)
		assert.Equal(t, want, got, line)
	}

	// The only spec violations are the requests the listing sends on purpose.
	var got []string
	for _, v := range violations {
		assert.Equal(t, chsim.RequestViolation, v.Kind, "%v", v)
		got = append(got, v.Method+" "+v.Path)
	}
	assert.ElementsMatch(t, []string{"PUT /vm.create", "PUT /api/v1/vm.nonexistent", "GET /vm.boot", "POST /api/v1/vm.boot", "PUT /vmm.ping", "PUT /api/v1/vm.create"}, got)
}
