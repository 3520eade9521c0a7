//go:build linux

package core

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/chvmm/chvmm/core/driver"
)

// benchPayload is a 4 MiB binary, about the size of a CH release: a script
// answering --version as CH version, followed by random bytes the shell
// never reads.
func benchPayload(version string) []byte {
	script := "#!/bin/sh\necho 'cloud-hypervisor " + version + "'\nexit 0\n"
	b := make([]byte, len(script)+4<<20)
	copy(b, script)
	rng := rand.NewChaCha8([32]byte{})
	rng.Read(b[len(script):])
	return b
}

// BenchmarkExtractCold extracts the binary into a data directory that does
// not hold it, each iteration: lock, write, fsync, rename, fsync of the
// directory. The directories stay between iterations, as they do between
// releases in a real data directory; the binary is removed (timer stopped)
// like BenchmarkCopyBaseline removes its file.
func BenchmarkExtractCold(b *testing.B) {
	bin := benchPayload("v96.0")
	r := testRelease("v96.0", bin)
	dataDir := b.TempDir()
	path, err := r.BinaryPath(b.Context(), dataDir)
	if err != nil {
		b.Fatal(err) // also hashes the embedded binary and checks its version, once per process
	}
	b.SetBytes(int64(len(bin)))
	for b.Loop() {
		b.StopTimer()
		if err := os.Remove(path); err != nil {
			b.Fatal(err)
		}
		verifiedBinaries.clear()
		b.StartTimer()
		if _, err := r.BinaryPath(b.Context(), dataDir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCopyBaseline is the least an atomic extraction must do: write the
// same bytes to a new file in the binary's directory, fsync, rename.
func BenchmarkCopyBaseline(b *testing.B) {
	bin := benchPayload("v96.0")
	dir := b.TempDir()
	final := filepath.Join(dir, driver.BinaryName)
	b.SetBytes(int64(len(bin)))
	for b.Loop() {
		tmp := filepath.Join(dir, tempPrefix+"bench")
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Write(bin); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(tmp, final); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := os.Remove(final); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkBinaryPathWarm is Release.BinaryPath of a binary this process has
// already extracted: Lookup plus one Lstat.
func BenchmarkBinaryPathWarm(b *testing.B) {
	registerTestRelease(b, "v96.0", benchPayload("v96.0"))
	dataDir := b.TempDir()
	want, err := getBinaryPath(b, dataDir, "v96.0")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if got, err := getBinaryPath(b, dataDir, "v96.0"); err != nil || got != want {
			b.Fatal(got, err)
		}
	}
}
