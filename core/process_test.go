package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chvmm/chvmm/core/api"
	"github.com/chvmm/chvmm/core/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// fakeAPIClient stands in for a generated client: it records what
// driver.Release.NewClient was given.
type fakeAPIClient struct {
	doer driver.HTTPDoer
}

// registerFakeRelease registers the fake CH's version, with unionAPI and
// a client constructor, once per test binary.
func registerFakeRelease(t testing.TB) *Release {
	t.Helper()
	d := testDriver(fakeCHVersion, nil)
	d.NewClient = func(doer driver.HTTPDoer) (any, error) { return &fakeAPIClient{doer: doer}, nil }
	return registered(t, d)
}

// testBinary is the path of the running test binary, the fake CH.
func testBinary(t testing.TB) string {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	return exe
}

// startFake starts the fake CH on a fresh socket and makes sure it is gone
// after the test.
func startFake(t *testing.T, ctx context.Context, options ...StartOption) (*Process, error) {
	t.Helper()
	return startFakeAt(t, ctx, filepath.Join(shortTempDir(t), "api.sock"), options...)
}

// shortTempDir is a temporary directory whose path is short enough for
// unix sockets, whatever the test's name.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "s")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startFakeAt is startFake on socket sock.
func startFakeAt(t *testing.T, ctx context.Context, sock string, options ...StartOption) (*Process, error) {
	t.Helper()
	// The test binary lies below /tmp (go test builds it there).
	opts := append([]StartOption{WithBinary(testBinary(t)), WithoutKVMCheck(), WithoutPathTrustCheck()}, options...)
	p, err := StartProcess(ctx, registerFakeRelease(t), t.TempDir(), sock, opts...)
	if p != nil {
		t.Cleanup(func() {
			_ = p.Kill()
			_ = p.Wait()
		})
	}
	return p, err
}

// pidAlive reports whether pid exists (a zombie counts as gone).
func pidAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

// eventually polls cond for up to d; tests use it only to observe cleanup
// that happens asynchronously.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStartPingStop(t *testing.T) {
	withUmask(t, 0)
	rel := registerFakeRelease(t)
	p, err := startFake(t, t.Context())
	require.NoError(t, err)

	assert.Positive(t, p.PID())
	assert.Same(t, rel, p.Release())
	assert.Same(t, rel, p.Hypervisor().Release())
	assert.Equal(t, filepath.Join(filepath.Dir(p.SocketPath()), "logs", strings.TrimSuffix(filepath.Base(p.SocketPath()), ".sock")+".log"), p.LogPath())
	h := p.Handle()
	assert.Equal(t, Handle{PID: p.PID(), Socket: p.SocketPath(), Version: fakeCHVersion, LogPath: p.LogPath(), Started: h.Started, StartTicks: h.StartTicks}, h)
	assert.NotZero(t, h.StartTicks)

	fi, err := os.Lstat(p.SocketPath())
	require.NoError(t, err)
	assert.Equal(t, fs.ModeSocket|0o600, fi.Mode()&(fs.ModeType|fs.ModePerm), "0600 under umask 0")
	assert.Equal(t, []string{".api.sock.chvmm-lock", "api.sock", "logs"}, dirEntries(t, filepath.Dir(p.SocketPath())))

	info, err := p.Hypervisor().Ping(t.Context())
	require.NoError(t, err)
	assert.Equal(t, p.PID(), info.PID)
	assert.Equal(t, fakeCHVersion, info.BuildVersion)

	api, err := ClientAs[*fakeAPIClient](p.Hypervisor())
	require.NoError(t, err)
	assert.NotNil(t, api.doer)

	require.NoError(t, p.Stop(t.Context()))
	exit := p.Wait()
	assert.Equal(t, ExitRequested, exit.Reason)
	assert.True(t, exit.State.Success())
	assert.NoFileExists(t, p.SocketPath(), "socket removed after exit")
	assert.NoError(t, p.Stop(t.Context()), "stopping a stopped VMM is fine")
	assert.NoError(t, p.Kill())

	log, err := os.ReadFile(p.LogPath())
	require.NoError(t, err)
	assert.Contains(t, string(log), "fake cloud-hypervisor starting")
	dir, err := os.Stat(filepath.Dir(p.LogPath()))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o700), dir.Mode().Perm(), "guest output is private")
	lf, err := os.Stat(p.LogPath())
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), lf.Mode().Perm())
}

func TestStartExitsEarly(t *testing.T) {
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		output string
		writer bool
	}{
		{name: "bad flag", args: []string{"--bogus"}, code: 2, output: "unexpected argument '--bogus'"},
		{name: "exits at once", args: []string{"--fake-exit-now"}, code: 3, output: "exiting at once"},
		{name: "output to a writer", args: []string{"--bogus"}, code: 2, output: "unexpected argument '--bogus'", writer: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf syncBuffer
			opts := []StartOption{WithArgs(tt.args...), WithStartTimeout(20 * time.Second)}
			if tt.writer {
				opts = append(opts, WithOutput(&buf))
			}
			start := time.Now()
			p, err := startFake(t, t.Context(), opts...)
			elapsed := time.Since(start)
			require.Error(t, err)
			assert.Nil(t, p)
			assert.Less(t, elapsed, 2*time.Second, "reported at once, not at the timeout")
			var serr *StartError
			require.ErrorAs(t, err, &serr)
			assert.ErrorIs(t, err, ErrExitedEarly)
			assert.Equal(t, tt.code, serr.ExitCode)
			assert.Contains(t, serr.Output, tt.output)
			assert.Contains(t, err.Error(), tt.output)
			var exitErr *exec.ExitError
			assert.ErrorAs(t, err, &exitErr)
			if tt.writer {
				assert.Contains(t, buf.String(), tt.output, "the caller's writer got the output too")
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
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
	return b.buf.String()
}

func TestStartTimeout(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	_, err := startFake(t, t.Context(), WithStartTimeout(200*time.Millisecond),
		WithArgs("--fake-delay", "1m", "--fake-pidfile", pidfile))
	require.ErrorIs(t, err, ErrNotReady)
	assert.Less(t, time.Since(start), 2*time.Second)
	pid := readPidfile(t, pidfile)
	assert.False(t, pidAlive(pid), "the VMM that never answered is killed and reaped")
}

func readPidfile(t *testing.T, path string) int {
	t.Helper()
	var data []byte
	require.True(t, eventually(2*time.Second, func() bool {
		var err error
		data, err = os.ReadFile(path)
		return err == nil && len(data) > 0
	}), "fake CH wrote no pid file")
	pid, err := strconv.Atoi(string(data))
	require.NoError(t, err)
	return pid
}

func TestKillIsSeenByWait(t *testing.T) {
	p, err := startFake(t, t.Context())
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(p.PID(), syscall.SIGKILL))
	exit := p.Wait()
	assert.Equal(t, ExitKilled, exit.Reason, "a signal this program did not send")
	ws := exit.State.Sys().(syscall.WaitStatus)
	assert.True(t, ws.Signaled())
	assert.Equal(t, syscall.SIGKILL, ws.Signal())
	assert.Contains(t, exit.String(), "killed (signal: killed")
	assert.NoFileExists(t, p.SocketPath())
}

func TestStopEscalates(t *testing.T) {
	p, err := startFake(t, t.Context(), WithArgs("--fake-ignore-shutdown"), WithStopTimeout(150*time.Millisecond))
	require.NoError(t, err)
	require.NoError(t, p.Stop(t.Context()))
	exit := p.Wait()
	assert.Equal(t, ExitRequested, exit.Reason)
	ws := exit.State.Sys().(syscall.WaitStatus)
	assert.True(t, ws.Signaled())
	assert.Equal(t, syscall.SIGKILL, ws.Signal(), "vmm.shutdown and SIGTERM ignored: SIGKILL")
}

// TestWhyDidItEnd: one exit record tells a requested exit, through any of
// chvmm's clients, from a guest's power-off, a crash and a kill.
func TestWhyDidItEnd(t *testing.T) {
	shutdownThrough := map[string]func(t *testing.T, p *Process){
		"Stop":               func(t *testing.T, p *Process) { require.NoError(t, p.Stop(t.Context())) },
		"Kill":               func(t *testing.T, p *Process) { require.NoError(t, p.Kill()) },
		"Process.Hypervisor": func(t *testing.T, p *Process) { require.NoError(t, p.Hypervisor().ShutdownVMM(t.Context())) },
		"a Connected Hypervisor": func(t *testing.T, p *Process) {
			h, err := Connect(t.Context(), p.SocketPath())
			require.NoError(t, err)
			require.NoError(t, h.ShutdownVMM(t.Context()))
		},
		"a typed client": func(t *testing.T, p *Process) {
			c, err := ClientAs[*fakeAPIClient](p.Hypervisor())
			require.NoError(t, err)
			resp, err := c.doer.Do(apiRequest(t, t.Context(), http.MethodPut, "/vmm.shutdown", nil))
			require.NoError(t, err)
			resp.Body.Close()
		},
	}
	for name, shutdown := range shutdownThrough {
		t.Run("requested through "+name, func(t *testing.T) {
			p, err := startFake(t, t.Context())
			require.NoError(t, err)
			shutdown(t, p)
			assert.Equal(t, ExitRequested, p.Wait().Reason)
		})
	}
	t.Run("the VM migrated away", func(t *testing.T) {
		p, err := startFake(t, t.Context())
		require.NoError(t, err)
		require.NoError(t, p.Hypervisor().SendMigration(t.Context(), api.SendMigrationData{DestinationURL: "unix:/x"}))
		exit := p.Wait()
		assert.Equal(t, ExitRequested, exit.Reason)
		assert.Contains(t, exit.Detail, "moved to another VMM")
	})
	for _, tc := range []struct {
		button string
		reason ExitReason
		detail string
	}{
		{"poweroff", ExitGuestShutdown, "vmm shutdown event"},
		{"vcpu-error", ExitCrashed, "VCPU generated error: VcpuRun(Unexpected exit reason)"},
		{"exit-now", ExitCrashed, "without reporting a shutdown"},
	} {
		t.Run("guest "+tc.button, func(t *testing.T) {
			p, err := startFake(t, t.Context(), WithArgs("--fake-button", tc.button))
			require.NoError(t, err)
			require.NoError(t, p.Hypervisor().PowerButton(t.Context()))
			exit := p.Wait()
			assert.Equal(t, tc.reason, exit.Reason, "%v", exit)
			assert.Contains(t, exit.Detail, tc.detail)
			assert.True(t, exit.State.Success(), "CH exits 0 either way")
		})
	}
}

func TestShutdownGuest(t *testing.T) {
	t.Run("the guest powers off", func(t *testing.T) {
		p, err := startFake(t, t.Context(), WithArgs("--fake-button", "poweroff"))
		require.NoError(t, err)
		off, err := p.ShutdownGuest(t.Context(), 5*time.Second)
		require.NoError(t, err)
		assert.True(t, off)
		assert.Equal(t, ExitGuestShutdown, p.Wait().Reason)
	})
	t.Run("the guest ignores the button", func(t *testing.T) {
		p, err := startFake(t, t.Context())
		require.NoError(t, err)
		require.NoError(t, p.Hypervisor().BootVM(t.Context()))
		start := time.Now()
		off, err := p.ShutdownGuest(t.Context(), 100*time.Millisecond)
		require.NoError(t, err)
		assert.False(t, off)
		assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond, "the grace was given")
		info, err := p.Hypervisor().VMInfo(t.Context())
		require.NoError(t, err)
		assert.Equal(t, api.VMStateCreated, info.State, "vm.shutdown as the fallback; the VMM stays")
		assert.False(t, p.exited())
	})
}

func TestWaitEventAndState(t *testing.T) {
	p, err := startFake(t, t.Context())
	require.NoError(t, err)
	h := p.Hypervisor()
	require.NoError(t, h.BootVM(t.Context()))
	require.NoError(t, p.WaitState(t.Context(), api.VMStateRunning), "already there")
	paused := make(chan error, 1)
	go func() { paused <- p.WaitState(t.Context(), api.VMStatePaused) }()
	got := make(chan Event, 1)
	go func() {
		e, err := p.WaitEvent(t.Context(), func(e Event) bool { return e.Name == EventPaused })
		assert.NoError(t, err)
		got <- e
	}()
	time.Sleep(20 * time.Millisecond) // both wait
	require.NoError(t, h.PauseVM(t.Context()))
	require.NoError(t, <-paused)
	assert.Equal(t, "vm paused", (<-got).String())

	// A change CH reports no event of (vm.create) is seen too.
	created := make(chan error, 1)
	go func() { created <- p.WaitState(t.Context(), api.VMStateCreated) }()
	time.Sleep(20 * time.Millisecond) // it waits
	req, err := http.NewRequest(http.MethodPut, "http://localhost/api/v1/vm.create", nil)
	require.NoError(t, err)
	resp, err := newTestHTTPClient(p.SocketPath()).Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	select {
	case err := <-created:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("WaitState missed a state reached without an event")
	}

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err = p.WaitState(ctx, api.VMStateShutdown)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	require.NoError(t, p.Stop(t.Context()))
	_, err = p.WaitEvent(t.Context(), func(Event) bool { return true })
	require.ErrorIs(t, err, ErrVMMUnreachable, "the VMM is gone")
	assert.ErrorContains(t, err, "requested")
}

func TestCancelDuringStartLeavesNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	pidfile := filepath.Join(t.TempDir(), "pid")
	sock := filepath.Join(t.TempDir(), "api.sock")
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		readPidfile(t, pidfile)
		cancel()
	}()
	start := time.Now()
	p, err := StartProcess(ctx, registerFakeRelease(t), t.TempDir(), sock, WithBinary(testBinary(t)), WithoutKVMCheck(), WithoutPathTrustCheck(),
		WithArgs("--fake-delay", "1m", "--fake-pidfile", pidfile))
	require.ErrorIs(t, err, context.Canceled)
	assert.Nil(t, p)
	assert.Less(t, time.Since(start), 3*time.Second)

	pid := readPidfile(t, pidfile)
	assert.False(t, pidAlive(pid), "no process left")
	_, err = os.Stat(fmt.Sprintf("/proc/%d", pid))
	assert.ErrorIs(t, err, fs.ErrNotExist, "no zombie left")
	assert.NoFileExists(t, sock, "no socket left")
	assert.True(t, eventually(2*time.Second, func() bool { return runtime.NumGoroutine() <= before }),
		"goroutines: %d before, %d after", before, runtime.NumGoroutine())
}

// TestStartContextBoundsTheStartOnly: the usual `ctx, cancel :=
// context.WithTimeout(…); defer cancel()` around StartProcess leaves the
// VMM running; WithLifetime binds it to a context explicitly.
func TestStartContextBoundsTheStartOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	p, err := startFake(t, ctx)
	require.NoError(t, err)
	cancel()
	time.Sleep(100 * time.Millisecond)
	assert.False(t, p.exited(), "the VMM outlives StartProcess's ctx")
	_, err = p.Hypervisor().Ping(t.Context())
	require.NoError(t, err)

	life, end := context.WithCancel(t.Context())
	p, err = startFake(t, t.Context(), WithLifetime(life))
	require.NoError(t, err)
	end()
	select {
	case <-p.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("ending the lifetime did not end the VMM")
	}
	assert.Equal(t, ExitRequested, p.Wait().Reason)
	assert.False(t, pidAlive(p.PID()))
}

// TestConcurrentStartsOnOneSocket: of several starts on one socket path at
// once, exactly one wins; the others get ErrSocketInUse.
func TestConcurrentStartsOnOneSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []*Process
	var errs []error
	for range 6 {
		wg.Go(func() {
			p, err := startFakeAt(t, t.Context(), sock)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			won = append(won, p)
		})
	}
	wg.Wait()
	require.Len(t, won, 1, "errors: %v", errs)
	for _, err := range errs {
		assert.ErrorIs(t, err, ErrSocketInUse)
	}
	info, err := won[0].Hypervisor().Ping(t.Context())
	require.NoError(t, err)
	assert.Equal(t, won[0].PID(), info.PID, "the socket is the winner's")
}

func TestSocketChecks(t *testing.T) {
	t.Run("too long", func(t *testing.T) {
		long := "/tmp/" + strings.Repeat("d", 100) + "/api.sock"
		_, err := startFakeAt(t, t.Context(), long)
		require.ErrorIs(t, err, ErrSocketPathTooLong)
		assert.Contains(t, err.Error(), "107")
		assert.NoDirExists(t, filepath.Dir(long))
	})
	t.Run("missing directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "run")
		_, err := startFakeAt(t, t.Context(), filepath.Join(dir, "api.sock"))
		require.ErrorIs(t, err, fs.ErrNotExist)
		assert.Contains(t, err.Error(), "the socket's directory "+dir+" does not exist; create it")
		assert.NoDirExists(t, dir, "StartProcess creates no directory above the socket")
	})
	t.Run("stale socket is replaced", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "api.sock")
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		require.NoError(t, err)
		l.SetUnlinkOnClose(false)
		require.NoError(t, l.Close())
		require.FileExists(t, sock)
		p, err := startFakeAt(t, t.Context(), sock)
		require.NoError(t, err)
		require.NoError(t, p.Stop(t.Context()))
	})
	t.Run("live socket is in use", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "api.sock")
		l, err := net.Listen("unix", sock)
		require.NoError(t, err)
		defer l.Close()
		_, err = startFakeAt(t, t.Context(), sock)
		require.ErrorIs(t, err, ErrSocketInUse)
		assert.FileExists(t, sock, "a live socket is left alone")
	})
	t.Run("not a socket", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "api.sock")
		require.NoError(t, os.WriteFile(sock, []byte("data"), 0o644))
		_, err := startFakeAt(t, t.Context(), sock)
		require.ErrorIs(t, err, ErrUnsafePath)
		assert.FileExists(t, sock)
	})
}

func TestCleanEnvironment(t *testing.T) {
	t.Setenv("CHVMM_TEST_INHERITED", "leaked")
	var out syncBuffer
	p, err := startFake(t, t.Context(), WithArgs("--fake-print-env"), WithEnv("CHVMM_TEST_GIVEN=yes"), WithOutput(&out))
	require.NoError(t, err)
	require.NoError(t, p.Stop(t.Context()))
	assert.Empty(t, p.LogPath())
	assert.Contains(t, out.String(), "env: CHVMM_TEST_GIVEN=yes\n", "only the variables given")
	assert.NotContains(t, out.String(), "CHVMM_TEST_INHERITED")
}

func TestBinaryVersionMustMatch(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	other := registered(t, testDriver("v48.0", nil))
	_, err := StartProcess(t.Context(), other, t.TempDir(), sock, WithBinary(testBinary(t)), WithoutKVMCheck(), WithoutPathTrustCheck())
	require.ErrorIs(t, err, ErrVersionMismatch)
	assert.Contains(t, err.Error(), fakeCHVersion)
	assert.NoFileExists(t, sock)
	_, err = StartProcess(t.Context(), nil, t.TempDir(), sock)
	require.ErrorIs(t, err, ErrBadConfig)
}

func TestOptions(t *testing.T) {
	// CH's own flags pass through; the fake accepts them as CH does.
	p, err := startFake(t, t.Context(), WithArgs("--log-file", filepath.Join(t.TempDir(), "ch.log"), "-vvv", "--seccomp", "false"))
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.Base(testBinary(t)), "--api-socket", "fd=3", "--event-monitor", "fd=4", "--log-file"}, p.cmd.Args[:6], "argv[0] is the binary's name")
	require.NoError(t, p.Stop(t.Context()))

	for _, arg := range []string{"--api-socket", "--event-monitor=path=/tmp/x"} {
		_, err = startFake(t, t.Context(), WithArgs(arg, "x"))
		require.ErrorIs(t, err, ErrBadConfig)
		assert.ErrorContains(t, err, "chvmm passes")
	}
	_, err = startFake(t, t.Context(), WithDetached(), WithOutput(&syncBuffer{}))
	assert.ErrorContains(t, err, "cannot serve a detached VMM")
}

func TestCredentialIsApplied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the VMM as another user")
	}
	// Uid stays 0: the test binary lies in a directory only root may enter.
	p, err := startFake(t, t.Context(), WithCredential(0, 65534, 65533))
	require.NoError(t, err)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID()))
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^Gid:\s+65534\s`, string(status))
	assert.Regexp(t, `(?m)^Groups:\s+65533\s*$`, string(status))
	require.NoError(t, p.Stop(t.Context()))
}

func TestDetachedAndAttach(t *testing.T) {
	rel := registerFakeRelease(t)
	p, err := startFake(t, t.Context(), WithDetached())
	require.NoError(t, err)

	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID()))
	require.NoError(t, err)
	fields := strings.Fields(string(stat)[strings.LastIndexByte(string(stat), ')')+1:])
	assert.Equal(t, strconv.Itoa(p.PID()), fields[3], "own session")
	assert.Equal(t, strconv.Itoa(p.PID()), fields[2], "own process group")

	h := p.Handle()
	assert.Equal(t, strings.TrimSuffix(p.LogPath(), ".log")+".events", h.EventsPath)
	data, err := json.Marshal(h)
	require.NoError(t, err)
	var back Handle
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, h.PID, back.PID)
	assert.True(t, h.Started.Equal(back.Started))

	wrong := back
	wrong.PID = os.Getpid()
	_, err = Attach(t.Context(), wrong)
	require.ErrorIs(t, err, ErrNotRunning)
	assert.ErrorContains(t, err, fmt.Sprintf("pid %d is this program", os.Getpid()), "Stop would signal this program")
	wrong = back
	wrong.PID = os.Getppid()
	_, err = Attach(t.Context(), wrong)
	require.ErrorIs(t, err, ErrNotRunning)
	assert.ErrorContains(t, err, fmt.Sprintf("pid %d does not serve", os.Getppid()))
	wrong = back
	wrong.StartTicks++
	_, err = Attach(t.Context(), wrong)
	require.ErrorIs(t, err, ErrNotRunning, "a reused pid")

	a, err := Attach(t.Context(), Handle{Socket: p.SocketPath(), EventsPath: h.EventsPath})
	require.NoError(t, err, "the pid of the process holding the socket")
	assert.Equal(t, p.PID(), a.PID())
	assert.Same(t, rel, a.Release())
	assert.Equal(t, fakeCHVersion, a.Handle().Version)
	_, err = ClientAs[*fakeAPIClient](a.Hypervisor())
	require.NoError(t, err)

	// Events reach an attached VMM through the events file.
	booted := make(chan Event, 1)
	go func() {
		e, err := a.WaitEvent(t.Context(), func(e Event) bool { return e.Name == EventBooted })
		assert.NoError(t, err)
		booted <- e
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, a.Hypervisor().BootVM(t.Context()))
	select {
	case e := <-booted:
		assert.Equal(t, "vm booted", e.String())
	case <-time.After(3 * time.Second):
		t.Fatal("no booted event through the events file")
	}

	require.NoError(t, a.Stop(t.Context()))
	exit := a.Wait()
	assert.Equal(t, ExitRequested, exit.Reason)
	assert.Nil(t, exit.State, "not a child: status unknown")
	assert.True(t, p.Wait().State.Success(), "the child itself exited with 0")
	assert.NoFileExists(t, p.SocketPath())

	_, err = Attach(t.Context(), back)
	assert.ErrorIs(t, err, ErrVMMUnreachable)
}

func TestAttachSeesGuestShutdown(t *testing.T) {
	p, err := startFake(t, t.Context(), WithDetached(), WithArgs("--fake-button", "poweroff"))
	require.NoError(t, err)
	a, err := Attach(t.Context(), p.Handle())
	require.NoError(t, err)
	require.NoError(t, a.Hypervisor().PowerButton(t.Context()))
	assert.Equal(t, ExitGuestShutdown, a.Wait().Reason, "from the events file")
}

func TestAttachKill(t *testing.T) {
	p, err := startFake(t, t.Context(), WithDetached())
	require.NoError(t, err)
	a, err := Attach(t.Context(), p.Handle())
	require.NoError(t, err)
	require.NoError(t, a.Kill())
	<-a.Done()
	assert.Equal(t, ExitRequested, a.Wait().Reason)
	assert.False(t, p.Wait().State.Success())
	assert.NoError(t, a.Kill(), "killing an ended VMM is fine")
}

func TestEvents(t *testing.T) {
	p, err := startFake(t, t.Context())
	require.NoError(t, err)
	events := p.Events()
	require.NoError(t, p.Hypervisor().BootVM(t.Context()))
	require.NoError(t, p.Stop(t.Context()))

	var got []string
	var activated Event
	for ev := range events { // closes when CH exits
		got = append(got, ev.String())
		if ev.Name == EventActivated {
			activated = ev
		}
		assert.False(t, ev.Time.Before(p.Handle().Started), "event time after start")
	}
	assert.Equal(t, []string{"vmm starting", "vm booting", "virtio-device activated map[id:_disk0]", "vm booted", "vmm shutdown"}, got, "from the start")
	assert.Equal(t, EventSourceDevice, activated.Source)
	assert.Equal(t, map[string]string{"id": "_disk0"}, activated.Properties)
}

func TestNoFDLeak(t *testing.T) {
	countFDs := func() int {
		es, err := os.ReadDir("/proc/self/fd")
		require.NoError(t, err)
		return len(es)
	}
	// One cycle first, so that lazily opened descriptors (epoll, …) exist.
	p, err := startFake(t, t.Context())
	require.NoError(t, err)
	require.NoError(t, p.Stop(t.Context()))
	before := countFDs()
	for i := range 20 {
		var opts []StartOption
		if i%2 == 0 {
			opts = append(opts, WithDetached())
		}
		p, err := startFake(t, t.Context(), opts...)
		require.NoError(t, err)
		_, err = p.Hypervisor().Ping(t.Context())
		require.NoError(t, err)
		require.NoError(t, p.Stop(t.Context()))
		p.Wait()
	}
	assert.True(t, eventually(time.Second, func() bool { return countFDs() <= before }),
		"fds: %d before, %d after 20 cycles", before, countFDs())
}

func TestKVMCheckComesFirst(t *testing.T) {
	withKVMDevice(t, filepath.Join(t.TempDir(), "no-kvm"))
	sock := filepath.Join(t.TempDir(), "api.sock")
	_, err := StartProcess(t.Context(), registerFakeRelease(t), t.TempDir(), sock, WithBinary(testBinary(t)))
	require.ErrorIs(t, err, ErrKVMUnavailable)
	assert.NoFileExists(t, sock)
}

func TestStartErrorText(t *testing.T) {
	err := &StartError{Reason: ErrExitedEarly, ExitCode: 2, Output: "error: bad\n", Err: errors.New("exit status 2")}
	assert.Equal(t, "starting cloud-hypervisor: Cloud Hypervisor exited before its API was ready (exit status 2); its output ends with:\nerror: bad", err.Error())
}

// TestRunsTheVerifiedBytes: the VMM runs the file that was checked, even
// when its path names another file by the time of the exec (what a user
// who can write the directory would do between check and exec).
func TestRunsTheVerifiedBytes(t *testing.T) {
	dir := shortTempDir(t)
	bin := filepath.Join(dir, "cloud-hypervisor")
	data, err := os.ReadFile(testBinary(t))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, data, 0o755))
	var checked unix.Stat_t
	require.NoError(t, unix.Stat(bin, &checked))

	testHookBinaryVerified = func(path string) {
		// The swap: another program, which would fail the start, at the
		// checked path.
		evil := filepath.Join(dir, "evil")
		require.NoError(t, os.WriteFile(evil, []byte("#!/bin/sh\nexit 7\n"), 0o755))
		require.NoError(t, os.Rename(evil, path))
	}
	t.Cleanup(func() { testHookBinaryVerified = nil })
	p, err := startFake(t, t.Context(), WithBinary(bin))
	require.NoError(t, err, "the swapped-in file ran")
	var running unix.Stat_t
	require.NoError(t, unix.Stat("/proc/"+strconv.Itoa(p.PID())+"/exe", &running))
	assert.Equal(t, checked.Ino, running.Ino, "the VMM runs the checked inode")
	assert.Equal(t, checked.Dev, running.Dev)
	got, err := os.ReadFile(bin)
	require.NoError(t, err)
	assert.Contains(t, string(got), "exit 7", "the path names the other file by now")
	require.NoError(t, p.Stop(t.Context()))
}

// TestVMMHasItsOwnProcessGroup: a VMM that is not detached runs in a
// process group of its own, so a terminal's Ctrl-C reaches only the
// supervisor, which then stops it properly.
func TestVMMHasItsOwnProcessGroup(t *testing.T) {
	p, err := startFake(t, t.Context())
	require.NoError(t, err)
	pgid, err := unix.Getpgid(p.PID())
	require.NoError(t, err)
	assert.Equal(t, p.PID(), pgid)
	assert.NotEqual(t, unix.Getpgrp(), pgid)
	require.NoError(t, p.Stop(t.Context()))
}

// TestStartWarnsOfAdvisories: a VMM of a release with known advisories
// starts with a warning naming each; Release.Advisories lists them.
func TestStartWarnsOfAdvisories(t *testing.T) {
	v48 := registered(t, testDriver("v48.0", nil))
	var ids []string
	for _, a := range v48.Advisories() {
		ids = append(ids, a.ID)
		assert.NotEmpty(t, a.Sources, a.ID)
	}
	assert.Contains(t, ids, "CVE-2026-27211", "v48.0 has the QCOW2 header advisory")

	saved := advisories
	advisories = append(slices.Clip(advisories), Advisory{ID: "TEST-1", Kind: AdvisoryDataLoss, Summary: "the test's", Affected: []string{fakeCHVersion}, FixedIn: "v90.0"})
	t.Cleanup(func() { advisories = saved })
	var logs syncBuffer
	p, err := startFake(t, t.Context(), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	require.NoError(t, p.Stop(t.Context()))
	assert.Contains(t, logs.String(), `level=WARN msg="cloud-hypervisor release has a known data-loss problem" version=v89.0 advisory=TEST-1 fixed_in=v90.0`)
}

// TestShutdownGuestTellsACrashFromAPowerOff: a VMM that crashes or just
// exits while the guest is asked to power off is not a guest that powered
// off; and the vm.shutdown fallback is bounded even once ctx has ended.
func TestShutdownGuestTellsACrashFromAPowerOff(t *testing.T) {
	for _, button := range []string{"vcpu-error", "exit-now"} {
		p, err := startFake(t, t.Context(), WithArgs("--fake-button", button))
		require.NoError(t, err)
		off, err := p.ShutdownGuest(t.Context(), 5*time.Second)
		assert.False(t, off, button)
		require.ErrorIs(t, err, ErrVMMUnreachable, button)
		assert.ErrorContains(t, err, "crashed", button)
		assert.Equal(t, ExitCrashed, p.Wait().Reason, button)
	}

	p, err := startFake(t, t.Context(), WithArgs("--fake-hang-vm-shutdown"), WithStopTimeout(200*time.Millisecond))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := p.ShutdownGuest(ctx, 50*time.Millisecond); done <- err }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.DeadlineExceeded, "the fallback gave up after the stop timeout")
	case <-time.After(30 * time.Second):
		t.Fatal("ShutdownGuest's fallback is not bounded once ctx has ended")
	}
	require.NoError(t, p.Kill())
}
