// Command chsim is a drop-in for the cloud-hypervisor binary as chvmm starts
// it: it serves the simulated CH API (package chsim) of the version baked in
// at build time:
//
//	go build -ldflags "-X main.version=v50.2" -o cloud-hypervisor ./cmd/chsim
//
// It understands --api-socket (<path>, path=<path>, fd=<n>), --version, -v
// (repeatable), --log-file, --event-monitor (path=<p>, fd=<n>) and --seccomp;
// the VM options of CH (--kernel, --cpus, …) are accepted and ignored.
package main

import (
	"os"

	"github.com/chvmm/chvmm/chsim"
)

// version is the CH release the binary reports and simulates; set it with
// -ldflags "-X main.version=vNN.N". Empty means the newest modelled release.
var version string

func main() {
	if version == "" {
		version = chsim.Versions[len(chsim.Versions)-1]
	}
	os.Exit(chsim.Main(version, os.Args[1:], os.Stdout, os.Stderr))
}
