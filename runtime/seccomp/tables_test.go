package seccomp

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestTablesWellFormed: lookup relies on each table being sorted by name
// without duplicates, and no ABI gives one number two names.
func TestTablesWellFormed(t *testing.T) {
	for _, a := range allABIs {
		calls := callsOf(a)
		if len(calls) < 300 {
			t.Errorf("%s: only %d system calls", a.arch, len(calls))
		}
		nrs := map[uint32]string{}
		for i, e := range calls {
			if i > 0 && calls[i-1].name >= e.name {
				t.Errorf("%s: %q after %q: not sorted", a.arch, e.name, calls[i-1].name)
			}
			if other, dup := nrs[e.nr]; dup {
				t.Errorf("%s: %d is both %s and %s", a.arch, e.nr, other, e.name)
			}
			nrs[e.nr] = e.name
			if nr, ok := a.lookup(e.name); !ok || nr != e.nr {
				t.Errorf("%s: lookup(%q) = %d, %v; want %d", a.arch, e.name, nr, ok, e.nr)
			}
			if (a == abiX32) != (e.nr&x32SyscallBit != 0) {
				t.Errorf("%s: %s is %#x", a.arch, e.name, e.nr)
			}
		}
		if _, ok := a.lookup("no_such_call"); ok {
			t.Errorf("%s: found no_such_call", a.arch)
		}
	}
}

// TestTablesOtherArch: the tables of every architecture are there whatever
// GOARCH this is built for (a profile for an amd64 host may list arm64).
// The numbers are those of the kernel's tables, which never change once
// released.
func TestTablesOtherArch(t *testing.T) {
	tests := []struct {
		arch specs.Arch
		name string
		nr   uint32
		ok   bool
	}{
		{specs.ArchAARCH64, "getpid", 172, true},
		{specs.ArchAARCH64, "mount", 40, true},
		{specs.ArchAARCH64, "unshare", 97, true},
		{specs.ArchAARCH64, "clone3", 435, true},
		{specs.ArchAARCH64, "renameat", 38, true}, // under __ARCH_WANT_RENAMEAT
		{specs.ArchAARCH64, "open", 0, false},     // asm-generic has openat only
		{specs.ArchARM, "getpid", 20, true},
		{specs.ArchARM, "cacheflush", 0x0f0002, true}, // __ARM_NR_cacheflush
		{specs.ArchX86_64, "getpid", 39, true},
		{specs.ArchX86_64, "socketcall", 0, false},
		{specs.ArchX86, "getpid", 20, true},
		{specs.ArchX86, "socketcall", 102, true},
		{specs.ArchX32, "getpid", 0x40000027, true},
		{specs.ArchX32, "rt_sigaction", 0x40000200, true}, // x32's own, not x86_64's 13
		{specs.ArchMIPS, "getpid", 0, false},
	}
	for _, tt := range tests {
		nr, ok := SyscallNumber(tt.arch, tt.name)
		if nr != tt.nr || ok != tt.ok {
			t.Errorf("SyscallNumber(%s, %s) = %d, %v; want %d, %v", tt.arch, tt.name, nr, ok, tt.nr, tt.ok)
		}
	}
}
