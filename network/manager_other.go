//go:build !linux

package network

import (
	"context"
	"errors"
	"fmt"
)

// The kernel objects this package manages exist only on Linux. Elsewhere
// the pure parts (ParsePort, ResolvConf, Hosts, PlanAttach) still work.

var errUnsupported = fmt.Errorf("container networking needs Linux: %w", errors.ErrUnsupported)

type hostNS struct{}

// Open fails on this platform.
func Open(root string) (*Manager, error) { return nil, errUnsupported }

// Close does nothing on this platform.
func (m *Manager) Close() error { return nil }

// Attach fails on this platform.
func (m *Manager) Attach(ctx context.Context, l *Lease, netnsPath string) error {
	return errUnsupported
}

// Detach fails on this platform.
func (m *Manager) Detach(ctx context.Context, containerID string) error { return errUnsupported }

// GC fails on this platform.
func (m *Manager) GC(ctx context.Context, alive func(string) bool) ([]string, error) {
	return nil, errUnsupported
}

func (m *Manager) lock(ctx context.Context) (func(), error) { return nil, errUnsupported }
func (m *Manager) inHostNS(fn func() error) error           { return errUnsupported }
func (m *Manager) teardownNetwork(n Network) error          { return errUnsupported }
