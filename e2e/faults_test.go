package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/chtest"
)

// The cross-process fault suite: what happens to VMMs when their
// supervisor dies, is re-exec'd, or shares the host with another user.

// helperEnv, when set, makes the test binary a helper process (see
// runHelper) instead of running tests: "supervise <bin> <sock> <detached>"
// starts a simulator VMM and waits to be killed; "reexec <bin> <sock>"
// starts a detached one, execs itself into "attach <handle-json>", which
// attaches to it (its own child still), kills it and prints the Exit;
// "dial <sock> <ms>" tries to connect to sock for ms and prints how often
// it got in.
const helperEnv = "CHVMM_E2E_HELPER"

func TestMain(m *testing.M) {
	if args := os.Getenv(helperEnv); args != "" {
		os.Exit(runHelper(strings.Fields(args)))
	}
	os.Exit(m.Run())
}

func runHelper(args []string) int {
	ctx := context.Background()
	fail := func(err error) int { fmt.Println("error:", err); return 1 }
	switch args[0] {
	case "supervise", "reexec":
		opts := simOptions(args[1])
		if args[0] == "reexec" || (len(args) > 3 && args[3] == "detached") {
			opts = append(opts, core.WithDetached())
		}
		p, err := core.StartProcess(ctx, simRelease(), filepath.Dir(args[2]), args[2], opts...)
		if err != nil {
			return fail(err)
		}
		if args[0] == "supervise" {
			fmt.Println("pid", p.PID())
			select {} // until killed
		}
		h, _ := json.Marshal(p.Handle())
		exe, _ := os.Executable()
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, helperEnv+"=") {
				env = append(env, kv)
			}
		}
		env = append(env, helperEnv+"=attach "+string(h))
		return fail(syscall.Exec(exe, []string{exe}, env)) // returns only on failure
	case "attach":
		var h core.Handle
		if err := json.Unmarshal([]byte(strings.Join(args[1:], " ")), &h); err != nil {
			return fail(err)
		}
		p, err := core.Attach(ctx, h)
		if err != nil {
			return fail(err)
		}
		if err := p.Kill(); err != nil {
			return fail(err)
		}
		exit := p.Wait()
		fmt.Printf("exit %v state-known %v\n", exit.Reason, exit.State != nil)
		return 0
	case "dial":
		ms, _ := strconv.Atoi(args[2])
		var got atomic.Int64
		deadline := time.Now().Add(time.Duration(ms) * time.Millisecond)
		for time.Now().Before(deadline) {
			if c, err := net.Dial("unix", args[1]); err == nil {
				got.Add(1)
				c.Close()
			}
		}
		fmt.Println("connected", got.Load())
		return 0
	}
	return fail(fmt.Errorf("unknown helper %q", args[0]))
}

// helper starts the test binary as a helper with args; out reads its
// standard output line by line.
func helper(t *testing.T, cred *syscall.Credential, args ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	if cred != nil {
		// Another user cannot run the test binary where go test built it
		// (a 0700 directory): a copy it can.
		dir := shortDir(t)
		require.NoError(t, os.Chmod(dir, 0o755))
		data, err := os.ReadFile(exe)
		require.NoError(t, err)
		exe = filepath.Join(dir, "helper")
		require.NoError(t, os.WriteFile(exe, data, 0o755))
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), helperEnv+"="+strings.Join(args, " "))
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, bufio.NewScanner(out)
}

// readLine returns the helper's next line, failing on an error line.
func readLine(t *testing.T, out *bufio.Scanner) string {
	t.Helper()
	require.True(t, out.Scan(), "the helper ended without a line")
	line := out.Text()
	require.False(t, strings.HasPrefix(line, "error:"), "helper: %s", line)
	return line
}

// TestVMMDiesWithItsSupervisor: after SIGKILL of the program that started
// it, a VMM that is not detached dies too (Pdeathsig) and frees its socket;
// a detached one lives on and can be taken back.
func TestVMMDiesWithItsSupervisor(t *testing.T) {
	bin := simBinary(t, simVersion)
	for _, detached := range []bool{false, true} {
		t.Run(map[bool]string{false: "attached", true: "detached"}[detached], func(t *testing.T) {
			sock := filepath.Join(shortDir(t), "api.sock")
			mode := "attached"
			if detached {
				mode = "detached"
			}
			cmd, out := helper(t, nil, "supervise", bin, sock, mode)
			pid, err := strconv.Atoi(strings.TrimPrefix(readLine(t, out), "pid "))
			require.NoError(t, err)
			require.NoError(t, cmd.Process.Kill())
			_ = cmd.Wait()
			if !detached {
				require.Eventually(t, func() bool {
					if alive(pid) {
						return false
					}
					// Gone, and its socket closed with it (a dying process
					// releases its descriptors a moment after).
					c, err := net.Dial("unix", sock)
					if err == nil {
						c.Close()
					}
					return err != nil
				}, 5*time.Second, 10*time.Millisecond, "the VMM (pid %d) outlived its killed supervisor", pid)
				// The socket file stays (nobody removed it) but nothing
				// answers: the next start replaces it.
				p := startSimAt(t, bin, sock)
				require.NoError(t, p.Stop(t.Context()))
				return
			}
			require.True(t, alive(pid), "a detached VMM outlives its supervisor")
			a, err := core.Attach(t.Context(), core.Handle{Socket: sock})
			require.NoError(t, err)
			assert.Equal(t, pid, a.PID())
			require.NoError(t, a.Stop(t.Context()))
		})
	}
}

// TestAttachReapsItsOwnChild: a program that re-execs itself (same pid)
// and attaches to the detached VMM it had started reaps it when it ends,
// with its status, instead of leaving a zombie.
func TestAttachReapsItsOwnChild(t *testing.T) {
	bin := simBinary(t, simVersion)
	sock := filepath.Join(shortDir(t), "api.sock")
	cmd, out := helper(t, nil, "reexec", bin, sock)
	line := readLine(t, out)
	assert.Equal(t, "exit requested state-known true", line, "the attached child's status, reaped")
	require.NoError(t, cmd.Wait())
	zombies, _ := children(t)
	assert.Empty(t, zombies)
}

// TestSocketNeverOpenToOthers: whatever the umask, another user never
// connects to a VMM's API socket, not even while it is being made: a
// process running as nobody dials the path while VMMs start and stop on it.
func TestSocketNeverOpenToOthers(t *testing.T) {
	chtest.RequiresRoot(t)
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	bin := simBinary(t, simVersion)
	dir := shortDir(t)
	require.NoError(t, os.Chmod(dir, 0o777)) // the path is reachable; only the socket's mode keeps others out
	sock := filepath.Join(dir, "api.sock")
	_, out := helper(t, &syscall.Credential{Uid: 65534, Gid: 65534}, "dial", sock, "1500")
	deadline := time.Now().Add(1400 * time.Millisecond)
	starts := 0
	for time.Now().Before(deadline) {
		p := startSimAt(t, bin, sock)
		fi, err := os.Lstat(sock)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "under umask 0")
		require.NoError(t, p.Stop(t.Context()))
		starts++
	}
	line := readLine(t, out)
	assert.Equal(t, "connected 0", line, "nobody connected during %d starts", starts)
}

// startSimAt starts the simulator binary on sock.
func startSimAt(t *testing.T, bin, sock string) *core.Process {
	t.Helper()
	p, err := core.StartProcess(t.Context(), simRelease(), filepath.Dir(sock), sock, simOptions(bin)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Kill(); p.Wait() })
	return p
}

// shortDir is a temporary directory short enough for unix sockets.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "f")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// alive reports whether process pid exists and is no zombie.
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}
