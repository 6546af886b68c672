package spec

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Flags of clone(2), for the argument rule.
const (
	cloneVM            = 0x00000100
	cloneFS            = 0x00000200
	cloneFiles         = 0x00000400
	cloneSighand       = 0x00000800
	cloneThread        = 0x00010000
	cloneNewNS         = 0x00020000
	cloneSysVSem       = 0x00040000
	cloneSetTLS        = 0x00080000
	cloneParentSetTID  = 0x00100000
	cloneChildClearTID = 0x00200000
	cloneNewUser       = 0x10000000
	cloneNewPID        = 0x20000000
	cloneNewNet        = 0x40000000
	sigchld            = 17
	// threadFlags are glibc's and Go's for a new thread.
	threadFlags = cloneVM | cloneFS | cloneFiles | cloneSighand | cloneThread | cloneSysVSem | cloneSetTLS | cloneParentSetTID | cloneChildClearTID
)

// verdict is what a profile does with one call: the action and, for
// SCMP_ACT_ERRNO, the errno.
type verdict struct {
	action specs.LinuxSeccompAction
	errno  uint
}

var (
	allowed = verdict{action: specs.ActAllow}
	eperm   = verdict{action: specs.ActErrno, errno: 1}
	enosys  = verdict{action: specs.ActErrno, errno: 38}
)

// decide is what the profile p does with the call name(args...): the first
// rule naming the call whose conditions all hold, else the default. The
// default profile names each call in one kind of rule only, so first-match
// is libseccomp's answer too.
func decide(p *specs.LinuxSeccomp, name string, args ...uint64) verdict {
	errnoOf := func(e *uint) uint {
		if e == nil {
			return 1 // EPERM, runtime-spec's default
		}
		return *e
	}
	for _, r := range p.Syscalls {
		if !slices.Contains(r.Names, name) {
			continue
		}
		ok := true
		for _, a := range r.Args {
			var v uint64
			if int(a.Index) < len(args) {
				v = args[a.Index]
			}
			switch a.Op {
			case specs.OpEqualTo:
				ok = ok && v == a.Value
			case specs.OpNotEqual:
				ok = ok && v != a.Value
			case specs.OpMaskedEqual:
				ok = ok && v&a.Value == a.ValueTwo
			default:
				panic("decide: operator " + string(a.Op) + " not modelled")
			}
		}
		if ok {
			v := verdict{action: r.Action}
			if r.Action == specs.ActErrno {
				v.errno = errnoOf(r.ErrnoRet)
			}
			return v
		}
	}
	v := verdict{action: p.DefaultAction}
	if p.DefaultAction == specs.ActErrno {
		v.errno = errnoOf(p.DefaultErrnoRet)
	}
	return v
}

// TestDefaultSeccompDenies checks the families a container has no business
// calling: each fails with EPERM under docker's capabilities.
func TestDefaultSeccompDenies(t *testing.T) {
	p := DefaultSeccomp(dockerCaps)
	for family, names := range map[string][]string{
		"module loading":        {"init_module", "finit_module", "delete_module"},
		"kexec":                 {"kexec_load", "kexec_file_load"},
		"reboot":                {"reboot"},
		"swap":                  {"swapon", "swapoff"},
		"mounts":                {"mount", "umount", "umount2", "pivot_root", "fsopen", "fsmount", "move_mount", "open_tree", "mount_setattr"},
		"namespaces":            {"unshare", "setns"},
		"keys":                  {"keyctl", "add_key", "request_key"},
		"bpf and perf":          {"bpf", "perf_event_open"},
		"userfaultfd":           {"userfaultfd"},
		"open_by_handle_at":     {"open_by_handle_at"},
		"I/O ports":             {"iopl", "ioperm"},
		"clock setting":         {"settimeofday", "clock_settime", "clock_settime64", "stime"},
		"accounting and quotas": {"acct", "quotactl", "quotactl_fd"},
		"io_uring":              {"io_uring_setup", "io_uring_enter", "io_uring_register"},
		"other processes":       {"kcmp", "process_vm_readv", "process_vm_writev", "ptrace", "pidfd_getfd"},
		"obsolete":              {"uselib", "vm86", "vm86old", "sysfs", "_sysctl", "ustat", "nfsservctl"},
		"host and kernel log":   {"sethostname", "setdomainname", "syslog", "vhangup"},
		"numa":                  {"mbind", "set_mempolicy", "move_pages"},
		"unknown or new":        {"no_such_syscall"},
	} {
		for _, name := range names {
			if got := decide(p, name); got != eperm {
				t.Errorf("%s: %s = %+v, want EPERM", family, name, got)
			}
		}
	}
	if p.DefaultAction != specs.ActErrno || p.DefaultErrnoRet == nil || *p.DefaultErrnoRet != 1 {
		t.Errorf("default action %s errno %v, want SCMP_ACT_ERRNO with EPERM", p.DefaultAction, p.DefaultErrnoRet)
	}
}

// TestDefaultSeccompEveryday checks what shells, package managers, the Go
// runtime and libc call: all allowed.
func TestDefaultSeccompEveryday(t *testing.T) {
	p := DefaultSeccomp(dockerCaps)
	for _, name := range []string{
		// files
		"read", "write", "openat", "close", "newfstatat", "statx", "getdents64", "lseek",
		"fcntl", "ioctl", "readlinkat", "renameat2", "unlinkat", "mkdirat", "fchownat",
		"fchmodat", "utimensat", "fsync", "chroot", "sendfile", "copy_file_range",
		// memory
		"mmap", "munmap", "mprotect", "brk", "madvise", "mremap", "memfd_create",
		// processes, threads, signals
		"execve", "wait4", "exit_group", "futex", "set_robust_list", "rseq",
		"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "kill", "tgkill",
		"getpid", "gettid", "prctl", "prlimit64", "sched_getaffinity", "sched_yield",
		"setuid", "setgroups", "capget", "capset",
		// time, events, network, ipc
		"clock_gettime", "nanosleep", "clock_nanosleep", "epoll_create1", "epoll_ctl",
		"epoll_pwait", "ppoll", "pipe2", "eventfd2", "socket", "connect", "bind", "sendto",
		"recvfrom", "getrandom", "uname", "shmget", "semop",
		// Go's runtime on amd64
		"arch_prctl",
		// 32-bit names on the compat architectures
		"mmap2", "fstat64", "_llseek", "socketcall", "ipc", "getuid32",
		// self-confinement
		"seccomp", "landlock_create_ruleset",
	} {
		if got := decide(p, name); got != allowed {
			t.Errorf("%s = %+v, want allowed", name, got)
		}
	}
}

func TestDefaultSeccompClone(t *testing.T) {
	for _, tt := range []struct {
		name  string
		caps  []string
		flags uint64
		want  verdict
	}{
		{"thread", dockerCaps, threadFlags, allowed},
		{"fork", dockerCaps, sigchld, allowed},
		{"vfork-like", dockerCaps, cloneVM | 0x4000 | sigchld, allowed},
		{"new user namespace", dockerCaps, cloneNewUser | sigchld, eperm},
		{"new net namespace", dockerCaps, cloneNewNet | sigchld, eperm},
		{"new mount and pid namespaces", dockerCaps, cloneNewNS | cloneNewPID | sigchld, eperm},
		{"namespace flag with thread flags", dockerCaps, threadFlags | cloneNewUser, eperm},
		{"user namespace with CAP_SYS_ADMIN", append(slices.Clone(dockerCaps), "CAP_SYS_ADMIN"), cloneNewUser | sigchld, allowed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := decide(DefaultSeccomp(tt.caps), "clone", tt.flags); got != tt.want {
				t.Errorf("clone(%#x) = %+v, want %+v", tt.flags, got, tt.want)
			}
		})
	}
	// clone3 cannot be filtered on its flags: ENOSYS sends glibc to clone.
	if got := decide(DefaultSeccomp(dockerCaps), "clone3"); got != enosys {
		t.Errorf("clone3 = %+v, want ENOSYS", got)
	}
	if got := decide(DefaultSeccomp([]string{"CAP_SYS_ADMIN"}), "clone3"); got != allowed {
		t.Errorf("clone3 with CAP_SYS_ADMIN = %+v, want allowed", got)
	}
}

func TestDefaultSeccompPersonality(t *testing.T) {
	p := DefaultSeccomp(dockerCaps)
	for _, tt := range []struct {
		persona uint64
		want    verdict
	}{
		{0, allowed},
		{0x8, allowed},           // PER_LINUX32
		{0x20008, allowed},       // UNAME26 | PER_LINUX32
		{0xffffffff, allowed},    // query
		{0x0040000, eperm},       // ADDR_NO_RANDOMIZE
		{0x0400000, eperm},       // READ_IMPLIES_EXEC
		{0x0040000 | 0x8, eperm}, // ADDR_NO_RANDOMIZE | PER_LINUX32
	} {
		if got := decide(p, "personality", tt.persona); got != tt.want {
			t.Errorf("personality(%#x) = %+v, want %+v", tt.persona, got, tt.want)
		}
	}
}

// TestDefaultSeccompCapabilities checks that a capability brings back the
// calls it stands for, and only those.
func TestDefaultSeccompCapabilities(t *testing.T) {
	for _, tt := range []struct {
		cap   string
		calls []string
	}{
		{"CAP_SYS_ADMIN", []string{"mount", "umount2", "pivot_root", "unshare", "setns", "sethostname", "bpf", "perf_event_open", "syslog", "quotactl", "fsopen"}},
		{"CAP_SYS_PTRACE", []string{"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd"}},
		{"CAP_SYS_MODULE", []string{"init_module", "finit_module", "delete_module"}},
		{"CAP_SYS_BOOT", []string{"reboot"}},
		{"CAP_SYS_TIME", []string{"settimeofday", "clock_settime"}},
		{"CAP_SYS_RAWIO", []string{"iopl", "ioperm"}},
		{"CAP_SYS_PACCT", []string{"acct"}},
		{"CAP_BPF", []string{"bpf"}},
		{"CAP_PERFMON", []string{"perf_event_open"}},
		{"CAP_SYSLOG", []string{"syslog"}},
		{"CAP_DAC_READ_SEARCH", []string{"open_by_handle_at"}},
		{"CAP_SYS_NICE", []string{"mbind", "set_mempolicy"}},
		{"CAP_SYS_TTY_CONFIG", []string{"vhangup"}},
	} {
		t.Run(tt.cap, func(t *testing.T) {
			base := DefaultSeccomp(dockerCaps)
			with := DefaultSeccomp(append(slices.Clone(dockerCaps), tt.cap))
			for _, name := range tt.calls {
				if got := decide(base, name); got != eperm {
					t.Errorf("%s without %s = %+v, want EPERM", name, tt.cap, got)
				}
				if got := decide(with, name); got != allowed {
					t.Errorf("%s with %s = %+v, want allowed", name, tt.cap, got)
				}
			}
			if got := decide(with, "keyctl"); got != eperm {
				t.Errorf("keyctl with %s = %+v, want EPERM", tt.cap, got)
			}
		})
	}
	// Without CAP_SYS_CHROOT, which docker's set has, chroot goes to the
	// kernel, which refuses it: the profile does not repeat the check.
	if got := decide(DefaultSeccomp(nil), "chroot"); got != allowed {
		t.Errorf("chroot with no capabilities = %+v, want allowed (the kernel checks)", got)
	}
}

// TestDefaultSeccompNeverAllowed checks that no capability, not even all
// of them, lets through a call of seccompDenied.
func TestDefaultSeccompNeverAllowed(t *testing.T) {
	all := DefaultSeccomp(CapabilityNames)
	for name, why := range seccompDenied {
		if got := decide(all, name); got != eperm {
			t.Errorf("%s (%s) with every capability = %+v, want EPERM", name, why, got)
		}
	}
}

// TestDefaultSeccompGroups checks the table itself: each name in one group
// only, so that no capability condition is undone by another group, and
// every capability one minirun knows.
func TestDefaultSeccompGroups(t *testing.T) {
	seen := map[string]int{}
	for i, g := range seccompAllowed {
		for _, name := range g.names {
			if j, ok := seen[name]; ok {
				t.Errorf("%s is in groups %d and %d", name, j, i)
			}
			seen[name] = i
		}
		for _, c := range g.caps {
			if !slices.Contains(CapabilityNames, c) {
				t.Errorf("group %d: unknown capability %s", i, c)
			}
		}
	}
	for _, name := range []string{"clone", "clone3", "personality"} {
		if _, ok := seen[name]; ok {
			t.Errorf("%s is in a group; it has rules of its own", name)
		}
	}
}

func TestDefaultSeccompArchitectures(t *testing.T) {
	for _, tt := range []struct {
		goarch string
		want   []specs.Arch
	}{
		{"amd64", []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}},
		{"arm64", []specs.Arch{specs.ArchAARCH64, specs.ArchARM}},
		{"riscv64", nil}, // the native one only: runtime-spec's empty list
	} {
		if got := defaultSeccomp(tt.goarch, dockerCaps).Architectures; !slices.Equal(got, tt.want) {
			t.Errorf("%s: architectures %q, want %q", tt.goarch, got, tt.want)
		}
	}
}

func TestDefaultSeccompIsFresh(t *testing.T) {
	a := DefaultSeccomp(dockerCaps)
	a.Syscalls[0].Names[0] = "changed"
	*a.DefaultErrnoRet = 99
	a.Architectures[0] = "changed"
	b := DefaultSeccomp(dockerCaps)
	if b.Syscalls[0].Names[0] == "changed" || *b.DefaultErrnoRet != 1 || b.Architectures[0] == "changed" {
		t.Error("a change to one DefaultSeccomp shows in the next")
	}
}
