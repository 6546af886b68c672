package spec

import (
	goruntime "runtime"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The default seccomp profile of `minirun run IMAGE` is an allow-list in the
// manner of docker's and podman's: every system call not named below fails
// with EPERM, and each name is allowed because ordinary programs (shells,
// package managers, language runtimes, servers) call it. An allow-list
// fails closed: a system call added to a later kernel stays denied until
// someone decides it is safe, where a deny-list would let it through the
// day the kernel grows it.
//
// The profile leans on the rest of the container's confinement and does
// not repeat it: a call the kernel already refuses without a capability
// the container lacks (mknod of a device, chown to another user) is
// allowed here, and the capability decides. What is denied is what the
// kernel does not confine to the container (keys, the clock, modules,
// swap, kernel execution), what widens the kernel's attack surface beyond
// what ordinary programs use (bpf, io_uring, userfaultfd, perf events), and
// what a capability the container lacks would guard if the kernel asked
// for it in every path (new namespaces, mounts). Calls a capability makes
// legitimate are allowed when the container's bounding set holds that
// capability, as docker's "includes.caps" does: `--cap-add SYS_ADMIN`
// brings mount back, `--cap-add SYS_PTRACE` strace and gdb.

// seccompErrnoEPERM is what a denied call returns: EPERM, "operation not
// permitted", which programs already expect from a call a container may
// not make (errno 1 on every architecture).
const seccompErrnoEPERM = 1

// seccompErrnoENOSYS is what clone3 returns without CAP_SYS_ADMIN: ENOSYS,
// "not implemented", errno 38 in the asm-generic numbering that x86 and
// arm use. clone3 takes its flags in a struct in memory, which a seccomp
// filter cannot read, so it cannot be allowed with a rule on its flags as
// clone is. glibc (2.34 and later) tries clone3 first for
// pthread_create and falls back to clone only on ENOSYS; on EPERM it
// gives up, and no thread could start.
const seccompErrnoENOSYS = 38

// cloneNamespaceFlags are the clone(2) flags that make new namespaces:
// CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
// CLONE_NEWPID and CLONE_NEWNET. Without CAP_SYS_ADMIN, clone is allowed
// only when flags&cloneNamespaceFlags == 0: threads and children, never a
// new user namespace, in which the child would hold every capability over
// the namespaces it creates next and reach kernel code written for root
// (see user_namespaces(7)). CLONE_NEWTIME (0x80) shares its bit with the
// exit signal in clone's flags and only works through clone3 and unshare,
// both denied.
const cloneNamespaceFlags = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

// seccompGroup is a set of system calls the default profile allows, for one
// purpose. Names that do not exist on an architecture (the 32-bit-only
// fstat64, x86's arch_prctl) are left out of that architecture's filter by
// the compiler.
type seccompGroup struct {
	names []string
	// caps, when set, allow the group only to a container whose bounding
	// set holds at least one of them.
	caps []string
}

// seccompAllowed are the groups of the default profile.
var seccompAllowed = []seccompGroup{
	// Files: opening, reading and writing them, their metadata, links,
	// directories, extended attributes, locks and syncing. Everything a
	// shell pipeline, tar, a package manager or a compiler does. Access
	// control is the kernel's (permissions, capabilities, read-only
	// mounts). chroot is here: docker's default capabilities include
	// CAP_SYS_CHROOT, which the kernel checks.
	{names: []string{
		"access", "chdir", "chmod", "chown", "chown32", "chroot", "close", "close_range",
		"copy_file_range", "creat", "dup", "dup2", "dup3", "faccessat", "faccessat2",
		"fadvise64", "fadvise64_64", "fallocate", "fchdir", "fchmod", "fchmodat",
		"fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync",
		"fgetxattr", "flistxattr", "flock", "fremovexattr", "fsetxattr", "fstat",
		"fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
		"ftruncate64", "futimesat", "getcwd", "getdents", "getdents64", "getxattr",
		"lchown", "lchown32", "lgetxattr", "link", "linkat", "listxattr", "llistxattr",
		"_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "mkdir",
		"mkdirat", "mknod", "mknodat", "name_to_handle_at", "newfstatat", "open",
		"openat", "openat2", "pread64", "preadv", "preadv2", "pwrite64", "pwritev",
		"pwritev2", "read", "readahead", "readlink", "readlinkat", "readv",
		"removexattr", "rename", "renameat", "renameat2", "rmdir", "sendfile",
		"sendfile64", "setxattr", "splice", "stat", "stat64", "statfs", "statfs64",
		"statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "tee",
		"truncate", "truncate64", "umask", "unlink", "unlinkat", "utime", "utimensat",
		"utimensat_time64", "utimes", "vmsplice", "write", "writev",
	}},
	// Memory: mappings, protection, locking (bounded by RLIMIT_MEMLOCK),
	// memory file descriptors and membarrier, which language runtimes use.
	{names: []string{
		"brk", "madvise", "map_shadow_stack", "membarrier", "memfd_create",
		"memfd_secret", "mincore", "mlock", "mlock2", "mlockall", "mmap", "mmap2",
		"mprotect", "mremap", "mseal", "msync", "munlock", "munlockall", "munmap",
		"pkey_alloc", "pkey_free", "pkey_mprotect", "remap_file_pages",
	}},
	// Processes and threads: starting programs, waiting for children,
	// exiting, futexes, robust lists and rseq that threads libraries
	// register. fork and vfork make no namespaces; clone and clone3 have
	// rules of their own below.
	{names: []string{
		"execve", "execveat", "exit", "exit_group", "fork", "futex", "futex_requeue",
		"futex_time64", "futex_wait", "futex_waitv", "futex_wake", "get_robust_list",
		"getpgid", "getpgrp", "getpid", "getppid", "getsid", "gettid", "pidfd_open",
		"process_mrelease", "restart_syscall", "rseq", "set_robust_list",
		"set_tid_address", "setpgid", "setsid", "vfork", "wait4", "waitid", "waitpid",
	}},
	// Signals: handlers, masks, alternate stacks and sending them. Whom a
	// process may signal is the kernel's rule (same user or CAP_KILL), and
	// the pid namespace keeps the host's processes out of reach.
	{names: []string{
		"kill", "pause", "pidfd_send_signal", "rt_sigaction", "rt_sigpending",
		"rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
		"rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sigaction",
		"sigaltstack", "signal", "signalfd", "signalfd4", "sigpending", "sigprocmask",
		"sigreturn", "sigsuspend", "tgkill", "tkill",
	}},
	// Time: reading clocks, sleeping, interval timers and POSIX timers.
	// adjtimex and clock_adjtime are here for their read-only use
	// (ntp_gettime); the kernel refuses every change without CAP_SYS_TIME.
	// Setting the clock is in a group of its own below.
	{names: []string{
		"adjtimex", "alarm", "clock_adjtime", "clock_adjtime64", "clock_getres",
		"clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
		"clock_nanosleep_time64", "getitimer", "gettimeofday", "nanosleep", "setitimer",
		"time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
		"timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create",
		"timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64",
		"times",
	}},
	// Scheduling, priorities, CPU affinity and resource limits of the
	// process's own: raising a priority or a hard limit needs
	// CAP_SYS_NICE or CAP_SYS_RESOURCE, which the kernel checks.
	{names: []string{
		"getpriority", "getrlimit", "getrusage", "ioprio_get", "ioprio_set",
		"prlimit64", "sched_get_priority_max", "sched_get_priority_min",
		"sched_getaffinity", "sched_getattr", "sched_getparam", "sched_getscheduler",
		"sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
		"sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
		"setpriority", "setrlimit", "ugetrlimit",
	}},
	// Users, groups and capabilities of the process itself: su, login and
	// daemons dropping root need them; CAP_SETUID, CAP_SETGID and
	// CAP_SETPCAP decide what may change.
	{names: []string{
		"capget", "capset", "getegid", "getegid32", "geteuid", "geteuid32", "getgid",
		"getgid32", "getgroups", "getgroups32", "getresgid", "getresgid32", "getresuid",
		"getresuid32", "getuid", "getuid32", "setfsgid", "setfsgid32", "setfsuid",
		"setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setregid",
		"setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32",
		"setreuid", "setreuid32", "setuid", "setuid32",
	}},
	// Networking: sockets of every family, in the container's own network
	// namespace. socketcall is 32-bit x86's single entry to all of them.
	{names: []string{
		"accept", "accept4", "bind", "connect", "getpeername", "getsockname",
		"getsockopt", "listen", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64",
		"recvmsg", "send", "sendmmsg", "sendmsg", "sendto", "setsockopt", "shutdown",
		"socket", "socketcall", "socketpair",
	}},
	// Inter-process communication: pipes, eventfd, System V IPC and POSIX
	// message queues, all in the container's own ipc namespace. ipc is
	// 32-bit x86's single entry to System V IPC.
	{names: []string{
		"eventfd", "eventfd2", "ipc", "mq_getsetattr", "mq_notify", "mq_open",
		"mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
		"mq_timedsend_time64", "mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd",
		"pipe", "pipe2", "semctl", "semget", "semop", "semtimedop",
		"semtimedop_time64", "shmat", "shmctl", "shmdt", "shmget",
	}},
	// Waiting for events: poll, select, epoll, inotify, fanotify marks on a
	// group (making the group is CAP_SYS_ADMIN's, below), and the classic
	// Linux AIO interface (io_uring is denied, see seccompDenied).
	{names: []string{
		"epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
		"epoll_pwait2", "epoll_wait", "epoll_wait_old", "fanotify_mark",
		"inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch",
		"io_cancel", "io_destroy", "io_getevents", "io_pgetevents",
		"io_pgetevents_time64", "io_setup", "io_submit", "_newselect", "poll", "ppoll",
		"ppoll_time64", "pselect6", "pselect6_time64", "select",
	}},
	// The system as the process sees it: its name (of the container's uts
	// namespace), memory and load figures, the CPU it runs on, random
	// bytes, and ioctl, which every terminal and device program needs (the
	// devices cgroup decides which devices may be opened at all).
	{names: []string{
		"cachestat", "getcpu", "getrandom", "ioctl", "sysinfo", "uname",
	}},
	// Confining oneself further: prctl (no_new_privs, the parent-death
	// signal, names of threads), seccomp for nested filters (browsers and
	// systemd services install their own), Landlock.
	{names: []string{
		"landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
		"prctl", "seccomp",
	}},
	// What one architecture needs: on x86, thread-local storage
	// (arch_prctl, set_thread_area) and the local descriptor table some
	// programs (wine) use; on arm, the cache flush JIT compilers call,
	// thread-local storage and arm's orderings of fadvise and
	// sync_file_range arguments; uretprobe, which x86 programs traced with
	// uprobes call from the kernel's trampoline.
	{names: []string{
		"arch_prctl", "get_thread_area", "modify_ldt", "set_thread_area", "uretprobe",
		"arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush",
		"set_tls", "sync_file_range2",
	}},

	// Allowed only with a capability. Each of these calls does something
	// the capability stands for; a container granted the capability was
	// meant to do it.

	// CAP_SYS_ADMIN: mounts and the new mount API, pivot_root, new
	// namespaces and joining others (unshare, setns; clone and clone3 are
	// below), the host and domain name, quotas, fanotify groups, the
	// kernel log, and bpf and perf_event_open, which CAP_BPF and
	// CAP_PERFMON also grant since Linux 5.8.
	{caps: []string{"CAP_SYS_ADMIN"}, names: []string{
		"fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie",
		"mount", "mount_setattr", "move_mount", "open_tree", "pivot_root", "quotactl",
		"quotactl_fd", "setdomainname", "sethostname", "setns", "umount", "umount2",
		"unshare",
	}},
	{caps: []string{"CAP_SYS_ADMIN", "CAP_SYSLOG"}, names: []string{"syslog"}},
	{caps: []string{"CAP_SYS_ADMIN", "CAP_BPF"}, names: []string{"bpf"}},
	{caps: []string{"CAP_SYS_ADMIN", "CAP_PERFMON"}, names: []string{"perf_event_open"}},
	// CAP_SYS_BOOT: reboot, which in a pid namespace only ends its init.
	{caps: []string{"CAP_SYS_BOOT"}, names: []string{"reboot"}},
	// CAP_SYS_MODULE: loading and removing kernel modules, code that runs
	// in the host's kernel.
	{caps: []string{"CAP_SYS_MODULE"}, names: []string{"delete_module", "finit_module", "init_module"}},
	// CAP_SYS_PACCT: process accounting, written for the whole host.
	{caps: []string{"CAP_SYS_PACCT"}, names: []string{"acct"}},
	// CAP_SYS_PTRACE: reading and writing other processes' memory (ptrace,
	// process_vm_readv and process_vm_writev), comparing their kernel
	// objects (kcmp), taking their file descriptors (pidfd_getfd) and
	// advising on their memory. Docker allows ptrace alone since Linux 4.8
	// stopped ptrace from slipping past seccomp; minirun keeps the whole
	// family together, since process_vm_readv reads what PTRACE_PEEKDATA
	// does: --cap-add SYS_PTRACE gives strace and gdb all of it.
	{caps: []string{"CAP_SYS_PTRACE"}, names: []string{
		"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
		"process_vm_writev", "ptrace",
	}},
	// CAP_SYS_RAWIO: direct access to I/O ports, the host's hardware.
	{caps: []string{"CAP_SYS_RAWIO"}, names: []string{"ioperm", "iopl"}},
	// CAP_SYS_TIME: setting the clock, which no namespace confines: it is
	// the host's.
	{caps: []string{"CAP_SYS_TIME"}, names: []string{
		"clock_settime", "clock_settime64", "settimeofday", "stime",
	}},
	// CAP_SYS_TTY_CONFIG: hanging up the terminal.
	{caps: []string{"CAP_SYS_TTY_CONFIG"}, names: []string{"vhangup"}},
	// CAP_SYS_NICE: memory policy across NUMA nodes, and moving another
	// process's pages.
	{caps: []string{"CAP_SYS_NICE"}, names: []string{
		"get_mempolicy", "mbind", "migrate_pages", "move_pages", "set_mempolicy",
		"set_mempolicy_home_node",
	}},
	// CAP_DAC_READ_SEARCH: open_by_handle_at opens a file by its handle
	// without a path, which reached the host's files from a container in
	// the 2014 "shocker" exploit: a handle names any file of the
	// filesystem, mount or no mount.
	{caps: []string{"CAP_DAC_READ_SEARCH"}, names: []string{"open_by_handle_at"}},
}

// seccompDenied are system calls the default profile never allows,
// whatever the capabilities, and why. The profile denies them by not
// naming them; the list is here to document the choice and for the tests,
// which check that none of them ever slips into the profile. Calls denied
// only without a capability are in seccompAllowed with their capability.
var seccompDenied = map[string]string{
	"kexec_load":        "loads a new kernel to boot into: the host's",
	"kexec_file_load":   "loads a new kernel to boot into: the host's",
	"swapon":            "swap is the host's",
	"swapoff":           "swap is the host's",
	"keyctl":            "the kernel keyrings are not namespaced: keys of other containers and of the host are reachable",
	"add_key":           "the kernel keyrings are not namespaced",
	"request_key":       "the kernel keyrings are not namespaced, and it may run a helper on the host",
	"userfaultfd":       "lets a process stall the kernel on a page fault, a building block of kernel exploits",
	"io_uring_setup":    "io_uring's large kernel surface was behind many privilege escalations, and its operations bypass seccomp",
	"io_uring_enter":    "io_uring bypasses seccomp for the operations it runs",
	"io_uring_register": "io_uring bypasses seccomp for the operations it runs",
	"uselib":            "obsolete (a.out shared libraries)",
	"vm86":              "obsolete (virtual 8086 mode)",
	"vm86old":           "obsolete (virtual 8086 mode)",
	"sysfs":             "obsolete (filesystem types; /proc/filesystems says the same)",
	"_sysctl":           "obsolete, removed in Linux 5.5; /proc/sys is the interface",
	"ustat":             "obsolete (statfs replaces it)",
	"nfsservctl":        "removed in Linux 3.1",
	"create_module":     "removed in Linux 2.6",
	"get_kernel_syms":   "removed in Linux 2.6",
	"query_module":      "removed in Linux 2.6",
	"bdflush":           "obsolete, a no-op since Linux 2.6",
}

// seccompPersonalities are the personality(2) values the default profile
// allows: Linux (0), 32-bit Linux for `linux32` and `setarch` (PER_LINUX32,
// 0x8), each with UNAME26 (0x20000, a 2.6 version string for old build
// scripts), and 0xffffffff, which only asks for the current one. Other
// flags (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE) weaken exploit mitigations.
var seccompPersonalities = []uint64{0x0, 0x8, 0x20000, 0x20008, 0xffffffff}

// seccompArchitectures are the architectures a filter covers on each Go
// architecture: the native one and those whose programs the kernel also
// runs there (32-bit x86 and x32 on amd64, 32-bit arm on arm64). A call
// from an architecture not listed is refused whatever its name, so a
// 32-bit program cannot reach what the native filter denies.
var seccompArchitectures = map[string][]specs.Arch{
	"amd64": {specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
	"arm64": {specs.ArchAARCH64, specs.ArchARM},
	"386":   {specs.ArchX86},
	"arm":   {specs.ArchARM},
}

// DefaultSeccomp returns the seccomp profile `minirun run IMAGE` gives a
// container whose bounding set is caps (capability names as in
// [CapabilityNames]): an allow-list like docker's. Calls it does not name
// fail with EPERM; clone is allowed only without namespace flags and
// clone3 fails with ENOSYS, so that threads libraries fall back to clone,
// unless caps holds CAP_SYS_ADMIN; calls a capability governs (mount with
// CAP_SYS_ADMIN, ptrace with CAP_SYS_PTRACE, ...) are allowed when caps
// holds it. It covers this build's architecture and the ones the kernel
// runs beside it. The comments in this file say why each call is allowed
// or denied.
//
// Each call returns a new profile.
func DefaultSeccomp(caps []string) *specs.LinuxSeccomp {
	return defaultSeccomp(goruntime.GOARCH, caps)
}

func defaultSeccomp(goarch string, caps []string) *specs.LinuxSeccomp {
	has := func(any []string) bool {
		return slices.ContainsFunc(any, func(c string) bool { return slices.Contains(caps, c) })
	}
	var names []string
	for _, g := range seccompAllowed {
		if g.caps == nil || has(g.caps) {
			names = append(names, g.names...)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)

	errno := uint(seccompErrnoEPERM)
	p := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: &errno,
		Architectures:   slices.Clone(seccompArchitectures[goarch]),
		Syscalls:        []specs.LinuxSyscall{{Names: names, Action: specs.ActAllow}},
	}
	for _, v := range seccompPersonalities {
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{
			Names:  []string{"personality"},
			Action: specs.ActAllow,
			Args:   []specs.LinuxSeccompArg{{Index: 0, Value: v, Op: specs.OpEqualTo}},
		})
	}
	if has([]string{"CAP_SYS_ADMIN"}) {
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"clone", "clone3"}, Action: specs.ActAllow})
		return p
	}
	enosys := uint(seccompErrnoENOSYS)
	p.Syscalls = append(p.Syscalls,
		specs.LinuxSyscall{
			Names:  []string{"clone"},
			Action: specs.ActAllow,
			Args:   []specs.LinuxSeccompArg{{Index: 0, Value: cloneNamespaceFlags, ValueTwo: 0, Op: specs.OpMaskedEqual}},
		},
		specs.LinuxSyscall{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys},
	)
	return p
}
