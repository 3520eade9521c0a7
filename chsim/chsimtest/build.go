package chsimtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	buildMu    sync.Mutex
	buildDir   string
	buildCache = map[string]string{} // version → binary
)

// Build compiles cmd/chsim reporting CH version ("v50.2"), once per test
// process and version, and returns the path of the binary, named
// cloud-hypervisor. It needs the go command.
func Build(t testing.TB, version string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildCache[version]; ok {
		return p
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "chsim-build-")
		if err != nil {
			t.Fatalf("chsimtest.Build: %v", err)
		}
		buildDir = d
	}
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatalf("chsimtest.Build: cannot locate the chsim sources")
	}
	pkgDir := filepath.Join(filepath.Dir(self), "..", "cmd", "chsim")
	out := filepath.Join(buildDir, version, "cloud-hypervisor")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	cmd := exec.Command(goBin, "build", "-o", out, "-ldflags", "-X main.version="+version, ".")
	cmd.Dir = pkgDir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chsimtest.Build %s: %v\n%s", version, err, b)
	}
	buildCache[version] = out
	return out
}
