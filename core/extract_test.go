//go:build linux

package core

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/chvmm/chvmm/core/chversion"
)

// registerTestRelease registers a release of version embedding bin, once
// per test binary (so -count=N works), and returns it.
func registerTestRelease(t testing.TB, version string, bin []byte) *Release {
	t.Helper()
	return registered(t, testDriver(version, bin))
}

// getBinaryPath is BinaryPath of the registered release Lookup(version)
// finds.
func getBinaryPath(t testing.TB, dataDir, version string) (string, error) {
	r, err := Lookup(version)
	if err != nil {
		return "", err
	}
	return r.BinaryPath(context.Background(), dataDir)
}

// withUmask runs the test under umask, to show modes are set explicitly.
func withUmask(t *testing.T, umask int) {
	old := syscall.Umask(umask)
	t.Cleanup(func() { syscall.Umask(old) })
}

func TestBinaryPath(t *testing.T) {
	withUmask(t, 0o077)
	bin := chScript("v99.0")
	r := registerTestRelease(t, "v99.0", bin)
	dataDir := t.TempDir()

	path, err := getBinaryPath(t, dataDir, "v99.0")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dataDir, "system", "binaries", "v99.0", hostArch(), "cloud-hypervisor"), path)
	requireOnlyBinary(t, filepath.Dir(path), bin)

	fi, err := os.Lstat(path)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o755), fi.Mode(), "binary mode")
	for dir := filepath.Dir(path); dir != dataDir; dir = filepath.Dir(dir) {
		fi, err := os.Lstat(dir)
		require.NoError(t, err)
		assert.Equal(t, fs.ModeDir|0o755, fi.Mode(), "mode of %s", dir)
	}

	for _, want := range []string{"99", "99.0.0", ">= 99, < 100", "~> 99.0"} {
		got, err := getBinaryPath(t, dataDir, want)
		require.NoError(t, err, want)
		assert.Equal(t, path, got, want)
	}
	got, err := r.BinaryPath(t.Context(), dataDir)
	require.NoError(t, err)
	assert.Equal(t, path, got)

	ver, err := chversion.ReadBinary(t.Context(), path)
	require.NoError(t, err)
	assert.Equal(t, "v99.0", ver.Version)
}

func TestExtractRelativeDataDir(t *testing.T) {
	bin := chScript("v99.0")
	r := testRelease("v99.0", bin)
	dataDir := t.TempDir()
	t.Chdir(dataDir)
	path, err := r.BinaryPath(t.Context(), "data")
	require.NoError(t, err)
	assert.True(t, filepath.IsAbs(path), path)
	assert.Equal(t, binPath(filepath.Join(dataDir, "data"), r), path)
	requireOnlyBinary(t, filepath.Dir(path), bin)
}

// concurrentVersion is the release TestExtractConcurrent and its helper
// processes extract; its payload is a script padded to 1 MiB, so that a
// write takes long enough for racing writers to collide.
const concurrentVersion = "v98.0"

func concurrentPayload() []byte {
	b := chScript(concurrentVersion)
	line := "# " + strings.Repeat("x", 1021) + "\n"
	return append(b, strings.Repeat(line, 1024)...)
}

// extractConcurrently extracts r into dataDir from n goroutines released
// at once and returns their errors.
func extractConcurrently(r *Release, dataDir string, n int) []error {
	want := binPath(dataDir, r)
	var (
		start = make(chan struct{})
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
	)
	for range n {
		wg.Go(func() {
			<-start
			path, err := r.BinaryPath(context.Background(), dataDir)
			if err == nil && path != want {
				err = errors.New("got path " + path + ", want " + want)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	return errs
}

type helperProc struct {
	cmd   *exec.Cmd
	stdin interface{ Close() error }
	out   *bufio.Scanner
}

// startHelper starts the test binary as an extracting helper process
// (extractHelperMain) and waits until it is ready.
func startHelper(t *testing.T, dataDir string) *helperProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dataDir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	out := bufio.NewScanner(stdout)
	require.True(t, out.Scan(), "helper process said nothing")
	require.Equal(t, "ready", out.Text())
	return &helperProc{cmd: cmd, stdin: stdin, out: out}
}

// TestExtractConcurrent extracts one release into one data directory from
// 64 goroutines of this process and 8 goroutines in each of 4 helper
// processes, all at once: exactly one of them writes the binary, none
// fails, and no temporary file is left.
func TestExtractConcurrent(t *testing.T) {
	dataDir := t.TempDir()
	bin := concurrentPayload()
	r := testRelease(concurrentVersion, bin)
	var helpers []*helperProc
	for range 4 {
		helpers = append(helpers, startHelper(t, dataDir))
	}
	for _, h := range helpers {
		require.NoError(t, h.stdin.Close()) // go
	}
	errs := extractConcurrently(r, dataDir, 64)
	require.Empty(t, errs)

	p, err := r.payload()
	require.NoError(t, err)
	writes := p.writes.Load()
	for i, h := range helpers {
		var lines []string
		for h.out.Scan() {
			lines = append(lines, h.out.Text())
		}
		require.NoError(t, h.cmd.Wait(), "helper %d: %q", i, lines)
		require.NotEmpty(t, lines, "helper %d", i)
		n, err := strconv.Atoi(strings.TrimPrefix(lines[len(lines)-1], "writes="))
		require.NoError(t, err, "helper %d: %q", i, lines)
		writes += int64(n)
	}
	assert.Equal(t, int64(1), writes, "binaries written by all goroutines of all processes")
	requireOnlyBinary(t, filepath.Dir(binPath(dataDir, r)), bin)
}

func TestExtractRepairsDamagedFile(t *testing.T) {
	bin := chScript("v99.0")
	r := testRelease("v99.0", bin)
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"truncated", func(t *testing.T, path string) {
			require.NoError(t, os.Truncate(path, int64(len(bin)/2)))
		}},
		{"empty", func(t *testing.T, path string) {
			require.NoError(t, os.Truncate(path, 0))
		}},
		{"altered, same size", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.WriteAt([]byte("8"), int64(bytes.Index(bin, []byte("99"))))
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}},
		{"replaced", func(t *testing.T, path string) {
			require.NoError(t, os.Remove(path))
			require.NoError(t, os.WriteFile(path, chScript("v66.6"), 0o755))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			path, err := r.BinaryPath(t.Context(), dataDir)
			require.NoError(t, err)
			tc.damage(t, path)
			damaged, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NotEqual(t, bin, damaged)
			oldIno := inode(t, path)

			resetExtractCache() // as a new process
			got, err := r.BinaryPath(t.Context(), dataDir)
			require.NoError(t, err)
			assert.Equal(t, path, got)
			requireOnlyBinary(t, filepath.Dir(path), bin)
			assert.NotEqual(t, oldIno, inode(t, path), "replaced by rename, not rewritten")
		})
	}

	t.Run("truncated, same process", func(t *testing.T) {
		dataDir := t.TempDir()
		path, err := r.BinaryPath(t.Context(), dataDir)
		require.NoError(t, err)
		require.NoError(t, os.Truncate(path, 3))
		_, err = r.BinaryPath(t.Context(), dataDir)
		require.NoError(t, err)
		requireOnlyBinary(t, filepath.Dir(path), bin)
	})

	t.Run("wrong mode is fixed without a rewrite", func(t *testing.T) {
		dataDir := t.TempDir()
		path, err := r.BinaryPath(t.Context(), dataDir)
		require.NoError(t, err)
		require.NoError(t, os.Chmod(path, 0o644))
		oldIno := inode(t, path)
		resetExtractCache()
		_, err = r.BinaryPath(t.Context(), dataDir)
		require.NoError(t, err)
		fi, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o755), fi.Mode())
		assert.Equal(t, oldIno, statIno(fi))
		p, err := r.payload()
		require.NoError(t, err)
		assert.Zero(t, p.writes.Load())
	})
}

func TestExtractRemovesLeftoverTempFiles(t *testing.T) {
	bin := chScript("v99.0")
	r := testRelease("v99.0", bin)

	t.Run("crash before the first extraction finished", func(t *testing.T) {
		dataDir := t.TempDir()
		dir := filepath.Dir(binPath(dataDir, r))
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, tempPrefix+"crashed"), bin[:5], 0o600))
		_, err := r.BinaryPath(t.Context(), dataDir)
		require.NoError(t, err)
		requireOnlyBinary(t, dir, bin)
	})

	t.Run("crash while repairing", func(t *testing.T) {
		dataDir := t.TempDir()
		path, err := r.BinaryPath(t.Context(), dataDir)
		require.NoError(t, err)
		dir := filepath.Dir(path)
		require.NoError(t, os.WriteFile(filepath.Join(dir, tempPrefix+"a"), bin[:5], 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(dir, tempPrefix+"b"), nil, 0o600))
		resetExtractCache()
		_, err = r.BinaryPath(t.Context(), dataDir)
		require.NoError(t, err)
		requireOnlyBinary(t, dir, bin)
	})
}

// fakeCHProgram answers --version as CH v97.0 and otherwise runs, like a
// VMM, until killed (or for a minute).
const fakeCHProgram = `package main

import (
	"os"
	"time"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		os.Stdout.WriteString("cloud-hypervisor v97.0\n")
		return
	}
	os.Stdout.WriteString("ready\n")
	time.Sleep(time.Minute)
}
`

// buildFakeCH builds fakeCHProgram into a static executable.
func buildFakeCH(t *testing.T) []byte {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command to build a test executable:", err)
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module fakech\n\ngo 1.26\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(fakeCHProgram), 0o644))
	cmd := exec.Command(goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", "fakech", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	bin, err := os.ReadFile(filepath.Join(dir, "fakech"))
	require.NoError(t, err)
	return bin
}

// processState returns the state letter of /proc/pid/stat ("S", "Z", …).
func processState(t *testing.T, pid int) string {
	t.Helper()
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(stat), ") ")
	require.True(t, ok, "%s", stat)
	return rest[:1]
}

// TestExtractDoesNotRewriteRunningBinary runs a (tampered) binary from the
// binary path, then has it repaired: the running process keeps its inode
// and content and does not crash; the path gets the embedded bytes.
func TestExtractDoesNotRewriteRunningBinary(t *testing.T) {
	bin := buildFakeCH(t)
	r := testRelease("v97.0", bin)
	dataDir := t.TempDir()
	path, err := r.BinaryPath(t.Context(), dataDir)
	require.NoError(t, err)

	// Plant a tampered binary that still runs: the same program with bytes
	// appended.
	tampered := append(bytes.Clone(bin), "tampered"...)
	planted := filepath.Join(t.TempDir(), "planted")
	require.NoError(t, os.WriteFile(planted, tampered, 0o755))
	require.NoError(t, os.Rename(planted, path))
	oldIno := inode(t, path)

	vmm := exec.Command(path)
	stdout, err := vmm.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, vmm.Start())
	t.Cleanup(func() {
		vmm.Process.Kill()
		vmm.Wait()
	})
	out := bufio.NewScanner(stdout)
	require.True(t, out.Scan())
	require.Equal(t, "ready", out.Text())

	resetExtractCache() // as a new process
	got, err := r.BinaryPath(t.Context(), dataDir)
	require.NoError(t, err)
	assert.Equal(t, path, got)

	time.Sleep(10 * time.Millisecond)
	assert.NotEqual(t, "Z", processState(t, vmm.Process.Pid), "the running VMM died")
	exe := "/proc/" + strconv.Itoa(vmm.Process.Pid) + "/exe"
	assert.Equal(t, oldIno, inode(t, exe), "the running VMM's executable changed inode")
	running, err := os.ReadFile(exe)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(tampered, running), "the running VMM's executable was rewritten")

	requireOnlyBinary(t, filepath.Dir(path), bin)
	assert.NotEqual(t, oldIno, inode(t, path))
}

func TestExtractRefusesSymlinks(t *testing.T) {
	bin := chScript("v99.0")
	r := testRelease("v99.0", bin)

	t.Run("at the binary path", func(t *testing.T) {
		dataDir := t.TempDir()
		path := binPath(dataDir, r)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		target := filepath.Join(t.TempDir(), "precious")
		require.NoError(t, os.WriteFile(target, []byte("precious"), 0o644))
		require.NoError(t, os.Symlink(target, path))

		_, err := r.BinaryPath(t.Context(), dataDir)
		require.ErrorIs(t, err, ErrUnsafePath)
		assert.Contains(t, err.Error(), path)
		assert.Contains(t, err.Error(), "symlink")
		assert.Contains(t, err.Error(), "remove it")

		content, err := os.ReadFile(target)
		require.NoError(t, err)
		assert.Equal(t, "precious", string(content), "symlink target changed")
		fi, err := os.Lstat(path)
		require.NoError(t, err)
		assert.Equal(t, fs.ModeSymlink, fi.Mode().Type())
	})

	t.Run("dangling at the binary path", func(t *testing.T) {
		dataDir := t.TempDir()
		path := binPath(dataDir, r)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		target := filepath.Join(t.TempDir(), "absent")
		require.NoError(t, os.Symlink(target, path))
		_, err := r.BinaryPath(t.Context(), dataDir)
		require.ErrorIs(t, err, ErrUnsafePath)
		assert.NoFileExists(t, target)
	})

	t.Run("at the lock file", func(t *testing.T) {
		dataDir := t.TempDir()
		dir := filepath.Dir(binPath(dataDir, r))
		require.NoError(t, os.MkdirAll(dir, 0o755))
		target := filepath.Join(t.TempDir(), "absent")
		require.NoError(t, os.Symlink(target, filepath.Join(dir, lockName)))
		_, err := r.BinaryPath(t.Context(), dataDir)
		require.ErrorIs(t, err, ErrUnsafePath)
		assert.NoFileExists(t, target)
		assert.NoFileExists(t, binPath(dataDir, r))
	})

	components := binaryDirs(r.tag, hostArch())
	for i, name := range components {
		t.Run("at directory "+name, func(t *testing.T) {
			dataDir := t.TempDir()
			parent := filepath.Join(append([]string{dataDir}, components[:i]...)...)
			require.NoError(t, os.MkdirAll(parent, 0o755))
			target := t.TempDir()
			link := filepath.Join(parent, name)
			require.NoError(t, os.Symlink(target, link))

			_, err := r.BinaryPath(t.Context(), dataDir)
			require.ErrorIs(t, err, ErrUnsafePath)
			assert.Contains(t, err.Error(), link)
			assert.Contains(t, err.Error(), target)
			assert.Empty(t, dirEntries(t, target), "chvmm wrote through the symlink")
		})
	}

	t.Run("data directory itself", func(t *testing.T) {
		real := t.TempDir()
		dataDir := filepath.Join(t.TempDir(), "link")
		require.NoError(t, os.Symlink(real, dataDir))
		path, err := r.BinaryPath(t.Context(), dataDir)
		require.NoError(t, err)
		assert.Equal(t, binPath(dataDir, r), path)
		requireOnlyBinary(t, filepath.Dir(binPath(real, r)), bin)
	})
}

func TestExtractRefusesNonRegularFiles(t *testing.T) {
	r := testRelease("v99.0", chScript("v99.0"))

	t.Run("directory at the binary path", func(t *testing.T) {
		dataDir := t.TempDir()
		require.NoError(t, os.MkdirAll(binPath(dataDir, r), 0o755))
		_, err := r.BinaryPath(t.Context(), dataDir)
		require.ErrorIs(t, err, ErrUnsafePath)
		assert.Contains(t, err.Error(), binPath(dataDir, r))
	})

	t.Run("file at a directory", func(t *testing.T) {
		dataDir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dataDir, "system"), nil, 0o644))
		_, err := r.BinaryPath(t.Context(), dataDir)
		require.ErrorIs(t, err, ErrUnsafePath)
		assert.Contains(t, err.Error(), filepath.Join(dataDir, "system"))
	})
}

// TestExtractKeepsExistingDirectoryModes: directories that exist keep
// their modes (an operator's 0700 stays 0700); only what chvmm creates gets
// 0755.
func TestExtractKeepsExistingDirectoryModes(t *testing.T) {
	withUmask(t, 0o077)
	r := testRelease("v99.0", chScript("v99.0"))
	dataDir := t.TempDir()
	system := filepath.Join(dataDir, "system")
	require.NoError(t, os.Mkdir(system, 0o700))
	_, err := r.BinaryPath(t.Context(), dataDir)
	require.NoError(t, err)
	fi, err := os.Stat(system)
	require.NoError(t, err)
	assert.Equal(t, fs.ModeDir|0o700, fi.Mode(), "kept")
	for dir := filepath.Dir(binPath(dataDir, r)); dir != system; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		require.NoError(t, err)
		assert.Equal(t, fs.ModeDir|0o755, fi.Mode(), "created: %s", dir)
	}
}

// TestExtractRefusesUntrustedPaths: a data directory another user could
// change (a 1777 parent, a group-writable one, another owner's, a symlink
// of another user), or an existing directory below it of another owner, is
// refused before anything runs, naming the component; an existing binary of
// another owner is refused too.
func TestExtractRefusesUntrustedPaths(t *testing.T) {
	r := testRelease("v99.0", chScript("v99.0"))
	for name, mode := range map[string]os.FileMode{"sticky world-writable": 0o1777, "group-writable": 0o775} {
		t.Run(name, func(t *testing.T) {
			parent := filepath.Join(t.TempDir(), "shared")
			require.NoError(t, os.Mkdir(parent, 0o755))
			require.NoError(t, os.Chmod(parent, mode))
			dataDir := filepath.Join(parent, "data")
			_, err := r.BinaryPath(t.Context(), dataDir)
			require.ErrorIs(t, err, ErrUntrustedPath)
			assert.ErrorContains(t, err, parent+", on the way to "+dataDir)
			assert.NoDirExists(t, dataDir, "nothing created")
		})
	}
	if os.Geteuid() != 0 {
		t.Skip("the other-owner cases need root to chown")
	}
	const nobody = 65534
	t.Run("a directory of another owner", func(t *testing.T) {
		dataDir := t.TempDir()
		system := filepath.Join(dataDir, "system")
		require.NoError(t, os.Mkdir(system, 0o700))
		require.NoError(t, os.Chown(system, nobody, nobody))
		_, err := r.BinaryPath(t.Context(), dataDir)
		require.ErrorIs(t, err, ErrUntrustedPath)
		assert.ErrorContains(t, err, "is owned by uid 65534")
		fi, err := os.Stat(system)
		require.NoError(t, err)
		assert.Equal(t, fs.ModeDir|0o700, fi.Mode(), "its mode is left alone")
	})
	t.Run("a data directory behind another user's symlink", func(t *testing.T) {
		real := t.TempDir()
		link := filepath.Join(t.TempDir(), "data")
		require.NoError(t, os.Symlink(real, link))
		require.NoError(t, os.Lchown(link, nobody, nobody))
		_, err := r.BinaryPath(t.Context(), link)
		require.ErrorIs(t, err, ErrUntrustedPath)
		assert.ErrorContains(t, err, "is a symlink owned by uid 65534")
	})
	t.Run("a binary of another owner", func(t *testing.T) {
		dataDir := t.TempDir()
		path, err := r.BinaryPath(t.Context(), dataDir)
		require.NoError(t, err)
		require.NoError(t, os.Chown(path, nobody, nobody))
		resetExtractCache()
		_, err = r.BinaryPath(t.Context(), dataDir)
		require.ErrorIs(t, err, ErrUntrustedPath)
	})
}

// TestExtractLockWaitEndsWithContext: a lock another process holds (say a
// hostile user's) delays extraction only as long as ctx allows; the lock
// file is 0600.
func TestExtractLockWaitEndsWithContext(t *testing.T) {
	r := testRelease("v99.0", chScript("v99.0"))
	dataDir := t.TempDir()
	_, err := r.BinaryPath(t.Context(), dataDir)
	require.NoError(t, err)
	lock := filepath.Join(filepath.Dir(binPath(dataDir, r)), lockName)
	fi, err := os.Stat(lock)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	require.NoError(t, os.Remove(binPath(dataDir, r))) // so that the next call needs the lock
	resetExtractCache()
	f, err := os.Open(lock)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, unix.Flock(int(f.Fd()), unix.LOCK_EX)) // another holder (flock locks are per open file)
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = r.BinaryPath(ctx, dataDir)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "which another process holds")
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestExtractVersionMismatch(t *testing.T) {
	r := testRelease("v94.0", chScript("v93.0"))
	dataDir := t.TempDir()
	for range 2 {
		_, err := r.BinaryPath(t.Context(), dataDir)
		require.ErrorIs(t, err, ErrVersionMismatch)
		assert.Contains(t, err.Error(), "v93.0")
		assert.Contains(t, err.Error(), "v94.0")
		assert.Contains(t, err.Error(), binPath(dataDir, r))
		assert.Equal(t, []string{lockName}, dirEntries(t, filepath.Dir(binPath(dataDir, r))), "left at the final path")
	}
}

func TestExtractErrors(t *testing.T) {
	bin := chScript("v99.0")
	registerTestRelease(t, "v99.0", bin)
	r := testRelease("v99.0", bin)

	t.Run("empty data directory", func(t *testing.T) {
		_, err := getBinaryPath(t, "", "v99.0")
		require.ErrorIs(t, err, fs.ErrInvalid)
		assert.Contains(t, err.Error(), "empty data directory")
	})
	t.Run("data directory is a file", func(t *testing.T) {
		dataDir := filepath.Join(t.TempDir(), "file")
		require.NoError(t, os.WriteFile(dataDir, nil, 0o644))
		_, err := r.BinaryPath(t.Context(), dataDir)
		require.ErrorIs(t, err, syscall.ENOTDIR)
		assert.Contains(t, err.Error(), dataDir)
	})
	t.Run("unknown version", func(t *testing.T) {
		_, err := getBinaryPath(t, t.TempDir(), "v1.0")
		require.ErrorIs(t, err, ErrUnknownVersion)
		assert.Contains(t, err.Error(), "v99.0")
	})
	t.Run("malformed version", func(t *testing.T) {
		_, err := getBinaryPath(t, t.TempDir(), "vx.y")
		require.ErrorIs(t, err, ErrBadVersion)
	})
	t.Run("no binary", func(t *testing.T) {
		dataDir := t.TempDir()
		_, err := testRelease("v99.0", nil).BinaryPath(t.Context(), dataDir)
		require.ErrorIs(t, err, ErrNoBinary)
		assert.Contains(t, err.Error(), "no binary embedded for "+hostArch()+" in CH v99.0: run `make binaries`")
		assert.Empty(t, dirEntries(t, dataDir))
	})
	t.Run("empty embedded binary", func(t *testing.T) {
		_, err := testRelease("v99.0", []byte{}).BinaryPath(t.Context(), t.TempDir())
		require.ErrorIs(t, err, ErrNoBinary)
	})
	t.Run("arch that is no name", func(t *testing.T) {
		for _, arch := range []string{"..", "x/../x86_64", "X86_64"} {
			d := testDriver("v99.0", bin)
			d.Arch = arch
			evil, err := newRelease(d)
			require.NoError(t, err)
			_, err = evil.BinaryPath(t.Context(), t.TempDir())
			require.ErrorIs(t, err, ErrNoBinary, arch)
		}
	})
	t.Run("embedded binary does not run", func(t *testing.T) {
		dataDir := t.TempDir()
		bad := testRelease("v99.0", []byte("\x7fELF garbage"))
		_, err := bad.BinaryPath(t.Context(), dataDir)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "check the version")
		assert.NoFileExists(t, binPath(dataDir, bad))
	})
}

// makeUnwritable makes dir refuse new entries, even to root, until the test
// ends.
func makeUnwritable(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		require.NoError(t, os.Chmod(dir, 0o555))
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		return
	}
	setImmutable(t, dir, true)
	t.Cleanup(func() { setImmutable(t, dir, false) })
}

func TestExtractUnwritableDataDir(t *testing.T) {
	bin := chScript("v99.0")
	r := testRelease("v99.0", bin)

	t.Run("nothing extracted yet", func(t *testing.T) {
		dataDir := t.TempDir()
		makeUnwritable(t, dataDir)
		_, err := r.BinaryPath(t.Context(), dataDir)
		require.ErrorIs(t, err, fs.ErrPermission)
		assert.Contains(t, err.Error(), filepath.Join(dataDir, "system"))
		assert.Contains(t, err.Error(), "writable")
	})

	t.Run("already extracted", func(t *testing.T) {
		dataDir := t.TempDir()
		path, err := r.BinaryPath(t.Context(), dataDir)
		require.NoError(t, err)
		require.NoError(t, os.Remove(filepath.Join(filepath.Dir(path), lockName)))
		makeUnwritable(t, filepath.Dir(path))
		resetExtractCache()
		got, err := r.BinaryPath(t.Context(), dataDir)
		require.NoError(t, err, "a read-only data directory with the right binary is fine")
		assert.Equal(t, path, got)

		require.NoError(t, os.Truncate(path, 1))
		_, err = r.BinaryPath(t.Context(), dataDir)
		require.ErrorIs(t, err, fs.ErrPermission)
		assert.Contains(t, err.Error(), "writable")
	})
}

// TestExtractWarmPath shows that once extracted, BinaryPath neither
// hashes nor runs the binary again, nor hashes the embedded binary again
// for another data directory; a changed file is verified again.
func TestExtractWarmPath(t *testing.T) {
	r := registerTestRelease(t, "v95.0", chScript("v95.0"))
	dataDir := t.TempDir()
	path, err := getBinaryPath(t, dataDir, "v95.0")
	require.NoError(t, err)
	p, err := r.payload()
	require.NoError(t, err)

	type counts struct{ embedded, files, versions, writes int64 }
	count := func() counts {
		return counts{p.embeddedHashes.Load(), p.fileHashes.Load(), p.versionChecks.Load(), p.writes.Load()}
	}
	before := count()
	for range 1000 {
		got, err := getBinaryPath(t, dataDir, "95")
		require.NoError(t, err)
		require.Equal(t, path, got)
	}
	assert.Equal(t, before, count(), "the warm path hashed, ran or wrote")

	// A touched file is hashed again, not rewritten; its version is not
	// asked again: identical bytes already answered in this process.
	later := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(path, later, later))
	_, err = getBinaryPath(t, dataDir, "95")
	require.NoError(t, err)
	want := before
	want.files++
	assert.Equal(t, want, count())

	// Another data directory: written once more, but the embedded binary
	// is neither hashed nor version-checked again.
	_, err = getBinaryPath(t, t.TempDir(), "95")
	require.NoError(t, err)
	want.writes++
	assert.Equal(t, want, count())
}
