package core

import (
	"fmt"
	"io/fs"
	"net/http"
	"reflect"
	"runtime"
	"strings"

	goversion "github.com/hashicorp/go-version"
)

// Arch names used by Cloud Hypervisor release assets and by the binaries
// layout: binaries/{arch}/cloud-hypervisor.
const (
	ArchX86_64  = "x86_64"
	ArchAarch64 = "aarch64"
)

// HostArch returns the CH name of the architecture this program runs on
// ("x86_64" or "aarch64"), or runtime.GOARCH when CH has no build for it.
func HostArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return ArchX86_64
	case "arm64":
		return ArchAarch64
	}
	return runtime.GOARCH
}

// BinaryName is the file name of the CH binary, inside a release's Binaries
// (as {arch}/cloud-hypervisor) and inside the data directory.
const BinaryName = "cloud-hypervisor"

// A Release is one Cloud Hypervisor release registered by a version module.
// Version modules build it in init and pass it to [Register]; after that it
// is read-only.
type Release struct {
	// Version is the CH release tag, "v48.0" or "v50.2".
	Version string
	// APIVersion is info.version of the release's OpenAPI spec ("0.3.0").
	APIVersion string
	// SpecSHA256 is the hex SHA-256 of the official spec the client was
	// generated from.
	SpecSHA256 string
	// Binaries holds the embedded binaries as {arch}/cloud-hypervisor. It may
	// hold none: a module built without binaries still registers.
	Binaries fs.FS
	// Endpoints lists every operation of the release's API, from its spec.
	Endpoints []Endpoint
	// Schemas maps each component schema of the spec ("VmConfig",
	// "NetConfig", …) to the generated Go type for it.
	Schemas map[string]reflect.Type
	// NewClient returns the release's generated typed client (for example
	// *v50.ClientWithResponses) talking to baseURL through doer.
	NewClient func(baseURL string, doer HTTPDoer) (any, error)

	version *goversion.Version // parsed Version, set by Register
}

// HTTPDoer is what the generated clients send requests through; *http.Client
// satisfies it.
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// An Endpoint is one operation of a release's API.
type Endpoint struct {
	Method string // "GET" or "PUT"
	Path   string // relative to the API base, "/vm.resize-disk"
}

// Supports reports whether the release's API has the operation method path.
func (r *Release) Supports(method, path string) bool {
	for _, e := range r.Endpoints {
		if e.Method == method && e.Path == path {
			return true
		}
	}
	return false
}

// String returns the release's version tag.
func (r *Release) String() string { return r.Version }

// SemVer returns the release's version parsed by hashicorp/go-version.
func (r *Release) SemVer() *goversion.Version { return r.version }

// Arches returns the architectures the release embeds a binary for, sorted.
func (r *Release) Arches() []string {
	var arches []string
	for _, a := range []string{ArchAarch64, ArchX86_64} {
		if _, err := r.binaryInfo(a); err == nil {
			arches = append(arches, a)
		}
	}
	return arches
}

// HasBinary reports whether the release embeds a binary for arch.
func (r *Release) HasBinary(arch string) bool {
	_, err := r.binaryInfo(arch)
	return err == nil
}

// binaryInfo stats the embedded binary for arch. A missing one is an error
// matching ErrNoBinary.
func (r *Release) binaryInfo(arch string) (fs.FileInfo, error) {
	if r.Binaries == nil {
		return nil, r.noBinary(arch)
	}
	fi, err := fs.Stat(r.Binaries, arch+"/"+BinaryName)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
		return nil, r.noBinary(arch)
	}
	return fi, nil
}

// noBinary is the ErrNoBinary error for arch, saying how to embed one.
func (r *Release) noBinary(arch string) error {
	module := "its version module"
	if major, _, ok := strings.Cut(strings.TrimPrefix(r.Version, "v"), "."); ok {
		module = "versions/v" + major
	}
	return fmt.Errorf("%w for %s in CH %s; run `make binaries` to put the release's %s/%s into %s/binaries, then rebuild",
		ErrNoBinary, arch, r.Version, arch, BinaryName, module)
}
