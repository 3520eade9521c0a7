// Package core drives Cloud Hypervisor (CH) releases that are compiled into
// the program, the way database/sql drives SQL databases through drivers.
//
// Each supported CH major lives in its own module
// (github.com/chvmm/chvmm/versions/v48 … /v53), which embeds that release's
// binary and its generated client. Importing one for its side effect
// registers that release with this package, and pulls in nothing else:
//
//	import _ "github.com/chvmm/chvmm/versions/v50"
//
// A registered [Release] is the CH version, its embedded binary, the model of
// its API (read from its OpenAPI spec and from the server's own source) and
// its known advisories. [Lookup] finds one by exact version ("v50.2"), by
// major ("50") or by constraint (">= 49, < 52"); each version module also
// exports its release (v50.Release).
//
// The main paths:
//   - [StartProcess] extracts the release's binary under a data directory
//     ([Release.BinaryPath]: atomic, verified, once, in a directory chain only
//     root and this user can change), runs exactly the verified file on an
//     API socket the library binds itself, and returns a supervised
//     [Process] once the API answers. [Process.Wait] tells how it ended
//     ([Exit]: requested, guest shutdown, crashed, killed);
//     [Process.Events] streams CH's event monitor;
//   - [Attach] takes back a VMM started [WithDetached], from its [Handle];
//   - [Connect] reaches any running VMM and detects its release;
//   - [Hypervisor] is one API for every release, with the version-neutral
//     types of package [github.com/chvmm/chvmm/core/api]: a field or
//     operation the VMM's release lacks is an error naming the first release
//     that has it, never dropped silently; [ClientAs] gives the release's own
//     generated client;
//   - snapshots record the release that wrote them; [RestoreProcess]
//     restores one on that release, since a VM paused or snapshotted under
//     one CH release can only be resumed or restored by that release;
//     [Release.Convert] moves a shut-down VM's config to another release.
//
// Errors wrap the sentinels of errors.go and can be matched with
// [errors.Is]; CH's own answers are [*APIError] values, a failed start a
// [*StartError].
//
// The file names give the design: registry.go and release.go (the registry,
// what a release is), extract*.go, trust.go and lock.go (putting the binary
// in place safely), start.go, socket.go, process*.go, exit.go, events.go and
// attach.go (running and supervising CH), transport.go and apierror.go (HTTP
// over the unix socket, CH's errors), hypervisor.go, vmm_client.go,
// fieldcheck.go, features.go and fdpass.go (the version-neutral API),
// snapshot.go and convert.go (snapshots, moving between releases),
// advisories.go, and the generated features.gen.go and advisories.gen.go.
package core
