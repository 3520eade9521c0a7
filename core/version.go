package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"

	goversion "github.com/hashicorp/go-version"
)

// BinaryVersion is what a CH binary says of its own version.
type BinaryVersion struct {
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

// versionTimeout bounds how long ParseVersion waits for `--version`.
const versionTimeout = 10 * time.Second

// chVersionRE matches the version CH prints: BUILD_VERSION is
// `git describe --dirty` (v48.0, v48.0-dirty, v48.0-12-g0123abcd) or the
// Cargo version (v48.0.0) when the build had no git metadata.
var chVersionRE = regexp.MustCompile(`^v?(\d+)\.(\d+)(?:\.(\d+))?(?:-[0-9A-Za-z.-]+)?$`)

// ParseVersion runs `binaryPath --version` (bounded by ctx and a 10 s
// timeout) and returns the CH version it prints on stdout. What it prints
// on stderr is only quoted in errors.
func ParseVersion(ctx context.Context, binaryPath string) (BinaryVersion, error) {
	ctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	var err error
	// A file just written may still be open for writing in a child that
	// another goroutine forked but has not exec'd yet (golang.org/issue/22315):
	// retry ETXTBSY briefly.
	for i := 1; i <= 50; i++ {
		stdout.Reset()
		stderr.Reset()
		cmd := exec.CommandContext(ctx, binaryPath, "--version")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Env = []string{}
		cmd.WaitDelay = 5 * time.Second // output still unread after exit: generous, hosts under load are slow
		if err = cmd.Run(); !errors.Is(err, syscall.ETXTBSY) || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(i) * time.Millisecond)
	}
	if err != nil {
		if ctx.Err() != nil {
			return BinaryVersion{}, fmt.Errorf("%s --version: no answer: %w", binaryPath, ctx.Err())
		}
		return BinaryVersion{}, fmt.Errorf("%s --version: %w (stdout %q, stderr %q); is it a Cloud Hypervisor binary for this host?",
			binaryPath, err, tail(stdout.String(), 200), tail(stderr.String(), 200))
	}
	bv, err := ParseVersionOutput(stdout.String())
	if err != nil {
		return bv, fmt.Errorf("%s --version: %w (stderr %q)", binaryPath, err, tail(stderr.String(), 200))
	}
	return bv, nil
}

// ParseVersionOutput parses what `cloud-hypervisor --version` printed: the
// line "cloud-hypervisor VERSION", where VERSION is a CH build version
// [NormalizeVersion] accepts, and optionally further lines (from v53.0 CH
// prints "Migration Protocol Versions: 0"; with -v, "Enabled features: …").
// Anything else is an error matching ErrBadVersion.
func ParseVersionOutput(out string) (BinaryVersion, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	line := strings.TrimSpace(lines[0])
	fields := strings.Fields(line)
	if len(fields) != 2 || fields[0] != "cloud-hypervisor" {
		return BinaryVersion{Raw: line}, fmt.Errorf("%w: --version printed %q, want \"cloud-hypervisor vMAJOR.MINOR\" first", ErrBadVersion, tail(line, 200))
	}
	v, err := NormalizeVersion(fields[1])
	if err != nil {
		return BinaryVersion{Raw: line}, err
	}
	bv := BinaryVersion{Version: v, Raw: line}
	for _, l := range lines[1:] {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "cloud-hypervisor ") {
			return BinaryVersion{Raw: line}, fmt.Errorf("%w: --version printed two version lines (%q)", ErrBadVersion, tail(out, 200))
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

// NormalizeVersion turns a CH build version ("v48.0", "48.0.0",
// "v48.0-dirty", "v48.0-12-g0123abcd") into its release tag ("v48.0").
func NormalizeVersion(s string) (string, error) {
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

// parseReleaseVersion parses a release tag such as "v48.0".
func parseReleaseVersion(s string) (*goversion.Version, error) {
	m := chVersionRE.FindStringSubmatch(s)
	if m == nil || strings.Contains(s, "-") {
		return nil, fmt.Errorf("%w: %q is not a Cloud Hypervisor release (want vMAJOR.MINOR)", ErrBadVersion, s)
	}
	return goversion.NewVersion(m[1] + "." + m[2])
}

// canonical formats v as a CH release tag: "v48.0".
func canonical(v *goversion.Version) string {
	s := v.Segments()
	return fmt.Sprintf("v%d.%d", s[0], s[1])
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
