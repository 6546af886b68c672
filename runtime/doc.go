// Package runtime runs OCI containers: the create, start, state, kill,
// delete, run and exec of the OCI runtime spec (runtime.md), with runc's
// command-line behaviour.
//
// # What a container is, to the kernel
//
// A container is an ordinary process started with clone(2) flags that give
// it new namespaces (namespaces(7)): CLONE_NEWPID makes it pid 1 of a fresh
// pid namespace (pid_namespaces(7)), CLONE_NEWNS gives it a copy of the
// mount table to rearrange (mount_namespaces(7)), CLONE_NEWUTS its own
// hostname, CLONE_NEWIPC its own System V IPC, CLONE_NEWNET an empty
// network stack, CLONE_NEWCGROUP its own view of /sys/fs/cgroup. Everything
// else (the root filesystem, capabilities, rlimits, the seccomp filter) is
// set by that process on itself before it execve's the user's program. The
// filter is compiled in the parent at create (package seccomp) and loaded
// by init as late as the kernel allows: last with no_new_privs, else
// before the credentials drop CAP_SYS_ADMIN (seccomp(2)).
//
// # Two processes, one protocol
//
// Go cannot run code in a child between fork and exec, and minirun is built
// without cgo, so there is no C constructor like runc's nsexec. minirun
// therefore re-executes itself: the parent (minirun create, run or exec)
// starts "minirun init" with the clone flags, and that init sets up the
// container from the inside. The two talk over a socket pair; the messages
// and their order are drawn in sync_linux.go.
//
// init is exec'd from a read-only detached mount of the binary (or a
// sealed memfd copy), never through a writable path to the file on the host
// (selfexe_linux.go says why: CVE-2019-5736).
//
// # create and start
//
// create returns once init has done everything but the last execve: init
// then blocks opening the write end of a FIFO in the state directory
// (exec.fifo). start opens the read end; init wakes, and execve's the
// user's process. So nothing of the user's runs before start, and tools may
// act in between (podman wires the network there). The same FIFO tells the
// status: init alive with the FIFO present is "created", without it
// "running".
//
// # exec
//
// Joining a running container means setns(2) into its namespaces. The
// pid namespace can only be entered by a child (setns(CLONE_NEWPID) changes
// the namespace of the caller's future children), so a goroutine locks its
// OS thread, joins the container's namespaces, and starts init from that
// thread; the thread is never unlocked and dies with the goroutine
// (namespaces_linux.go). The mount namespace is joined by init itself,
// because the path of the binary being exec'd must still resolve on the
// host; so is the cgroup namespace, once the process is in the container's
// cgroup: with cgroup2's nsdelegate, clone3 refuses (ENOENT) to place a
// child into a cgroup from a thread whose cgroup namespace cannot see the
// cgroup the child comes from.
//
// # Cgroups
//
// The container's cgroup (package cgroups) is made before init exists, and
// init is born in it with clone3's CLONE_INTO_CGROUP, so no instant of the
// container escapes its limits. On cgroup v1, where clone3 cannot help, the
// thread that forks init first moves itself into the container's cgroups
// (cgroups.Manager.EnterThread), so init is born there all the same, and
// init unshares its cgroup namespace itself (cgroups_linux.go). Moving init
// by pid after the fork, the fallback, costs an RCU grace period. exec'd processes join the
// same cgroup. pause, resume, update, kill --all, ps and the OOM report all
// work through it, and delete removes it.
//
// # State
//
// Each container has a directory ROOT/ID (default /run/minirun) holding
// state.json (written atomically once create succeeds; it also locates the
// cgroup), exec.fifo until start, and exit.json once minirun saw how init
// ended: as its parent (run), or, for a detached container, through a small
// monitor process holding a pidfd of init (monitor_linux.go). Commands on
// one container serialize on a flock(2) of that directory, which create
// holds from the directory's first instant until the record is written:
// GC (gc_linux.go) removes a directory without a record only when that
// lock is free, i.e. when its create died. The tests kill minirun right
// after the state directory, the cgroup, the mount and the start with
// MINIRUN_CRASH_AT, a test hook (internal/crashpoint), to show that gc
// finds what each step left. The status is never stored: it is read off
// the kernel each time (is init alive, same start time, not a zombie; is
// its cgroup frozen).
//
// Read: clone(2), setns(2), seccomp(2), namespaces(7), pid_namespaces(7), cgroups(7),
// capabilities(7), prctl(2), execve(2), pty(7), unix(7) for SCM_RIGHTS,
// fifo(7), and the OCI runtime spec (runtime.md, config.md,
// config-linux.md).
package runtime
