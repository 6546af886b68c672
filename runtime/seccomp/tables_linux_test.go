package seccomp

import (
	goruntime "runtime"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestTablesMatchUnix checks the generated table of this machine's
// architecture against golang.org/x/sys/unix, which reads the same kernel
// tables by other means.
func TestTablesMatchUnix(t *testing.T) {
	native := NativeArch()
	if native == "" {
		t.Skipf("no system call tables for %s", goruntime.GOARCH)
	}
	for name, want := range map[string]uintptr{
		"getpid":         unix.SYS_GETPID,
		"mount":          unix.SYS_MOUNT,
		"unshare":        unix.SYS_UNSHARE,
		"keyctl":         unix.SYS_KEYCTL,
		"bpf":            unix.SYS_BPF,
		"io_uring_setup": unix.SYS_IO_URING_SETUP,
		"clone3":         unix.SYS_CLONE3,
		"seccomp":        unix.SYS_SECCOMP,
		"openat":         unix.SYS_OPENAT,
		"execve":         unix.SYS_EXECVE,
	} {
		got, ok := SyscallNumber(native, name)
		if !ok || uintptr(got) != want {
			t.Errorf("%s: %s = %d, %v; unix says %d", native, name, got, ok, want)
		}
		if native == specs.ArchX86_64 && name != "execve" {
			// x32 shares these with x86_64; execve, whose arguments
			// hold pointers to pointers, has an x32 entry of its own
			// (520).
			if x32, _ := SyscallNumber(specs.ArchX32, name); uintptr(x32) != want|x32SyscallBit {
				t.Errorf("x32: %s = %#x, want %#x", name, x32, want|x32SyscallBit)
			}
		}
	}
}
