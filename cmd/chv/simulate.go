package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/chvmm/chvmm/core"
)

// How --simulate works: chv is its own simulator binary. For CH version V,
// chv makes a symlink {data dir}/simulator/chv-simulator-V pointing at its
// own executable and starts that with core.StartProcess(WithBinary(link),
// WithoutKVMCheck()), exactly as it would start a CH binary. When chv runs
// under a name starting with chv-simulator- (argv[0]), it is not the CLI
// but a drop-in for `cloud-hypervisor` of version V: it answers --version
// with "cloud-hypervisor V" (core reads the version that way, with an empty
// environment, so the name is the only channel that survives) and serves
// the chsim simulator of V on the --api-socket core hands it, in this
// process, until vmm.shutdown or a signal. The simulator is thus a real,
// separate process that outlives `chv start --detach`, needs no go
// toolchain and no KVM, and shows up in ps as chv-simulator-V.

// simulatorPrefix starts the name under which chv acts as a simulated CH.
const simulatorPrefix = "chv-simulator-"

// simulatorVersion reports whether argv0 names a simulator link, and the CH
// version it simulates.
func simulatorVersion(argv0 string) (string, bool) {
	return strings.CutPrefix(filepath.Base(argv0), simulatorPrefix)
}

// simulatorBinary makes {dataDir}/simulator/chv-simulator-{version} a
// symlink to this executable (replacing a stale one atomically) and
// returns its path.
func simulatorBinary(dataDir, version string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("simulator: locating the chv executable: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	dir := filepath.Join(dataDir, "simulator")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("simulator: %w; pick a writable --data-dir", err)
	}
	link := filepath.Join(dir, simulatorPrefix+version)
	if cur, err := os.Readlink(link); err == nil && cur == self {
		return link, nil
	}
	tmp := fmt.Sprintf("%s.tmp-%d", link, os.Getpid())
	_ = os.Remove(tmp)
	if err := os.Symlink(self, tmp); err != nil {
		return "", fmt.Errorf("simulator: %w; pick a writable --data-dir", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("simulator: %w", err)
	}
	return link, nil
}

// simulatorOptions are the StartProcess options that run the simulator of
// release r instead of its CH binary.
func simulatorOptions(dataDir string, r *core.Release) ([]core.ProcessOption, error) {
	bin, err := simulatorBinary(dataDir, r.Version)
	if err != nil {
		return nil, err
	}
	return []core.ProcessOption{core.WithBinary(bin), core.WithoutKVMCheck()}, nil
}
