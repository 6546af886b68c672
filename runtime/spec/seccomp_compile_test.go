package spec_test

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/runtime/seccomp"
	"github.com/minirun/minirun/runtime/spec"
)

// dockerCaps are docker's default capabilities, as DockerDefault gives them.
func dockerCaps() []string { return spec.DockerDefault().Process.Capabilities.Bounding }

// TestDefaultSeccompCompiles compiles the default profile for each kernel
// architecture minirun has tables for, with docker's capabilities, none and
// all: it must fit the kernel's 4096 instructions with room to spare, and
// every call it names that ordinary programs make must be in the tables
// (a name the tables lack is skipped, which would deny it).
func TestDefaultSeccompCompiles(t *testing.T) {
	everyday := []string{"read", "write", "openat", "close", "mmap", "futex", "execve", "wait4",
		"rt_sigaction", "epoll_pwait", "socket", "getpid", "clone", "clone3", "personality"}
	for _, arch := range []specs.Arch{specs.ArchX86_64, specs.ArchAARCH64} {
		for name, caps := range map[string][]string{"docker's": dockerCaps(), "none": nil, "all": spec.CapabilityNames} {
			p := spec.DefaultSeccomp(caps)
			prog, err := seccomp.CompileFor(p, arch)
			if err != nil {
				t.Fatalf("%s, %s capabilities: %v", arch, name, err)
			}
			if prog.Len() > 2048 {
				t.Errorf("%s, %s capabilities: %d instructions, want well under 4096", arch, name, prog.Len())
			}
			for _, n := range everyday {
				if slices.Contains(prog.Skipped, n) {
					t.Errorf("%s: %s is not in the system call tables", arch, n)
				}
			}
			t.Logf("%s, %s capabilities: %d instructions; names not in the tables: %v", arch, name, prog.Len(), prog.Skipped)
		}
	}
}

// BenchmarkSeccompCompileDefault is the part of a container's start that
// builds its filter: the profile for docker's capabilities, compiled.
func BenchmarkSeccompCompileDefault(b *testing.B) {
	caps := dockerCaps()
	for b.Loop() {
		if _, err := seccomp.Compile(spec.DefaultSeccomp(caps)); err != nil {
			b.Fatal(err)
		}
	}
}
