package core

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// Defaults of StartProcess and Process.Stop.
const (
	// DefaultStartTimeout bounds how long StartProcess waits for the API to
	// answer a ping.
	DefaultStartTimeout = 5 * time.Second
	// DefaultStopTimeout bounds each step of Process.Stop: the graceful
	// vmm.shutdown, then SIGTERM, before SIGKILL.
	DefaultStopTimeout = 5 * time.Second
)

// A StartOption configures [StartProcess] and [RestoreProcess]. The
// options that also apply to [Attach] are [Option]s.
type StartOption interface{ applyStart(*startConfig) }

// An AttachOption configures [Attach]; every one is an [Option].
type AttachOption interface{ applyAttach(*supervision) }

// An Option configures the supervision of a VMM, whichever way the
// Process came to be: [StartProcess], [RestoreProcess] or [Attach].
type Option interface {
	StartOption
	AttachOption
}

// supervision is what Options set.
type supervision struct {
	logger      *slog.Logger
	stopTimeout time.Duration
}

// startConfig is what StartOptions set.
type startConfig struct {
	supervision
	binary       string
	startTimeout time.Duration
	lifetime     context.Context
	detached     bool
	env          []string
	output       io.Writer
	outputPath   string
	args         []string
	credential   *credential
	skipKVMCheck bool
	trustAnyPath bool
	err          error // an option that cannot apply
}

type credential struct {
	uid, gid uint32
	groups   []uint32
}

func defaultStartConfig() startConfig {
	return startConfig{
		supervision:  defaultSupervision(),
		startTimeout: DefaultStartTimeout,
	}
}

func defaultSupervision() supervision {
	return supervision{logger: slog.New(slog.DiscardHandler), stopTimeout: DefaultStopTimeout}
}

// startOption is a StartOption.
type startOption func(*startConfig)

func (o startOption) applyStart(c *startConfig) { o(c) }

// option is an Option.
type option func(*supervision)

func (o option) applyStart(c *startConfig)  { o(&c.supervision) }
func (o option) applyAttach(s *supervision) { o(s) }

// WithLogger makes the Process (and StartProcess) log to l. By default they
// log nothing: the library does not write to slog.Default on its own.
func WithLogger(l *slog.Logger) Option {
	return option(func(s *supervision) {
		if l != nil {
			s.logger = l
		}
	})
}

// WithStopTimeout bounds each step of Process.Stop (default 5 s): how long
// it waits for the VMM to exit after vmm.shutdown, then after SIGTERM,
// before it sends SIGKILL.
func WithStopTimeout(d time.Duration) Option {
	return option(func(s *supervision) {
		if d > 0 {
			s.stopTimeout = d
		}
	})
}

// WithBinary runs the cloud-hypervisor binary at path instead of the
// release's embedded one. Its `--version` must report the release's
// version (ErrVersionMismatch otherwise); it is checked once per file and
// run from the file that was checked.
func WithBinary(path string) StartOption {
	return startOption(func(c *startConfig) { c.binary = path })
}

// WithStartTimeout bounds how long StartProcess waits for the VMM's API to
// answer (default 5 s). A VMM not ready by then is killed.
func WithStartTimeout(d time.Duration) StartOption {
	return startOption(func(c *startConfig) {
		if d > 0 {
			c.startTimeout = d
		}
	})
}

// WithLifetime binds the VMM to ctx, as exec.CommandContext binds a
// command: when ctx ends, the VMM is killed (an exit this program
// requested). Without it the VMM runs until Stop, Kill or its own exit;
// the ctx given to StartProcess only bounds the start.
func WithLifetime(ctx context.Context) StartOption {
	return startOption(func(c *startConfig) { c.lifetime = ctx })
}

// WithDetached lets the VMM outlive this program: it runs in its own
// session, is not killed when this program dies, and writes its events to
// a file beside its log, so that [Attach] (given [Process.Handle]) takes it
// back after a restart with the same abilities. Its output must go to a
// file (the default log file, [WithOutputPath], or an *os.File given to
// [WithOutput]). Without it, a VMM dies with this program (even when the
// program is killed), and runs in its own process group, so a terminal's
// Ctrl-C reaches only the program, which then stops it properly.
func WithDetached() StartOption {
	return startOption(func(c *startConfig) { c.detached = true })
}

// WithEnv adds variables ("KEY=value") to the VMM's environment. The VMM
// otherwise gets an empty environment, not this program's: an inherited
// variable such as RUST_BACKTRACE can make CH trip its own seccomp filter.
func WithEnv(kv ...string) StartOption {
	return startOption(func(c *startConfig) { c.env = append(c.env, kv...) })
}

// WithOutput sends the VMM's standard output and error to w instead of the
// log file. An *os.File is handed to CH as it is; any other writer is fed
// through a pipe by this program (and so cannot serve a detached VMM).
// chvmm then cannot read CH's output to tell a guest's power-off from a
// vCPU failure (see [Exit]) unless w is fed through the pipe.
func WithOutput(w io.Writer) StartOption {
	return startOption(func(c *startConfig) { c.output = w })
}

// WithOutputPath appends the VMM's standard output and error to the file at
// path instead of the default {socket dir}/logs/{socket name}.log.
func WithOutputPath(path string) StartOption {
	return startOption(func(c *startConfig) { c.outputPath = path })
}

// WithArgs appends args to CH's command line, for example "--log-file",
// "/var/log/vm1.ch.log", "-vv" or "--seccomp", "log". chvmm owns
// --api-socket and --event-monitor: StartProcess refuses them here.
func WithArgs(args ...string) StartOption {
	return startOption(func(c *startConfig) {
		for _, a := range args {
			name, _, _ := strings.Cut(a, "=")
			if name == "--api-socket" || name == "--event-monitor" {
				c.err = fmt.Errorf("WithArgs(%q): chvmm passes %s to CH itself: %w", a, name, ErrBadConfig)
			}
		}
		c.args = append(c.args, args...)
	})
}

// WithCredential runs the VMM as user uid, group gid and supplementary
// groups (this program needs the privilege to do so). The API socket is
// still created by this program, owned by it, mode 0600.
func WithCredential(uid, gid uint32, groups ...uint32) StartOption {
	return startOption(func(c *startConfig) {
		c.credential = &credential{uid: uid, gid: gid, groups: append([]uint32(nil), groups...)}
	})
}

// WithoutPathTrustCheck turns off the checks that only root and this
// program's user can change what chvmm executes and writes
// ([ErrUntrustedPath]): every directory on the way to the binary
// StartProcess runs (the data directory's, or WithBinary's), and the
// socket's directory, the log directory and the log and events files of
// the VMM. Without them, a user who can write one of those directories can
// make this program run a binary of their choosing, as its user (root,
// typically), read the guest's console, or forge how the VMM ended. Use it
// only for setups you have checked otherwise, such as a test's temporary
// directory.
func WithoutPathTrustCheck() StartOption {
	return startOption(func(c *startConfig) { c.trustAnyPath = true })
}

// WithoutKVMCheck skips the /dev/kvm check before start, for stand-ins
// such as the simulator that need no KVM.
func WithoutKVMCheck() StartOption {
	return startOption(func(c *startConfig) { c.skipKVMCheck = true })
}
