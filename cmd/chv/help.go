package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/chvmm/chvmm/core"
)

// commandDetails is the longer help of some commands, shown by -h.
var commandDetails = map[string]string{
	"versions": `
For each registered version: whether this build embeds its binary (a build
embeds its own architecture's only), how many known advisories (security,
data-loss) it has; then each advisory once, with its fix and summary (every
source in --json); then the capabilities that differ between versions.`,
	"start": `
Starts the embedded binary of --version (extracted into --data-dir), or
--binary (default $CHVMM_BINARY), or with --simulate the chsim simulator of
that version (chv runs itself as chv-simulator-VERSION: no KVM or binary
needed). Given a binary and no --version, chv starts the release the
binary's --version reports; with --version the binary must be of that
release. Arguments after "--" are passed to CH (-- -vv --seccomp log).
--timeout bounds the start, and Ctrl-C aborts it: the VMM is then killed.
Without --detach chv stays in the foreground until the VMM exits (Ctrl-C
stops it gracefully; it never outlives chv), then says how it ended:
requested, guest shutdown, crashed or killed (exit status 1 for the last
two: the VM is lost). With --json an {"exit": …} object then follows the
first one; --events prints each CH event as it comes ({"event": …}).`,
	"restore-process": `
Reads the snapshot's chvmm metadata, starts a VMM of the CH version that
wrote it (or the newest registered one of its major release) and restores
the snapshot into it (core.RestoreProcess). --binary (default
$CHVMM_BINARY) must be of that version. --timeout bounds the start and the
restore; the foreground, --events and the exit report are as for start.`,
	"restore": `
The snapshot must have been written by the VMM's own CH version (the version
lock): another version's snapshot is refused unless --force is given. Use
restore-process to start the right version instead.`,
	"create": `
--config takes the JSON body of CH's PUT /vm.create (VmConfig); unknown
fields are refused with their name. Otherwise the flags describe a kernel
booted directly: e.g.
  chv create --socket S --kernel vmlinux --initramfs initrd.img \
      --cmdline console=ttyS0 --cpus 2 --memory 1G --serial serial.log`,
	"doctor": `
Host checks: /dev/kvm opens read-write, group kvm, the data directory is
writable, the socket directory takes unix sockets, and $CHVMM_BINARY (when
set) reports a registered version. Then for each version: binary embedded
-> extract -> its --version agrees -> start -> ping -> vmm.shutdown, timed.
Exit status 1 if anything failed; each failure says what to do. Known
advisories of the versions are warnings, not failures. --simulate checks
the simulator instead of CH binaries.`,
}

// printUsage writes the overview of chv: synopsis, commands by group,
// global flags.
func printUsage(w io.Writer) {
	fmt.Fprintf(w, "chv drives Cloud Hypervisor %s.\n\n", joinVersions())
	fmt.Fprintln(w, "Usage: chv [global flags] <command> [flags] [arguments]")
	var groups []string
	seen := map[string]bool{}
	for _, c := range commands {
		if !seen[c.group] {
			seen[c.group] = true
			groups = append(groups, c.group)
		}
	}
	for _, g := range groups {
		fmt.Fprintf(w, "\n%s:\n", g)
		tw := newTable(w)
		for _, c := range commands {
			if c.group == g {
				tw.row("  "+c.name, c.summary)
			}
		}
		tw.flush()
	}
	fmt.Fprintln(w, "\nGlobal flags (before the command or among its flags):")
	fs := flag.NewFlagSet("chv", flag.ContinueOnError)
	g := defaultGlobals()
	g.register(fs)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintln(w, "\nRun 'chv <command> -h' for a command's flags. Exit status: 0 ok, 1 operation failed, 2 usage error.")
}

func joinVersions() string {
	rs := core.Releases() // oldest first
	s := ""
	for i, r := range rs {
		switch {
		case i == 0:
		case i == len(rs)-1:
			s += " and "
		default:
			s += ", "
		}
		s += r.Version()
	}
	return s
}

// runHelp is `chv help [command]`.
func runHelp(_ context.Context, e *env, args []string) error {
	if len(args) == 0 {
		printUsage(e.stdout)
		return nil
	}
	c := lookupCommand(args[0])
	if c == nil {
		return usageErrorf("unknown command %q; run 'chv help' for the list", args[0])
	}
	// Running the command with -h prints its usage.
	sub := &env{stdout: e.stdout, stderr: e.stderr, global: e.global, cmd: c}
	return c.run(context.Background(), sub, []string{"-h"})
}
