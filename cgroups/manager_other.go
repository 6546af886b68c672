//go:build !linux

package cgroups

import (
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Cgroups are Linux's. PlanV2, PlanV1, New (with Config.Mode set) and Load
// still work everywhere, so a spec's limits can be checked on any machine.

var errUnsupported = fmt.Errorf("cgroups: %w", errors.ErrUnsupported)

// Detect is not supported outside Linux.
func Detect(root string) (Mode, error) {
	return 0, fmt.Errorf("detect cgroup mode: %w", errUnsupported)
}

// Create is not supported outside Linux.
func (m *Manager) Create() error { return fmt.Errorf("create cgroup: %w", errUnsupported) }

// Enter is not supported outside Linux.
func (m *Manager) Enter(pid int) error { return fmt.Errorf("join cgroup: %w", errUnsupported) }

// Update is not supported outside Linux.
func (m *Manager) Update(r *specs.LinuxResources) error {
	return fmt.Errorf("update cgroup: %w", errUnsupported)
}

// Freeze is not supported outside Linux.
func (m *Manager) Freeze() error { return fmt.Errorf("freeze cgroup: %w", errUnsupported) }

// Thaw is not supported outside Linux.
func (m *Manager) Thaw() error { return fmt.Errorf("thaw cgroup: %w", errUnsupported) }

// Frozen is not supported outside Linux.
func (m *Manager) Frozen() (bool, error) {
	return false, fmt.Errorf("read freezer state: %w", errUnsupported)
}

// Kill is not supported outside Linux.
func (m *Manager) Kill() error { return fmt.Errorf("kill cgroup: %w", errUnsupported) }

// Pids is not supported outside Linux.
func (m *Manager) Pids() ([]int, error) {
	return nil, fmt.Errorf("list cgroup processes: %w", errUnsupported)
}

// OOMKills is not supported outside Linux.
func (m *Manager) OOMKills() (uint64, error) {
	return 0, fmt.Errorf("read OOM kills: %w", errUnsupported)
}

// Stats is not supported outside Linux.
func (m *Manager) Stats() (*Stats, error) {
	return nil, fmt.Errorf("read cgroup stats: %w", errUnsupported)
}

// Destroy is not supported outside Linux.
func (m *Manager) Destroy() error { return fmt.Errorf("remove cgroup: %w", errUnsupported) }

func rmdir(dir string) error { return os.Remove(dir) }
