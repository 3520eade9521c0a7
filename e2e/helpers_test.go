package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/chsim/chsimtest"
	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/chtest"

	// Every release chvmm ships, registered with core.
	v48 "github.com/chvmm/chvmm/versions/v48"
	v49 "github.com/chvmm/chvmm/versions/v49"
	v50 "github.com/chvmm/chvmm/versions/v50"
	v51 "github.com/chvmm/chvmm/versions/v51"
	v52 "github.com/chvmm/chvmm/versions/v52"
	v53 "github.com/chvmm/chvmm/versions/v53"
)

// simVersion is the release the simulator benchmarks and reliability tests
// run: the newest.
const simVersion = "v53.0"

// releases are the six releases chvmm ships, by name at compile time.
var releases = []*core.Release{v48.Release, v49.Release, v50.Release, v51.Release, v52.Release, v53.Release}

// simRelease is the registered release of simVersion.
func simRelease() *core.Release {
	r, err := core.Lookup(simVersion)
	if err != nil {
		panic(err)
	}
	return r
}

// hostArch is CH's name of this machine's architecture.
func hostArch() string { return simRelease().Arch() }

// simBinary returns the simulator built as a cloud-hypervisor binary of
// version (once per test process).
func simBinary(tb testing.TB, version string) string {
	tb.Helper()
	return chsimtest.Build(tb, version)
}

// simOptions are the StartProcess options that run the simulator binary.
func simOptions(bin string, more ...core.StartOption) []core.StartOption {
	// The simulator binary lies in a temporary directory below /tmp, which
	// core would refuse (ErrUntrustedPath): tests know what is there.
	return append([]core.StartOption{core.WithBinary(bin), core.WithoutKVMCheck(), core.WithoutPathTrustCheck()}, more...)
}

// startSim starts the simulator binary as a VMM on a fresh socket and
// makes sure it is gone when the test ends.
func startSim(tb testing.TB, bin string, more ...core.StartOption) *core.Process {
	tb.Helper()
	dir := tb.TempDir()
	p, err := core.StartProcess(context.Background(), simRelease(), dir, filepath.Join(dir, "api.sock"), simOptions(bin, more...)...)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		_ = p.Kill()
		_ = p.Wait()
	})
	return p
}

// writeKernel writes the chtest PVH guest into dir and returns its path
// (the simulator only checks that vm.boot's kernel exists).
func writeKernel(tb testing.TB, dir string) string {
	tb.Helper()
	path := filepath.Join(dir, "vmlinux")
	require.NoError(tb, chtest.WritePVHKernel(path))
	return path
}

// resources is what a test may leak: open fds, goroutines, child processes.
type resources struct {
	fds        int
	goroutines int
}

func snapshotResources(tb testing.TB) resources {
	tb.Helper()
	return resources{fds: countFDs(tb), goroutines: runtime.NumGoroutine()}
}

// requireNoLeaks waits (bounded) for fds and goroutines to settle back to
// before, and fails if any child of this process is a zombie or still runs.
func requireNoLeaks(tb testing.TB, before resources) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var now resources
	var zombies, live []int
	for {
		now = snapshotResources(tb)
		zombies, live = children(tb)
		if now.fds <= before.fds && now.goroutines <= before.goroutines && len(zombies) == 0 && len(live) == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	tb.Fatalf("leaks: fds %d → %d (%s), goroutines %d → %d, zombie children %v, live children %v\n%s",
		before.fds, now.fds, fdTargets(), before.goroutines, now.goroutines, zombies, live, buf)
}

// countFDs counts this process's open file descriptors.
func countFDs(tb testing.TB) int {
	tb.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(tb, err)
	return len(entries) - 1 // the directory ReadDir itself opened
}

// fdTargets lists what this process's fds point at, for failure messages.
func fdTargets() string {
	entries, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range entries {
		target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		out = append(out, e.Name()+"→"+target)
	}
	return strings.Join(out, " ")
}

// children returns the pids of this process's children, split into zombies
// (state Z) and the rest.
func children(tb testing.TB) (zombies, live []int) {
	tb.Helper()
	self := os.Getpid()
	entries, err := os.ReadDir("/proc")
	require.NoError(tb, err)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, ppid, ok := procStat(pid)
		if !ok || ppid != self {
			continue
		}
		if state == "Z" {
			zombies = append(zombies, pid)
		} else {
			live = append(live, pid)
		}
	}
	return zombies, live
}

// procStat reads the state and parent pid of pid from /proc/pid/stat.
func procStat(pid int) (state string, ppid int, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, false
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 2 {
		return "", 0, false
	}
	ppid, err = strconv.Atoi(fields[1])
	return fields[0], ppid, err == nil
}

// typedError reports whether err is one of the errors chvmm documents, so
// that a caller can act on it without parsing text:
//   - *core.APIError, *core.StartError (errors.As);
//   - a core sentinel (errors.Is);
//   - context.Canceled, context.DeadlineExceeded;
//   - *exec.ExitError (Process.Wait of a VMM that did not exit 0);
//   - the VMM's connection failing or dropping: *net.OpError (dial: the
//     socket is gone or refuses), io.EOF, io.ErrUnexpectedEOF, ECONNRESET,
//     EPIPE (the VMM died under a request).
func typedError(err error) bool { return errorKind(err) != "" }

// errorKind names the first of typedError's kinds err is, or "".
func errorKind(err error) string {
	var apiErr *core.APIError
	var startErr *core.StartError
	var exitErr *exec.ExitError
	var opErr *net.OpError
	switch {
	case errors.As(err, &apiErr):
		return "*core.APIError"
	case errors.As(err, &startErr):
		return "*core.StartError"
	case errors.As(err, &exitErr):
		return "*exec.ExitError"
	}
	for _, target := range typedSentinels {
		if errors.Is(err, target) {
			return target.Error()
		}
	}
	if errors.As(err, &opErr) {
		return "*net.OpError"
	}
	return ""
}

// typedSentinels are the sentinels typedError accepts.
var typedSentinels = []error{
	core.ErrUnknownVersion, core.ErrBadVersion, core.ErrNoBinary, core.ErrVersionMismatch, core.ErrUnsafePath,
	core.ErrExitedEarly, core.ErrNotReady, core.ErrNotRunning, core.ErrSocketPathTooLong, core.ErrSocketInUse,
	core.ErrKVMUnavailable, core.ErrBadConfig, core.ErrUnsupported, core.ErrUnsupportedField,
	core.ErrVMNotCreated, core.ErrVMAlreadyCreated, core.ErrInvalidState, core.ErrUnknownEndpoint,
	core.ErrRequestTooLarge, core.ErrTooManyRequests, core.ErrNoSnapshotMetadata,
	context.Canceled, context.DeadlineExceeded,
	io.EOF, io.ErrUnexpectedEOF, syscall.ECONNRESET, syscall.EPIPE,
}

// releaseVersions are the registered releases' tags, oldest first.
func releaseVersions() []string {
	var vs []string
	for _, r := range core.Releases() {
		vs = append(vs, r.Version())
	}
	return vs
}

// defaultLogPath is where core writes a VMM's output by default:
// {socket dir}/logs/{socket name}.log.
func defaultLogPath(socket string) string {
	return filepath.Join(filepath.Dir(socket), "logs", strings.TrimSuffix(filepath.Base(socket), filepath.Ext(socket))+".log")
}

// snapshotMetadataFile is the file core writes beside CH's in a snapshot.
const snapshotMetadataFile = "chvmm-snapshot.json"
