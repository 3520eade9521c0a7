package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeAPIClient stands in for a generated client: it records what
// Release.NewClient was given.
type fakeAPIClient struct {
	baseURL string
	doer    HTTPDoer
}

var registerFakeOnce sync.Once

// registerFakeRelease registers the fake CH's version, with a client
// constructor, once per test binary.
func registerFakeRelease(t testing.TB) *Release {
	t.Helper()
	registerFakeOnce.Do(func() {
		Register(&Release{
			Version: fakeCHVersion,
			NewClient: func(baseURL string, doer HTTPDoer) (any, error) {
				return &fakeAPIClient{baseURL: baseURL, doer: doer}, nil
			},
		})
	})
	r, err := Lookup(fakeCHVersion)
	require.NoError(t, err)
	return r
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
func startFake(t *testing.T, ctx context.Context, options ...ProcessOption) (*Process, error) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	opts := append([]ProcessOption{WithBinary(testBinary(t)), WithoutKVMCheck()}, options...)
	p, err := StartProcess(ctx, t.TempDir(), "", sock, opts...)
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
	rel := registerFakeRelease(t)
	p, err := startFake(t, t.Context())
	require.NoError(t, err)

	assert.Positive(t, p.PID())
	assert.Equal(t, fakeCHVersion, p.Version())
	assert.Same(t, rel, p.Release())
	assert.Equal(t, testBinary(t), p.Binary())
	assert.Equal(t, filepath.Join(filepath.Dir(p.SocketPath()), "logs", strings.TrimSuffix(filepath.Base(p.SocketPath()), ".sock")+".log"), p.LogPath())
	assert.Equal(t, -1, p.ExitCode(), "running")
	assert.Nil(t, p.ProcessState())

	fi, err := os.Lstat(p.SocketPath())
	require.NoError(t, err)
	assert.Equal(t, fs.ModeSocket|0o600, fi.Mode()&(fs.ModeType|fs.ModePerm))

	info, err := p.Ping(t.Context())
	require.NoError(t, err)
	assert.Equal(t, p.PID(), info.PID)
	assert.Equal(t, fakeCHVersion, info.BuildVersion)

	api, err := ClientAs[*fakeAPIClient](p)
	require.NoError(t, err)
	assert.Equal(t, APIBaseURL, api.baseURL)
	assert.Same(t, p.HTTPClient(), api.doer)

	require.NoError(t, p.Stop(t.Context()))
	require.NoError(t, p.Wait())
	assert.Equal(t, 0, p.ExitCode())
	assert.True(t, p.ProcessState().Success())
	assert.NoFileExists(t, p.SocketPath(), "socket removed after exit")
	assert.NoError(t, p.Stop(t.Context()), "stopping a stopped VMM is fine")
	assert.NoError(t, p.Kill())

	log, err := os.ReadFile(p.LogPath())
	require.NoError(t, err)
	assert.Contains(t, string(log), "fake cloud-hypervisor starting")
	dir, err := os.Stat(filepath.Dir(p.LogPath()))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o755), dir.Mode().Perm())
	lf, err := os.Stat(p.LogPath())
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o644), lf.Mode().Perm())
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
			opts := []ProcessOption{WithArgs(tt.args...), WithStartTimeout(20 * time.Second)}
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
	err = p.Wait()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr)
	ws := p.ProcessState().Sys().(syscall.WaitStatus)
	assert.True(t, ws.Signaled())
	assert.Equal(t, syscall.SIGKILL, ws.Signal())
	assert.Equal(t, -1, p.ExitCode())
	assert.NoFileExists(t, p.SocketPath())
}

func TestStopEscalates(t *testing.T) {
	p, err := startFake(t, t.Context(), WithArgs("--fake-ignore-shutdown"), WithStopTimeout(150*time.Millisecond))
	require.NoError(t, err)
	require.NoError(t, p.Stop(t.Context()))
	ws := p.ProcessState().Sys().(syscall.WaitStatus)
	assert.True(t, ws.Signaled())
	assert.Equal(t, syscall.SIGKILL, ws.Signal(), "vmm.shutdown and SIGTERM ignored: SIGKILL")
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
	p, err := StartProcess(ctx, t.TempDir(), "", sock, WithBinary(testBinary(t)), WithoutKVMCheck(),
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

func TestContextEndKillsNonDetached(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	p, err := startFake(t, ctx)
	require.NoError(t, err)
	cancel()
	select {
	case <-p.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("cancelling the context did not end the VMM")
	}
	assert.False(t, pidAlive(p.PID()))
}

func TestSocketChecks(t *testing.T) {
	t.Run("too long", func(t *testing.T) {
		long := "/tmp/" + strings.Repeat("d", 100) + "/api.sock"
		_, err := StartProcess(t.Context(), t.TempDir(), "", long, WithBinary(testBinary(t)), WithoutKVMCheck())
		require.ErrorIs(t, err, ErrSocketPathTooLong)
		assert.Contains(t, err.Error(), "107")
		assert.NoDirExists(t, filepath.Dir(long))
	})
	t.Run("stale socket is replaced", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "api.sock")
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		require.NoError(t, err)
		l.SetUnlinkOnClose(false)
		require.NoError(t, l.Close())
		require.FileExists(t, sock)
		p, err := StartProcess(t.Context(), t.TempDir(), "", sock, WithBinary(testBinary(t)), WithoutKVMCheck())
		require.NoError(t, err)
		require.NoError(t, p.Stop(t.Context()))
	})
	t.Run("live socket is in use", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "api.sock")
		l, err := net.Listen("unix", sock)
		require.NoError(t, err)
		defer l.Close()
		_, err = StartProcess(t.Context(), t.TempDir(), "", sock, WithBinary(testBinary(t)), WithoutKVMCheck())
		require.ErrorIs(t, err, ErrSocketInUse)
		assert.FileExists(t, sock, "a live socket is left alone")
	})
	t.Run("not a socket", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "api.sock")
		require.NoError(t, os.WriteFile(sock, []byte("data"), 0o644))
		_, err := StartProcess(t.Context(), t.TempDir(), "", sock, WithBinary(testBinary(t)), WithoutKVMCheck())
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

func TestBinaryFromEnvironment(t *testing.T) {
	t.Setenv(EnvBinary, testBinary(t))
	sock := filepath.Join(t.TempDir(), "api.sock")
	p, err := StartProcess(t.Context(), t.TempDir(), fakeCHVersion, sock, WithoutKVMCheck())
	require.NoError(t, err)
	assert.Equal(t, testBinary(t), p.Binary())
	require.NoError(t, p.Stop(t.Context()))
}

func TestBinaryVersionMustMatch(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	_, err := StartProcess(t.Context(), t.TempDir(), ">= 48, < 54", sock, WithBinary(testBinary(t)), WithoutKVMCheck())
	require.ErrorIs(t, err, ErrVersionMismatch)
	assert.Contains(t, err.Error(), fakeCHVersion)
	assert.NoFileExists(t, sock)
}

func TestOptionsReachCH(t *testing.T) {
	cfg := defaultProcessConfig()
	for _, o := range []ProcessOption{WithCHLogFile("/run/ch.log"), WithVerbosity(2), WithSeccomp("log"), WithArgs("--x", "y")} {
		o(&cfg)
	}
	assert.Equal(t, []string{"--api-socket", "fd=3", "--log-file", "/run/ch.log", "-vv", "--seccomp", "log", "--x", "y"}, cfg.chArgs(0))
	assert.Equal(t, []string{"--api-socket", "fd=3", "--event-monitor", "fd=4"}, defaultProcessConfigArgs(4))

	// The fake accepts them as CH does.
	p, err := startFake(t, t.Context(), WithCHLogFile(filepath.Join(t.TempDir(), "ch.log")), WithVerbosity(3), WithSeccomp("false"))
	require.NoError(t, err)
	require.NoError(t, p.Stop(t.Context()))

	_, err = startFake(t, t.Context(), WithEvents(), WithEventMonitor("path=/tmp/x"))
	assert.ErrorContains(t, err, "WithEvents and WithEventMonitor")
	_, err = startFake(t, t.Context(), WithDetached(), WithOutput(&syncBuffer{}))
	assert.ErrorContains(t, err, "cannot serve a detached VMM")
}

func defaultProcessConfigArgs(eventFD int) []string {
	cfg := defaultProcessConfig()
	return cfg.chArgs(eventFD)
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
	ctx, cancel := context.WithCancel(t.Context())
	p, err := startFake(t, ctx, WithDetached())
	require.NoError(t, err)
	assert.True(t, p.Detached())

	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID()))
	require.NoError(t, err)
	fields := strings.Fields(string(stat)[strings.LastIndexByte(string(stat), ')')+1:])
	assert.Equal(t, strconv.Itoa(p.PID()), fields[3], "own session")
	assert.Equal(t, strconv.Itoa(p.PID()), fields[2], "own process group")

	cancel()
	_, err = p.Ping(t.Context())
	require.NoError(t, err, "a detached VMM outlives the context")

	_, err = Attach(t.Context(), os.Getpid(), p.SocketPath())
	assert.ErrorContains(t, err, fmt.Sprintf("served by pid %d, not %d", p.PID(), os.Getpid()))

	a, err := Attach(t.Context(), p.PID(), p.SocketPath())
	require.NoError(t, err)
	assert.Equal(t, p.PID(), a.PID())
	assert.Equal(t, fakeCHVersion, a.Version())
	assert.Same(t, rel, a.Release())
	_, err = ClientAs[*fakeAPIClient](a)
	require.NoError(t, err)
	_, open := <-a.Events()
	assert.False(t, open, "no events for an attached VMM")

	require.NoError(t, a.Stop(t.Context()))
	select {
	case <-a.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("Attach's Wait did not see the exit")
	}
	assert.NoError(t, a.Wait())
	assert.Equal(t, -1, a.ExitCode(), "not a child: status unknown")
	require.NoError(t, p.Wait(), "the child itself exited with 0")
	assert.NoFileExists(t, p.SocketPath())

	_, err = Attach(t.Context(), p.PID(), p.SocketPath())
	assert.ErrorIs(t, err, ErrNotRunning)
}

func TestAttachKill(t *testing.T) {
	p, err := startFake(t, t.Context(), WithDetached())
	require.NoError(t, err)
	a, err := Attach(t.Context(), p.PID(), p.SocketPath())
	require.NoError(t, err)
	require.NoError(t, a.Kill())
	<-a.Done()
	var exitErr *exec.ExitError
	require.ErrorAs(t, p.Wait(), &exitErr)
	assert.NoError(t, a.Kill(), "killing an ended VMM is fine")
}

func TestEvents(t *testing.T) {
	p, err := startFake(t, t.Context(), WithEvents())
	require.NoError(t, err)
	resp, err := p.HTTPClient().Do(apiRequest(t, t.Context(), http.MethodPut, "/vm.boot", nil))
	require.NoError(t, err)
	resp.Body.Close()
	require.NoError(t, p.Stop(t.Context()))

	var got []string
	var activated Event
	for ev := range p.Events() { // closes when CH exits
		got = append(got, ev.String())
		if ev.Name == EventActivated {
			activated = ev
		}
		assert.False(t, ev.Time.Before(p.started), "event time after start")
	}
	assert.Equal(t, []string{"vmm starting", "vm booting", "virtio-device activated map[id:_disk0]", "vm booted", "vmm shutdown"}, got)
	assert.Equal(t, EventSourceVirtioDevice, activated.Source)
	assert.Equal(t, map[string]string{"id": "_disk0"}, activated.Properties)
}

func TestNoFDLeak(t *testing.T) {
	countFDs := func() int {
		es, err := os.ReadDir("/proc/self/fd")
		require.NoError(t, err)
		return len(es)
	}
	// One cycle first, so that lazily opened descriptors (epoll, …) exist.
	p, err := startFake(t, t.Context(), WithEvents())
	require.NoError(t, err)
	require.NoError(t, p.Stop(t.Context()))
	before := countFDs()
	for i := range 20 {
		opts := []ProcessOption{}
		if i%2 == 0 {
			opts = append(opts, WithEvents())
		}
		p, err := startFake(t, t.Context(), opts...)
		require.NoError(t, err)
		_, err = p.Ping(t.Context())
		require.NoError(t, err)
		require.NoError(t, p.Stop(t.Context()))
		for range p.Events() {
		}
	}
	assert.True(t, eventually(time.Second, func() bool { return countFDs() <= before }),
		"fds: %d before, %d after 20 cycles", before, countFDs())
}

func TestKVMCheckComesFirst(t *testing.T) {
	withKVMDevice(t, filepath.Join(t.TempDir(), "no-kvm"))
	sock := filepath.Join(t.TempDir(), "api.sock")
	_, err := StartProcess(t.Context(), t.TempDir(), "v48.0", sock, WithBinary(testBinary(t)))
	require.ErrorIs(t, err, ErrKVMUnavailable)
	assert.NoFileExists(t, sock)
}

func TestStartErrorText(t *testing.T) {
	err := &StartError{Reason: ErrExitedEarly, ExitCode: 2, Output: "error: bad\n", Err: errors.New("exit status 2")}
	assert.Equal(t, "starting cloud-hypervisor: Cloud Hypervisor exited before its API was ready (exit status 2); its output ends with:\nerror: bad", err.Error())
}
