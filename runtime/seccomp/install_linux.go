package seccomp

import (
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Install loads the program as a seccomp filter with seccomp(2)
// (SECCOMP_SET_MODE_FILTER). It cannot be undone: the filter stays on the
// thread, is inherited by every thread and process it makes, and survives
// execve.
//
// Without SECCOMP_FILTER_FLAG_TSYNC it filters the calling thread alone,
// which is what a container's init wants: init runs on a thread locked to
// its goroutine, and that thread is the one that calls execve, so the
// user's process gets the filter and the Go runtime's other threads, which
// execve ends anyway, need not follow it. With TSYNC, every thread of the
// process gets it at once.
//
// The kernel allows it only to a thread with no_new_privs set
// (prctl(PR_SET_NO_NEW_PRIVS)) or with CAP_SYS_ADMIN in its user
// namespace: otherwise a filter could make a set-user-ID program misbehave
// to its caller's advantage (seccomp(2), EACCES).
func (p *Program) Install() error {
	if native := NativeArch(); p.Arch != native {
		// A filter for another architecture would send every call down
		// the wrong branch, or kill the process at its first one.
		return fmt.Errorf("install seccomp filter: compiled for %s, this is %s", p.Arch, native)
	}
	if len(p.Instructions) == 0 || len(p.Instructions) > maxInsns {
		return fmt.Errorf("install seccomp filter: %d instructions", len(p.Instructions))
	}
	filter := make([]unix.SockFilter, len(p.Instructions))
	for i, in := range p.Instructions {
		filter[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(p.Flags), uintptr(unsafe.Pointer(&fprog)))
	goruntime.KeepAlive(filter)
	switch {
	case errno == unix.EACCES:
		return fmt.Errorf("install seccomp filter: %w (the caller needs no_new_privs or CAP_SYS_ADMIN)", os.NewSyscallError("seccomp", errno))
	case errno == unix.EINVAL && p.Flags != 0:
		return fmt.Errorf("install seccomp filter: %w (is a flag of %#x unknown to this kernel?)", os.NewSyscallError("seccomp", errno), p.Flags)
	case errno != 0:
		return fmt.Errorf("install seccomp filter: %w", os.NewSyscallError("seccomp", errno))
	case r != 0:
		// With TSYNC, a thread that could not take the filter (it
		// has one the caller's does not descend from) is reported by
		// its thread ID, and no thread got the filter.
		return fmt.Errorf("install seccomp filter: thread %d cannot be synchronized (SECCOMP_FILTER_FLAG_TSYNC)", r)
	}
	return nil
}

// seccompMode returns the seccomp mode of the calling thread
// (prctl(PR_GET_SECCOMP)): 0 none, 2 filter. (A thread in strict mode, 1,
// would be killed by the prctl itself.)
func seccompMode() (int, error) {
	m, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0)
	if err != nil {
		if errors.Is(err, unix.EINVAL) {
			return 0, fmt.Errorf("read seccomp mode: the kernel has no seccomp: %w", errors.ErrUnsupported)
		}
		return 0, os.NewSyscallError("prctl(PR_GET_SECCOMP)", err)
	}
	return m, nil
}
