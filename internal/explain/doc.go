// Package explain is the narration minirun gives with --explain and
// --timing: one Step per kernel-level action, in the order the kernel saw
// them, each with the man page or kernel document that explains it.
//
// It is shared, and internal, because every package that touches the
// kernel emits to it: rootfs (mount(2), pivot_root(2)), cgroups (each file
// written, cgroups(7)), network (rtnetlink(7), veth(4), nft(8)), image
// (each layer unpacked into overlayfs's form) and runtime (clone(2) and the
// namespaces(7) it made, capabilities(7), seccomp(2), execve(2)). Those
// packages must not import runtime or each other, so the sink cannot live
// in any of them; nothing outside minirun has a use for it.
//
// A step is emitted by the code that applies it, from the same value it
// applies (a rootfs.Mount, a cgroups.Write, a network.Step), never from a
// second description of the logic: what --explain prints is what was done.
// The integration tests hold it to that by comparing the explained mounts
// with the container's /proc/self/mountinfo and the explained cgroup
// writes with the files' contents.
//
// A nil *Sink is a valid, silent sink: Enabled is a nil check, so a caller
// builds a Step (and formats its text) only behind it, and minirun without
// --explain pays one branch per step.
//
// The container's init runs in another process: it emits into a Sink
// whose output is the sync socket to its parent (see runtime's
// sync_linux.go), and the parent passes each step on to its own Sink, in
// order with init's log records. Each step carries the CLOCK_MONOTONIC
// time it was emitted at; that clock is system-wide, so times taken in
// init and in the parent compare directly, and Timing adds them up per
// phase (clock_gettime(2)).
package explain
