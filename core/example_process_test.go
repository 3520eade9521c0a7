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

// Start the newest registered CH of major 50 (blank-import its version
// module, github.com/chvmm/chvmm/versions/v50, or name v50.Release), watch
// its events, and stop it. ctx bounds the start only.
func ExampleStartProcess() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel() // the VMM keeps running: it lives until Stop
	rel, err := core.Lookup("50")
	if err != nil {
		log.Fatal(err) // core.ErrUnknownVersion: import the version module
	}
	proc, err := core.StartProcess(ctx, rel, "/var/lib/myapp", "/run/myapp/vm1/api.sock",
		core.WithLogger(slog.Default()))
	if err != nil {
		log.Fatal(err) // a *core.StartError carries CH's exit status and output
	}
	go func() {
		for ev := range proc.Events() {
			fmt.Println("event:", ev)
		}
	}()
	// The typed client of the release, for example *v50.ClientWithResponses:
	//
	//	api, err := core.ClientAs[*v50.ClientWithResponses](proc.Hypervisor())
	//	resp, err := api.GetVmmPingWithResponse(ctx)
	fmt.Println("CH", proc.Release(), "pid", proc.PID(), "log", proc.LogPath())
	if err := proc.Stop(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println("ended:", proc.Wait()) // requested (exit status 0)
}

// Supervise a VMM: tell a requested exit from a guest's power-off and from a
// crash, which loses the VM.
func ExampleProcess_Wait() {
	ctx := context.Background()
	rel, _ := core.Lookup("latest")
	proc, err := core.StartProcess(ctx, rel, "/var/lib/myapp", "/run/myapp/vm1/api.sock")
	if err != nil {
		log.Fatal(err)
	}
	switch exit := proc.Wait(); exit.Reason {
	case core.ExitRequested, core.ExitGuestShutdown:
		fmt.Println("VMM ended as it should:", exit)
	default: // core.ExitCrashed, core.ExitKilled
		fmt.Println("VM lost:", exit, "see", proc.LogPath())
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
