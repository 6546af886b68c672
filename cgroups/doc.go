// Package cgroups gives a container its own control group and holds it to
// the limits of linux.resources: memory, cpu, pids, block I/O, hugepages.
// It also freezes the container, kills it as a whole, counts its OOM kills
// and reads its statistics. cgroup v2 comes first; on hosts that still use
// cgroup v1 a small fallback covers memory, cpu, pids, freezer and devices.
//
// # What a cgroup is
//
// A cgroup is a directory in a cgroup filesystem. Its file cgroup.procs
// lists the processes in it; writing a pid there moves that process. A
// child of fork(2) starts in its parent's cgroup, so everything a container
// starts stays in the container's cgroup. Controllers (memory, cpu, pids,
// io, ...) account for the processes of a cgroup and everything below it,
// and enforce limits written to their interface files, which are named
// <controller>.<knob>: memory.max, cpu.max, pids.max. A cgroup can be
// removed with rmdir(2) once no process is left in it.
//
// # cgroup v2: one hierarchy
//
// On a pure v2 host one cgroup2 filesystem is mounted at /sys/fs/cgroup
// and every process sits at exactly one place in that one tree
// (/proc/self/cgroup shows it on the "0::" line). A cgroup does not get
// every controller: it gets those its parent lists in
// cgroup.subtree_control, chosen from the parent's own cgroup.controllers.
// So Create enables controllers from the top down: "+memory +pids ..." in
// the deepest ancestor that already exists and in every level it makes,
// but never in the container's own cgroup.
//
// That is the "no internal processes" rule: apart from the root, a cgroup
// can have processes of its own or pass controllers on to children, never
// both. The container's cgroup holds processes, so it passes nothing on;
// its parent must have no processes, so a linux.cgroupsPath relative to a
// cgroup that has processes (a login session's scope, say) fails with an
// error that names the rule. Create enables the controllers the limits
// need (and fails, naming the controller, if the parent lacks one), plus
// cpu, io, memory and pids when offered, so that statistics, OOM counts and
// later updates work for a container without limits too.
//
// # cgroup v1: a hierarchy per controller
//
// cgroup v1 mounts one hierarchy per controller, or per group of
// controllers mounted together ("cpu,cpuacct"), as directories of a tmpfs
// at /sys/fs/cgroup. A process sits at a possibly different place in each
// (one line per hierarchy in /proc/self/cgroup), so a container gets one
// directory per hierarchy and Enter writes its pid into each. There is no
// subtree_control: a new v1 cgroup has its hierarchy's controller at once.
// A new cpuset cgroup is the exception to "at once": its cpuset.cpus and
// cpuset.mems start empty and it refuses processes (ENOSPC) until Create
// copies them from the parent.
//
// A hybrid host has the v1 hierarchies and also a cgroup2 at
// /sys/fs/cgroup/unified, usually with no controllers; minirun uses v1
// there. Detect tells the modes apart by the filesystem type statfs(2)
// reports (CGROUP2_SUPER_MAGIC or TMPFS_MAGIC at the root, then at
// root/unified), never from the names of files, which prove nothing.
//
// # Describe, then apply
//
// PlanV2 and PlanV1 turn linux.resources into a list of Writes (file,
// value, and the OCI field and conversion behind it) without a system
// call, so every conversion is tested anywhere: shares become cpu.weight
// by 1 + (shares-2)*9999/262142; OCI's swap, which counts memory plus
// swap, becomes memory.swap.max = swap - limit; a blkio weight becomes
// io.weight by 1 + (w-10)*9999/990. What a mode cannot express is an
// error, never silently dropped. Create and Update write the list in
// order; at Debug level the log shows one line per file written.
//
// linux.resources.devices is not in PlanV2: on v2 a device allowlist is an
// eBPF program attached to the cgroup, which package cgroups/devices
// builds. PlanV1 writes the v1 devices.deny and devices.allow files.
//
// # Born in the cgroup: CLONE_INTO_CGROUP
//
// A process moved into a cgroup after it started has already run, and
// allocated, outside the limits. Since Linux 5.7, clone3(2) with
// CLONE_INTO_CGROUP and a file descriptor of the cgroup's directory
// starts the child inside the cgroup. Go exposes it as
// SysProcAttr.UseCgroupFD and CgroupFD; the runtime opens Dir() with
// O_PATH|O_DIRECTORY for it. On v1 (where clone3 cannot help) the forking
// thread moves itself in first, EnterThread, and its child is born where
// it is: fork(2) copies the forking thread's cgroups, and a thread moving
// itself takes no global lock, while Enter(pid) waits for an RCU grace
// period. Where neither applies (v2 before Linux 5.7, a pids limit of 1) the
// runtime calls Enter(pid) before the child runs any code of the user's.
//
// # Freezing, killing, OOM
//
// Freeze writes 1 to cgroup.freeze; the kernel stops the processes one by
// one and reports "frozen 1" in cgroup.events when all have stopped, so
// Freeze polls that file, for a few seconds at most. On v1 it writes FROZEN
// to freezer.state, which reads FREEZING until every task has stopped.
//
// Writing 1 to cgroup.kill (Linux 5.14) sends SIGKILL to every process in
// the cgroup and below it, and no fork can escape it. Without the file,
// and on v1, Kill signals each process cgroup.procs lists until none is
// left alive, on v1 with the cgroup frozen so nothing forks in between.
//
// memory.events counts how often the memory controller acted: oom is how
// often the cgroup hit its limit with nothing left to reclaim, oom_kill how
// many processes the OOM killer then killed. A container whose init died of
// SIGKILL while oom_kill went up was killed for memory; OOMKills reads the
// counter (on v1, oom_kill of memory.oom_control).
//
// # Using it
//
//	m, err := cgroups.New(cgroups.Config{ID: id, Path: spec.Linux.CgroupsPath,
//		Resources: spec.Linux.Resources, Log: log})
//	err = m.Create()
//	// start init with UseCgroupFD on Dir() (v2), or fork it from a
//	// thread after EnterThread (v1), or Enter(pid) after the fork
//	// save m.State() with the container; later: cgroups.Load(st, log)
//	// Update, Freeze/Thaw, Stats, OOMKills, Kill, then Destroy
//
// # When not to use it
//
// Where systemd (or another manager) owns the cgroup tree below the path,
// let it create the cgroup instead: this package writes the tree directly
// (the "cgroupfs driver") and assumes it owns the directories it makes.
// A rootless runtime needs a delegated subtree; nothing here arranges one.
//
// Man pages and documents: cgroups(7), cgroup_namespaces(7), clone(2)
// (CLONE_INTO_CGROUP), statfs(2), and the kernel's
// Documentation/admin-guide/cgroup-v2.rst and
// Documentation/admin-guide/cgroup-v1/ (memory.rst, freezer-subsystem.rst).
package cgroups
