package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/api"
)

// Start the newest registered CH of major 53 (blank-import its version
// module, github.com/chvmm/chvmm/versions/v53, or name v53.Release), talk to
// it, and stop it. ctx bounds the start only. (README: Start a VMM.)
func ExampleStartProcess() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel() // the VMM keeps running: it lives until Stop

	rel, err := core.Lookup("53") // or v53.Release; "v50.2", ">= 49, < 52", "latest"
	if err != nil {
		log.Fatal(err) // core.ErrUnknownVersion: blank-import the version module
	}
	proc, err := core.StartProcess(ctx, rel, "/var/lib/chvmm", "/run/chvmm/vm1.sock")
	if err != nil {
		log.Fatal(err) // core.ErrKVMUnavailable, …; a *core.StartError if CH exited or did not answer
	}
	defer proc.Stop(context.Background()) // vmm.shutdown, then SIGTERM, then SIGKILL; reaped

	h := proc.Hypervisor()   // the API of every release
	info, err := h.Ping(ctx) // StartProcess returned once the API answered
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("CH", info.BuildVersion, "pid", proc.PID(), "log", proc.LogPath())
	// The typed client of the release, for example *v53.ClientWithResponses:
	//
	//	client, err := core.ClientAs[*v53.ClientWithResponses](h)
	//	resp, err := client.GetVmmPingWithResponse(ctx)
}

// Start a VMM with options: chvmm's records to a logger, CH's output to a
// file of your choice, a longer start timeout, and the VMM's life bound to a
// context.
func ExampleWithLifetime() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // kills the VMM: an exit this program requested
	rel, err := core.Lookup("latest")
	if err != nil {
		log.Fatal(err)
	}
	proc, err := core.StartProcess(ctx, rel, "/var/lib/chvmm", "/run/chvmm/vm1.sock",
		core.WithLifetime(ctx), core.WithLogger(slog.Default()),
		core.WithOutputPath("/var/log/chvmm/vm1.log"), core.WithStartTimeout(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("CH", proc.Release(), "pid", proc.PID(), "log", proc.LogPath())
}

// Supervise a VMM: read its events, and tell a requested exit from a
// guest's power-off and from a crash, which loses the VM. (README: Supervise
// it.)
func ExampleProcess_Wait() {
	ctx := context.Background()
	rel, err := core.Lookup("latest")
	if err != nil {
		log.Fatal(err)
	}
	proc, err := core.StartProcess(ctx, rel, "/var/lib/chvmm", "/run/chvmm/vm1.sock")
	if err != nil {
		log.Fatal(err)
	}

	go func() {
		for ev := range proc.Events() { // CH's event monitor, always on; closes when the VMM exits
			log.Println(ev) // vm booted, vmm shutdown, …
		}
	}()
	switch exit := proc.Wait(); exit.Reason { // blocks until the VMM has exited and was reaped
	case core.ExitRequested, core.ExitGuestShutdown:
		// Stop, Kill, ShutdownVMM, the end of WithLifetime's ctx; or the guest powered off
	default: // core.ExitCrashed, core.ExitKilled: the VM is lost
		log.Printf("VM lost: %v; see %s", exit, proc.LogPath())
	}
}

// Connect to a VMM that is already running, whatever its release, as long
// as that release's module is imported.
func ExampleConnect() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := core.Connect(ctx, "/run/myapp/vm1/api.sock")
	if err != nil {
		log.Fatal(err) // errors.Is(err, core.ErrUnknownVersion): import its module
	}
	defer h.Close()
	info, err := h.Ping(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("CH", h.Release(), "build", info.BuildVersion)
}

// Keep a detached VMM's handle, and take the VMM back after this program
// restarted, with its events and exit record.
func ExampleAttach() {
	ctx := context.Background()
	rel, _ := core.Lookup("latest")
	proc, err := core.StartProcess(ctx, rel, "/var/lib/myapp", "/run/myapp/vm1/api.sock", core.WithDetached())
	if err != nil {
		log.Fatal(err)
	}
	data, _ := json.Marshal(proc.Handle())
	_ = os.WriteFile("/var/lib/myapp/vm1/handle.json", data, 0o600)

	// … after a restart:
	var h core.Handle
	data, _ = os.ReadFile("/var/lib/myapp/vm1/handle.json")
	if err := json.Unmarshal(data, &h); err != nil {
		log.Fatal(err)
	}
	proc, err = core.Attach(ctx, h)
	if err != nil {
		log.Fatal(err) // core.ErrNotRunning: the VMM is gone, or its pid was reused
	}
	if err := proc.WaitState(ctx, api.VMStateRunning); err != nil {
		log.Fatal(err)
	}
	poweredOff, err := proc.ShutdownGuest(ctx, 30*time.Second) // ACPI first, then vm.shutdown
	fmt.Println(poweredOff, err)
}
