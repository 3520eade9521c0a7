package e2e_test

import (
	"context"
	"errors"
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
	if err := upgrade(ctx, "/var/lib/chvmm", "/var/lib/vms/vm1.snap", "/run/chvmm/vm1.sock", "/run/chvmm/vm1-v53.sock"); err != nil {
		log.Fatal(err)
	}
}

// upgrade is Example_upgrade's body, as the README shows it.
func upgrade(ctx context.Context, dataDir, snapDir, sockOld, sockNew string) error {
	old, err := core.RestoreProcess(ctx, dataDir, snapDir, sockOld, core.RestoreOptions{Resume: true}) // e.g. v50.2
	if err != nil {
		return err
	}
	info, err := old.Hypervisor().VMInfo(ctx) // its config, every default filled in
	if err != nil {
		return errors.Join(err, old.Stop(ctx))
	}
	if err := old.Hypervisor().ShutdownVM(ctx); err != nil {
		return errors.Join(err, old.Stop(ctx))
	}
	if err := old.Stop(ctx); err != nil {
		return err
	}

	cfg, changes, err := v53.Release.Convert(&info.Config, old.Release())
	if err != nil {
		return err // a member or value v53 lacks that is not the old release's default, named (core.ErrUnsupportedField)
	}
	for _, c := range changes {
		log.Println(c) // dropped vmConfig.serial.iommu (false); set vmConfig.disks[0].image_type ("Raw"): …
	}
	next, err := core.StartProcess(ctx, v53.Release, dataDir, sockNew)
	if err != nil {
		return err
	}
	if err := next.Hypervisor().CreateVM(ctx, cfg, nil); err != nil {
		return errors.Join(err, next.Stop(ctx))
	}
	return next.Hypervisor().BootVM(ctx)
}
