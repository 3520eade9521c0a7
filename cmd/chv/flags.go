package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// env is what a command runs with: the global options and where to write.
type env struct {
	stdout, stderr io.Writer
	global         *globals
	cmd            *command
}

// globals are the flags every command accepts.
type globals struct {
	dataDir string
	json    bool
	timeout time.Duration
}

// defaultTimeout bounds each command's work on the VMM (and each version's
// checks in doctor).
const defaultTimeout = 30 * time.Second

func defaultGlobals() *globals {
	return &globals{dataDir: defaultDataDir(), timeout: defaultTimeout}
}

// register adds the global flags to fs, bound to g (whose current values
// are the defaults, so flags given before the command carry over).
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.dataDir, "data-dir", g.dataDir, "directory for extracted binaries and simulator scripts")
	fs.BoolVar(&g.json, "json", g.json, "machine-readable JSON output (errors too, on stderr)")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "bound on the command's work with the VMM (per version in doctor)")
}

// defaultDataDir is /var/lib/chvmm for root, else $XDG_DATA_HOME/chvmm or
// ~/.local/share/chvmm.
func defaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/chvmm"
	}
	if x := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "chvmm")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "chvmm")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("chvmm-%d", os.Geteuid()))
}

// usageError is a command-line mistake: exit status 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// flags returns the flag set of e's command, with the global flags
// registered. Parse it with parse.
func (e *env) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("chv "+e.cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e.global.register(fs)
	return fs
}

// parse parses args with fs, allowing flags after positional arguments
// (`chv snapshot DIR --socket S`). Everything after a "--" is positional.
// On -h it prints the command's usage to stdout and returns flag.ErrHelp.
// nargs is how many positional arguments the command takes (-1: any).
func (e *env) parse(fs *flag.FlagSet, args []string, nargs int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				e.usage(e.stdout, fs)
				return nil, flag.ErrHelp
			}
			return nil, usageErrorf("%s: %v; run 'chv %s -h' for usage", e.cmd.name, err, e.cmd.name)
		}
		rest := fs.Args()
		// fs.Parse stops at the first non-flag, or consumes a "--".
		consumedDash := len(args) > len(rest) && args[len(args)-len(rest)-1] == "--"
		if len(rest) == 0 || consumedDash {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if nargs >= 0 && len(pos) != nargs {
		want := "no arguments"
		if nargs > 0 {
			want = fmt.Sprintf("%d argument(s): %s", nargs, e.cmd.args)
		}
		return nil, usageErrorf("%s takes %s, got %q; run 'chv %s -h' for usage", e.cmd.name, want, pos, e.cmd.name)
	}
	return pos, nil
}

// usage prints the command's synopsis, summary and flags.
func (e *env) usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: chv %s %s\n\n%s.\n", e.cmd.name, e.cmd.args, upperFirst(e.cmd.summary))
	if d := commandDetails[e.cmd.name]; d != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(d))
	}
	fmt.Fprintln(w, "\nFlags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// requireFlag returns a usage error when the flag's value is empty.
func (e *env) requireFlag(name, value string) error {
	if value == "" {
		return usageErrorf("%s needs --%s; run 'chv %s -h' for usage", e.cmd.name, name, e.cmd.name)
	}
	return nil
}
