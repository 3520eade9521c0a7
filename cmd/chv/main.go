package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/chvmm/chvmm/chsim"
	_ "github.com/chvmm/chvmm/versions/v48"
	_ "github.com/chvmm/chvmm/versions/v49"
	_ "github.com/chvmm/chvmm/versions/v50"
	_ "github.com/chvmm/chvmm/versions/v51"
	_ "github.com/chvmm/chvmm/versions/v52"
	_ "github.com/chvmm/chvmm/versions/v53"
)

// Exit statuses of chv.
const (
	exitOK     = 0 // the command did what it was asked
	exitFailed = 1 // the operation failed
	exitUsage  = 2 // the command line was wrong
)

// A command is one chv subcommand.
type command struct {
	name    string // "pause"
	args    string // synopsis after the name: "--socket S"
	summary string // one line for `chv help`
	group   string // heading in `chv help`
	// run executes the command with the arguments after its name. It
	// parses its own flags with env.flags.
	run func(ctx context.Context, e *env, args []string) error
}

// commands is every subcommand, in the order `chv help` lists them;
// filled in by init so that commands can refer to the table.
var commands []*command

func init() {
	commands = append(commands, hostCommands()...)
	commands = append(commands, processCommands()...)
	commands = append(commands, vmCommands()...)
	commands = append(commands, deviceCommands()...)
	commands = append(commands, snapshotCommands()...)
	commands = append(commands, &command{name: "help", args: "[command]", summary: "show usage of chv or of a command", group: "Other",
		run: runHelp})
}

func main() {
	if version, chArgs, ok := simulatorArgs(os.Args); ok {
		os.Exit(chsim.Main(version, chArgs, os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes chv with args (after the program name) and returns the exit
// status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr, global: defaultGlobals()}
	// Global flags may come before the command; each command accepts them
	// too.
	fs := flag.NewFlagSet("chv", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e.global.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return exitOK
		}
		return e.fail(usageErrorf("%v", err))
	}
	rest := fs.Args()
	if len(rest) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	cmd := lookupCommand(rest[0])
	if cmd == nil {
		return e.fail(usageErrorf("unknown command %q; run 'chv help' for the list", rest[0]))
	}
	e.cmd = cmd
	if err := cmd.run(ctx, e, rest[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return e.fail(err)
	}
	return exitOK
}

func lookupCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}
