package main_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/chsim/chsimtest"
)

func waitSocket(t *testing.T, sock string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("simulator did not listen on %s", sock)
}

func put(t *testing.T, sock, endpoint string) int {
	t.Helper()
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	req, err := http.NewRequest(http.MethodPut, "http://localhost/api/v1/"+endpoint, nil)
	require.NoError(t, err)
	resp, err := cl.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		require.NoError(t, err)
		return 0
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("simulator binary did not exit")
		return -1
	}
}

func TestBinary(t *testing.T) {
	bin := chsimtest.Build(t, "v49.0")

	out, err := exec.Command(bin, "--version").Output()
	require.NoError(t, err)
	assert.Equal(t, "cloud-hypervisor v49.0\n", string(out))

	var stderr bytes.Buffer
	cmd := exec.Command(bin, "--bogus")
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 2, ee.ExitCode(), "clap's usage-error status")
	assert.Contains(t, stderr.String(), "error: unexpected argument '--bogus' found")

	for _, form := range []string{"plain", "path=", "fd="} {
		t.Run(form, func(t *testing.T) {
			dir := t.TempDir()
			sock := filepath.Join(dir, "api.sock")
			events := filepath.Join(dir, "events.json")
			args := []string{"-v", "-v", "--log-file", filepath.Join(dir, "log"), "--event-monitor", "path=" + events, "--seccomp", "false"}
			cmd := exec.Command(bin)
			switch form {
			case "plain":
				args = append(args, "--api-socket", sock)
			case "path=":
				args = append(args, "--api-socket=path="+sock)
			case "fd=":
				l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
				require.NoError(t, err)
				l.SetUnlinkOnClose(false)
				f, err := l.File()
				require.NoError(t, err)
				l.Close()
				defer f.Close()
				cmd.ExtraFiles = []*os.File{f}
				args = append(args, "--api-socket", "fd=3")
			}
			cmd.Args = append(cmd.Args, args...)
			require.NoError(t, cmd.Start())
			waitSocket(t, sock)
			assert.Equal(t, 200, put(t, sock, "vmm.shutdown"))
			assert.Equal(t, 0, exitCode(t, cmd))
			b, err := os.ReadFile(events)
			require.NoError(t, err)
			assert.Contains(t, string(b), `"event": "starting"`)
			assert.True(t, strings.HasSuffix(string(b), "}\n\n"), "events end with a blank line")
		})
	}

	t.Run("SIGTERM", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "api.sock")
		cmd := exec.Command(bin, "--api-socket", sock)
		require.NoError(t, cmd.Start())
		waitSocket(t, sock)
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		assert.Equal(t, 0, exitCode(t, cmd))
	})
}
