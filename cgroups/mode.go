package cgroups

import "fmt"

// Mode is the way a host arranges its cgroup hierarchies.
type Mode int

const (
	// Unified: one cgroup2 hierarchy mounted at the root (pure cgroup v2).
	Unified Mode = iota + 1
	// Hybrid: v1 hierarchies under a tmpfs root plus a cgroup2 at
	// root/unified, usually with no controllers of its own. minirun uses
	// the v1 hierarchies.
	Hybrid
	// Legacy: only v1 hierarchies under a tmpfs root.
	Legacy
)

// String returns "v2", "hybrid" or "v1".
func (m Mode) String() string {
	switch m {
	case Unified:
		return "v2"
	case Hybrid:
		return "hybrid"
	case Legacy:
		return "v1"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// MarshalText writes the mode as String does, so a saved State reads
// "mode": "v2" rather than a number.
func (m Mode) MarshalText() ([]byte, error) {
	if m < Unified || m > Legacy {
		return nil, fmt.Errorf("marshal cgroup mode: unknown mode %d", int(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText reads what MarshalText wrote.
func (m *Mode) UnmarshalText(b []byte) error {
	for _, c := range []Mode{Unified, Hybrid, Legacy} {
		if string(b) == c.String() {
			*m = c
			return nil
		}
	}
	return fmt.Errorf("unmarshal cgroup mode: unknown mode %q", b)
}

// v1 reports whether the mode manages cgroups through v1 hierarchies.
func (m Mode) v1() bool { return m == Hybrid || m == Legacy }
