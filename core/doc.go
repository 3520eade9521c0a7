// Package core drives Cloud Hypervisor (CH) releases that are compiled into
// the program, the way database/sql drives SQL databases through drivers.
//
// Each supported CH major lives in its own module
// (github.com/chvmm/chvmm/versions/v48 … /v53). Importing one for its side
// effect registers that release with this package:
//
//	import _ "github.com/chvmm/chvmm/versions/v50"
//
// A registered [Release] carries the CH version, the API version of its
// OpenAPI spec, the CH binaries embedded for each architecture, the tables of
// its API (endpoints, schemas) and a constructor for its generated, typed
// client. [Lookup] finds a release by exact version ("v50.2", "50.2", "50")
// or by constraint (">= 49, < 52", "~> 50.0").
//
// The main paths:
//   - [StartProcess] extracts a release's binary ([GetBinaryPath]: atomic,
//     verified, once), starts cloud-hypervisor on an API socket the library
//     binds itself, and returns a supervised [Process] once the API answers;
//   - [Connect] reaches a VMM that is already running and detects its
//     version;
//   - [Hypervisor] (from [Process.Hypervisor] or [Conn.Hypervisor]) is one
//     API for every release, with the version-neutral types of api.gen.go
//     ([VMConfig], [DiskConfig], …): a field or operation the VMM's release
//     lacks is an error naming the first release that has it, never dropped;
//   - snapshots record the release that wrote them; [RestoreProcess] restores
//     one on exactly that release, since a VM paused or snapshotted under one
//     CH release can only be resumed or restored by that release.
//
// Errors wrap the sentinels of errors.go, apierror.go and the files that
// define them; CH's own answers are [*APIError] values.
//
// The file names give the design: registry.go (the registry), release.go
// (what a release carries), version.go (CH version strings), extract*.go
// (binary extraction), preflight.go (/dev/kvm), socket.go (the API socket),
// process*.go (starting and supervising CH), events.go (CH's event monitor),
// transport.go and apierror.go (HTTP over the unix socket, CH's errors),
// connect.go (reaching a running VMM), hypervisor.go and vmm_client.go (the
// version-neutral API), convert.go and capabilities.go (what each release
// supports), fdpass.go (file descriptors over SCM_RIGHTS), snapshot.go
// (version-locked snapshots), vmconfig.go (DirectBoot), and the generated
// api.gen.go and features.gen.go.
package core
