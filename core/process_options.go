package core

import (
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// EnvBinary names the environment variable that, when set to the path of a
// cloud-hypervisor binary, makes [StartProcess] run that binary instead of an
// embedded one (its version is read with `--version`). [WithBinary] takes
// precedence over it.
const EnvBinary = "CHVMM_BINARY"

// Defaults of StartProcess and Process.Stop.
const (
	// DefaultStartTimeout bounds how long StartProcess waits for the API to
	// answer a ping.
	DefaultStartTimeout = 5 * time.Second
	// DefaultStopTimeout bounds each step of Process.Stop: the graceful
	// vmm.shutdown, then SIGTERM, before SIGKILL.
	DefaultStopTimeout = 5 * time.Second
)

// outputTail is how much of CH's output a StartError carries.
const outputTail = 4 << 10

// A ProcessOption configures [StartProcess].
type ProcessOption func(*processConfig)

// processConfig is what the options set.
type processConfig struct {
	binary       string
	startTimeout time.Duration
	stopTimeout  time.Duration
	detached     bool
	env          []string
	output       io.Writer
	outputPath   string
	chLogFile    string
	verbosity    int
	events       bool
	eventMonitor string
	seccomp      string
	args         []string
	credential   *credential
	logger       *slog.Logger
	skipKVMCheck bool
	restore      RestoreOptions // for RestoreProcess
}

type credential struct {
	uid, gid uint32
	groups   []uint32
}

func defaultProcessConfig() processConfig {
	return processConfig{
		startTimeout: DefaultStartTimeout,
		stopTimeout:  DefaultStopTimeout,
		logger:       slog.New(slog.DiscardHandler),
	}
}

// WithBinary runs the cloud-hypervisor binary at path instead of the
// embedded one of the requested version. Its version is read with
// `--version` and must satisfy the version StartProcess was given (if any).
// It takes precedence over the CHVMM_BINARY environment variable.
func WithBinary(path string) ProcessOption {
	return func(c *processConfig) { c.binary = path }
}

// WithStartTimeout bounds how long StartProcess waits for the VMM's API to
// answer (default 5 s). A VMM not ready by then is killed.
func WithStartTimeout(d time.Duration) ProcessOption {
	return func(c *processConfig) {
		if d > 0 {
			c.startTimeout = d
		}
	}
}

// WithStopTimeout bounds each step of Process.Stop (default 5 s): how long
// it waits for the VMM to exit after vmm.shutdown, then after SIGTERM,
// before it sends SIGKILL.
func WithStopTimeout(d time.Duration) ProcessOption {
	return func(c *processConfig) {
		if d > 0 {
			c.stopTimeout = d
		}
	}
}

// WithDetached lets the VMM outlive this program: it runs in its own session
// and process group, and cancelling StartProcess's context no longer kills it
// once it is ready. Take it back later with [Attach]. Its output must go to
// a file (the default log file, [WithOutputPath], or an *os.File given to
// [WithOutput]).
func WithDetached() ProcessOption {
	return func(c *processConfig) { c.detached = true }
}

// WithEnv adds variables ("KEY=value") to the VMM's environment. The VMM
// otherwise gets an empty environment, not this program's: an inherited
// variable such as RUST_BACKTRACE can make CH trip its own seccomp filter.
func WithEnv(kv ...string) ProcessOption {
	return func(c *processConfig) { c.env = append(c.env, kv...) }
}

// WithOutput sends the VMM's standard output and error to w instead of the
// log file. An *os.File is handed to CH as it is; any other writer is fed
// through a pipe by this program (and so cannot serve a detached VMM).
func WithOutput(w io.Writer) ProcessOption {
	return func(c *processConfig) { c.output = w }
}

// WithOutputPath appends the VMM's standard output and error to the file at
// path (created 0644, its directory 0755) instead of the default
// {socket dir}/logs/{socket name}.log ([DefaultLogPath]).
func WithOutputPath(path string) ProcessOption {
	return func(c *processConfig) { c.outputPath = path }
}

// WithCHLogFile passes `--log-file path` to CH: CH writes its own log there
// instead of to its standard error.
func WithCHLogFile(path string) ProcessOption {
	return func(c *processConfig) { c.chLogFile = path }
}

// WithVerbosity passes `-v` n times to CH (1: info, 2: debug, 3+: trace).
func WithVerbosity(n int) ProcessOption {
	return func(c *processConfig) { c.verbosity = n }
}

// WithEvents turns on CH's event monitor, through a pipe, and makes
// Process.Events deliver its events. Read them promptly: the channel holds
// 256 and further events are dropped. Do not combine with WithDetached if
// this program may exit before the VMM: the pipe ends with it.
func WithEvents() ProcessOption {
	return func(c *processConfig) { c.events = true }
}

// WithEventMonitor passes `--event-monitor spec` to CH as it is (for
// example "path=/run/vm/events.json"). It excludes WithEvents.
func WithEventMonitor(spec string) ProcessOption {
	return func(c *processConfig) { c.eventMonitor = spec }
}

// WithSeccomp passes `--seccomp mode` to CH: "true" (the default of CH),
// "false" or "log".
func WithSeccomp(mode string) ProcessOption {
	return func(c *processConfig) { c.seccomp = mode }
}

// WithArgs appends args to CH's command line, after those of the other
// options.
func WithArgs(args ...string) ProcessOption {
	return func(c *processConfig) { c.args = append(c.args, args...) }
}

// WithCredential runs the VMM as user uid, group gid and supplementary
// groups (this program needs the privilege to do so). The API socket is
// still created by this program, owned by it, mode 0600.
func WithCredential(uid, gid uint32, groups ...uint32) ProcessOption {
	return func(c *processConfig) {
		c.credential = &credential{uid: uid, gid: gid, groups: append([]uint32(nil), groups...)}
	}
}

// WithLogger makes StartProcess and the Process log to l. By default they
// log nothing (the library does not write to slog.Default on its own).
func WithLogger(l *slog.Logger) ProcessOption {
	return func(c *processConfig) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithoutKVMCheck skips the /dev/kvm check before start, for stand-ins
// such as the simulator that need no KVM.
func WithoutKVMCheck() ProcessOption {
	return func(c *processConfig) { c.skipKVMCheck = true }
}

// chArgs returns CH's command line after the program name.
func (c *processConfig) chArgs(eventFD int) []string {
	args := []string{"--api-socket", "fd=3"}
	if c.chLogFile != "" {
		args = append(args, "--log-file", c.chLogFile)
	}
	if c.verbosity > 0 {
		args = append(args, "-"+strings.Repeat("v", c.verbosity))
	}
	switch {
	case eventFD > 0:
		args = append(args, "--event-monitor", "fd="+strconv.Itoa(eventFD))
	case c.eventMonitor != "":
		args = append(args, "--event-monitor", c.eventMonitor)
	}
	if c.seccomp != "" {
		args = append(args, "--seccomp", c.seccomp)
	}
	return append(args, c.args...)
}

// WithRestoreOptions sets how [RestoreProcess] restores the snapshot (for
// example Resume, or new TAP fds with NetFDs). StartProcess ignores it.
func WithRestoreOptions(o RestoreOptions) ProcessOption {
	return func(c *processConfig) { c.restore = o }
}
