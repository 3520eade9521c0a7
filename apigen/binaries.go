package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/chvmm/chvmm/core/chversion"
	"github.com/chvmm/chvmm/core/driver"
)

// binariesDir is the directory of a version module that is embedded:
// binaries/README.md and binaries/<arch>/cloud-hypervisor.
const binariesDir = "binaries"

// releaseBaseURL is where Cloud Hypervisor publishes release assets, as
// <base>/<tag>/<asset>.
const releaseBaseURL = "https://github.com/cloud-hypervisor/cloud-hypervisor/releases/download"

// releaseAssets names the official static binary of each arch.
var releaseAssets = map[string]string{
	"x86_64":  "cloud-hypervisor-static",
	"aarch64": "cloud-hypervisor-static-aarch64",
}

// maxBinarySize bounds a binary apigen accepts.
const maxBinarySize = 512 << 20

// downloadTimeout bounds one download.
const downloadTimeout = 10 * time.Minute

// A binarySource opens the binary of release tag for arch. It returns an
// error wrapping fs.ErrNotExist when the source has no such binary.
type binarySource func(ctx context.Context, tag, arch string) (io.ReadCloser, error)

// runBinaries is `apigen binaries [-from DIR] [-arch A,B] [vNN ...]`.
func runBinaries(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("binaries", flag.ContinueOnError)
	root := fl.String("root", ".", "repository root")
	from := fl.String("from", "", "import DIR/<tag>/<arch>/cloud-hypervisor instead of downloading")
	baseURL := fl.String("base-url", releaseBaseURL, "where release assets are downloaded from, as <base-url>/<tag>/<asset>")
	archList := fl.String("arch", "x86_64"+","+"aarch64", "comma-separated arches to fetch")
	if err := fl.Parse(args); err != nil {
		return err
	}
	r := repo{root: *root}
	names, err := r.modules(fl.Args())
	if err != nil {
		return err
	}
	arches := strings.Split(*archList, ",")
	for _, a := range arches {
		if _, ok := releaseAssets[a]; !ok {
			return fmt.Errorf("%w: unknown arch %q (want %s or %s)", errUsage, a, "x86_64", "aarch64")
		}
	}
	src := downloadSource(http.DefaultClient, *baseURL)
	if *from != "" {
		src = dirSource(*from)
	}
	for _, name := range names {
		if err := r.fetchBinaries(ctx, name, arches, src, *from != ""); err != nil {
			return err
		}
	}
	return nil
}

// dirSource reads binaries from dir/<tag>/<arch>/cloud-hypervisor.
func dirSource(dir string) binarySource {
	return func(_ context.Context, tag, arch string) (io.ReadCloser, error) {
		return os.Open(filepath.Join(dir, tag, arch, driver.BinaryName))
	}
}

// downloadSource downloads the official release assets from baseURL.
func downloadSource(client *http.Client, baseURL string) binarySource {
	return func(ctx context.Context, tag, arch string) (io.ReadCloser, error) {
		url := strings.TrimSuffix(baseURL, "/") + "/" + tag + "/" + releaseAssets[arch]
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("downloading %s: %w (no access to GitHub? import binaries built elsewhere: make binaries FROM=<dir>, laid out <dir>/%s/%s/cloud-hypervisor)", url, err, tag, arch)
		}
		if resp.StatusCode != http.StatusOK {
			_ = resp.Body.Close()
			err := fmt.Errorf("downloading %s: %s", url, resp.Status)
			if resp.StatusCode == http.StatusNotFound {
				err = fmt.Errorf("%w (%w)", err, fs.ErrNotExist)
			}
			return nil, err
		}
		return resp.Body, nil
	}
}

// fetchBinaries fetches the binaries of version module name for arches from
// src. With optional set, an arch src does not have is skipped; at least one
// must be found.
func (r repo) fetchBinaries(ctx context.Context, name string, arches []string, src binarySource, optional bool) error {
	dir := r.moduleDir(name)
	lock, err := readSpecLock(dir)
	if err != nil {
		return err
	}
	sums, err := readBinariesLock(dir)
	if err != nil {
		return err
	}
	found := 0
	for _, arch := range arches {
		sum, err := r.fetchBinary(ctx, dir, lock.Tag, arch, sums[arch], src)
		if optional && errors.Is(err, fs.ErrNotExist) {
			slog.Warn("no binary to import", "tag", lock.Tag, "arch", arch, "err", err)
			continue
		}
		if err != nil {
			return err
		}
		found++
		if sums[arch] == "" {
			sums[arch] = sum
			if err := writeFileAtomic(filepath.Join(dir, binariesLockFile), sums.bytes(lock.Tag), 0o644); err != nil {
				return fmt.Errorf("recording the %s %s binary in %s: %w", lock.Tag, arch, binariesLockFile, err)
			}
		}
	}
	if found == 0 {
		return fmt.Errorf("no Cloud Hypervisor %s binary found for %s: %w", lock.Tag, strings.Join(arches, ", "), fs.ErrNotExist)
	}
	return nil
}

// fetchBinary writes the tag binary for arch from src to
// <dir>/binaries/<arch>/cloud-hypervisor, atomically, after checking it
// against want (its binaries.lock sum, "" if none yet) and, for the host
// arch, its --version against tag. It returns the binary's SHA-256.
func (r repo) fetchBinary(ctx context.Context, dir, tag, arch, want string, src binarySource) (string, error) {
	target := filepath.Join(dir, binariesDir, arch, driver.BinaryName)
	ctx, cancel := context.WithTimeout(ctx, downloadTimeout)
	defer cancel()
	in, err := src(ctx, tag, arch)
	if err != nil {
		return "", fmt.Errorf("Cloud Hypervisor %s for %s: %w", tag, arch, err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+driver.BinaryName+".tmp-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(in, maxBinarySize+1))
	if err == nil && n > maxBinarySize {
		err = fmt.Errorf("larger than %d bytes", maxBinarySize)
	}
	if err == nil && n == 0 {
		err = errors.New("empty")
	}
	if err == nil {
		err = tmp.Chmod(0o755)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("Cloud Hypervisor %s for %s: %w", tag, arch, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if want != "" && sum != want {
		return "", fmt.Errorf("%w: Cloud Hypervisor %s for %s has sha256 %s, but %s pins %s: refusing it (if upstream really replaced the asset, review why and delete the line)",
			errBinaryMismatch, tag, arch, sum, filepath.Join(dir, binariesLockFile), want)
	}
	if arch == hostArch() {
		bv, err := chversion.ReadBinary(ctx, tmp.Name())
		if err != nil {
			return "", fmt.Errorf("Cloud Hypervisor %s for %s: %w", tag, arch, err)
		}
		if bv.Version != tag {
			return "", fmt.Errorf("%w: the binary fetched as %s reports %q", errBinaryVersion, tag, bv.Raw)
		}
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return "", err
	}
	slog.Info("binary in place", "tag", tag, "arch", arch, "sha256", sum, "path", target)
	return sum, nil
}

// errBinaryVersion: a fetched binary reports another version than its tag.
var errBinaryVersion = errors.New("binary of another Cloud Hypervisor version")

// hostArch returns CH's name of this machine's architecture.
func hostArch() string {
	for _, a := range arches {
		if a.GOARCH == runtime.GOARCH {
			return a.Name
		}
	}
	return runtime.GOARCH
}
