package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/chversion"
)

// envBinary names the environment variable that, set to the path of a
// cloud-hypervisor binary, makes start and restore-process run it instead
// of the embedded binary, as --binary does (--binary wins; --simulate
// ignores it). core reads no environment: chv passes the binary on with
// core.WithBinary.
const envBinary = "CHVMM_BINARY"

// processCommands start VMM processes: start, restore-process.
func processCommands() []*command {
	return []*command{
		{name: "start", args: "--socket S [--version C] [--detach] [--events] [--log-file F] [--binary B | --simulate] [-- extra CH args]",
			summary: "start a Cloud Hypervisor VMM serving its API on a socket", group: "VMM processes", run: runStart},
		{name: "restore-process", args: "--snapshot DIR --socket S [--detach] [--events] [--resume] [--prefault] [--binary B | --simulate]",
			summary: "start the CH version that wrote a snapshot and restore the snapshot into it", group: "VMM processes", run: runRestoreProcess},
	}
}

// processFlags are the flags of the commands that start a VMM.
type processFlags struct {
	socket   string
	logFile  string
	binary   string
	detach   bool
	events   bool
	simulate bool
}

func (pf *processFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&pf.socket, "socket", "", "API socket path of the new VMM (required)")
	fs.StringVar(&pf.logFile, "log-file", "", "CH's own log file (--log-file of CH); its stdout/stderr go to {socket dir}/logs/{socket name}.log")
	fs.StringVar(&pf.binary, "binary", "", "run this cloud-hypervisor binary instead of the embedded one (default $"+envBinary+")")
	fs.BoolVar(&pf.detach, "detach", false, "return once the VMM is ready and leave it running")
	fs.BoolVar(&pf.events, "events", false, "in the foreground, print CH's events as they happen")
	fs.BoolVar(&pf.simulate, "simulate", false, "run the chsim simulator (chv itself) instead of CH: no KVM, no binary needed")
}

// check refuses flags that exclude each other.
func (pf *processFlags) check(e *env) error {
	switch {
	case pf.simulate && pf.binary != "":
		return usageErrorf("%s: --simulate and --binary exclude each other", e.cmd.name)
	case pf.events && pf.detach:
		return usageErrorf("%s: --events prints the events of a VMM in the foreground; it excludes --detach", e.cmd.name)
	}
	return nil
}

// binarySource returns the binary to run instead of the embedded one
// (--binary, else $CHVMM_BINARY) and how it was named, for messages
// ("--binary /x", "CHVMM_BINARY=/x"); "" with --simulate or when neither
// names one.
func (pf *processFlags) binarySource() (path, named string) {
	switch {
	case pf.simulate:
		return "", ""
	case pf.binary != "":
		return pf.binary, "--binary " + pf.binary
	}
	if b := os.Getenv(envBinary); b != "" {
		return b, envBinary + "=" + b
	}
	return "", ""
}

// launch is what a starting command hands core: the options, and the
// context that bounds the start.
type launch struct {
	opts []core.StartOption
	// binary is the file run instead of the embedded binary (a given
	// binary or the simulator link); "" for the embedded one.
	binary string
	// ctx bounds the start (and a restore) by --timeout and Ctrl-C: core
	// kills a VMM whose start it ends.
	ctx context.Context
	// done releases ctx and ends the lifetime of a foreground VMM (core
	// kills it then, if it still runs); call it when the command returns.
	done func()
}

// prepare turns the flags into the launch of a VMM of release r (r is
// needed only with --simulate, to run its simulator). A foreground VMM's
// life is bound to the command (core.WithLifetime): it cannot outlive chv,
// which stops it gracefully on Ctrl-C first (see supervise).
func (pf *processFlags) prepare(ctx context.Context, e *env, r *core.Release) (*launch, error) {
	l := &launch{opts: []core.StartOption{core.WithStartTimeout(e.global.timeout)}}
	if bin, _ := pf.binarySource(); pf.simulate || bin != "" {
		if pf.simulate {
			link, err := simulatorBinary(e.global.dataDir, r.Version())
			if err != nil {
				return nil, err
			}
			bin = link
			l.opts = append(l.opts, core.WithoutKVMCheck())
		}
		abs, err := filepath.Abs(bin)
		if err != nil {
			return nil, err
		}
		l.binary = abs
		l.opts = append(l.opts, core.WithBinary(abs))
	}
	if pf.logFile != "" {
		abs, err := filepath.Abs(pf.logFile)
		if err != nil {
			return nil, err
		}
		l.opts = append(l.opts, core.WithArgs("--log-file", abs))
	}
	startCtx, cancelStart := context.WithTimeout(ctx, e.global.timeout)
	l.ctx, l.done = startCtx, cancelStart
	if pf.detach {
		l.opts = append(l.opts, core.WithDetached())
	} else {
		life, endLife := context.WithCancel(context.WithoutCancel(ctx))
		l.opts = append(l.opts, core.WithLifetime(life))
		l.done = func() { cancelStart(); endLife() }
	}
	return l, nil
}

// processJSON describes a started VMM.
type processJSON struct {
	PID       int    `json:"pid"`
	Version   string `json:"version"`
	Socket    string `json:"socket"`
	Binary    string `json:"binary"`
	OutputLog string `json:"output_log,omitempty"`
	CHLogFile string `json:"ch_log_file,omitempty"`
	Detached  bool   `json:"detached"`
	Simulated bool   `json:"simulated"`
	// Handle is what core.Attach needs to take the VMM back.
	Handle   core.Handle `json:"handle"`
	Snapshot string      `json:"snapshot,omitempty"`
	// SnapshotVersion is the CH release that wrote the snapshot; another
	// point release of its major may restore it.
	SnapshotVersion string `json:"snapshot_version,omitempty"`
	State           string `json:"state,omitempty"`
	// Advisories are the known advisories of the VMM's release.
	Advisories []advisoryJSON `json:"advisories"`
}

func runStart(ctx context.Context, e *env, args []string) error {
	args, extra := splitExtraArgs(args)
	fs := e.flags()
	var pf processFlags
	pf.register(fs)
	version := fs.String("version", "latest", "CH version or constraint to start (v50.2, 50, \">= 51\"); with a binary, default: the version it reports")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	if err := e.requireFlag("socket", pf.socket); err != nil {
		return err
	}
	if err := pf.check(e); err != nil {
		return err
	}
	versionSet := isSet(fs, "version")
	r, err := pf.startRelease(ctx, e, *version, versionSet)
	if err != nil {
		return err
	}
	l, err := pf.prepare(ctx, e, r)
	if err != nil {
		return err
	}
	defer l.done()
	if len(extra) > 0 {
		for _, a := range extra {
			if name, _, _ := strings.Cut(a, "="); name == "--api-socket" || name == "--event-monitor" {
				return usageErrorf("start: %s after \"--\": chv gives CH its API socket and event monitor itself", name)
			}
		}
		l.opts = append(l.opts, core.WithArgs(extra...))
	}
	socket, err := filepath.Abs(pf.socket)
	if err != nil {
		return err
	}
	p, err := core.StartProcess(l.ctx, r, e.global.dataDir, socket, l.opts...)
	if err != nil {
		if _, named := pf.binarySource(); named != "" && versionSet && errors.Is(err, core.ErrVersionMismatch) {
			return fmt.Errorf("%w\n(%s is not CH %s: without --version chv starts the release the binary reports)", err, named, r.Version())
		}
		return startHint(err)
	}
	return e.supervise(ctx, p, pf, l, processJSON{})
}

// startRelease returns the release `chv start` runs: --version's; or,
// when a binary is given and --version is not, the one the binary reports
// (its --version, chversion.ReadBinary). An unknown --version is a usage
// error; a binary that reports no registered release, a failure.
func (pf *processFlags) startRelease(ctx context.Context, e *env, version string, versionSet bool) (*core.Release, error) {
	bin, named := pf.binarySource()
	if bin == "" || versionSet {
		return lookupRelease(version)
	}
	rctx, cancel := context.WithTimeout(ctx, e.global.timeout)
	defer cancel()
	info, err := chversion.ReadBinary(rctx, bin)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", named, err)
	}
	r, err := core.Lookup(info.Version)
	if err != nil {
		return nil, fmt.Errorf("%s is %s, which chv does not embed: %w", named, info.Raw, err)
	}
	return r, nil
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// splitExtraArgs splits args at the first "--": what follows goes to CH.
func splitExtraArgs(args []string) (own, extra []string) {
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:]
		}
	}
	return args, nil
}

// startHint adds what to do to a start failure; a refused option (extra
// CH arguments chvmm owns) is a usage error.
func startHint(err error) error {
	switch {
	case errors.Is(err, core.ErrBadConfig):
		return usageError{err}
	case errors.Is(err, core.ErrNoBinary), errors.Is(err, core.ErrKVMUnavailable):
		return fmt.Errorf("%w\n(to try chv without KVM or binaries, add --simulate)", err)
	case errors.Is(err, core.ErrSocketInUse):
		return fmt.Errorf("%w; stop that VMM ('chv shutdown-vmm --socket S') or use another --socket", err)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%w (interrupted; the VMM was killed)", err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w (--timeout; the VMM was killed)", err)
	}
	return err
}

func runRestoreProcess(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	var pf processFlags
	pf.register(fs)
	snapshot := fs.String("snapshot", "", "snapshot directory written by 'chv snapshot' (required)")
	resume := fs.Bool("resume", false, "resume the VM once restored (CH restores it paused)")
	prefault := fs.Bool("prefault", false, "populate guest memory while restoring")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	if err := e.requireFlag("snapshot", *snapshot); err != nil {
		return err
	}
	if err := e.requireFlag("socket", pf.socket); err != nil {
		return err
	}
	if err := pf.check(e); err != nil {
		return err
	}
	md, err := core.ReadSnapshotMetadata(*snapshot)
	if err != nil {
		return err
	}
	var r *core.Release
	if pf.simulate {
		if r, err = snapshotRelease(md); err != nil {
			return fmt.Errorf("snapshot %s was written by CH %s, which chv does not know: %w", *snapshot, md.Version, err)
		}
	}
	l, err := pf.prepare(ctx, e, r)
	if err != nil {
		return err
	}
	defer l.done()
	socket, err := filepath.Abs(pf.socket)
	if err != nil {
		return err
	}
	ro := core.RestoreOptions{Resume: *resume, Prefault: *prefault}
	p, err := core.RestoreProcess(l.ctx, e.global.dataDir, *snapshot, socket, ro, l.opts...)
	if err != nil {
		if _, named := pf.binarySource(); named != "" && errors.Is(err, core.ErrVersionMismatch) {
			return fmt.Errorf("%w\n(the snapshot needs CH %s: give a binary of that release, or none)", err, md.Version)
		}
		return startHint(err)
	}
	out := processJSON{Snapshot: *snapshot, SnapshotVersion: md.Version}
	ictx, cancel := context.WithTimeout(ctx, e.global.timeout)
	if info, err := p.Hypervisor().VMInfo(ictx); err == nil {
		out.State = string(info.State)
	}
	cancel()
	return e.supervise(ctx, p, pf, l, out)
}

// snapshotRelease is the release core.RestoreProcess restores md's
// snapshot with: the one that wrote it, else the newest registered one of
// its major (CH restores snapshots within a major release).
func snapshotRelease(md *core.SnapshotMetadata) (*core.Release, error) {
	tag, err := chversion.Normalize(md.Version) // "" would Lookup the latest
	if err != nil {
		return nil, err
	}
	r, err := core.Lookup(tag)
	if err == nil {
		return r, nil
	}
	major, _, _ := strings.Cut(strings.TrimPrefix(tag, "v"), ".")
	if r, merr := core.Lookup(major); merr == nil {
		return r, nil
	}
	return nil, err
}
