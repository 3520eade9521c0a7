package core

import "errors"

// Sentinel errors. Errors returned by this package wrap them, so callers match
// with errors.Is.
var (
	// ErrUnknownVersion: no registered release matches the requested version
	// or constraint. The error text lists the registered versions.
	ErrUnknownVersion = errors.New("no registered Cloud Hypervisor release matches")
	// ErrNoBinary: this build embeds no binary of the release for its
	// architecture.
	ErrNoBinary = errors.New("no binary embedded")
	// ErrVersionMismatch: a binary reports another CH version than the
	// release it runs as, or a snapshot was written by a release this VMM
	// cannot restore it with.
	ErrVersionMismatch = errors.New("Cloud Hypervisor version mismatch")
	// ErrArchMismatch: a snapshot was taken on another architecture than
	// this host's.
	ErrArchMismatch = errors.New("architecture mismatch")
	// ErrUnsafePath: a path under the data directory is a symlink or not of
	// the expected type, or an API socket path is empty or names something
	// that is not a socket; chvmm refuses to follow or replace it.
	ErrUnsafePath = errors.New("unsafe path")
)
