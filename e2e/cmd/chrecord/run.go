package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/chvmm/chvmm/chsim/recording"
	"github.com/chvmm/chvmm/core/chtest"
)

// Deadlines of a recording.
const (
	startTimeout = 10 * time.Second       // a VMM serves its socket
	exitTimeout  = 10 * time.Second       // a VMM ends after vmm.shutdown
	crashTimeout = 3 * time.Second        // a VMM ends by itself after another call
	guestTimeout = 10 * time.Second       // the guest prints a marker or counter
	poll         = 10 * time.Millisecond  // socket and serial polling
	settle       = 200 * time.Millisecond // after a step that makes the guest act
)

// vmmProc is one VMM the recorder started.
type vmmProc struct {
	cmd    *exec.Cmd
	socket string
	log    *os.File
	done   chan struct{} // closed once reaped
	state  *os.ProcessState
}

// recorder runs the script against one release's real binaries.
type recorder struct {
	rel  release
	dir  string
	norm recording.Normaliser
	vmms map[int]*vmmProc
	// serial are the guests' serial logs: FIFOs the recorder reads.
	serial map[string]*serialPipe
	// last is, per VMM, the path of its last call or the arguments of its
	// last ch-remote run.
	last map[int]string
}

// record runs the whole script for rel in a new working directory and
// returns the recording. Every VMM it started is killed and reaped before
// it returns.
func record(ctx context.Context, rel release, keep bool) (rec *recording.Recording, err error) {
	dir, err := os.MkdirTemp("", "chrecord-")
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		return nil, err
	}
	if keep {
		defer fmt.Printf("%s: working directory kept: %s\n", rel.tag, dir)
	} else {
		defer os.RemoveAll(dir)
	}
	r := &recorder{rel: rel, dir: dir, norm: recording.Normaliser{Dir: dir}, vmms: map[int]*vmmProc{}, serial: map[string]*serialPipe{}, last: map[int]string{}}
	defer r.closeSerial()
	defer r.killAll() // (deferred last, runs first: no VMM writes a closed serial log)
	rec = &recording.Recording{Release: rel.tag, Version: rel.version, Files: files()}
	if err := recording.CreateFiles(rec.Files, dir, chtest.PVHKernel()); err != nil {
		return nil, err
	}
	steps := script(rel)
	for _, s := range steps {
		if s.Kind == recording.KindGuest {
			if err := r.openSerial(recording.Expand(s.Path, dir)); err != nil {
				return nil, err
			}
		}
	}
	for i, s := range steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		switch s.Kind {
		case recording.KindCall:
			r.last[s.VMM] = s.Path
		case recording.KindCHRemote:
			r.last[s.VMM] = strings.Join(s.Args, " ")
		}
		if err := r.step(ctx, &s); err != nil {
			return nil, fmt.Errorf("%s: %w (VMM logs in %s, kept with -keep)", s.Name(i), err, dir)
		}
		rec.Steps = append(rec.Steps, s)
	}
	return rec, nil
}

// step runs one step and fills in what happened.
func (r *recorder) step(ctx context.Context, s *recording.Step) error {
	switch s.Kind {
	case recording.KindStart:
		return r.start(ctx, s.VMM, recording.Expand(s.Socket, r.dir))
	case recording.KindCall:
		p := r.vmms[s.VMM]
		if p == nil {
			return errors.New("no such VMM")
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		a, err := recording.Do(cctx, p.socket, s.Method, recording.Expand(s.Path, r.dir), recording.Expand(s.Body, r.dir))
		if err != nil {
			s.Response = recording.CallError(err)
		} else {
			s.Status, s.Header, s.Response = a.Status, r.norm.Header(a.Header), r.norm.Body(s.Path, a.Body)
		}
		if slices.Contains(s.Outcomes, recording.Outcome(s.Status, s.Response)) {
			// One of the answers CH gives here by chance: keep them all.
			s.Status, s.Header, s.Response = 0, nil, ""
		} else {
			s.Outcomes = nil
		}
		switch {
		case s.Path == "/api/v1/vm.nmi" || s.Path == "/api/v1/vm.power-button":
			time.Sleep(settle) // let the guest act on it before the next call
		case s.Path == "/api/v1/vm.send-migration" && s.Status/100 == 2:
			// From v53.0 a migration runs in a worker, which owns the VM
			// until it ends: let one that cannot connect end, so that the
			// next call does not race it.
			time.Sleep(settle)
		}
	case recording.KindCHRemote:
		code, stdout, stderr, err := recording.RunCHRemote(ctx, r.rel.remote, expandAll(s.Args, r.dir))
		if err != nil {
			return err
		}
		s.ExitCode, s.Stdout, s.Stderr = code, r.norm.CHRemoteStdout(s.Args, stdout), r.norm.Text(stderr)
		if v := recording.Verb(s.Args); v == "nmi" || v == "power-button" {
			time.Sleep(settle)
		}
	case recording.KindExit:
		timeout := crashTimeout // a VMM that may or may not end by itself
		if r.last[s.VMM] == "/api/v1/vmm.shutdown" || recording.Verb(strings.Fields(r.last[s.VMM])) == "shutdown-vmm" {
			timeout = exitTimeout
		}
		s.Exit = r.wait(s.VMM, timeout)
	case recording.KindGuest:
		s.Response = r.waitGuest(ctx, recording.Expand(s.Path, r.dir), s.Wait)
	case recording.KindList:
		names, err := recording.List(recording.Expand(s.Path, r.dir))
		if err != nil {
			return err
		}
		s.Response = names
	default:
		return fmt.Errorf("unknown step kind %q", s.Kind)
	}
	return nil
}

func expandAll(args []string, dir string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = recording.Expand(a, dir)
	}
	return out
}

// start starts VMM n serving socket and waits until it accepts
// connections.
func (r *recorder) start(ctx context.Context, n int, socket string) error {
	if r.vmms[n] != nil {
		return fmt.Errorf("VMM %d started twice", n)
	}
	log, err := os.Create(filepath.Join(r.dir, fmt.Sprintf("vmm-%d.log", n)))
	if err != nil {
		return err
	}
	cmd := exec.Command(r.rel.binary, "--api-socket", "path="+socket)
	cmd.Env = []string{} // an inherited RUST_BACKTRACE changes how CH fails
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return err
	}
	p := &vmmProc{cmd: cmd, socket: socket, log: log, done: make(chan struct{})}
	r.vmms[n] = p
	go func() {
		_ = cmd.Wait()
		p.state = cmd.ProcessState
		log.Close()
		close(p.done)
	}()
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.Dial("unix", socket)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("VMM %d ended before it served %s: %v", n, socket, p.state)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("VMM %d does not serve %s after %v", n, socket, startTimeout)
		}
	}
}

// wait waits up to timeout for VMM n to end by itself and says how it
// ended; one that does not is killed.
func (r *recorder) wait(n int, timeout time.Duration) string {
	p := r.vmms[n]
	if p == nil {
		return "no such VMM"
	}
	select {
	case <-p.done:
		return p.state.String()
	case <-time.After(timeout):
		r.kill(p)
		return fmt.Sprintf("still running %v later (killed)", timeout)
	}
}

func (r *recorder) kill(p *vmmProc) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// killAll kills and reaps every VMM still running.
func (r *recorder) killAll() {
	for _, p := range r.vmms {
		r.kill(p)
	}
}

// waitGuest waits for the guest writing serial to print what wait names
// after what earlier waits read, and says whether it did.
func (r *recorder) waitGuest(ctx context.Context, serial, wait string) string {
	log := r.serial[serial]
	deadline := time.Now().Add(guestTimeout)
	for {
		b := log.bytes()
		if end, ok := findLine(b, log.pos, wait); ok {
			log.pos = end
			return wait + " seen"
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			log.pos = len(b)
			return fmt.Sprintf("no %s within %v", wait, guestTimeout)
		}
		time.Sleep(poll)
	}
}

// findLine finds, in log from pos, the first complete line that is the
// ready marker (WaitMarker) or a counter (WaitCounter), and returns the
// offset after it.
func findLine(log []byte, pos int, wait string) (int, bool) {
	for pos < len(log) {
		i := bytes.IndexByte(log[pos:], '\n')
		if i < 0 {
			return 0, false
		}
		line := strings.TrimSuffix(string(log[pos:pos+i]), "\r")
		pos += i + 1
		switch wait {
		case recording.WaitMarker:
			if strings.HasSuffix(line, chtest.GuestReadyMarker) {
				return pos, true
			}
		case recording.WaitCounter:
			if line != "" && strings.Trim(line, "0123456789") == "" {
				return pos, true
			}
		}
	}
	return 0, false
}
