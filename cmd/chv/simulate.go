package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// How --simulate works: chv is its own simulator binary. For CH version V,
// chv writes {data dir}/simulator/chv-simulator-V, a two-line script that
// runs chv's own executable as `chv __chv-simulator V ARGS…`, and starts
// the script with core.StartProcess(WithBinary(script), WithoutKVMCheck()),
// exactly as it would start a CH binary. Run that way (or under a name
// starting with chv-simulator-), chv is not the CLI but a drop-in for
// `cloud-hypervisor` of version V: it answers --version with
// "cloud-hypervisor V" and serves the chsim simulator of V on the
// --api-socket core hands it, in this process, until vmm.shutdown or a
// signal. The simulator is thus a real, separate process that outlives
// `chv start --detach`, and needs no go toolchain and no KVM.
//
// Why a script: core runs a binary through the descriptor it verified
// (/proc/self/fd/N, argv[0] "cloud-hypervisor"), with an empty environment,
// for --version too, and remembers a file's version by its identity (device,
// inode, times). So neither the name of a link nor the environment reaches
// the simulator, and links of one executable would all be one file to
// core: each version needs a file of its own that carries its version, and
// a script is the smallest.

// simulatorPrefix starts the name under which chv acts as a simulated CH.
const simulatorPrefix = "chv-simulator-"

// simulatorArg is the hidden first argument with which a simulator script
// runs chv: `chv __chv-simulator V ARGS…`.
const simulatorArg = "__chv-simulator"

// simulatorArgs reports whether args (os.Args) run chv as a simulator,
// and if so the CH version it simulates and CH's arguments.
func simulatorArgs(args []string) (version string, chArgs []string, ok bool) {
	if len(args) == 0 {
		return "", nil, false
	}
	if v, ok := strings.CutPrefix(filepath.Base(args[0]), simulatorPrefix); ok {
		return v, args[1:], true
	}
	if len(args) >= 3 && args[1] == simulatorArg {
		return args[2], args[3:], true
	}
	return "", nil, false
}

// simulatorBinary makes {dataDir}/simulator/chv-simulator-{version} the
// script that runs this executable as the simulator of version (replacing
// a stale one atomically: a simulator running it keeps running) and
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
	script := filepath.Join(dir, simulatorPrefix+version)
	want := fmt.Appendf(nil, "#!/bin/sh\nexec %s %s %s \"$@\"\n", shellQuote(self), simulatorArg, shellQuote(version))
	if fi, err := os.Lstat(script); err == nil && fi.Mode().IsRegular() && fi.Size() == int64(len(want)) {
		if have, err := os.ReadFile(script); err == nil && bytes.Equal(have, want) {
			return script, nil
		}
	}
	tmp := fmt.Sprintf("%s.tmp-%d", script, os.Getpid())
	if err := os.WriteFile(tmp, want, 0o755); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("simulator: %w; pick a writable --data-dir", err)
	}
	if err := os.Rename(tmp, script); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("simulator: %w", err)
	}
	return script, nil
}

// shellQuote quotes s for sh: in single quotes, closed and reopened
// around an escaped \' for each single quote in s.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
