//go:build !linux

package rootfs

import (
	"errors"
	"fmt"
)

// Mount namespaces, pivot_root(2) and openat2(2) are Linux's. Plan still
// works everywhere, so a spec can be inspected on any machine.

// Prepare is not supported outside Linux.
func Prepare(c *Config) error {
	return fmt.Errorf("prepare rootfs: %w", errors.ErrUnsupported)
}

// Pivot is not supported outside Linux.
func Pivot(c *Config) error {
	return fmt.Errorf("pivot root: %w", errors.ErrUnsupported)
}

// Finalize is not supported outside Linux.
func Finalize(c *Config) error {
	return fmt.Errorf("finalize rootfs: %w", errors.ErrUnsupported)
}

// MountOverlay is not supported outside Linux.
func MountOverlay(target string, o *Overlay) error {
	return fmt.Errorf("mount overlay on %s: %w", target, errors.ErrUnsupported)
}
