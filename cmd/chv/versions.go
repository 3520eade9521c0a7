package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"

	v53 "github.com/chvmm/chvmm/versions/v53"

	"github.com/chvmm/chvmm/core"
)

// hostCommands are the commands about this host and the registered
// releases: versions, extract, doctor.
func hostCommands() []*command {
	return []*command{
		{name: "versions", args: "", summary: "list the registered CH versions, their embedded binaries, known advisories and differing capabilities", group: "Host and releases", run: runVersions},
		{name: "extract", args: "[--version C]", summary: "extract embedded CH binaries into the data directory and print their paths", group: "Host and releases", run: runExtract},
		{name: "doctor", args: "[--version C] [--simulate]", summary: "check KVM, the data and socket directories, then start and stop every version", group: "Host and releases", run: runDoctor},
	}
}

// versionJSON is one release in `chv versions --json`.
type versionJSON struct {
	Version string `json:"version"`
	// Embedded reports that this build of chv embeds the release's binary
	// for its own architecture (HostArch), the only one it embeds.
	Embedded bool `json:"embedded_for_host"`
	// Advisories are the release's known security and data-loss
	// advisories.
	Advisories []advisoryJSON `json:"advisories"`
	// Features are the differing features (see Features) the release has.
	Features []string `json:"features"`
}

// versionsJSON is `chv versions --json`.
type versionsJSON struct {
	// HostArch is CH's name of the architecture chv was built for.
	HostArch string         `json:"host_arch"`
	Versions []versionJSON  `json:"versions"`
	Features []core.Feature `json:"differing_features"`
}

func runVersions(_ context.Context, e *env, args []string) error {
	fs := e.flags()
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	rels := core.Releases()
	feats := core.Features()
	out := versionsJSON{HostArch: hostArch(), Features: feats}
	for _, r := range rels {
		v := versionJSON{Version: r.Version(), Embedded: r.HasBinary(), Advisories: advisoriesOf(r), Features: []string{}}
		for _, f := range feats {
			if r.Has(f.Name) {
				v.Features = append(v.Features, f.Name)
			}
		}
		out.Versions = append(out.Versions, v)
	}
	return e.emit(out, func(w io.Writer) {
		t := newTable(w)
		t.row("VERSION", "BINARY FOR "+strings.ToUpper(out.HostArch), "ADVISORIES")
		lists := make([][]advisoryJSON, len(out.Versions))
		for i, v := range out.Versions {
			bin := "missing (make binaries)"
			if v.Embedded {
				bin = "embedded"
			}
			t.row(v.Version, bin, advisoryCount(v.Advisories))
			lists[i] = v.Advisories
		}
		t.flush()
		io.WriteString(w, "\nKnown advisories (a release stays embedded to resume the VMs paused or snapshotted under it):\n")
		printAdvisories(w, lists...)
		io.WriteString(w, "\nCapabilities that differ between versions (yes: the version has it):\n")
		t = newTable(w)
		head := []string{"FEATURE"}
		for _, r := range rels {
			head = append(head, r.Version())
		}
		t.row(head...)
		for _, f := range feats {
			cells := []string{f.Name}
			for _, r := range rels {
				cells = append(cells, yesDash(r.Has(f.Name)))
			}
			t.row(cells...)
		}
		t.flush()
	})
}

// hostArch is CH's name of the architecture chv was built for ("x86_64",
// "aarch64"), the one whose binaries it embeds and that snapshots record;
// runtime.GOARCH when CH has no build for it.
func hostArch() string {
	if a := v53.Release.Arch(); a != "" {
		return a
	}
	return runtime.GOARCH
}

func yesDash(b bool) string {
	if b {
		return "yes"
	}
	return "-"
}

// selectReleases returns the release --version names (Lookup: exact or a
// constraint), or every registered release when it is empty. An unknown
// or malformed version is a usage error.
func selectReleases(version string) ([]*core.Release, error) {
	if version == "" {
		return core.Releases(), nil
	}
	r, err := lookupRelease(version)
	if err != nil {
		return nil, err
	}
	return []*core.Release{r}, nil
}

// lookupRelease is core.Lookup, with an unknown or malformed version made a
// usage error.
func lookupRelease(version string) (*core.Release, error) {
	r, err := core.Lookup(version)
	if err != nil {
		return nil, usageError{fmt.Errorf("--version: %w", err)}
	}
	return r, nil
}
