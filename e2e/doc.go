// Package e2e holds chvmm's end-to-end tests, benchmarks and fuzz targets:
// the library against the simulator (module chsim) built as a
// cloud-hypervisor binary, and, in real_*_test.go, against real Cloud
// Hypervisor binaries on a host with KVM. It has no API; run it with
// go test (see the Makefile targets bench, fuzz and test-real).
package e2e
