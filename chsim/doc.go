// Package chsim simulates the Cloud Hypervisor (CH) VMM API server of a given
// CH release, in process, on a unix socket, without KVM.
//
// It answers every endpoint of that release's OpenAPI spec the way the real
// server does (status codes, error chains, the quirks of its HTTP server),
// keeps the VM state machine of the real VMM (Created, Running, Paused; a shut
// down VM reports Created again), writes and reads snapshot directories,
// receives file descriptors passed with SCM_RIGHTS, emits event-monitor events
// in CH's format, and checks every request and response against the release's
// spec with kin-openapi, reporting violations through a hook.
//
// Files: server.go (lifecycle), conn.go (HTTP/1.1 over the unix socket, fd
// passing), routes.go (dispatch and transport errors), vmm.go (state machine),
// devices.go (hot-plug bookkeeping), config.go (defaults CH fills in),
// snapshot.go, events.go, validate.go, spec.go, version.go, lock.go.
// Package chsimtest wraps it for tests; cmd/chsim is a drop-in for the
// cloud-hypervisor binary.
package chsim
