package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
	"github.com/chvmm/chvmm/core/driver"
	v53 "github.com/chvmm/chvmm/versions/v53"
)

// The benchmarks run the simulator (chsim) built as a cloud-hypervisor
// binary of CH v53.0, each paired with a baseline in the same run:
//
//	BenchmarkStartToReady        vs BenchmarkExecToListenBaseline  (goal ≤ 1.2×)
//	BenchmarkPing                vs BenchmarkRawHTTPPing           (goal ≤ 1.15×)
//	BenchmarkCreateBootInfo      vs BenchmarkCreateBootInfoRawClient (goal ≤ 1.1×)
//
// plus BenchmarkPingDialPerRequest and BenchmarkConcurrentStart100. The
// extraction benchmarks (BenchmarkExtractCold vs BenchmarkCopyBaseline,
// BenchmarkBinaryPathWarm) live in core/extract_bench_test.go.

// readyTimeout bounds how long a baseline waits for the simulator's socket.
const readyTimeout = 5 * time.Second

// BenchmarkStartToReady is core.StartProcess of the simulator binary, which
// returns once the VMM answers a ping, then Process.Stop.
func BenchmarkStartToReady(b *testing.B) {
	bin := simBinary(b, simVersion)
	dir := b.TempDir()
	sock := filepath.Join(dir, "api.sock")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		p, err := core.StartProcess(ctx, simRelease(), dir, sock, simOptions(bin)...)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Stop(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExecToListenBaseline is the least a launcher can do: exec the
// same binary with --api-socket <path>, spin on connect until the socket
// accepts, then kill and reap it.
func BenchmarkExecToListenBaseline(b *testing.B) {
	bin := simBinary(b, simVersion)
	sock := filepath.Join(b.TempDir(), "api.sock")
	b.ReportAllocs()
	for b.Loop() {
		cmd := exec.Command(bin, "--api-socket", sock)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(readyTimeout)
		for {
			c, err := net.Dial("unix", sock)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				b.Fatalf("the simulator did not accept on %s within %v: %v", sock, readyTimeout, err)
			}
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if err := os.Remove(sock); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPing is Hypervisor.Ping (keep-alive), which decodes the answer.
func BenchmarkPing(b *testing.B) {
	p := startSim(b, simBinary(b, simVersion))
	h := p.Hypervisor()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// rawPing is the vmm.ping answer as a bare client would decode it.
type rawPing struct {
	BuildVersion string   `json:"build_version"`
	Version      string   `json:"version"`
	PID          int      `json:"pid"`
	Features     []string `json:"features"`
}

// rawUnixClient is a bare net/http client of the unix socket at sock.
func rawUnixClient(sock string, keepAlive bool) *http.Client {
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", sock)
		},
		DisableKeepAlives: !keepAlive,
	}}
}

// rawGetPing is GET /vmm.ping with bare net/http, decoding the answer the
// same way core.Ping does.
func rawGetPing(ctx context.Context, client *http.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, driver.BaseURL+"/vmm.ping", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	return readPing(resp)
}

// readPing reads and closes a vmm.ping answer and decodes it.
func readPing(resp *http.Response) error {
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("vmm.ping: HTTP %d: %s", resp.StatusCode, body)
	}
	var info rawPing
	return json.Unmarshal(body, &info)
}

// BenchmarkRawHTTPPing is the baseline of BenchmarkPing: bare net/http over
// the same kind of socket, keep-alive, decoding the same answer.
func BenchmarkRawHTTPPing(b *testing.B) {
	p := startSim(b, simBinary(b, simVersion))
	client := rawUnixClient(p.SocketPath(), true)
	defer client.CloseIdleConnections()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := rawGetPing(ctx, client); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPingDialPerRequest is the raw ping over a client that disables
// keep-alives: one connection per request, what keep-alive saves.
func BenchmarkPingDialPerRequest(b *testing.B) {
	p := startSim(b, simBinary(b, simVersion))
	client := rawUnixClient(p.SocketPath(), false)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := rawGetPing(ctx, client); err != nil {
			b.Fatal(err)
		}
	}
}

// concurrentVMMs is how many simulators BenchmarkConcurrentStart100 runs at
// once.
const concurrentVMMs = 100

// BenchmarkConcurrentStart100 starts 100 simulator VMMs concurrently, pings
// each and stops them all; it reports ms per batch and fails if any VMM
// failed.
func BenchmarkConcurrentStart100(b *testing.B) {
	bin := simBinary(b, simVersion)
	root := b.TempDir()
	ctx := context.Background()
	b.ReportAllocs()
	start := time.Now()
	batches := 0
	for b.Loop() {
		errs := make([]error, concurrentVMMs)
		var wg sync.WaitGroup
		for i := range concurrentVMMs {
			wg.Go(func() {
				dir := filepath.Join(root, fmt.Sprint(i))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					errs[i] = err
					return
				}
				p, err := core.StartProcess(ctx, simRelease(), dir, filepath.Join(dir, "api.sock"), simOptions(bin)...)
				if err != nil {
					errs[i] = err
					return
				}
				if _, err := p.Hypervisor().Ping(ctx); err != nil {
					errs[i] = fmt.Errorf("ping: %w", err)
				}
				if err := p.Stop(ctx); err != nil {
					errs[i] = errors.Join(errs[i], fmt.Errorf("stop: %w", err))
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			b.Fatalf("batch of %d VMMs: %v", concurrentVMMs, err)
		}
		batches++
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(batches), "ms/batch")
}

// createBootInfoVM is the VM the Create/Boot/Info benchmarks create.
func createBootInfoVM(kernel string) api.DirectBoot {
	return api.DirectBoot{Kernel: kernel, Cmdline: "console=ttyS0", VCPUs: 1, MemoryMiB: 256}
}

// BenchmarkCreateBootInfo is vm.create, vm.boot, vm.info and vm.delete
// through core.Hypervisor (version-neutral types, field checks against the
// release).
func BenchmarkCreateBootInfo(b *testing.B) {
	p := startSim(b, simBinary(b, simVersion))
	h := p.Hypervisor()
	cfg := createBootInfoVM(writeKernel(b, b.TempDir())).Config()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := createBootInfoDelete(ctx, h, cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// createBootInfoDelete is one round of the CreateBootInfo benchmarks
// through h: vm.create, vm.boot, vm.info (the VM must be running) and
// vm.delete.
func createBootInfoDelete(ctx context.Context, h core.Hypervisor, cfg *api.VMConfig) error {
	if err := h.CreateVM(ctx, cfg, nil); err != nil {
		return err
	}
	if err := h.BootVM(ctx); err != nil {
		return err
	}
	info, err := h.VMInfo(ctx)
	if err != nil {
		return err
	}
	if info.State != api.VMStateRunning {
		return fmt.Errorf("VM state %q after vm.boot, want Running", info.State)
	}
	return h.DeleteVM(ctx)
}

// BenchmarkCreateBootInfoRawClient is the baseline of
// BenchmarkCreateBootInfo: the same calls through the generated v53 client.
func BenchmarkCreateBootInfoRawClient(b *testing.B) {
	p := startSim(b, simBinary(b, simVersion))
	c, err := core.ClientAs[*v53.ClientWithResponses](p.Hypervisor())
	if err != nil {
		b.Fatal(err)
	}
	kernel := writeKernel(b, b.TempDir())
	cmdline := "console=ttyS0"
	cfg := v53.VmConfig{
		Payload: v53.PayloadConfig{Kernel: &kernel, Cmdline: &cmdline},
		Cpus:    &v53.CpusConfig{BootVcpus: 1, MaxVcpus: 1},
		Memory:  &v53.MemoryConfig{Size: 256 << 20},
		Console: &v53.ConsoleConfig{Mode: v53.ConsoleModeOff},
		Serial:  &v53.SerialConfig{Mode: v53.ConsoleModeNull},
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.CreateVMWithResponse(ctx, cfg); err != nil {
			b.Fatal(err)
		}
		if _, err := c.BootVMWithResponse(ctx); err != nil {
			b.Fatal(err)
		}
		info, err := c.GetVmInfoWithResponse(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if info.JSON200 == nil || info.JSON200.State != v53.Running {
			b.Fatalf("vm.info after boot: HTTP %d %s", info.StatusCode(), info.Body)
		}
		if _, err := c.DeleteVMWithResponse(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
