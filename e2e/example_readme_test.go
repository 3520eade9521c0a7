package e2e_test

import (
	"context"
	"fmt"
	"log"

	"github.com/chvmm/chvmm/core"
	v53 "github.com/chvmm/chvmm/versions/v53"
)

// The README's examples that name a version module's identifiers (core's
// examples cannot: core does not depend on the version modules). They need
// KVM and a VMM, so they are compiled, not run.

// Connect to a running VMM and use its release's generated client.
// (README: Connect to a running VMM.)
func Example_connect() {
	ctx := context.Background()

	h, err := core.Connect(ctx, "/run/chvmm/vm1.sock") // pings, reads build_version, finds the release
	if err != nil {
		log.Fatal(err) // core.ErrUnknownVersion names the version and what is registered
	}
	defer h.Close()

	client, err := core.ClientAs[*v53.ClientWithResponses](h) // the release's generated client, if you need it
	if err != nil {
		log.Fatal(err) // the VMM runs another release, whose client is another type
	}
	resp, err := client.GetVmInfoWithResponse(ctx)
	if err != nil {
		log.Fatal(err) // a *core.APIError for any answer but 2xx
	}
	fmt.Println(resp.JSON200.State)
}

// Move a snapshotted VM to a newer release: restore it on its own, shut it
// down, convert its config, create it on the new one. (README: Upgrading a
// VM to a newer CH.)
func Example_upgrade() {
	ctx := context.Background()
	dataDir, snapDir := "/var/lib/chvmm", "/var/lib/vms/vm1.snap"
	sockOld, sockNew := "/run/chvmm/vm1.sock", "/run/chvmm/vm1-v53.sock"

	old, _ := core.RestoreProcess(ctx, dataDir, snapDir, sockOld, core.RestoreOptions{Resume: true}) // e.g. v50.2
	info, _ := old.Hypervisor().VMInfo(ctx)                                                          // its config, every default filled in
	_ = old.Hypervisor().ShutdownVM(ctx)
	_ = old.Stop(ctx)

	cfg, changes, err := v53.Release.Convert(&info.Config, old.Release())
	// err: a member or value v53 lacks that is not the old release's default, named (core.ErrUnsupportedField)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range changes {
		log.Println(c) // dropped vmConfig.serial.iommu (false); set vmConfig.disks[0].image_type ("Raw"): …
	}
	next, _ := core.StartProcess(ctx, v53.Release, dataDir, sockNew)
	_ = next.Hypervisor().CreateVM(ctx, cfg, nil)
	_ = next.Hypervisor().BootVM(ctx)
}
