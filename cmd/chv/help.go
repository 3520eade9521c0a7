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
	"start": `
Starts the embedded binary of --version (extracted into --data-dir), or
--binary, or with --simulate the chsim simulator of that version (chv runs
itself as chv-simulator-VERSION: no KVM or binary needed). Arguments after
"--" are passed to CH. Without --detach chv stays in the foreground until
the VMM exits (Ctrl-C stops it gracefully).`,
	"restore-process": `
Reads the snapshot's chvmm metadata, starts a VMM of exactly the CH version
that wrote it and restores the snapshot into it (core.RestoreProcess).`,
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
writable, the socket directory takes unix sockets. Then for each version:
binary embedded -> extract -> its --version agrees -> start -> ping ->
vmm.shutdown, timed. Exit status 1 if anything failed; each failure says
what to do. --simulate checks the simulator instead of CH binaries.`,
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
	vs := core.Versions() // oldest first
	s := ""
	for i, v := range vs {
		switch {
		case i == 0:
		case i == len(vs)-1:
			s += " and "
		default:
			s += ", "
		}
		s += v
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
