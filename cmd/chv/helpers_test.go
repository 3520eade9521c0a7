package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core"
)

// chvBin is the chv binary TestMain builds.
var chvBin string

func TestMain(m *testing.M) {
	// Temporary directories (data directories among them) go below the
	// user's cache directory: core refuses to run binaries from below a
	// world-writable /tmp (ErrUntrustedPath).
	if cache, err := os.UserCacheDir(); err == nil && os.MkdirAll(cache, 0o700) == nil {
		if base, err := os.MkdirTemp(cache, "cv"); err == nil {
			os.Setenv("TMPDIR", base)
			defer os.RemoveAll(base)
		}
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "chv-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	chvBin = filepath.Join(dir, "chv")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	build := exec.Command(goBin, "build", "-o", chvBin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building chv: %v\n%s", err, out)
		os.RemoveAll(dir)
		return 1
	}
	code := m.Run()
	if leaked := processesOf(chvBin); len(leaked) > 0 {
		// A test left a VMM (a simulator run by this chv) behind.
		fmt.Fprintf(os.Stderr, "FAIL: processes of %s still run after the tests: %v\n", chvBin, leaked)
		for _, pid := range leaked {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		code = 1
	}
	os.RemoveAll(dir)
	return code
}

// processesOf lists the processes, other than this one, whose command line
// starts with bin, after giving those that are ending a moment to go.
func processesOf(bin string) []int {
	var pids []int
	for range 50 {
		pids = pids[:0]
		procs, _ := os.ReadDir("/proc")
		for _, e := range procs {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err == nil && bytes.HasPrefix(cmdline, []byte(bin+"\x00")) {
				if stat, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil && bytes.Contains(stat, []byte(") Z ")) {
					continue // a zombie: exited, its parent reaps it
				}
				pids = append(pids, pid)
			}
		}
		if len(pids) == 0 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return pids
}

// result is one run of chv.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// chv runs the chv binary in dir with args and returns what it did.
func chv(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return chvEnv(t, dir, nil, args...)
}

// chvEnv is chv with the variables env ("KEY=value") added to the
// environment.
func chvEnv(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	return runAs(t, chvBin, dir, env, args...)
}

// runAs runs the chv binary bin in dir with args and env added to the
// environment, and returns what it did.
func runAs(t *testing.T, bin, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	var err error
	// A binary a test has just written can be busy for a moment: a process
	// another parallel test forks inherits the writing descriptor until it
	// execs. Retry that, as the go command's tests do.
	for attempt := 0; ; attempt++ {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = dir
		// The tests' own environment must not choose the binary.
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, envBinary+"=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, env...)
		stdout.Reset()
		stderr.Reset()
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err = cmd.Run(); !errors.Is(err, syscall.ETXTBSY) || attempt == 50 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running chv %v: %v", args, err)
	}
	return r
}

// ok runs chv and requires exit status 0.
func ok(t *testing.T, dir string, args ...string) result {
	t.Helper()
	r := chv(t, dir, args...)
	require.Equal(t, 0, r.code, "chv %v\n%s", args, r)
	return r
}

// okJSON runs chv with --json, requires success and decodes stdout into v.
func okJSON(t *testing.T, dir string, v any, args ...string) {
	t.Helper()
	r := ok(t, dir, append(args, "--json")...)
	reflect.ValueOf(v).Elem().SetZero() // Unmarshal merges into what is there
	require.NoError(t, json.Unmarshal([]byte(r.stdout), v), "chv %v: stdout is not JSON:\n%s", args, r)
}

// failJSON runs chv with --json, requires exit status code and decodes the
// error object on stderr.
func failJSON(t *testing.T, dir string, code int, args ...string) errorJSON {
	t.Helper()
	r := chv(t, dir, append(args, "--json")...)
	require.Equal(t, code, r.code, "chv %v\n%s", args, r)
	var e errorJSON
	require.NoError(t, json.Unmarshal([]byte(r.stderr), &e), "chv %v: stderr is not JSON:\n%s", args, r)
	require.Equal(t, code, e.ExitCode)
	return e
}

// simulator is a VMM started with `chv start --simulate --detach`.
type simulator struct {
	dir    string // test directory (data dir, files)
	socket string
	proc   processJSON
}

// startSimulator starts the simulator of version with chv in a new test
// directory and stops it when the test ends.
func startSimulator(t *testing.T, version string) *simulator {
	t.Helper()
	dir := t.TempDir()
	s := &simulator{dir: dir, socket: filepath.Join(dir, "vm.sock")}
	okJSON(t, dir, &s.proc, "start", "--simulate", "--detach", "--version", version, "--socket", s.socket, "--data-dir", filepath.Join(dir, "data"))
	t.Cleanup(func() { stopVMM(s.socket, s.proc.PID) })
	return s
}

// stopVMM ends a detached VMM: vmm.shutdown, then SIGKILL.
func stopVMM(socket string, pid int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if socket != "" {
		if h, err := core.Connect(ctx, socket); err == nil {
			_ = h.ShutdownVMM(ctx)
			_ = h.Close()
		}
	}
	if pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

// readFile returns the content of the file at path.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// isZombie reports whether process pid has exited but is not reaped yet (a
// detached VMM's reaper is init, which may be slow or, in some sandboxes,
// absent).
func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z")
}
