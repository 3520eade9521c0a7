// Package chsim simulates the Cloud Hypervisor (CH) VMM API server of a given
// CH release, in process, on a unix socket, without KVM.
//
// It answers every endpoint of that release's OpenAPI spec the way the real
// server does, byte for byte where the recordings of real CH show it
// (testdata/real, replayed by replay_test.go): status codes, headers, error
// chains, the quirks of its HTTP server, the JSON its serde structs read and
// write (member order, defaults, serde_json's error messages), the VM state
// machine of the real VMM (Created, Running, Paused; a shut down VM reports
// Created again), the device tree with CH's PCI slots and address
// allocation. It writes and reads snapshot directories, receives file
// descriptors passed with SCM_RIGHTS, emits event-monitor events in CH's
// format, and checks every request and response against the release's spec
// with kin-openapi, reporting violations through a hook.
//
// Files: server.go (lifecycle), conn.go (HTTP/1.1 over the unix socket, fd
// passing), routes.go (dispatch and transport errors), serde.go and
// shapes.go (CH's structs as serde reads and writes them, per release),
// vmm.go (state machine), devices.go (device configs, validation, hot
// plug), devtree.go (the device tree, PCI slots, MMIO allocation),
// config.go, snapshot.go, migration.go, events.go, validate.go, spec.go,
// version.go, lock.go. Package recording holds the recordings' format;
// chsimtest wraps the simulator for tests; cmd/chsim is a drop-in for the
// cloud-hypervisor binary.
// Package chsimtest wraps it for tests; cmd/chsim is a drop-in for the
// cloud-hypervisor binary.
package chsim
