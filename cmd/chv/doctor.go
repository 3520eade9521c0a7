package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chvmm/chvmm/core"
	"github.com/chvmm/chvmm/core/chversion"
	"github.com/chvmm/chvmm/core/driver"
)

// Statuses of a doctor check.
const (
	statusOK   = "ok"
	statusFail = "FAIL"
	statusSkip = "skip"
	statusWarn = "warn" // a warning: it does not fail doctor
)

// maxSocketPathLen is the longest unix socket path (sun_path less its
// NUL), as core checks it.
const maxSocketPathLen = 107

// checkJSON is one doctor check.
type checkJSON struct {
	Name       string  `json:"name"`
	Status     string  `json:"status"`
	DurationMS float64 `json:"duration_ms"`
	Detail     string  `json:"detail,omitempty"`
	// Fix says what to do about a failure.
	Fix string `json:"fix,omitempty"`
}

// versionCheckJSON is the checks of one CH version.
type versionCheckJSON struct {
	Version string      `json:"version"`
	OK      bool        `json:"ok"`
	Steps   []checkJSON `json:"steps"`
	// Advisories are the release's known advisories: warnings, which do
	// not make OK false.
	Advisories []advisoryJSON `json:"advisories"`
}

// doctorJSON is `chv doctor --json`.
type doctorJSON struct {
	OK        bool               `json:"ok"`
	Simulated bool               `json:"simulated"`
	Host      []checkJSON        `json:"host"`
	Versions  []versionCheckJSON `json:"versions"`
	// Warnings counts the distinct known advisories of the versions
	// checked; they do not make OK false.
	Warnings int `json:"warnings"`
}

// doctorSteps are the per-version steps, in order.
var doctorSteps = []string{"binary", "extract", "--version", "start", "ping", "shutdown"}

// defaultSocketDir is where doctor tries sockets: /run/chvmm for root,
// $XDG_RUNTIME_DIR/chvmm, else the temporary directory.
func defaultSocketDir() string {
	if os.Geteuid() == 0 {
		return "/run/chvmm"
	}
	if x := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(x) {
		return filepath.Join(x, "chvmm")
	}
	return os.TempDir()
}

func runDoctor(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	version := fs.String("version", "", "check only this CH version (v50.2, 50, \">= 51\"); default: every registered version")
	simulate := fs.Bool("simulate", false, "start the chsim simulator (chv itself) instead of CH binaries: skips the KVM and embedded-binary checks")
	socketDir := fs.String("socket-dir", defaultSocketDir(), "directory in which to try API sockets")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	rels, err := selectReleases(*version)
	if err != nil {
		return err
	}
	d := doctor{e: e, simulate: *simulate, out: doctorJSON{Simulated: *simulate}}
	d.hostChecks(ctx, *socketDir)
	sockDir, cleanup := d.socketTempDir(*socketDir)
	defer cleanup()
	for _, r := range rels {
		d.out.Versions = append(d.out.Versions, d.checkVersion(ctx, r, sockDir))
	}
	failed := d.failures()
	d.out.OK = failed == 0
	d.out.Warnings = d.warnings()
	if err := e.emit(d.out, d.print); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("doctor: %d check(s) failed; each failure above says what to do", failed)
	}
	return nil
}

// doctor runs the checks and collects their results.
type doctor struct {
	e        *env
	simulate bool
	out      doctorJSON
}

// timed runs f and returns its check result; f returns the detail, or the
// error and what to do about it.
func timed(name string, f func() (detail string, err error, fix string)) checkJSON {
	start := time.Now()
	detail, err, fix := f()
	c := checkJSON{Name: name, Status: statusOK, DurationMS: float64(time.Since(start).Microseconds()) / 1000, Detail: detail}
	if err != nil {
		c.Status, c.Detail, c.Fix = statusFail, err.Error(), fix
	}
	return c
}

func skipped(name, why string) checkJSON {
	return checkJSON{Name: name, Status: statusSkip, Detail: why}
}

// hostChecks checks KVM, group kvm, the data directory and the socket
// directory, and $CHVMM_BINARY when it is set.
func (d *doctor) hostChecks(ctx context.Context, socketDir string) {
	defer d.envBinaryCheck(ctx)
	kvmErr := core.CheckKVM()
	if d.simulate {
		d.out.Host = append(d.out.Host, skipped("kvm device", "--simulate: the simulator needs no KVM"), skipped("kvm group", "--simulate"))
	} else {
		d.out.Host = append(d.out.Host, timed("kvm device", func() (string, error, string) {
			if kvmErr != nil {
				return "", kvmErr, "see the message; or try chv without KVM: chv doctor --simulate"
			}
			return "/dev/kvm opens read-write", nil, ""
		}), timed("kvm group", func() (string, error, string) { return kvmGroup(kvmErr) }))
	}
	dataDir := d.e.global.dataDir
	d.out.Host = append(d.out.Host, timed("data dir", func() (string, error, string) {
		fix := fmt.Sprintf("create it writable for you (sudo install -d -o %d %s) or pass --data-dir DIR", os.Geteuid(), dataDir)
		if err := os.MkdirAll(dataDir, 0o755); err != nil {
			return "", err, fix
		}
		f, err := os.CreateTemp(dataDir, ".chv-doctor-*")
		if err != nil {
			return "", err, fix
		}
		f.Close()
		os.Remove(f.Name())
		return dataDir + " is writable", nil, ""
	}), timed("socket dir", func() (string, error, string) {
		fix := "pass --socket-dir with a short, writable directory (e.g. /tmp)"
		if err := os.MkdirAll(socketDir, 0o755); err != nil {
			return "", err, fix
		}
		probe := filepath.Join(socketDir, fmt.Sprintf(".chv-doctor-%d.sock", os.Getpid()))
		if len(probe)+8 > maxSocketPathLen {
			return "", fmt.Errorf("%s is too long for unix sockets (at most %d bytes with the file name)", socketDir, maxSocketPathLen), fix
		}
		l, err := net.Listen("unix", probe)
		if err != nil {
			return "", err, fix
		}
		l.Close()
		os.Remove(probe)
		return socketDir + " takes unix sockets", nil, ""
	}))
}

// envBinaryCheck checks the binary $CHVMM_BINARY names, if any, as `chv
// start` would run it: its --version must name a registered release.
func (d *doctor) envBinaryCheck(ctx context.Context) {
	bin := os.Getenv(envBinary)
	if bin == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, d.e.global.timeout)
	defer cancel()
	d.out.Host = append(d.out.Host, timed(envBinary, func() (string, error, string) {
		const fix = "point " + envBinary + " at a cloud-hypervisor binary of a release chv embeds (chv versions), or unset it"
		info, err := chversion.ReadBinary(ctx, bin)
		if err != nil {
			return "", err, fix
		}
		r, err := core.Lookup(info.Version)
		if err != nil {
			return "", fmt.Errorf("%s is %s: %w", bin, info.Raw, err), fix
		}
		return fmt.Sprintf("%s is %s: chv start runs it as CH %s", bin, info.Raw, r.Version()), nil, ""
	}))
}

// kvmGroup checks membership of group kvm, which grants /dev/kvm on most
// distributions.
func kvmGroup(kvmErr error) (string, error, string) {
	const fix = "sudo usermod -aG kvm $USER, then log in again (or run chv under `sg kvm -c '…'`)"
	if os.Geteuid() == 0 {
		return "running as root", nil, ""
	}
	g, err := user.LookupGroup("kvm")
	if err != nil {
		if kvmErr == nil {
			return "no kvm group on this host; /dev/kvm opens anyway", nil, ""
		}
		return "", fmt.Errorf("no kvm group on this host: %w", err), "ask how /dev/kvm is granted on this distribution (udev rules, ACLs)"
	}
	gid, _ := strconv.Atoi(g.Gid)
	groups, _ := os.Getgroups()
	if slices.Contains(groups, gid) || os.Getegid() == gid {
		return "member of group kvm", nil, ""
	}
	if kvmErr == nil {
		return "not in group kvm, but /dev/kvm opens (ACL?)", nil, ""
	}
	if u, err := user.Current(); err == nil {
		if ids, err := u.GroupIds(); err == nil && slices.Contains(ids, g.Gid) {
			return "", errors.New("in group kvm, but not in this session"), "log out and in again (or run chv under `sg kvm -c '…'`)"
		}
	}
	return "", errors.New("not in group kvm"), fix
}

// socketTempDir makes a private directory for the VMM sockets of the
// version checks.
func (d *doctor) socketTempDir(socketDir string) (string, func()) {
	dir, err := os.MkdirTemp(socketDir, "chv-doctor-")
	if err != nil {
		dir, err = os.MkdirTemp("", "chv-doctor-")
		if err != nil {
			return os.TempDir(), func() {}
		}
	}
	return dir, func() { os.RemoveAll(dir) }
}

// checkVersion runs the steps for release r: binary, extract, --version,
// start, ping, shutdown. After a failure the remaining steps are skipped.
func (d *doctor) checkVersion(ctx context.Context, r *core.Release, sockDir string) versionCheckJSON {
	ctx, cancel := context.WithTimeout(ctx, d.e.global.timeout)
	defer cancel()
	res := versionCheckJSON{Version: r.Version(), Advisories: advisoriesOf(r)}
	failed := false
	step := func(name string, f func() (string, error, string)) {
		if failed {
			res.Steps = append(res.Steps, skipped(name, "after an earlier failure"))
			return
		}
		c := timed(name, f)
		failed = c.Status == statusFail
		res.Steps = append(res.Steps, c)
	}
	dataDir := d.e.global.dataDir
	var binary string
	if d.simulate {
		res.Steps = append(res.Steps, skipped("binary", "--simulate"))
		step("extract", func() (string, error, string) {
			var err error
			binary, err = simulatorBinary(dataDir, r.Version())
			return "simulator " + binary, err, "pass a writable --data-dir"
		})
	} else {
		step("binary", func() (string, error, string) {
			if !r.HasBinary() {
				return "", fmt.Errorf("no %s binary for %s embedded in CH %s", driver.BinaryName, hostArch(), r.Version()),
					"run `make binaries` in the chvmm checkout and rebuild chv; or try chv doctor --simulate"
			}
			return "embedded for " + hostArch(), nil, ""
		})
		step("extract", func() (string, error, string) {
			var err error
			binary, err = r.BinaryPath(ctx, dataDir)
			return binary, err, "see the message; check that --data-dir is writable, or remove its system/binaries/" + r.Version()
		})
	}
	step("--version", func() (string, error, string) {
		bv, err := chversion.ReadBinary(ctx, binary)
		if err != nil {
			return "", err, "the file is not a working CH binary for this host: remove it and run chv extract --version " + r.Version()
		}
		if bv.Version != r.Version() {
			return "", fmt.Errorf("%s says %q, want CH %s", binary, bv.Raw, r.Version()), "remove it and run chv extract --version " + r.Version()
		}
		return bv.Raw, nil, ""
	})
	var p *core.Process
	socket := filepath.Join(sockDir, r.Version()+".sock")
	step("start", func() (string, error, string) {
		// As chv start does: core runs the embedded binary it extracted
		// and verified, or the simulator.
		opts := []core.StartOption{core.WithStartTimeout(d.e.global.timeout)}
		if d.simulate {
			opts = append(opts, core.WithBinary(binary), core.WithoutKVMCheck())
		}
		var err error
		p, err = core.StartProcess(ctx, r, dataDir, socket, opts...)
		if err != nil {
			return "", err, "read the VMM's output quoted in the message; KVM problems show in the host checks"
		}
		return fmt.Sprintf("pid %d", p.PID()), nil, ""
	})
	if p != nil {
		defer func() {
			_ = p.Kill()
			_ = p.Wait()
		}()
	}
	var h core.Hypervisor
	step("ping", func() (string, error, string) {
		var err error
		h, err = core.Connect(ctx, socket)
		if err != nil {
			return "", err, "the VMM started but its API does not answer; see its log " + p.LogPath()
		}
		info, err := h.Ping(ctx)
		if err != nil {
			return "", err, "the VMM answered one ping but not the next; see its log " + p.LogPath()
		}
		if v := h.Release().Version(); v != r.Version() {
			return "", fmt.Errorf("the VMM reports CH %s (build %s), want %s", v, info.BuildVersion, r.Version()), "remove the binary and run chv extract --version " + r.Version()
		}
		return "build " + info.BuildVersion + ", features " + strings.Join(info.Features, ","), nil, ""
	})
	if h != nil {
		defer h.Close()
	}
	step("shutdown", func() (string, error, string) {
		if err := h.ShutdownVMM(ctx); err != nil {
			return "", err, "the VMM refused vmm.shutdown; it was killed; see its log " + p.LogPath()
		}
		select {
		case <-p.Done():
		case <-ctx.Done():
			return "", fmt.Errorf("the VMM did not exit after vmm.shutdown: %w", ctx.Err()), "it was killed; see its log " + p.LogPath()
		}
		if exit := p.Wait(); exit.Reason != core.ExitRequested {
			return "", fmt.Errorf("the VMM exited, but not as asked: %s", exit), "see its log " + p.LogPath()
		}
		return "VMM exited", nil, ""
	})
	res.OK = !failed
	return res
}

// warnings counts the distinct advisories of the versions checked.
func (d *doctor) warnings() int {
	ids := map[string]bool{}
	for _, v := range d.out.Versions {
		for _, a := range v.Advisories {
			ids[a.ID] = true
		}
	}
	return len(ids)
}

// failures counts the failed checks.
func (d *doctor) failures() int {
	n := 0
	for _, c := range d.out.Host {
		if c.Status == statusFail {
			n++
		}
	}
	for _, v := range d.out.Versions {
		for _, c := range v.Steps {
			if c.Status == statusFail {
				n++
			}
		}
	}
	return n
}

// print writes the human report: host checks, a table of versions by
// step (and their count of advisories), the advisories as warnings, and
// one line per failure with what to do.
func (d *doctor) print(w io.Writer) {
	t := newTable(w)
	t.row("HOST CHECK", "STATUS", "DETAIL")
	for _, c := range d.out.Host {
		detail := c.Detail
		if c.Status == statusFail {
			detail = "see below"
		}
		t.row(c.Name, c.Status, oneLine(detail))
	}
	t.flush()
	fmt.Fprintln(w)
	t = newTable(w)
	head := []string{"VERSION"}
	for _, s := range doctorSteps {
		head = append(head, strings.ToUpper(s))
	}
	t.row(append(head, "TOTAL", "ADVISORIES")...)
	lists := make([][]advisoryJSON, len(d.out.Versions))
	for i, v := range d.out.Versions {
		lists[i] = v.Advisories
		cells := []string{v.Version}
		var total float64
		for _, c := range v.Steps {
			total += c.DurationMS
			cell := c.Status
			if c.Status != statusSkip {
				cell += " " + ms(time.Duration(c.DurationMS*float64(time.Millisecond)))
			}
			cells = append(cells, cell)
		}
		adv := statusOK
		if n := len(v.Advisories); n > 0 {
			adv = fmt.Sprintf("%s %d", statusWarn, n)
		}
		t.row(append(cells, ms(time.Duration(total*float64(time.Millisecond))), adv)...)
	}
	t.flush()
	if d.out.Warnings > 0 {
		fmt.Fprintln(w, "\nWarnings: known advisories (a release stays embedded to resume the VMs paused or")
		fmt.Fprintln(w, "snapshotted under it; start new VMs on a release with the fixes):")
		printAdvisories(w, lists...)
	}
	var lines []string
	for _, c := range d.out.Host {
		if c.Status == statusFail {
			lines = append(lines, fmt.Sprintf("%s: %s\n  fix: %s", c.Name, c.Detail, c.Fix))
		}
	}
	for _, v := range d.out.Versions {
		for _, c := range v.Steps {
			if c.Status == statusFail {
				lines = append(lines, fmt.Sprintf("%s %s: %s\n  fix: %s", v.Version, c.Name, c.Detail, c.Fix))
			}
		}
	}
	if len(lines) == 0 {
		if d.out.Warnings > 0 {
			fmt.Fprintf(w, "\nall checks passed, with %d warning(s) (above)\n", d.out.Warnings)
			return
		}
		fmt.Fprintln(w, "\nall checks passed")
		return
	}
	fmt.Fprintln(w, "\nFailures:")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

// oneLine keeps the first line of s, for table cells.
func oneLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
