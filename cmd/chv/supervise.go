package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"syscall"
	"time"

	"github.com/chvmm/chvmm/core"
)

// supervise reports the started VMM; unless it is detached, it then waits
// for the VMM to exit (printing its events with --events), stopping it
// gracefully on SIGINT/SIGTERM, and reports how it ended. A VMM that ended
// by itself otherwise than by the guest's power-off (crashed, killed) is
// a failure: its VM is lost.
func (e *env) supervise(ctx context.Context, p *core.Process, pf processFlags, l *launch, out processJSON) error {
	r := p.Release()
	out.PID, out.Version, out.Socket, out.Binary = p.PID(), r.Version(), p.SocketPath(), l.binary
	if out.Binary == "" {
		// Extracted and verified by the start: only checked again.
		bctx, cancel := context.WithTimeout(ctx, e.global.timeout)
		out.Binary, _ = r.BinaryPath(bctx, e.global.dataDir)
		cancel()
	}
	out.OutputLog, out.Detached, out.Simulated = p.LogPath(), pf.detach, pf.simulate
	out.Handle, out.Advisories = p.Handle(), advisoriesOf(r)
	if pf.logFile != "" {
		out.CHLogFile, _ = filepath.Abs(pf.logFile)
	}
	if !e.global.json && len(out.Advisories) > 0 {
		fmt.Fprintf(e.stderr, "chv: warning: CH %s has known advisories: %s\n", out.Version, advisorySummary(out.Advisories))
	}
	if err := e.emit(out, func(w io.Writer) { printProcess(w, out) }); err != nil {
		return err
	}
	if pf.detach {
		return nil
	}
	printed := make(chan struct{})
	if pf.events {
		go func() {
			defer close(printed)
			for ev := range p.Events() { // closed once the VMM has exited
				_ = e.emitEvent(ev)
			}
		}()
	} else {
		close(printed)
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*core.DefaultStopTimeout)
		defer cancel()
		if err := p.Stop(sctx); err != nil {
			return fmt.Errorf("stopping cloud-hypervisor pid %d: %w", p.PID(), err)
		}
	}
	exit := p.Wait()
	<-printed
	return e.reportExit(p, exit)
}

// printProcess writes the human report of a started VMM.
func printProcess(w io.Writer, out processJSON) {
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
	if out.SnapshotVersion != "" && out.SnapshotVersion != out.Version {
		t.row("written by", "CH "+out.SnapshotVersion+" (same major release)")
	}
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
}

// eventJSON is one CH event (core.Event) that `chv start --events
// --json` prints as {"event": …}.
type eventJSON struct {
	Time time.Time `json:"time"`
	// ElapsedMS is CH's own timestamp: milliseconds since its event
	// monitor started.
	ElapsedMS  float64           `json:"elapsed_ms"`
	Source     string            `json:"source"`
	Name       string            `json:"name"`
	Properties map[string]string `json:"properties,omitempty"`
}

// emitEvent prints one event of a foreground VMM.
func (e *env) emitEvent(ev core.Event) error {
	out := struct {
		Event eventJSON `json:"event"`
	}{eventJSON{Time: ev.Time, ElapsedMS: float64(ev.Elapsed.Microseconds()) / 1000, Source: ev.Source, Name: ev.Name, Properties: ev.Properties}}
	return e.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "event %s %s\n", ev.Time.Format("15:04:05.000"), ev)
	})
}

// exitJSON is how a foreground VMM ended (core.Exit), printed as
// {"exit": …} when it has.
type exitJSON struct {
	PID int `json:"pid"`
	// Reason is "requested", "guest shutdown", "crashed" or "killed".
	Reason string `json:"reason"`
	// ExitCode is the VMM's exit status; absent when a signal ended it.
	ExitCode *int `json:"exit_code,omitempty"`
	// Signal is the signal that ended it ("killed", "terminated").
	Signal string `json:"signal,omitempty"`
	// Detail is what decided Reason ("vmm shutdown event", CH's line
	// reporting a vCPU failure).
	Detail string `json:"detail,omitempty"`
	// VMLost reports a VMM that ended by itself otherwise than by the
	// guest's power-off: its VM is lost.
	VMLost bool `json:"vm_lost"`
}

// reportExit prints how p ended; a crashed or killed VMM is an error.
func (e *env) reportExit(p *core.Process, exit core.Exit) error {
	x := exitJSON{PID: p.PID(), Reason: exit.Reason.String(), Detail: exit.Detail,
		VMLost: exit.Reason == core.ExitCrashed || exit.Reason == core.ExitKilled}
	if st := exit.State; st != nil {
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			x.Signal = ws.Signal().String()
		} else {
			code := st.ExitCode()
			x.ExitCode = &code
		}
	}
	out := struct {
		Exit exitJSON `json:"exit"`
	}{x}
	if err := e.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "cloud-hypervisor pid %d exited: %s\n", x.PID, exit)
	}); err != nil {
		return err
	}
	if x.VMLost {
		return fmt.Errorf("cloud-hypervisor pid %d %s: treat its VM as lost; see its output in %s", x.PID, exit, orDash(p.LogPath()))
	}
	return nil
}
