// Command chrecord records what real Cloud Hypervisor (CH) releases answer
// to a fixed script of API calls and ch-remote invocations, one file per
// release, for the simulator's replay tests (chsim/replay_test.go):
//
//	go run ./e2e/cmd/chrecord -binary-dir ../shared/ch-bin -out chsim/testdata/real
//
// (make record-real). For every release the simulator models whose binary
// is at <binary-dir>/<release>/<arch>/cloud-hypervisor, it starts VMMs with
// --api-socket path=…, boots the chtest PVH guest in them and walks the VM
// through every state — no VM, created, running, paused, rebooted, shut
// down, deleted — sending each verb in each, then the HTTP layer's errors,
// a restore into a fresh VMM, a boot of a missing kernel, and every verb of
// the release's own ch-remote (beside the binary). Each answer is
// normalised (see chsim/recording) and written to <out>/<release>.json;
// two runs on the same host give the same files.
//
// It needs /dev/kvm and root (add-net asks CH to create TAP devices), an
// x86_64 host (the PVH guest), and kills and reaps every VMM it started,
// also when it fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/chvmm/chvmm/chsim"
	"github.com/chvmm/chvmm/core/chtest"
	"github.com/chvmm/chvmm/core/chversion"
)

func main() {
	binDir := flag.String("binary-dir", "../shared/ch-bin", "directory of CH binaries, laid out <dir>/vNN.N/<arch>/{cloud-hypervisor,ch-remote}")
	out := flag.String("out", "chsim/testdata/real", "directory the recordings are written to, one <release>.json each")
	only := flag.String("versions", "", "comma-separated releases to record, such as v48.0,v53.0 (default: every modelled release whose binary is present)")
	keep := flag.Bool("keep", false, "keep each release's working directory (VMM logs, serial logs) and print where it is")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "chrecord: unexpected arguments %q\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *binDir, *out, *only, *keep); err != nil {
		fmt.Fprintf(os.Stderr, "chrecord: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, binDir, out, only string, keep bool) error {
	if err := preflight(); err != nil {
		return err
	}
	rels, err := findReleases(binDir, only)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, rel := range rels {
		fmt.Printf("%s: recording with %s\n", rel.tag, rel.binary)
		rec, err := record(ctx, rel, keep)
		if err != nil {
			return fmt.Errorf("%s: %w", rel.tag, err)
		}
		path := filepath.Join(out, rel.tag+".json")
		if err := rec.Save(path); err != nil {
			return fmt.Errorf("%s: %w", rel.tag, err)
		}
		fmt.Printf("%s: %d steps written to %s\n", rel.tag, len(rec.Steps), path)
	}
	return nil
}

// preflight checks what recording needs, saying what to do otherwise.
func preflight() error {
	if chtest.HostArch() != "x86_64" {
		return fmt.Errorf("the script boots the chtest PVH guest, which is x86_64 only (this host is %s)", chtest.HostArch())
	}
	if os.Geteuid() != 0 {
		return errors.New("run as root: the script's add-net asks CH to create TAP devices, which only root can (sudo make record-real)")
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("CH needs KVM: %w", err)
	}
	return f.Close()
}

// findReleases returns the modelled releases whose binaries are in binDir
// (only those listed in only, when it is not empty).
func findReleases(binDir, only string) ([]release, error) {
	want := map[string]bool{}
	for _, v := range strings.Split(only, ",") {
		if v = strings.TrimSpace(v); v != "" {
			tag, err := chversion.Normalize(v)
			if err != nil {
				return nil, fmt.Errorf("-versions: %w", err)
			}
			want[tag] = true
		}
	}
	var rels []release
	unknown := maps.Clone(want)
	for _, tag := range chsim.Versions {
		if len(want) > 0 && !want[tag] {
			continue
		}
		delete(unknown, tag)
		rel, err := loadRelease(binDir, tag)
		if errors.Is(err, os.ErrNotExist) {
			if len(only) > 0 {
				return nil, err
			}
			fmt.Printf("%s: skipped: %v\n", tag, err)
			continue
		}
		if err != nil {
			return nil, err
		}
		rels = append(rels, rel)
	}
	for tag := range unknown {
		return nil, fmt.Errorf("-versions: the simulator does not model %s (it models %s)", tag, strings.Join(chsim.Versions, ", "))
	}
	if len(rels) == 0 {
		return nil, fmt.Errorf("no CH binary in %s: want %s/<release>/%s/cloud-hypervisor for any of %s", binDir, binDir, chtest.HostArch(), strings.Join(chsim.Versions, ", "))
	}
	return rels, nil
}
