// Package crashpoint is a test hook: MINIRUN_CRASH_AT=<point> makes the
// minirun process that reaches the named step kill itself with SIGKILL
// right after it, as a crash, an OOM kill or `kill -9` would. No deferred
// function runs and nothing is cleaned up: what the step made (a state
// directory, a cgroup, a lease and a veth) is left for `minirun gc` to
// find, and the test suite (test/crash_test.go) checks that it does.
//
// SIGKILL is the signal to test with because it is the one nothing can
// catch: what survives it survives anything short of a reboot. It also
// shows why minirun's locks are flock(2)s on open files: the kernel drops
// them when it closes a dead process's files, so whoever comes next (gc
// above all) can tell a container someone still holds from one whose
// holder died (see flock(2), signal(7)).
//
// Each point is hit by the process that would have undone the step had it
// failed instead: for a foreground run and for create, the minirun command
// itself; for run -d, the container's monitor, which does the runtime's
// work there. The variable is read once, when the package initialises,
// and a Hit whose point is not the one named costs one string comparison
// and no system call, so the hooks can stay in every build.
//
// It lives under internal/ because both runtime (the state directory, the
// cgroup, the mount, the start) and runtime/container (the network) hit
// points, and neither may import the other's internals for it.
package crashpoint
