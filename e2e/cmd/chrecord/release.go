package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/chvmm/chvmm/core/chtest"
	"github.com/chvmm/chvmm/core/driver"
)

// release is one CH release to record: its binaries and ch-remote's verbs.
type release struct {
	tag     string // "v49.0"
	binary  string // cloud-hypervisor
	remote  string // ch-remote beside it
	version string // first line of --version
	verbs   map[string]bool
	// remoteHelp is `ch-remote --help` of the release.
	remoteHelp string
	// genericHelp is `ch-remote add-generic-vhost-user --help`, if it has
	// the verb; sendHelp and receiveHelp those of send-migration and
	// receive-migration.
	genericHelp, sendHelp, receiveHelp string
}

// loadRelease finds release tag's binaries in binDir and asks them what
// they are; a missing binary is os.ErrNotExist.
func loadRelease(binDir, tag string) (release, error) {
	dir := filepath.Join(binDir, tag, chtest.HostArch())
	rel := release{tag: tag, binary: filepath.Join(dir, driver.BinaryName), remote: filepath.Join(dir, "ch-remote")}
	for _, p := range []string{rel.binary, rel.remote} {
		if _, err := os.Stat(p); err != nil {
			return rel, err
		}
	}
	abs, err := filepath.Abs(rel.binary)
	if err != nil {
		return rel, err
	}
	rel.binary = abs
	if rel.remote, err = filepath.Abs(rel.remote); err != nil {
		return rel, err
	}
	v, err := output(rel.binary, "--version")
	if err != nil {
		return rel, err
	}
	rel.version, _, _ = strings.Cut(strings.TrimSpace(v), "\n")
	if !strings.HasSuffix(rel.version, " "+tag) {
		return rel, fmt.Errorf("%s --version says %q, not %s: fix the binary directory", rel.binary, rel.version, tag)
	}
	if rel.remoteHelp, err = output(rel.remote, "--help"); err != nil {
		return rel, err
	}
	rel.verbs = helpVerbs(rel.remoteHelp)
	if rel.sendHelp, err = output(rel.remote, "send-migration", "--help"); err != nil {
		return rel, err
	}
	if rel.receiveHelp, err = output(rel.remote, "receive-migration", "--help"); err != nil {
		return rel, err
	}
	if rel.verbs["add-generic-vhost-user"] {
		if rel.genericHelp, err = output(rel.remote, "add-generic-vhost-user", "--help"); err != nil {
			return rel, err
		}
	}
	return rel, nil
}

// helpVerbs reads the commands of ch-remote's --help.
func helpVerbs(help string) map[string]bool {
	verbs := map[string]bool{}
	in := false
	sc := bufio.NewScanner(strings.NewReader(help))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Commands:"):
			in = true
		case in && strings.HasPrefix(line, "  "):
			if f := strings.Fields(line); len(f) > 0 && f[0] != "help" {
				verbs[f[0]] = true
			}
		case in:
			in = false
		}
	}
	return verbs
}

func (r release) hasVerb(v string) bool { return r.verbs[v] }

// genericVhostUserArg is a generic vhost-user device whose socket does not
// exist, in the syntax of the release's ch-remote (v52.0 names the device
// type virtio_id, v53.0 device_type).
func (r release) genericVhostUserArg() string {
	key := "virtio_id"
	if strings.Contains(r.genericHelp, "device_type=") {
		key = "device_type"
	}
	return key + "=fs,socket=<tmp>/no-vhost-user.sock,queue_sizes=[1024],id=rgvu0"
}

// keyedMigration reports whether the release's ch-remote takes
// send-migration (receive-migration) parameters as key=value pairs
// ("destination_url=<url>,…") besides, or instead of, a bare URL.
func (r release) keyedMigration(receive bool) bool {
	if receive {
		return strings.Contains(r.receiveHelp, "receiver_url=")
	}
	return strings.Contains(r.sendHelp, "destination_url=")
}

func output(bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}
