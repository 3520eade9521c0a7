package core

import "errors"

// Sentinel errors. Errors returned by this package wrap them, so callers match
// with errors.Is.
var (
	// ErrUnknownVersion: no registered release matches the requested version
	// or constraint. The error text lists the registered versions.
	ErrUnknownVersion = errors.New("no registered Cloud Hypervisor release matches")
	// ErrBadVersion: a version or constraint string could not be parsed.
	ErrBadVersion = errors.New("malformed version or constraint")
	// ErrNoBinary: the release embeds no binary for the requested arch.
	ErrNoBinary = errors.New("no binary embedded")
	// ErrVersionMismatch: a binary reports a different CH version than the
	// release it belongs to, or a snapshot was written by another version.
	ErrVersionMismatch = errors.New("Cloud Hypervisor version mismatch")
	// ErrUnsafePath: a path under the data directory is a symlink or not of
	// the expected type, or an API socket path is empty or names something
	// that is not a socket; chvmm refuses to follow or replace it.
	ErrUnsafePath = errors.New("unsafe path")
)
