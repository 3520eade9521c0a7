package core

import (
	"context"
	"os"

	"crypto/sha256"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/chvmm/chvmm/core/chversion"
	"github.com/chvmm/chvmm/core/driver"
)

// A payload is the binary a release embeds for one architecture, with its
// SHA-256 computed once per process.
type payload struct {
	r    *Release
	arch string

	once   sync.Once
	size   int64
	digest [sha256.Size]byte
	err    error

	// Counters for tests: how often this process hashed the embedded binary,
	// hashed a file on disk, ran a version check and wrote the binary.
	embeddedHashes, fileHashes, versionChecks, writes atomic.Int64

	// versionOK: a copy of these bytes already reported the release's
	// version in this process; another byte-identical copy would too.
	versionOK atomic.Bool
}

// payloads holds the payload of each Release that extracted or checked its
// binary: bounded by the Releases, of which a program has one per
// registered version (Register panics on a second one of a version), not
// by data directories, paths or VMMs.
var payloads sync.Map // *Release → *payload

// payload returns the embedded binary, hashed. A missing one is an error
// matching ErrNoBinary.
func (r *Release) payload() (*payload, error) {
	v, ok := payloads.Load(r)
	if !ok {
		v, _ = payloads.LoadOrStore(r, &payload{r: r, arch: r.d.Arch})
	}
	p := v.(*payload)
	p.once.Do(p.load)
	return p, p.err
}

func (p *payload) load() {
	fi, err := p.r.binaryInfo()
	if err == nil && !validArch(p.arch) {
		err = fmt.Errorf("%w for %q in CH %s: not an architecture name (want x86_64 or aarch64)", ErrNoBinary, p.arch, p.r.tag)
	}
	if err != nil {
		p.err = err
		return
	}
	f, err := p.r.d.Binary.Open(driver.BinaryName)
	if err != nil {
		p.err = fmt.Errorf("CH %s: open embedded %s: %w", p.r.tag, driver.BinaryName, err)
		return
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	p.embeddedHashes.Add(1)
	if err == nil && n != fi.Size() {
		err = fmt.Errorf("read %d bytes, its size is %d", n, fi.Size())
	}
	if err != nil {
		p.err = fmt.Errorf("CH %s: read embedded %s: %w", p.r.tag, driver.BinaryName, err)
		return
	}
	p.size = n
	h.Sum(p.digest[:0])
}

// checkVersion runs the binary open as f (a copy of the payload, byte for
// byte; run through its descriptor, whatever its path names) and checks
// that it reports the release's version; shownAs names it in errors. It runs once per payload and process: the bytes do not change. A
// binary for another architecture than the host's cannot run and is not
// checked.
func (p *payload) checkVersion(ctx context.Context, f *os.File, shownAs string) error {
	if p.arch != hostArch() || p.versionOK.Load() {
		return nil
	}
	p.versionChecks.Add(1)
	bv, err := chversion.ReadFile(ctx, f)
	if err != nil {
		return fmt.Errorf("check the version of CH %s binary %s: %w", p.r.tag, shownAs, err)
	}
	if bv.Version != p.r.tag {
		return fmt.Errorf("%w: %s reports %s (%q) but is embedded as CH %s; the version module embeds the wrong binary: run `make binaries` again and rebuild",
			ErrVersionMismatch, shownAs, bv.Version, bv.Raw, p.r.tag)
	}
	p.versionOK.Store(true)
	return nil
}

// validArch reports whether arch is usable as a path component: a plain
// lower-case name such as "x86_64".
func validArch(arch string) bool {
	if arch == "" {
		return false
	}
	for _, c := range arch {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
