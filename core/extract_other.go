//go:build !linux

package core

import (
	"context"
	"errors"
)

// fileID is empty where extraction is not supported.
type fileID struct{}

func sameFile(string, fileID) bool { return false }

// extractBinary fails: Cloud Hypervisor runs only on Linux.
func extractBinary(context.Context, string, *payload) (fileID, error) {
	return fileID{}, errors.New("extracting Cloud Hypervisor binaries needs Linux, the only system Cloud Hypervisor runs on")
}
