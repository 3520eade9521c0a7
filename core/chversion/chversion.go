// Package chversion reads Cloud Hypervisor version strings: what
// `cloud-hypervisor --version` prints and the build versions vmm.ping
// reports, normalised to release tags ("v48.0").
package chversion

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	goversion "github.com/hashicorp/go-version"
)

// ErrBadVersion: a string is not a Cloud Hypervisor version, or a binary's
// `--version` did not print one.
var ErrBadVersion = errors.New("malformed version or constraint")

// Info is what a CH binary says of its own version.
type Info struct {
	// Version is the CH release, normalised to "vMAJOR.MINOR" ("v48.0").
	Version string
	// Raw is the whole first line the binary printed, such as
	// "cloud-hypervisor v48.0-12-g0123abcd".
	Raw string
	// MigrationProtocolVersions are the live-migration protocol versions
	// the binary speaks, from the line "Migration Protocol Versions: 0"
	// that CH prints after the version from v53.0 on; nil when it prints
	// none.
	MigrationProtocolVersions []string
}

// versionTimeout bounds how long ReadBinary waits for `--version`.
const versionTimeout = 10 * time.Second

// MaxOutput bounds what ReadBinary reads of `--version`'s standard output
// and error, each: CH prints a few dozen bytes.
const MaxOutput = 64 << 10

// errTooMuchOutput: a binary printed more than MaxOutput.
var errTooMuchOutput = fmt.Errorf("printed more than %d bytes", MaxOutput)

// cappedBuffer is a buffer that refuses to grow past MaxOutput: the write
// fails, and with it the command. (Not an embedded bytes.Buffer: io.Copy
// would use its ReadFrom, which reads without a bound.)
type cappedBuffer struct {
	buf  bytes.Buffer
	over bool // a write was refused
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := MaxOutput - b.buf.Len(); len(p) > room {
		n, _ := b.buf.Write(p[:room])
		b.over = true
		return n, errTooMuchOutput
	}
	return b.buf.Write(p)
}

func (b *cappedBuffer) String() string { return b.buf.String() }

func (b *cappedBuffer) Reset() { b.buf.Reset(); b.over = false }

// chVersionRE matches the version CH prints: BUILD_VERSION is
// `git describe --dirty` (v48.0, v48.0-dirty, v48.0-12-g0123abcd) or the
// Cargo version (v48.0.0) when the build had no git metadata.
var chVersionRE = regexp.MustCompile(`^v?(\d+)\.(\d+)(?:\.(\d+))?(?:-[0-9A-Za-z.-]+)?$`)

// ReadBinary runs `binaryPath --version` (bounded by ctx and a 10 s
// timeout) and returns the CH version it prints on stdout. What it prints
// on stderr is only quoted in errors. Output beyond [MaxOutput] is an
// error.
func ReadBinary(ctx context.Context, binaryPath string) (Info, error) {
	return run(ctx, binaryPath, binaryPath, nil)
}

// ReadFile is ReadBinary for the binary open as f: it runs exactly the
// file f is (through /proc/self/fd), whatever its path now names.
func ReadFile(ctx context.Context, f *os.File) (Info, error) {
	// The child inherits f as fd 3 (ExtraFiles) and executes it.
	return run(ctx, "/proc/self/fd/3", f.Name(), f)
}

// run runs path --version; shownAs names the binary in errors; f, if not
// nil, is passed to the child as fd 3.
func run(ctx context.Context, path, shownAs string, f *os.File) (Info, error) {
	ctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	var stdout, stderr cappedBuffer
	binaryPath := shownAs
	var err error
	// A file just written may still be open for writing in a child that
	// another goroutine forked but has not exec'd yet (golang.org/issue/22315):
	// retry ETXTBSY briefly.
	for i := 1; i <= 50; i++ {
		stdout.Reset()
		stderr.Reset()
		cmd := exec.CommandContext(ctx, path, "--version")
		cmd.Args[0] = filepath.Base(shownAs) // the binary's own name, also when run through its descriptor
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Env = []string{}
		if f != nil {
			cmd.ExtraFiles = []*os.File{f}
		}
		cmd.WaitDelay = 5 * time.Second // output still unread after exit: generous, hosts under load are slow
		if err = cmd.Run(); !errors.Is(err, syscall.ETXTBSY) || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(i) * time.Millisecond)
	}
	if err != nil {
		if ctx.Err() != nil {
			return Info{}, fmt.Errorf("%s --version: no answer: %w", binaryPath, ctx.Err())
		}
		if stdout.over || stderr.over { // the command failed on it (SIGPIPE, or the copy's error)
			return Info{}, fmt.Errorf("%s --version: %w, where Cloud Hypervisor prints one or two lines; is it a Cloud Hypervisor binary?", binaryPath, errTooMuchOutput)
		}
		return Info{}, fmt.Errorf("%s --version: %w (stdout %q, stderr %q); is it a Cloud Hypervisor binary for this host?",
			binaryPath, err, tail(stdout.String(), 200), tail(stderr.String(), 200))
	}
	bv, err := ParseOutput(stdout.String())
	if err != nil {
		return bv, fmt.Errorf("%s --version: %w (stderr %q)", binaryPath, err, tail(stderr.String(), 200))
	}
	return bv, nil
}

// ParseOutput parses what `cloud-hypervisor --version` printed: the
// line "cloud-hypervisor VERSION", where VERSION is a CH build version
// [Normalize] accepts, and optionally further lines (from v53.0 CH
// prints "Migration Protocol Versions: 0"; with -v, "Enabled features: …").
// Anything else is an error matching ErrBadVersion.
func ParseOutput(out string) (Info, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	line := strings.TrimSpace(lines[0])
	fields := strings.Fields(line)
	if len(fields) != 2 || fields[0] != "cloud-hypervisor" {
		return Info{Raw: line}, fmt.Errorf("%w: --version printed %q, want \"cloud-hypervisor vMAJOR.MINOR\" first", ErrBadVersion, tail(line, 200))
	}
	v, err := Normalize(fields[1])
	if err != nil {
		return Info{Raw: line}, err
	}
	bv := Info{Version: v, Raw: line}
	for _, l := range lines[1:] {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "cloud-hypervisor ") {
			return Info{Raw: line}, fmt.Errorf("%w: --version printed two version lines (%q)", ErrBadVersion, tail(out, 200))
		}
		if rest, ok := strings.CutPrefix(l, migrationProtocolPrefix); ok {
			bv.MigrationProtocolVersions = []string{}
			for _, pv := range strings.Split(rest, ",") {
				if pv = strings.TrimSpace(pv); pv != "" {
					bv.MigrationProtocolVersions = append(bv.MigrationProtocolVersions, pv)
				}
			}
		}
	}
	return bv, nil
}

// migrationProtocolPrefix starts the line of `--version` (CH v53.0 and
// later) that lists the migration protocol versions, joined by ", ".
const migrationProtocolPrefix = "Migration Protocol Versions:"

// Normalize turns a CH build version ("v48.0", "48.0.0",
// "v48.0-dirty", "v48.0-12-g0123abcd") into its release tag ("v48.0").
func Normalize(s string) (string, error) {
	m := chVersionRE.FindStringSubmatch(s)
	if m == nil {
		return "", fmt.Errorf("%w: %q is not a Cloud Hypervisor version (want v48.0, 48.0.0, v48.0-dirty, …)", ErrBadVersion, s)
	}
	v, err := goversion.NewVersion(m[1] + "." + m[2])
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrBadVersion, s, err)
	}
	return canonical(v), nil
}

// canonical formats v as a CH release tag: "v48.0".
func canonical(v *goversion.Version) string {
	s := v.Segments()
	return fmt.Sprintf("v%d.%d", s[0], s[1])
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
