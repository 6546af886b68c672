package seccomp

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The tables come from a Linux source tree (MINIRUN_LINUX_SRC); a newer
// kernel adds calls, and an old number never changes.
//
//go:generate go run ./internal/mksyscalls -o . $MINIRUN_LINUX_SRC

// sysEntry is one system call of one family of ABIs (those one kernel
// runs): its name as the kernel's syscall tables spell it, and its number,
// as seccomp_data.nr shows it, in each ABI of the family.
type sysEntry struct {
	name string
	nr   [3]uint32
}

// noSys marks an ABI that lacks the call. No ABI numbers a call so.
const noSys = ^uint32(0)

// Audit architecture numbers (AUDIT_ARCH_* of <linux/audit.h>): what the
// kernel puts in seccomp_data.arch. x32 has none of its own: its calls come
// with AUDIT_ARCH_X86_64 and __X32_SYSCALL_BIT set in the number.
const (
	auditArchX86_64  = 0xc000003e // EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
	auditArchI386    = 0x40000003 // EM_386 | __AUDIT_ARCH_LE
	auditArchAARCH64 = 0xc00000b7 // EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
	auditArchARM     = 0x40000028 // EM_ARM | __AUDIT_ARCH_LE

	// x32SyscallBit is __X32_SYSCALL_BIT of arch/x86/include/uapi/asm/unistd.h.
	x32SyscallBit = 0x40000000
)

// abi is one system call ABI a filter can meet: an architecture's own, or
// one its kernel also runs (i386 and x32 on x86_64, 32-bit arm on arm64).
type abi struct {
	arch   specs.Arch
	audit  uint32
	family []sysEntry
	col    int // the ABI's column of sysEntry.nr
	// args32: the ABI passes 32-bit arguments, so only the low half of
	// seccomp_data.args[i] is compared, as libseccomp does.
	args32 bool
}

var (
	abiX86_64  = &abi{arch: specs.ArchX86_64, audit: auditArchX86_64, family: sysX86, col: 0}
	abiX32     = &abi{arch: specs.ArchX32, audit: auditArchX86_64, family: sysX86, col: 1}
	abiX86     = &abi{arch: specs.ArchX86, audit: auditArchI386, family: sysX86, col: 2, args32: true}
	abiAARCH64 = &abi{arch: specs.ArchAARCH64, audit: auditArchAARCH64, family: sysARM, col: 0}
	abiARM     = &abi{arch: specs.ArchARM, audit: auditArchARM, family: sysARM, col: 1, args32: true}

	allABIs = []*abi{abiX86_64, abiX86, abiX32, abiAARCH64, abiARM}
)

// kernelABIs returns, for a kernel of architecture native, the ABIs whose
// calls it accepts: its own first, then those it runs beside it, all of one
// family. A call of any other ABI cannot reach the filter on such a kernel.
func kernelABIs(native specs.Arch) []*abi {
	switch native {
	case specs.ArchX86_64:
		return []*abi{abiX86_64, abiX86, abiX32}
	case specs.ArchAARCH64:
		return []*abi{abiAARCH64, abiARM}
	case specs.ArchX86:
		return []*abi{abiX86}
	case specs.ArchARM:
		return []*abi{abiARM}
	}
	return nil
}

// lookup returns the number of the system call name in a.
func (a *abi) lookup(name string) (uint32, bool) {
	i := find(a.family, name)
	if i < 0 || a.family[i].nr[a.col] == noSys {
		return 0, false
	}
	return a.family[i].nr[a.col], true
}

// find returns the index of name in family, or -1.
func find(family []sysEntry, name string) int {
	lo, hi := 0, len(family)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if family[m].name < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(family) && family[lo].name == name {
		return lo
	}
	return -1
}

// SyscallNumber returns the number of the system call name in the ABI of
// arch (SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32, SCMP_ARCH_AARCH64
// or SCMP_ARCH_ARM), as seccomp_data.nr shows it: an x32 number has
// __X32_SYSCALL_BIT set. It works for every architecture from any GOARCH.
func SyscallNumber(arch specs.Arch, name string) (uint32, bool) {
	for _, a := range allABIs {
		if a.arch == arch {
			return a.lookup(name)
		}
	}
	return 0, false
}
