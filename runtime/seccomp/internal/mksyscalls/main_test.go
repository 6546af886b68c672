package main

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEvalCond(t *testing.T) {
	macros := map[string]string{"__BITS_PER_LONG": "64", "__ARCH_WANT_RENAMEAT": ""}
	for expr, want := range map[string]bool{
		"defined(__ARCH_WANT_RENAMEAT)":                                           true,
		"defined __ARCH_WANT_RENAMEAT":                                            true,
		"!defined(__ARCH_WANT_RENAMEAT)":                                          false,
		"defined(__ARCH_WANT_TIME32_SYSCALLS) || __BITS_PER_LONG != 32":           true,
		"__BITS_PER_LONG == 32 || defined(__SYSCALL_COMPAT)":                      false,
		"__BITS_PER_LONG == 64 && !defined(__SYSCALL_COMPAT)":                     true,
		"defined(__ARCH_WANT_NEW_STAT) || defined(__ARCH_WANT_STAT64)":            false,
		"(defined(__ARCH_WANT_RENAMEAT) && __BITS_PER_LONG == 64) || UNDEFINED_X": true,
	} {
		got, err := evalCond(expr, macros)
		if err != nil || got != want {
			t.Errorf("#if %s = %v, %v; want %v", expr, got, err, want)
		}
	}
	if _, err := evalCond("defined(", macros); err == nil {
		t.Error("#if defined( evaluated")
	}
}

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReadGenericUnistd reads a header shaped like asm-generic/unistd.h:
// guarded calls, #else branches, aliases through __NR3264_, a line
// continuation, and the counters that are no calls.
func TestReadGenericUnistd(t *testing.T) {
	path := write(t, t.TempDir(), "unistd.h", `
#ifndef __SYSCALL
#define __SYSCALL(x, y)
#endif
#define __NR_io_setup 0 /* first */
__SC_COMP(__NR_io_setup, sys_io_setup, \
	  compat_sys_io_setup)
#ifdef __ARCH_WANT_RENAMEAT
#define __NR_renameat 38
#endif /* __ARCH_WANT_RENAMEAT */
#ifdef __ARCH_WANT_SYNC_FILE_RANGE2
#define __NR_sync_file_range2 84
#else
#define __NR_sync_file_range 84
#endif
#if defined(__ARCH_WANT_NEW_STAT) || defined(__ARCH_WANT_STAT64)
#define __NR3264_fstat 80
#endif
#define __NR3264_fcntl 25
#define __NR_arch_specific_syscall 244
#undef __NR_syscalls
#define __NR_syscalls 451
#if __BITS_PER_LONG == 64 && !defined(__SYSCALL_COMPAT)
#define __NR_fcntl __NR3264_fcntl
#if defined(__ARCH_WANT_NEW_STAT) || defined(__ARCH_WANT_STAT64)
#define __NR_fstat __NR3264_fstat
#endif
#else
#define __NR_fcntl64 __NR3264_fcntl
#endif
`)
	got, err := readGenericUnistd(path, map[string]bool{"__ARCH_WANT_RENAMEAT": true, "__ARCH_WANT_NEW_STAT": true}, 64)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint32{"io_setup": 0, "renameat": 38, "sync_file_range": 84, "fcntl": 25, "fstat": 80}
	if !maps.Equal(got, want) {
		t.Errorf("64-bit with renameat and new stat: %v, want %v", got, want)
	}
	got, err = readGenericUnistd(path, nil, 32)
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]uint32{"io_setup": 0, "sync_file_range": 84, "fcntl64": 25}
	if !maps.Equal(got, want) {
		t.Errorf("32-bit: %v, want %v", got, want)
	}
}

func TestReadTbl(t *testing.T) {
	path := write(t, t.TempDir(), "syscall_64.tbl", `#
# <number> <abi> <name> <entry point>
0	common	read			sys_read
13	64	rt_sigaction		sys_rt_sigaction
59	64	execve			sys_execve
512	x32	rt_sigaction		compat_sys_rt_sigaction
520	x32	execve			compat_sys_execve
`)
	got, err := readTbl(path, []string{"common", "x32"}, x32Bit)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]uint32{"read": 0x40000000, "rt_sigaction": 0x40000200, "execve": 0x40000208}; !maps.Equal(got, want) {
		t.Errorf("x32: %v, want %v", got, want)
	}
	if _, err := readTbl(path, []string{"i386"}, 0); err == nil {
		t.Error("a table without the ABI read as empty")
	}
	bad := write(t, t.TempDir(), "bad.tbl", "0 common\n")
	if _, err := readTbl(bad, []string{"common"}, 0); err == nil || !strings.Contains(err.Error(), "bad.tbl:1") {
		t.Errorf("short row: error %v, want one naming the line", err)
	}
}

// TestRun generates both files from a small tree of each layout and checks
// the header names the kernel version.
func TestRun(t *testing.T) {
	for _, newer := range []bool{false, true} {
		tree := t.TempDir()
		write(t, tree, "Makefile", "VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 3\nEXTRAVERSION =\n")
		write(t, tree, "arch/x86/entry/syscalls/syscall_64.tbl", "39\tcommon\tgetpid\tsys_getpid\n512\tx32\trt_sigaction\tx\n13\t64\trt_sigaction\tx\n")
		write(t, tree, "arch/x86/entry/syscalls/syscall_32.tbl", "20\ti386\tgetpid\tsys_getpid\n")
		write(t, tree, "arch/arm/tools/syscall.tbl", "20\tcommon\tgetpid\tsys_getpid\n13\toabi\ttime\tsys_time32\n")
		write(t, tree, "arch/arm/include/uapi/asm/unistd.h", "#define __ARM_NR_BASE\t\t\t(__NR_SYSCALL_BASE+0x0f0000)\n#define __ARM_NR_cacheflush\t\t(__ARM_NR_BASE+2)\n")
		if newer {
			write(t, tree, "scripts/syscall.tbl", "172\tcommon\tgetpid\tsys_getpid\n38\trenameat\trenameat\tsys_renameat\n79\tstat64\tfstatat64\tsys_fstatat64\n")
			write(t, tree, "arch/arm64/kernel/Makefile.syscalls", "syscall_abis_32 +=\nsyscall_abis_64 += renameat rlimit memfd_secret\n")
		} else {
			write(t, tree, "include/uapi/asm-generic/unistd.h", "#define __NR_getpid 172\n#ifdef __ARCH_WANT_RENAMEAT\n#define __NR_renameat 38\n#endif\n")
			write(t, tree, "arch/arm64/include/uapi/asm/unistd.h", "#define __ARCH_WANT_RENAMEAT\n#include <asm-generic/unistd.h>\n")
		}
		out := t.TempDir()
		if err := run(tree, out); err != nil {
			t.Fatal(err)
		}
		x86, _ := os.ReadFile(filepath.Join(out, "zsyscalls_x86.go"))
		arm, _ := os.ReadFile(filepath.Join(out, "zsyscalls_aarch64.go"))
		for _, want := range []string{"// Code generated by mksyscalls from Linux 6.12.3 (", "DO NOT EDIT.", `{"getpid", [3]uint32{0x27, 0x40000027, 0x14}}`, `{"rt_sigaction", [3]uint32{0xd, 0x40000200, noSys}}`} {
			if !strings.Contains(string(x86), want) {
				t.Errorf("newer=%v: x86 file lacks %q:\n%s", newer, want, x86)
			}
		}
		for _, want := range []string{`{"getpid", [3]uint32{0xac, 0x14, noSys}}`, `{"renameat", [3]uint32{0x26, noSys, noSys}}`, `{"cacheflush", [3]uint32{noSys, 0xf0002, noSys}}`} {
			if !strings.Contains(string(arm), want) {
				t.Errorf("newer=%v: arm file lacks %q:\n%s", newer, want, arm)
			}
		}
		for _, not := range []string{"fstatat64", `"time"`} {
			if strings.Contains(string(arm), not) {
				t.Errorf("newer=%v: arm file has %s, of an ABI it is not", newer, not)
			}
		}
	}
}
