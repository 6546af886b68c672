package seccomp

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// FuzzCompile feeds hostile profiles (config.json's linux.seccomp comes
// from whoever wrote the bundle) to the compiler. Whatever it accepts must
// be a filter the kernel would load (checkKernelRules), and must decide
// every call the way the profile says (model): the profile's own names,
// with the values its rules compare against and their neighbours.
func FuzzCompile(f *testing.F) {
	podman, err := os.ReadFile("testdata/podman_amd64.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(podman)
	for _, seed := range []string{
		`{"defaultAction":"SCMP_ACT_ALLOW"}`,
		`{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],"syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"}]}`,
		`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":4294967295,"op":"SCMP_CMP_EQ"}]}]}`,
		`{"defaultAction":"SCMP_ACT_KILL_PROCESS","architectures":["SCMP_ARCH_AARCH64","SCMP_ARCH_ARM"],"syscalls":[{"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]}]}`,
		`{"defaultAction":"SCMP_ACT_LOG","syscalls":[{"names":["kill"],"action":"SCMP_ACT_TRAP","args":[{"index":0,"value":1,"op":"SCMP_CMP_LT"},{"index":0,"value":9,"op":"SCMP_CMP_GT"},{"index":1,"value":18446744073709551615,"op":"SCMP_CMP_LE"}]}]}`,
		`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount"],"action":"SCMP_ACT_TRACE","errnoRet":65535},{"names":["umount2"],"action":"SCMP_ACT_KILL_THREAD","args":[{"index":5,"value":0,"op":"SCMP_CMP_NE"},{"index":4,"value":4294967296,"op":"SCMP_CMP_GE"}]}]}`,
		`{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock","syscalls":[{"names":["mount"],"action":"SCMP_ACT_NOTIFY"}]}`,
		`{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW"],"syscalls":[{"names":["","\u0000"],"action":"SCMP_ACT_ERRNO"}]}`,
		`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_ALLOW","args":[{"index":7,"value":1,"op":"SCMP_CMP_EQ"}]}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p specs.LinuxSeccomp
		if err := json.Unmarshal(data, &p); err != nil {
			return
		}
		for _, native := range []specs.Arch{specs.ArchX86_64, specs.ArchAARCH64} {
			prog, err := CompileFor(&p, native)
			if errors.Is(err, errBug) {
				t.Fatal(err)
			}
			if err != nil {
				continue
			}
			if err := checkKernelRules(prog.Instructions); err != nil {
				t.Fatalf("the kernel would refuse the program: %v", err)
			}
			vm := newVM(t, prog)
			for _, c := range fuzzCalls(&p, native) {
				if got, want := runVM(t, vm, c), model(t, &p, native, c); got != want {
					t.Fatalf("%s: call %+v: got %#x, want %#x", native, c, got, want)
				}
			}
		}
	})
}

// fuzzCalls picks calls that exercise p: its names in each ABI, with
// arguments equal to its values and one either side.
func fuzzCalls(p *specs.LinuxSeccomp, native specs.Arch) []call {
	var values []uint64
	for _, r := range p.Syscalls {
		for _, a := range r.Args {
			values = append(values, a.Value, a.Value-1, a.Value+1, a.ValueTwo, a.Value^(1<<32))
		}
	}
	values = append(values, 0)
	var calls []call
	for _, a := range kernelABIs(native) {
		for _, r := range p.Syscalls {
			for _, name := range r.Names {
				nr, ok := a.lookup(name)
				if !ok {
					continue
				}
				for i, v := range values {
					var c call
					c.audit, c.nr = a.audit, nr
					for j := range c.args {
						c.args[j] = values[(i+j)%len(values)]
					}
					c.args[i%6] = v
					calls = append(calls, c)
					if len(calls) > 256 {
						return calls
					}
				}
			}
		}
		calls = append(calls, call{audit: a.audit, nr: 0x3fffffff})
	}
	return calls
}
