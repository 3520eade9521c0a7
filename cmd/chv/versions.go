package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/chvmm/chvmm/core"
)

// hostCommands are the commands about this host and the registered
// releases: versions, extract, doctor.
func hostCommands() []*command {
	return []*command{
		{name: "versions", args: "", summary: "list the registered CH versions, their arches, embedded binaries and differing capabilities", group: "Host and releases", run: runVersions},
		{name: "extract", args: "[--version C]", summary: "extract embedded CH binaries into the data directory and print their paths", group: "Host and releases", run: runExtract},
		{name: "doctor", args: "[--version C] [--simulate]", summary: "check KVM, the data and socket directories, then start and stop every version", group: "Host and releases", run: runDoctor},
	}
}

// versionJSON is one release in `chv versions --json`.
type versionJSON struct {
	Version    string   `json:"version"`
	APIVersion string   `json:"api_version"`
	Arches     []string `json:"arches"`
	Embedded   bool     `json:"embedded_for_host"`
	// Features are the differing features (see Features) the release has.
	Features []string `json:"features"`
}

// versionsJSON is `chv versions --json`.
type versionsJSON struct {
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
	out := versionsJSON{HostArch: core.HostArch(), Features: feats}
	for _, r := range rels {
		v := versionJSON{Version: r.Version, APIVersion: r.APIVersion, Arches: r.Arches(), Embedded: r.HasBinary(core.HostArch()), Features: []string{}}
		if v.Arches == nil {
			v.Arches = []string{}
		}
		for _, f := range feats {
			if r.Has(f.Name) {
				v.Features = append(v.Features, f.Name)
			}
		}
		out.Versions = append(out.Versions, v)
	}
	return e.emit(out, func(w io.Writer) {
		t := newTable(w)
		t.row("VERSION", "API", "ARCHES", "BINARY FOR "+strings.ToUpper(out.HostArch))
		for _, v := range out.Versions {
			bin := "missing (make binaries)"
			if v.Embedded {
				bin = "embedded"
			}
			t.row(v.Version, v.APIVersion, orDash(strings.Join(v.Arches, ",")), bin)
		}
		t.flush()
		io.WriteString(w, "\nCapabilities that differ between versions (yes: the version has it):\n")
		t = newTable(w)
		head := []string{"FEATURE"}
		for _, r := range rels {
			head = append(head, r.Version)
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
