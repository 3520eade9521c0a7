package chsimtest_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/chvmm/chvmm/chsim"
	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
	_ "github.com/chvmm/chvmm/versions/v50" // registers CH v50.2
)

// Create, boot, pause and snapshot a VM through core.Hypervisor, then
// restore the snapshot into a second VMM of the same release. The VMMs are
// CH v50.2 simulators; a real cloud-hypervisor answers the same.
func Example_hypervisor() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "chsim-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	kernel := filepath.Join(dir, "vmlinux")
	if err := os.WriteFile(kernel, []byte("kernel"), 0o644); err != nil {
		log.Fatal(err)
	}

	// start serves CH v50.2 on a socket in dir and returns its Hypervisor.
	var servers []*chsim.Server
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	start := func(name string) core.Hypervisor {
		socket := filepath.Join(dir, name+".sock")
		srv, err := chsim.Start(ctx, "v50.2", socket)
		if err != nil {
			log.Fatal(err)
		}
		servers = append(servers, srv)
		h, err := core.Connect(ctx, socket)
		if err != nil {
			log.Fatal(err)
		}
		return h
	}
	state := func(h core.Hypervisor) api.VMState {
		info, err := h.VMInfo(ctx)
		if err != nil {
			log.Fatal(err)
		}
		return info.State
	}

	h := start("first")
	cfg := api.DirectBoot{Kernel: kernel, Cmdline: "console=ttyS0", VCPUs: 2, MemoryMiB: 256}.Config()
	if err := h.CreateVM(ctx, cfg, nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", state(h))
	if err := h.BootVM(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("booted:", state(h))
	if err := h.PauseVM(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("paused:", state(h))

	snap := filepath.Join(dir, "snapshot")
	if err := os.Mkdir(snap, 0o755); err != nil {
		log.Fatal(err)
	}
	if err := h.Snapshot(ctx, snap); err != nil {
		log.Fatal(err)
	}
	md, err := core.ReadSnapshotMetadata(snap)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("snapshot written by CH", md.Version)

	h2 := start("second")
	if err := h2.Restore(ctx, snap, core.RestoreOptions{Resume: true}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("restored:", state(h2))
	// Output:
	// created: Created
	// booted: Running
	// paused: Paused
	// snapshot written by CH v50.2
	// restored: Running
}
