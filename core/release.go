package core

import (
	"fmt"
	"io/fs"
	"runtime"
	"strings"

	goversion "github.com/hashicorp/go-version"

	"github.com/chvmm/chvmm/core/driver"
)

// A Release is one Cloud Hypervisor release a version module registered
// (see [Register]); [Lookup] finds one by version, and each version module
// exports its own (v53.Release) for a program that picks one at compile
// time. Its methods are safe for concurrent use.
type Release struct {
	d       *driver.Release
	version *goversion.Version // parsed d.Version
	tag     string             // canonical "v48.0"
	// endpoints and the API model, from d.API (never nil once registered).
	endpoints map[driver.Endpoint]bool
	api       *driver.API
}

// newRelease checks d and makes the Release for it; it does not register
// it.
func newRelease(d *driver.Release) (*Release, error) {
	if d == nil {
		return nil, fmt.Errorf("release is nil")
	}
	v, err := parseReleaseVersion(d.Version)
	if err != nil {
		return nil, err
	}
	api := d.API
	if api == nil {
		api = &driver.API{}
	}
	r := &Release{d: d, version: v, tag: "v" + v.Original(), api: api, endpoints: map[driver.Endpoint]bool{}}
	for _, e := range api.Endpoints {
		r.endpoints[e] = true
	}
	return r, nil
}

// Version returns the release's tag: "v48.0", "v50.2".
func (r *Release) Version() string { return r.tag }

// String returns the release's tag.
func (r *Release) String() string { return r.tag }

// major returns the release's major version (48 for v48.0).
func (r *Release) major() int { return r.version.Segments()[0] }

// compare orders releases by version.
func (r *Release) compare(o *Release) int { return r.version.Compare(o.version) }

// Arch returns the architecture this build embeds the release's binary
// for, in CH's names: "x86_64" (an amd64 build), "aarch64" (arm64), or ""
// for a build of an architecture CH publishes no binary for.
func (r *Release) Arch() string { return r.d.Arch }

// HasBinary reports whether this build of the program embeds the release's
// binary for its architecture (see [Release.BinaryPath]). A version module
// built without its binaries (before `make binaries`) still registers.
func (r *Release) HasBinary() bool {
	_, err := r.binaryInfo()
	return err == nil
}

// binaryInfo stats the embedded binary. A missing one is an error matching
// ErrNoBinary.
func (r *Release) binaryInfo() (fs.FileInfo, error) {
	if r.d.Binary == nil || r.d.Arch == "" {
		return nil, r.noBinary()
	}
	fi, err := fs.Stat(r.d.Binary, driver.BinaryName)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
		return nil, r.noBinary()
	}
	return fi, nil
}

// noBinary is the ErrNoBinary error of r, saying how to embed one.
func (r *Release) noBinary() error {
	if r.d.Arch == "" {
		return fmt.Errorf("%w: Cloud Hypervisor has no build for %s/%s (CH %s embeds x86_64 and aarch64 binaries only)",
			ErrNoBinary, runtime.GOOS, runtime.GOARCH, r.tag)
	}
	return fmt.Errorf("%w for %s in CH %s: run `make binaries` to put the release's %s/%s into versions/v%d/binaries, then rebuild",
		ErrNoBinary, r.d.Arch, r.tag, r.d.Arch, driver.BinaryName, r.major())
}

// Has reports whether the release has feature, which is one of
//   - an endpoint its server routes: "PUT /vm.resize-disk", "PUT /vm.nmi";
//   - a schema of its API: "GenericVhostUserConfig";
//   - a member of a schema, by its JSON name: "NetConfig.offload_tso".
//
// [Features] lists the features that differ between releases.
func (r *Release) Has(feature string) bool {
	if method, path, ok := strings.Cut(feature, " "); ok {
		return r.endpoints[driver.Endpoint{Method: method, Path: path}]
	}
	name, member, isMember := strings.Cut(feature, ".")
	s, ok := r.api.Schemas[name]
	if !ok || !isMember {
		return ok
	}
	_, ok = s.Member(member)
	return ok
}

// hostArch returns CH's name of the architecture this program runs on
// ("x86_64", "aarch64"), or runtime.GOARCH when CH has no build for it.
func hostArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return runtime.GOARCH
}
