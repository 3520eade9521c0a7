package main

// Releases: `apigen release -r N` turns the working tree into the release
// commit of chvmm release N, and `apigen check-release` rehearses it in a
// copy, serving the result from a file-based module proxy to consumer
// programs built with an empty module cache.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"

	"github.com/chvmm/chvmm/core/driver"
)

// publicProxy is where prepareRelease fetches third-party modules the
// module cache lacks.
const publicProxy = "https://proxy.golang.org"

// modulePrefix is the path of every module of this repository.
const modulePrefix = "github.com/chvmm/chvmm/"

// releasedModule is a module a release tags, with its tag.
type releasedModule struct {
	Dir     string // relative to the root: "core", "versions/v49"
	Path    string // module path
	Version string // "v0.3.0", "v49.0.3"
}

// Tag is the git tag of the module's version: "core/v0.3.0"; for a
// module whose directory is its major version's ("versions/v49" holding
// module …/versions/v49 at v49.0.3), the prefix leaves that directory
// out, as the go command expects: "versions/v49.0.3".
func (m releasedModule) Tag() string {
	dir := m.Dir
	if major, _, _ := strings.Cut(m.Version, "."); strings.HasSuffix(dir, "/"+major) && strings.HasSuffix(m.Path, "/"+major) {
		dir = strings.TrimSuffix(dir, "/"+major)
	}
	return dir + "/" + m.Version
}

// releaseModules lists, in dependency order, the modules release n tags:
// core v0.n.0; each version module vMAJOR.MINOR.n (its minor is CH's point
// release, its patch chvmm's release); chsim and cmd/chv v0.n.0. apigen,
// tools and e2e are not released.
func (r repo) releaseModules(n int) ([]releasedModule, error) {
	v := "v0." + strconv.Itoa(n) + ".0"
	mods := []releasedModule{{Dir: "core", Path: modulePrefix + "core", Version: v}}
	names, err := r.modules(nil)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		lock, err := readSpecLock(r.moduleDir(name))
		if err != nil {
			return nil, err
		}
		mods = append(mods, releasedModule{Dir: versionsDir + "/" + name, Path: modulePathPrefix + name,
			Version: lock.Tag + "." + strconv.Itoa(n)})
	}
	return append(mods,
		releasedModule{Dir: "chsim", Path: modulePrefix + "chsim", Version: v},
		releasedModule{Dir: "cmd/chv", Path: modulePrefix + "cmd/chv", Version: v}), nil
}

// prepareRelease rewrites each released module of the tree at r.root for
// release n, in dependency order: its requirements on this repository's
// modules name their release versions, its replace lines go, and its go.sum
// is made complete for a build of the module alone (go mod tidy, then go
// vet with -mod=readonly) against the modules released before it, which it
// adds to the file proxy at proxy. Third-party modules come from this
// machine's module cache (GOMODCACHE), else from the Go module proxy.
func (r repo) prepareRelease(ctx context.Context, n int, proxy string) ([]releasedModule, error) {
	mods, err := r.releaseModules(n)
	if err != nil {
		return nil, err
	}
	if err := r.checkReleaseBinaries(mods); err != nil {
		return nil, err
	}
	cache, err := goEnv(ctx, "GOMODCACHE")
	if err != nil {
		return nil, err
	}
	// A module cache of its own: this machine's cache may hold an earlier
	// build of a release version (a check-release run before this commit),
	// which the go command would take over the fresh zip on the proxy.
	modCache, err := os.MkdirTemp("", "chvmm-release-modcache-")
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOSUMDB=off", "GOTOOLCHAIN=local", "GONOSUMDB=*",
		"GOMODCACHE="+modCache,
		// The machine's module cache first; the module proxy for what no
		// build here needed yet (go mod tidy wants the tests of
		// dependencies too).
		"GOPROXY=file://"+filepath.ToSlash(proxy)+",file://"+filepath.ToSlash(filepath.Join(cache, "cache", "download"))+","+publicProxy)
	defer func() {
		_ = goCmd(context.WithoutCancel(ctx), r.root, env, "clean", "-modcache")
		_ = os.RemoveAll(modCache)
	}()
	versions := map[string]string{}
	for _, m := range mods {
		versions[m.Path] = m.Version
	}
	for _, m := range mods {
		dir := filepath.Join(r.root, m.Dir)
		if err := pinRequirements(ctx, dir, env, versions); err != nil {
			return nil, fmt.Errorf("%s: %w", m.Dir, err)
		}
		if err := goCmd(ctx, dir, env, "mod", "tidy"); err != nil {
			return nil, fmt.Errorf("%s: %w", m.Dir, err)
		}
		vetEnv := append(env[:len(env):len(env)], "GOFLAGS=-mod=readonly")
		if err := goCmd(ctx, dir, vetEnv, "vet", "./..."); err != nil {
			return nil, fmt.Errorf("%s: its go.sum is not complete for a build of the module alone: %w", m.Dir, err)
		}
		if err := addToProxy(proxy, dir, m); err != nil {
			return nil, fmt.Errorf("%s: %w", m.Dir, err)
		}
		slog.Info("release module ready", "tag", m.Tag())
	}
	return mods, nil
}

// checkReleaseBinaries refuses a release whose version modules lack a
// binary that their binaries.lock records: a module on the proxy must
// carry its binaries.
func (r repo) checkReleaseBinaries(mods []releasedModule) error {
	for _, m := range mods {
		if !strings.HasPrefix(m.Dir, versionsDir+"/") {
			continue
		}
		dir := filepath.Join(r.root, m.Dir)
		lock, err := readBinariesLock(dir)
		if err != nil {
			return err
		}
		if len(lock) == 0 {
			return fmt.Errorf("%s/%s records no binary: run make binaries first", m.Dir, binariesLockFile)
		}
		for arch := range lock {
			path := filepath.Join(dir, binariesDir, arch, driver.BinaryName)
			if _, err := os.Stat(path); err != nil {
				return fmt.Errorf("release: %s is missing (make binaries): %w", path, err)
			}
		}
	}
	return nil
}

// pinRequirements makes the go.mod in dir require this repository's
// modules at their release versions and drops its replace lines for them.
func pinRequirements(ctx context.Context, dir string, env []string, versions map[string]string) error {
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return err
	}
	var mod struct {
		Require []struct{ Path string }
		Replace []struct{ Old struct{ Path string } }
	}
	out, err := goOutput(ctx, dir, env, "mod", "edit", "-json")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(out, &mod); err != nil {
		return fmt.Errorf("go mod edit -json: %w", err)
	}
	var args []string
	for _, rp := range mod.Replace {
		if strings.HasPrefix(rp.Old.Path, modulePrefix) {
			args = append(args, "-dropreplace="+rp.Old.Path)
		}
	}
	for _, rq := range mod.Require {
		if v, ok := versions[rq.Path]; ok {
			args = append(args, "-require="+rq.Path+"@"+v)
		}
	}
	if len(args) == 0 {
		return nil
	}
	_ = data
	return goCmd(ctx, dir, env, append([]string{"mod", "edit"}, args...)...)
}

// addToProxy writes module m, from dir, into the file proxy at proxy as
// the go command serves it ($GOPROXY layout: path/@v/version.{info,mod,zip}).
func addToProxy(proxy, dir string, m releasedModule) error {
	esc, err := module.EscapePath(m.Path)
	if err != nil {
		return err
	}
	vdir := filepath.Join(proxy, filepath.FromSlash(esc), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return err
	}
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return err
	}
	info, _ := json.Marshal(map[string]string{"Version": m.Version, "Time": "2026-12-01T00:00:00Z"})
	var zip bytes.Buffer
	if err := modzip.CreateFromDir(&zip, module.Version{Path: m.Path, Version: m.Version}, dir); err != nil {
		return fmt.Errorf("module zip: %w", err)
	}
	for name, data := range map[string][]byte{".info": info, ".mod": mod, ".zip": zip.Bytes()} {
		if err := os.WriteFile(filepath.Join(vdir, m.Version+name), data, 0o644); err != nil {
			return err
		}
	}
	list := filepath.Join(vdir, "list")
	old, _ := os.ReadFile(list)
	return os.WriteFile(list, append(old, m.Version+"\n"...), 0o644)
}

// goEnv returns `go env name`.
func goEnv(ctx context.Context, name string) (string, error) {
	out, err := goOutput(ctx, "", nil, "env", name)
	return strings.TrimSpace(string(out)), err
}

func goCmd(ctx context.Context, dir string, env []string, args ...string) error {
	_, err := goOutput(ctx, dir, env, args...)
	return err
}

// goOutput runs the go command in dir with env (nil: this process's) and
// returns its standard output; a failure quotes its standard error.
func goOutput(ctx context.Context, dir string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = dir, env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

// runRelease is `apigen release -r N`: the working tree becomes release N's
// commit (on a branch release/vN made here), and the tags to push are
// printed.
func runRelease(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("release", flag.ContinueOnError)
	root := fl.String("root", ".", "repository root")
	n := fl.Int("r", 0, "the chvmm release number N: core v0.N.0, versions/vMAJOR.MINOR.N")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *n <= 0 {
		return fmt.Errorf("%w: release -r N needs a positive N", errUsage)
	}
	if out, err := gitWorkTree(ctx, *root, "status", "--porcelain"); err != nil || len(out) > 0 {
		return fmt.Errorf("release: the working tree must be clean (commit or stash first): %s%v", out, err)
	}
	branch := "release/v0." + strconv.Itoa(*n)
	if _, err := gitWorkTree(ctx, *root, "checkout", "-b", branch); err != nil {
		return err
	}
	proxy, err := os.MkdirTemp("", "chvmm-release-proxy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(proxy)
	r := repo{root: *root}
	mods, err := r.prepareRelease(ctx, *n, proxy)
	if err != nil {
		return err
	}
	for _, m := range mods {
		if strings.HasPrefix(m.Dir, versionsDir+"/") {
			if _, err := gitWorkTree(ctx, *root, "add", "-f", filepath.Join(m.Dir, binariesDir)); err != nil {
				return err
			}
		}
	}
	if _, err := gitWorkTree(ctx, *root, "add", "-A"); err != nil {
		return err
	}
	if _, err := gitWorkTree(ctx, *root, "commit", "-q", "-m", "Release v0."+strconv.Itoa(*n)+": binaries, requirements on the release tags, no replace lines"); err != nil {
		return err
	}
	fmt.Printf("release %d prepared on branch %s; tag it and push:\n", *n, branch)
	var tags []string
	for _, m := range mods {
		tags = append(tags, m.Tag())
		fmt.Printf("  git tag %s\n", m.Tag())
	}
	fmt.Printf("  git push origin %s %s\n", branch, strings.Join(tags, " "))
	return nil
}

func gitWorkTree(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("git %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// runCheckRelease is `apigen check-release`: release 1 rehearsed on a copy
// of the repository with stand-in binaries, served from a file proxy to two
// consumer programs built with an empty module cache (one importing
// versions/v49, one all six), asserting which modules each downloads and
// that an amd64 build embeds no aarch64 byte.
func runCheckRelease(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("check-release", flag.ContinueOnError)
	root := fl.String("root", ".", "repository root")
	from := fl.String("from", "", "take real x86_64 binaries from DIR/<tag>/x86_64/cloud-hypervisor (as ../shared/ch-bin) where present, to measure real sizes")
	keep := fl.Bool("keep", false, "keep the temporary directory and print its path")
	if err := fl.Parse(args); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "chvmm-check-release-")
	if err != nil {
		return err
	}
	if *keep {
		fmt.Println("check-release: working in", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	copyRoot := filepath.Join(tmp, "repo")
	if err := copyTree(*root, copyRoot); err != nil {
		return err
	}
	r := repo{root: copyRoot}
	if err := r.writeStandInBinaries(*from); err != nil {
		return err
	}
	proxy := filepath.Join(tmp, "proxy")
	mods, err := r.prepareRelease(ctx, 1, proxy)
	if err != nil {
		return err
	}
	var versionMods []releasedModule
	for _, m := range mods {
		if strings.HasPrefix(m.Dir, versionsDir+"/") {
			versionMods = append(versionMods, m)
		}
	}
	core := mods[0]
	one := versionMods[1] // v49
	results := []consumerResult{}
	for _, c := range []struct {
		name string
		uses []releasedModule
	}{{"imports " + strings.TrimPrefix(one.Dir, versionsDir+"/") + " only", []releasedModule{one}}, {"imports all " + strconv.Itoa(len(versionMods)), versionMods}} {
		res, err := buildConsumer(ctx, filepath.Join(tmp, "consumer-"+strconv.Itoa(len(results))), proxy, core, c.uses)
		if err != nil {
			return fmt.Errorf("consumer that %s: %w", c.name, err)
		}
		res.name = c.name
		// go get fetches what the build needs; go mod tidy adds the test
		// dependencies of the imported packages (testify), which the go
		// command records in go.sum but never builds. Of this repository's
		// modules both fetch exactly core and the imported versions.
		want := []string{core.Path, "github.com/hashicorp/go-version", "golang.org/x/sys"}
		for _, u := range c.uses {
			want = append(want, u.Path)
		}
		sort.Strings(want)
		if !slicesEqual(res.getZips, want) {
			return fmt.Errorf("the consumer that %s downloaded %v after go get; want exactly %v", c.name, res.getZips, want)
		}
		var ours []string
		for _, z := range res.tidyZips {
			if strings.HasPrefix(z, modulePrefix) {
				ours = append(ours, z)
			}
		}
		if wantOurs := slices.DeleteFunc(slices.Clone(want), func(p string) bool { return !strings.HasPrefix(p, modulePrefix) }); !slicesEqual(ours, wantOurs) {
			return fmt.Errorf("the consumer that %s downloaded %v of this repository's modules after go mod tidy; want exactly %v", c.name, ours, wantOurs)
		}
		for _, m := range versionMods {
			used := false
			for _, u := range c.uses {
				used = used || u.Path == m.Path
			}
			x86 := bytes.Contains(res.binary, standInMarker("x86_64", m))
			if x86 != used {
				return fmt.Errorf("the amd64 build of the consumer that %s: %s's x86_64 binary embedded: %v, want %v", c.name, m.Dir, x86, used)
			}
			if bytes.Contains(res.binary, standInMarker("aarch64", m)) {
				return fmt.Errorf("the amd64 build of the consumer that %s embeds %s's aarch64 binary", c.name, m.Dir)
			}
		}
		results = append(results, res)
	}
	fmt.Println("check-release: release 1 (tags " + mods[0].Tag() + " … " + mods[len(mods)-1].Tag() + ") from a file proxy, empty module cache:")
	fmt.Printf("%-22s %-22s %-24s %s\n", "consumer", "zips after go get", "zips after go mod tidy", "linux/amd64 binary")
	for _, res := range results {
		fmt.Printf("%-22s %-22s %-24s %.1f MB, no aarch64 byte\n", res.name,
			fmt.Sprintf("%d, %.1f MB", len(res.getZips), mb(res.getBytes)), fmt.Sprintf("%d, %.1f MB", len(res.tidyZips), mb(res.tidyBytes)), mb(int64(len(res.binary))))
	}
	return nil
}

func mb(n int64) float64 { return float64(n) / 1e6 }

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// standInMarker starts the stand-in binary of m for arch.
func standInMarker(arch string, m releasedModule) []byte {
	return []byte("CHVMM-STAND-IN " + arch + " " + m.Dir + " ")
}

// writeStandInBinaries puts a stand-in binary for each architecture into
// each version module of the copy, with its binaries.lock: 4 MiB, about a
// real CH binary's size, starting with a marker naming module and arch.
// With from, a real x86_64 binary found there replaces the stand-in (its
// marker is then appended, so that the check still finds it).
func (r repo) writeStandInBinaries(from string) error {
	names, err := r.modules(nil)
	if err != nil {
		return err
	}
	for _, name := range names {
		dir := r.moduleDir(name)
		lockData, err := readSpecLock(dir)
		if err != nil {
			return err
		}
		m := releasedModule{Dir: versionsDir + "/" + name}
		lock := binariesLock{}
		for _, a := range arches {
			data := append(standInMarker(a.Name, m), bytes.Repeat([]byte{0x5a}, 4<<20)...)
			if from != "" && a.Name == "x86_64" {
				if real, err := os.ReadFile(filepath.Join(from, lockData.Tag, a.Name, driver.BinaryName)); err == nil {
					data = append(real, standInMarker(a.Name, m)...)
				}
			}
			path := filepath.Join(dir, binariesDir, a.Name, driver.BinaryName)
			if err := os.WriteFile(path, data, 0o755); err != nil {
				return err
			}
			lock[a.Name] = fileSHA256(data)
		}
		if err := os.WriteFile(filepath.Join(dir, binariesLockFile), lock.bytes(lockData.Tag), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// consumerResult is what a consumer program downloaded and built.
type consumerResult struct {
	name                string
	getZips, tidyZips   []string // module paths whose zip is in the module cache
	getBytes, tidyBytes int64
	binary              []byte // the linux/amd64 build
}

// buildConsumer writes a program in dir that imports core and uses, and,
// with a module cache of its own and only the file proxies as GOPROXY,
// runs go get, go mod tidy and a linux/amd64 go build, recording the
// module zips downloaded after each step.
func buildConsumer(ctx context.Context, dir, proxy string, core releasedModule, uses []releasedModule) (consumerResult, error) {
	var res consumerResult
	cache, err := goEnv(ctx, "GOMODCACHE")
	if err != nil {
		return res, err
	}
	modCache := filepath.Join(dir, "modcache")
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOSUMDB=off", "GONOSUMDB=*", "GOTOOLCHAIN=local",
		"GOMODCACHE="+modCache, "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0",
		"GOPROXY=file://"+filepath.ToSlash(proxy)+",file://"+filepath.ToSlash(filepath.Join(cache, "cache", "download")))
	src := "package main\n\nimport (\n\t\"fmt\"\n\n\t\"" + core.Path + "\"\n"
	get := []string{"get", core.Path + "@" + core.Version}
	for _, u := range uses {
		src += "\t_ \"" + u.Path + "\"\n"
		get = append(get, u.Path+"@"+u.Version)
	}
	src += ")\n\nfunc main() { fmt.Println(core.Releases()) }\n"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		return res, err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/consumer\n\ngo 1.26.0\n"), 0o644); err != nil {
		return res, err
	}
	defer func() { _ = goCmd(ctx, dir, env, "clean", "-modcache") }()
	if err := goCmd(ctx, dir, env, get...); err != nil {
		return res, err
	}
	if res.getZips, res.getBytes, err = zipsIn(modCache); err != nil {
		return res, err
	}
	if err := goCmd(ctx, dir, env, "mod", "tidy"); err != nil {
		return res, err
	}
	if res.tidyZips, res.tidyBytes, err = zipsIn(modCache); err != nil {
		return res, err
	}
	bin := filepath.Join(dir, "consumer")
	if err := goCmd(ctx, dir, env, "build", "-trimpath", "-o", bin, "."); err != nil {
		return res, err
	}
	res.binary, err = os.ReadFile(bin)
	return res, err
}

// zipsIn lists the modules whose zip the module cache at dir holds, and
// their total size.
func zipsIn(dir string) ([]string, int64, error) {
	root := filepath.Join(dir, "cache", "download")
	var mods []string
	var total int64
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".zip") {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		total += fi.Size()
		rel, _ := filepath.Rel(root, filepath.Dir(filepath.Dir(path))) // …/<module>/@v/<v>.zip
		p, err := module.UnescapePath(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		mods = append(mods, p)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	sort.Strings(mods)
	return mods, total, err
}

// copyTree copies the repository at src to dst, without .git, specs/,
// .cache/ and binaries (the version modules' binaries/<arch>/cloud-hypervisor).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if rel == ".git" || rel == "specs" || rel == ".cache" || (d.Name() == driver.BinaryName && strings.Contains(rel, binariesDir)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, fi.Mode().Perm())
	})
}
