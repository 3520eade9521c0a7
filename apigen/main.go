// Command apigen generates and maintains chvmm's per-release version modules
// (versions/vNN): the typed API client generated from each Cloud Hypervisor
// release's OpenAPI spec, the registration of the release with
// github.com/chvmm/chvmm/core, the spec itself for the simulator, and the
// release's embedded binaries.
//
// Run it from the repository root:
//
//	go run ./apigen generate -specs specs [vNN ...]
//	go run ./apigen new-version -V 54.0 -specs specs
//	go run ./apigen binaries [-from DIR] [-arch x86_64] [vNN ...]
//	go run ./apigen facts -ch CH_GIT_DIR [vNN | vNN.N ...]
//
// Each version module pins its release tag and the SHA-256 of the official
// spec in versions/vNN/spec.lock, and the SHA-256 of each embedded binary in
// versions/vNN/binaries.lock. Specs that are not valid OpenAPI, or that name
// something differently from their server, are repaired in memory by the
// named fix-ups of fixups.go, never by editing a spec file. Each server's
// truth (routes, serde shapes) is read from the Cloud Hypervisor source into
// apigen/facts/<tag>.json (facts.go), and generate compares every spec with
// it (compare.go), failing on a difference nothing accounts for.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// errUsage marks a command line that apigen cannot run; main prints the usage.
var errUsage = errors.New("usage")

const usage = `usage: go run ./apigen <command> [flags] [vNN ...]

commands:
  generate     -specs DIR [vNN ...]   regenerate version modules from DIR/<tag>/cloud-hypervisor.yaml
  new-version  -V 54.0 -specs DIR     create versions/v54 from DIR/v54.0/cloud-hypervisor.yaml
  binaries     [-from DIR] [vNN ...]  fetch (or import from DIR/<tag>/<arch>/cloud-hypervisor) the
                                      CH binaries into versions/vNN/binaries, checked against binaries.lock
  facts        -ch DIR [vNN ...]      read each release's server (routes, serde types) from the CH git
                                      directory DIR at its tag into apigen/facts/<tag>.json (a tag
                                      vNN.N names a release new-version has yet to add)

  release      -r N                   make the working tree release N's commit, on a branch
                                      release/v0.N: binaries added, requirements on the
                                      release tags, no replace lines, complete go.sum files
  check-release [-from DIR]           rehearse release 1 in a copy with stand-in binaries and
                                      build consumer programs from a file proxy

Every command takes -root DIR (the repository root, default ".").
Run "go run ./apigen <command> -h" for a command's flags.
`

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		if errors.Is(err, errUsage) {
			fmt.Fprint(os.Stderr, usage)
		}
		fmt.Fprintln(os.Stderr, "apigen:", err)
		os.Exit(1)
	}
}

// run executes one apigen command line (without the program name).
func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no command given", errUsage)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "generate":
		return runGenerate(ctx, rest)
	case "new-version":
		return runNewVersion(ctx, rest)
	case "binaries":
		return runBinaries(ctx, rest)
	case "release":
		return runRelease(ctx, rest)
	case "check-release":
		return runCheckRelease(ctx, rest)
	case "facts":
		return runFacts(ctx, rest)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}
