package chsim

import (
	"io"
	"log/slog"
)

// An Option configures a Server.
type Option func(*options)

type options struct {
	events       io.Writer
	logger       *slog.Logger
	onViolation  func(Violation)
	buildVersion string
	guestDebug   bool
}

// WithEventMonitor makes the server write CH event-monitor events to w, in
// CH's format (pretty-printed JSON objects, each followed by a blank line),
// as `cloud-hypervisor --event-monitor` does.
func WithEventMonitor(w io.Writer) Option { return func(o *options) { o.events = w } }

// WithLogger makes the server log through l (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithViolationHook calls f for every request or response that violates the
// release's OpenAPI spec. f may be called from several goroutines at once.
func WithViolationHook(f func(Violation)) Option { return func(o *options) { o.onViolation = f } }

// WithBuildVersion sets the build_version vmm.ping reports. The default is
// the release tag ("v48.0"), as a release build made from a git checkout of
// the tag reports; a build without git metadata reports "v48.0.0".
func WithBuildVersion(v string) Option { return func(o *options) { o.buildVersion = v } }

// WithGuestDebug models a CH built with the guest_debug feature, which adds
// the /vm.coredump endpoint. Release builds lack it and answer 404.
func WithGuestDebug() Option { return func(o *options) { o.guestDebug = true } }
