// Command chv drives Cloud Hypervisor (CH) v48.0, v49.0, v50.2, v51.2, v52.0
// and v53.0 from the command line: it embeds every chvmm version module,
// starts their VMMs and talks to a running VMM through its API socket,
// detecting its version with a ping (as core.Connect does).
//
// Usage:
//
//	chv [global flags] <command> [flags] [arguments]
//
// Host and releases:
//
//	chv versions                    registered versions: embedded binary, known advisories, differing capabilities
//	chv extract [--version C]       extract embedded binaries into the data directory, print their paths
//	chv doctor [--version C] [--simulate] [--socket-dir D]
//	                                /dev/kvm, group kvm, data and socket directories; then per version:
//	                                binary -> extract -> --version -> start -> ping -> vmm.shutdown, timed;
//	                                known advisories are warnings
//
// VMM processes:
//
//	chv start --socket S [--version C] [--detach] [--events] [--log-file F] [--binary B | --simulate] [-- CH args]
//	chv restore-process --snapshot DIR --socket S [--detach] [--events] [--resume] [--prefault] [--binary B | --simulate]
//
// --binary defaults to $CHVMM_BINARY (chv reads it; core reads no
// environment); without --version, chv starts the release the binary's
// --version reports. --timeout bounds a start and Ctrl-C aborts it (the
// VMM is then killed). In the foreground chv binds the VMM's life to its
// own (core.WithLifetime), stops it gracefully on Ctrl-C, and reports how
// it ended (core.Exit: requested, guest shutdown, crashed, killed; the last
// two exit 1). Starting a release with known advisories warns on stderr.
//
// Against a running VMM (--socket S):
//
//	chv ping | info | counters
//	chv create (--config vm.json | --kernel K [--initramfs I] [--cmdline C] [--cpus N] [--max-cpus N]
//	           [--memory 512M] [--disk P]... [--serial FILE|null|off|tty|pty])
//	chv boot | pause | resume | reboot | power-button | shutdown | delete | shutdown-vmm
//	chv resize [--cpus N] [--memory SIZE] [--balloon SIZE]
//	chv add-disk (--path P [--id ID] [--readonly] | --config disk.json)
//	chv add-net ([--tap T] [--mac M] [--ip A --mask M] [--id ID] | --config net.json)
//	chv remove-device ID
//	chv snapshot DIR
//	chv restore [--force] [--resume] [--prefault] DIR
//
// JSON configs (--config) are CH's own request bodies (VmConfig, DiskConfig,
// NetConfig); unknown fields are refused with their path ("cpus.bogus").
// Sizes take K, M, G, T suffixes (powers of 1024).
//
// Global flags, accepted before the command or among its flags:
//
//	--data-dir D   extracted binaries and simulator scripts (default /var/lib/chvmm for
//	               root, else $XDG_DATA_HOME/chvmm or ~/.local/share/chvmm)
//	--json         machine-readable output on stdout; a failure prints
//	               {"error", "exit_code", "api_error": {operation, status_code, messages}} on stderr
//	--timeout T    bound on the command's work with the VMM (default 30s; per version in doctor)
//
// Human output is aligned tables. A failure prints "chv: <message>" on
// stderr and, when CH answered with an error, CH's own message chain.
// Exit status: 0 ok, 1 the operation failed, 2 usage error (unknown command
// or flag, missing flag, bad flag value, unknown --version).
//
// # Snapshots and the version lock
//
// `chv snapshot` writes CH's files plus chvmm's metadata (which CH release
// wrote it). `chv restore` into a VMM of another release is refused unless
// --force; `chv restore-process` instead starts the snapshot's own release
// (core.RestoreProcess).
//
// # Simulation
//
// --simulate (start, restore-process, doctor) runs the chsim simulator
// instead of a CH binary, so chv can be tried without KVM or binaries. chv
// is its own simulator: for CH version V it writes
// {data dir}/simulator/chv-simulator-V, a two-line script that runs chv's
// own executable as `chv __chv-simulator V …`, and starts the script with
// core.StartProcess, exactly as it starts a CH binary. Run that way (or
// under a name starting with "chv-simulator-"), chv acts as
// cloud-hypervisor V: it answers --version with "cloud-hypervisor V" and
// serves the simulated API of V on the --api-socket it is given until
// vmm.shutdown or a signal. A file per version is needed because core runs
// a binary through its descriptor (argv[0] "cloud-hypervisor"), with an
// empty environment, and knows a file's version by its identity: only the
// file itself can carry the version. It is a separate process, so it
// outlives `chv start --detach`, and it needs no go toolchain at run time.
// The KVM check and the embedded-binary requirement are skipped.
package main
