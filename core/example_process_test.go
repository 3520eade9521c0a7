package core_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/chvmm/chvmm/core"
)

// Start the newest registered CH of major 50 (blank-import its version
// module, github.com/chvmm/chvmm/versions/v50), use its typed client, and
// stop it.
func ExampleStartProcess() {
	ctx := context.Background()
	proc, err := core.StartProcess(ctx, "/var/lib/myapp", "50", "/run/myapp/vm1/api.sock",
		core.WithStartTimeout(10*time.Second), core.WithEvents())
	if err != nil {
		log.Fatal(err) // a *core.StartError carries CH's exit status and output
	}
	defer proc.Stop(ctx)
	go func() {
		for ev := range proc.Events() {
			fmt.Println("event:", ev)
		}
	}()
	// The typed client of the release, for example *v50.ClientWithResponses:
	//
	//	api, err := core.ClientAs[*v50.ClientWithResponses](proc)
	//	resp, err := api.GetVmmPingWithResponse(ctx)
	fmt.Println("CH", proc.Version(), "pid", proc.PID(), "log", proc.LogPath())
}

// Connect to a VMM that is already running, whatever its version, as long as
// that version's module is imported.
func ExampleConnect() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := core.Connect(ctx, "/run/myapp/vm1/api.sock")
	if err != nil {
		log.Fatal(err) // errors.Is(err, core.ErrUnknownVersion): import its module
	}
	defer conn.Close()
	fmt.Println("CH", conn.Release.Version, "build", conn.Info.BuildVersion)
	// Assert the client to the release's type, e.g. *v48.ClientWithResponses:
	//
	//	switch api := conn.Client().(type) {
	//	case *v48.ClientWithResponses:
	//	case *v53.ClientWithResponses:
	//	}
}

// Take back a detached VMM after this program restarted.
func ExampleAttach() {
	ctx := context.Background()
	proc, err := core.Attach(ctx, 12345, "/run/myapp/vm1/api.sock")
	if err != nil {
		log.Fatal(err)
	}
	<-proc.Done() // or proc.Stop(ctx)
}
