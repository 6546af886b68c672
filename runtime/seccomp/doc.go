// Package seccomp compiles a container's linux.seccomp profile into a
// classic BPF program and installs it, in pure Go: minirun stays a static
// binary, with no libseccomp.
//
// # The kernel mechanism
//
// seccomp(2) with SECCOMP_SET_MODE_FILTER attaches a classic BPF program
// (the sock_filter instructions of filter.h, checked as in
// Documentation/userspace-api/seccomp_filter.rst) to a thread. The kernel
// runs it on every system call the thread makes, over struct seccomp_data
// (the call's number, the audit architecture, the instruction pointer and
// six 64-bit arguments), and the value it returns decides: allow, log,
// fail with an errno, send SIGSYS (trap), ask a ptrace tracer, or kill the
// thread or the process. Filters are inherited by every thread and child
// and survive execve; they can be added, never removed. Only a thread with
// no_new_privs (prctl(2) PR_SET_NO_NEW_PRIVS) or CAP_SYS_ADMIN may add one,
// since a filter could otherwise trick a set-user-ID program. The program
// may be at most 4096 instructions (BPF_MAXINSNS), jumps only forward, and
// a conditional jump reaches at most 255 instructions.
//
// Read seccomp(2), seccomp_unotify(2) for what minirun does not support,
// prctl(2), and the runtime-spec's config-linux.md#seccomp for the
// profile's fields.
//
// # The program
//
// [CompileFor] writes, for the kernel's architecture:
//
//  1. a check of seccomp_data.arch: a call through an ABI the profile does
//     not cover (i386 or x32 on x86_64, 32-bit arm on arm64, unless listed)
//     kills the process, since the profile's rules name numbers of other
//     ABIs and cannot stand for it;
//  2. per ABI, a binary search on the call's number over intervals of
//     numbers that end the same way, so that a profile of docker's size
//     costs some twenty instructions per system call;
//  3. for calls whose rules look at arguments, the rules in profile order,
//     each argument compared on both 32-bit halves (the high half decides
//     unless they are equal), and the default action last.
//
// System call numbers come from tables generated from the kernel's own
// syscall tables (internal/mksyscalls, run by go generate with
// MINIRUN_LINUX_SRC naming a kernel source tree); all architectures'
// tables are built on every GOARCH. Names a table lacks are skipped and
// reported in [Program.Skipped], as libseccomp skips them: a profile names
// calls of newer kernels and of other architectures.
//
// # When not to use it
//
// The filter is a profile's last word about system calls, not a sandbox
// by itself: it sees argument values, never the memory they point to
// (paths, clone3's flags), so it cannot decide on those. SCMP_ACT_NOTIFY,
// which hands calls to a supervisor, is refused: minirun has none.
package seccomp
