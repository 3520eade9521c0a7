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
	buildCache = map[string]string{} // version → binary
)

// Build compiles cmd/chsim reporting CH version ("v50.2"), once per test
// process and version, and returns the path of the binary, named
// cloud-hypervisor. It needs the go command. The binary lives in the user's
// cache directory ({cache}/chvmm-chsimtest/{version}/cloud-hypervisor), one
// per version, replaced atomically by each build, so test runs leave nothing
// behind but it.
func Build(t testing.TB, version string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildCache[version]; ok {
		return p
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "chvmm-chsimtest", version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("chsimtest.Build: %v", err)
	}
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatalf("chsimtest.Build: cannot locate the chsim sources")
	}
	pkgDir := filepath.Join(filepath.Dir(self), "..", "cmd", "chsim")
	tmp, err := os.CreateTemp(dir, ".build-*")
	if err != nil {
		t.Fatalf("chsimtest.Build: %v", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name()) // after a successful rename, nothing is there
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	cmd := exec.Command(goBin, "build", "-o", tmp.Name(), "-ldflags", "-X main.version="+version, ".")
	cmd.Dir = pkgDir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chsimtest.Build %s: %v\n%s", version, err, b)
	}
	// Renaming over the binary is safe while another test process runs it:
	// that process keeps the old file.
	out := filepath.Join(dir, "cloud-hypervisor")
	if err := os.Rename(tmp.Name(), out); err != nil {
		t.Fatalf("chsimtest.Build %s: %v", version, err)
	}
	buildCache[version] = out
	return out
}
