package crashpoint

import "os"

// Env names the point to crash at. It is a test hook, never set in
// production: nothing but the test suite should kill minirun on purpose.
const Env = "MINIRUN_CRASH_AT"

// The named points, each right after its step succeeded.
const (
	// StateDir: the container's state directory exists, locked, and
	// holds nothing yet.
	StateDir = "state-dir"
	// Cgroup: the container's cgroup exists (and cgroup.json names it);
	// init does not exist yet.
	Cgroup = "cgroup"
	// Mount: init reported its root filesystem mounted (the overlay of an
	// image container) in its own mount namespace.
	Mount = "mount"
	// Network: the container's lease is allocated and its veth attached
	// to init's network namespace.
	Network = "network"
	// Start: the user's process runs, and the process that waits for it
	// has not yet recorded it as running.
	Start = "start"
)

// Points lists every point, in the order a run reaches them.
var Points = []string{StateDir, Cgroup, Mount, Network, Start}

// at is read once: Hit must cost no system call when it is unset.
var at = os.Getenv(Env)
