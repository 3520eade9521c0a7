// Package chsimtest starts Cloud Hypervisor simulators for tests: in process
// (Start) or as a built drop-in binary (Build).
package chsimtest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/chvmm/chvmm/chsim"
)

// Start serves CH version on a socket in t.TempDir and stops it when the
// test ends. Every request or response that violates the release's OpenAPI
// spec fails the test (t.Errorf). Extra options are applied after the hook.
func Start(t testing.TB, version string, opts ...chsim.Option) (socketPath string, srv *chsim.Server) {
	t.Helper()
	socketPath = filepath.Join(t.TempDir(), "ch.sock")
	opts = append([]chsim.Option{chsim.WithViolationHook(func(v chsim.Violation) {
		t.Errorf("%v", v)
	})}, opts...)
	srv, err := chsim.Start(context.Background(), version, socketPath, opts...)
	if err != nil {
		t.Fatalf("start CH %s simulator: %v", version, err)
	}
	t.Cleanup(func() {
		srv.Close()
		select {
		case <-srv.Done():
		case <-time.After(10 * time.Second):
			t.Errorf("CH simulator at %s did not stop", socketPath)
		}
	})
	return socketPath, srv
}
