package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/chvmm/chvmm/core"
)

// processCommands start VMM processes: start, restore-process.
func processCommands() []*command {
	return []*command{
		{name: "start", args: "--socket S [--version C] [--detach] [--log-file F] [--simulate] [-- extra CH args]",
			summary: "start a Cloud Hypervisor VMM serving its API on a socket", group: "VMM processes", run: runStart},
		{name: "restore-process", args: "--snapshot DIR --socket S [--detach] [--resume] [--simulate]",
			summary: "start the CH version that wrote a snapshot and restore the snapshot into it", group: "VMM processes", run: runRestoreProcess},
	}
}

// processFlags are the flags of the commands that start a VMM.
type processFlags struct {
	socket   string
	logFile  string
	binary   string
	detach   bool
	simulate bool
}

func (pf *processFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&pf.socket, "socket", "", "API socket path of the new VMM (required)")
	fs.StringVar(&pf.logFile, "log-file", "", "CH's own log file (--log-file of CH); its stdout/stderr go to {socket dir}/logs/{socket name}.log")
	fs.StringVar(&pf.binary, "binary", "", "run this cloud-hypervisor binary instead of the embedded one")
	fs.BoolVar(&pf.detach, "detach", false, "return once the VMM is ready and leave it running")
	fs.BoolVar(&pf.simulate, "simulate", false, "run the chsim simulator (chv itself) instead of CH: no KVM, no binary needed")
}

// options turns the flags into StartProcess options for release r (the
// simulator of r with --simulate).
func (pf *processFlags) options(e *env, r *core.Release) ([]core.ProcessOption, error) {
	opts := []core.ProcessOption{core.WithStartTimeout(e.global.timeout)}
	switch {
	case pf.simulate && pf.binary != "":
		return nil, usageErrorf("%s: --simulate and --binary exclude each other", e.cmd.name)
	case pf.simulate:
		so, err := simulatorOptions(e.global.dataDir, r)
		if err != nil {
			return nil, err
		}
		opts = append(opts, so...)
	case pf.binary != "":
		opts = append(opts, core.WithBinary(pf.binary))
	}
	if pf.detach {
		opts = append(opts, core.WithDetached())
	}
	if pf.logFile != "" {
		abs, err := filepath.Abs(pf.logFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, core.WithCHLogFile(abs))
	}
	return opts, nil
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
	Snapshot  string `json:"snapshot,omitempty"`
	State     string `json:"state,omitempty"`
}

func runStart(ctx context.Context, e *env, args []string) error {
	args, extra := splitExtraArgs(args)
	fs := e.flags()
	var pf processFlags
	pf.register(fs)
	version := fs.String("version", "latest", "CH version or constraint to start (v50.2, 50, \">= 51\")")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	if err := e.requireFlag("socket", pf.socket); err != nil {
		return err
	}
	// With --binary, --version only has to match what the binary reports
	// (StartProcess checks it), so it need not name a registered release:
	// r is then nil. options refuses --simulate with --binary before it
	// would use r.
	r, err := lookupRelease(*version)
	if err != nil && pf.binary == "" {
		return err
	}
	opts, err := pf.options(e, r)
	if err != nil {
		return err
	}
	want := *version
	if pf.simulate {
		want = r.Version
	}
	if len(extra) > 0 {
		opts = append(opts, core.WithArgs(extra...))
	}
	socket, err := filepath.Abs(pf.socket)
	if err != nil {
		return err
	}
	// A foreground VMM is stopped gracefully on a signal (below), not
	// killed by the signal's cancellation.
	startCtx := ctx
	if !pf.detach {
		startCtx = context.WithoutCancel(ctx)
	}
	p, err := core.StartProcess(startCtx, e.global.dataDir, want, socket, opts...)
	if err != nil {
		return startHint(err)
	}
	return e.supervise(ctx, p, pf, processJSON{})
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

// startHint adds what to do to a start failure.
func startHint(err error) error {
	switch {
	case errors.Is(err, core.ErrNoBinary), errors.Is(err, core.ErrKVMUnavailable):
		return fmt.Errorf("%w\n(to try chv without KVM or binaries, add --simulate)", err)
	case errors.Is(err, core.ErrSocketInUse):
		return fmt.Errorf("%w; stop that VMM ('chv shutdown-vmm --socket S') or use another --socket", err)
	}
	return err
}

// supervise reports the started VMM; unless it is detached, it then waits
// for the VMM to exit, stopping it gracefully on SIGINT/SIGTERM.
func (e *env) supervise(ctx context.Context, p *core.Process, pf processFlags, out processJSON) error {
	out.PID, out.Version, out.Socket, out.Binary = p.PID(), p.Version(), p.SocketPath(), p.Binary()
	out.OutputLog, out.Detached, out.Simulated = p.LogPath(), p.Detached(), pf.simulate
	if pf.logFile != "" {
		out.CHLogFile, _ = filepath.Abs(pf.logFile)
	}
	if err := e.emit(out, func(w io.Writer) {
		what := "started"
		if out.Snapshot != "" {
			what = "restored " + out.Snapshot + " into"
		}
		sim := ""
		if out.Simulated {
			sim = " (simulated)"
		}
		fmt.Fprintf(w, "%s cloud-hypervisor %s%s\n", what, out.Version, sim)
		t := newTable(w)
		t.row("pid", fmt.Sprint(out.PID))
		t.row("socket", out.Socket)
		if out.State != "" {
			t.row("state", out.State)
		}
		t.row("output", orDash(out.OutputLog))
		if out.CHLogFile != "" {
			t.row("ch log", out.CHLogFile)
		}
		t.flush()
		if !out.Detached {
			fmt.Fprintln(w, "running in the foreground; Ctrl-C stops it (use --detach to leave it running)")
		}
	}); err != nil {
		return err
	}
	if pf.detach {
		return nil
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 3*core.DefaultStopTimeout)
		defer cancel()
		if err := p.Stop(sctx); err != nil {
			return fmt.Errorf("stopping cloud-hypervisor pid %d: %w", p.PID(), err)
		}
		return nil
	}
	if err := p.Wait(); err != nil {
		return fmt.Errorf("cloud-hypervisor pid %d exited: %w; see %s", p.PID(), err, orDash(p.LogPath()))
	}
	return nil
}

func runRestoreProcess(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	var pf processFlags
	pf.register(fs)
	snapshot := fs.String("snapshot", "", "snapshot directory written by 'chv snapshot' (required)")
	resume := fs.Bool("resume", false, "resume the VM once restored (CH restores it paused)")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	if err := e.requireFlag("snapshot", *snapshot); err != nil {
		return err
	}
	if err := e.requireFlag("socket", pf.socket); err != nil {
		return err
	}
	md, err := core.ReadSnapshotMetadata(*snapshot)
	if err != nil {
		return err
	}
	r, err := core.Lookup(md.Version)
	if err != nil {
		return fmt.Errorf("snapshot %s was written by CH %s, which chv does not know: %w", *snapshot, md.Version, err)
	}
	opts, err := pf.options(e, r)
	if err != nil {
		return err
	}
	opts = append(opts, core.WithRestoreOptions(core.RestoreOptions{Resume: *resume}))
	socket, err := filepath.Abs(pf.socket)
	if err != nil {
		return err
	}
	startCtx := ctx
	if !pf.detach {
		startCtx = context.WithoutCancel(ctx)
	}
	p, err := core.RestoreProcess(startCtx, e.global.dataDir, *snapshot, socket, opts...)
	if err != nil {
		return startHint(err)
	}
	out := processJSON{Snapshot: *snapshot}
	if h := p.Hypervisor(); h != nil {
		ictx, cancel := context.WithTimeout(ctx, e.global.timeout)
		if info, err := h.VMInfo(ictx); err == nil {
			out.State = string(info.State)
		}
		cancel()
	}
	return e.supervise(ctx, p, pf, out)
}
