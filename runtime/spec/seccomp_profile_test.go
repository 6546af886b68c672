package spec

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// dockerShapeProfile is a profile in docker's format, cut down from
// containers-common's seccomp.json: archMap, a single "name", includes and
// excludes of capabilities, arches and minKernel, and comments.
const dockerShapeProfile = `{
	"defaultAction": "SCMP_ACT_ERRNO",
	"defaultErrnoRet": 38,
	"defaultErrno": "ENOSYS",
	"archMap": [
		{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
		{"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
	],
	"syscalls": [
		{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "everyone"},
		{"name": "keyctl", "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
		{"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
		{"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"]}},
		{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
		 "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
		 "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}},
		{"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
		{"names": ["process_vm_readv"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
		{"names": ["old_thing"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "4.8"}}
	]
}`

func TestSeccompProfileDockerShape(t *testing.T) {
	p, err := ParseSeccompProfile([]byte(dockerShapeProfile))
	if err != nil {
		t.Fatal(err)
	}
	names := func(s *specs.LinuxSeccomp) []string {
		var n []string
		for _, r := range s.Syscalls {
			n = append(n, strings.Join(r.Names, "+"))
		}
		return n
	}
	errno1, errno38 := uint(1), uint(38)
	for _, tt := range []struct {
		name   string
		goarch string
		caps   []string
		arches []specs.Arch
		rules  []string
	}{
		{"docker's caps on amd64", "amd64", dockerCaps,
			[]specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
			[]string{"read+write", "keyctl", "clone", "arch_prctl", "process_vm_readv"}},
		{"CAP_SYS_ADMIN: mount, and clone without its rule", "amd64", []string{"CAP_SYS_ADMIN"},
			[]specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
			[]string{"read+write", "keyctl", "mount", "arch_prctl", "process_vm_readv"}},
		{"ptrace needs both its caps", "amd64", []string{"CAP_SYS_ADMIN", "CAP_SYS_PTRACE"},
			[]specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
			[]string{"read+write", "keyctl", "mount", "ptrace", "arch_prctl", "process_vm_readv"}},
		{"arm64: its archMap entry, no arch_prctl", "arm64", nil,
			[]specs.Arch{specs.ArchAARCH64, specs.ArchARM},
			[]string{"read+write", "keyctl", "clone", "process_vm_readv"}},
		{"s390x: no clone, no archMap entry", "s390x", nil, nil,
			[]string{"read+write", "keyctl", "process_vm_readv"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := p.spec(tt.goarch, tt.caps)
			if !reflect.DeepEqual(s.Architectures, tt.arches) {
				t.Errorf("architectures %q, want %q", s.Architectures, tt.arches)
			}
			if got := names(s); !reflect.DeepEqual(got, tt.rules) {
				t.Errorf("rules %q, want %q", got, tt.rules)
			}
			if s.DefaultAction != specs.ActErrno || s.DefaultErrnoRet == nil || *s.DefaultErrnoRet != errno38 {
				t.Errorf("default %s %v, want SCMP_ACT_ERRNO 38", s.DefaultAction, s.DefaultErrnoRet)
			}
			if k := s.Syscalls[1]; k.ErrnoRet == nil || *k.ErrnoRet != errno1 {
				t.Errorf("keyctl's errnoRet %v, want 1", k.ErrnoRet)
			}
		})
	}
	// The clone rule's argument survives as it was.
	s := p.spec("amd64", nil)
	want := []specs.LinuxSeccompArg{{Index: 0, Value: 2114060288, Op: specs.OpMaskedEqual}}
	if got := s.Syscalls[2].Args; !reflect.DeepEqual(got, want) {
		t.Errorf("clone args %+v, want %+v", got, want)
	}
}

func TestSeccompProfileOCIShape(t *testing.T) {
	// What DefaultSeccomp writes reads back as itself: the OCI shape.
	want := defaultSeccomp("amd64", dockerCaps)
	data := jsonOf(want)
	p, err := ParseSeccompProfile([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.spec("amd64", nil); !reflect.DeepEqual(got, want) {
		t.Errorf("read back:\n%s\nwant\n%s", jsonOf(got), data)
	}
	// Fields docker's format lacks pass through.
	p, err = ParseSeccompProfile([]byte(`{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"], "listenerPath": "/run/agent.sock",
		"syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	s := p.Spec(nil)
	if s.ListenerPath != "/run/agent.sock" || len(s.Flags) != 1 || s.Syscalls[0].Action != specs.ActNotify || s.Architectures != nil {
		t.Errorf("got %s", jsonOf(s))
	}
}

func TestSeccompProfileErrors(t *testing.T) {
	for _, tt := range []struct {
		name, json, want string
	}{
		{"not JSON", "{\n\"defaultAction\": SCMP_ACT_ALLOW}", "not JSON: line 2"},
		{"truncated", `{"defaultAction": "SCMP_ACT_ALLOW"`, "not JSON"},
		{"an array", `[]`, "not a seccomp profile"},
		{"wrong type", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {"names": ["read"]}}`, "not a seccomp profile"},
		{"empty", `{}`, "defaultAction: missing"},
		{"unknown default", `{"defaultAction": "SCMP_ACT_MAYBE"}`, `defaultAction: unknown action "SCMP_ACT_MAYBE"`},
		{"errno on allow", `{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}`, "SCMP_ACT_ALLOW takes no errnoRet"},
		{"unknown arch", `{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["x86_64"]}`, `architectures[0]: unknown architecture "x86_64"`},
		{"unknown sub-arch", `{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["i386"]}]}`, `archMap[0]: unknown architecture "i386"`},
		{"unknown flag", `{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FAST"]}`, `flags[0]: unknown flag`},
		{"no names", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]}`, "syscalls[0]: names: no system call named"},
		{"name and names", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ERRNO"}]}`, `syscalls[0]: both "name" and "names"`},
		{"empty name", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read", ""], "action": "SCMP_ACT_ERRNO"}]}`, "syscalls[0]: names[1]"},
		{"no action", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"]}]}`, "syscalls[0]: action: missing"},
		{"unknown action", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "DENY"}]}`, `syscalls[0]: action: unknown action "DENY"`},
		{"unknown op", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_LIKE"}]}]}`, `args[0].op: unknown operator`},
		{"arg index", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}`, `args[0].index: 6 is not below 6`},
		{"unknown cap", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_EVERYTHING"]}}]}`, `includes.caps: unknown capability "CAP_EVERYTHING"`},
		{"bad minKernel", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "excludes": {"minKernel": "four"}}]}`, `excludes.minKernel: "four"`},
		{"second rule", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO"}, {"names": ["write"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]}`, "syscalls[1]: action: SCMP_ACT_KILL takes no errnoRet"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSeccompProfile([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %v, want one line containing %q", err, tt.want)
			}
		})
	}
}
