package seccomp

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func errno(n uint) *uint { return &n }

func nrOf(t testing.TB, arch specs.Arch, name string) uint32 {
	t.Helper()
	nr, ok := SyscallNumber(arch, name)
	if !ok {
		t.Fatalf("no %s on %s", name, arch)
	}
	return nr
}

func compileT(t testing.TB, p *specs.LinuxSeccomp, arch specs.Arch) *Program {
	t.Helper()
	prog, err := CompileFor(p, arch)
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

// TestActions checks the return value of every action, the errno and trace
// data, and the default action.
func TestActions(t *testing.T) {
	tests := []struct {
		act   specs.LinuxSeccompAction
		errno *uint
		want  uint32
	}{
		{specs.ActAllow, nil, 0x7fff0000},
		{specs.ActKill, nil, 0x00000000},
		{specs.ActKillThread, nil, 0x00000000},
		{specs.ActKillProcess, nil, 0x80000000},
		{specs.ActTrap, nil, 0x00030000},
		{specs.ActLog, nil, 0x7ffc0000},
		{specs.ActErrno, nil, 0x00050001}, // EPERM
		{specs.ActErrno, errno(42), 0x0005002a},
		{specs.ActErrno, errno(0), 0x00050000},
		{specs.ActErrno, errno(0xffff), 0x0005ffff},
		{specs.ActTrace, nil, 0x7ff00001},
		{specs.ActTrace, errno(7), 0x7ff00007},
	}
	getpid := nrOf(t, specs.ArchX86_64, "getpid")
	for _, tt := range tests {
		for _, asDefault := range []bool{false, true} {
			p := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
			if asDefault {
				p = &specs.LinuxSeccomp{DefaultAction: tt.act, DefaultErrnoRet: tt.errno}
			} else {
				p.Syscalls = []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: tt.act, ErrnoRet: tt.errno}}
				if tt.act == specs.ActAllow {
					p.DefaultAction = specs.ActLog
				}
			}
			vm := newVM(t, compileT(t, p, specs.ArchX86_64))
			if got := runVM(t, vm, call{audit: auditArchX86_64, nr: getpid}); got != tt.want {
				t.Errorf("%s errno %v (default %v): got %#x, want %#x", tt.act, tt.errno, asDefault, got, tt.want)
			}
		}
	}
}

// TestOperators compares an argument with a value that differs from it in
// the high half only, in the low half only, or in both in opposite
// directions, where comparing the halves in the wrong order or one half
// alone gives the wrong answer.
func TestOperators(t *testing.T) {
	const v = 0x00000001_00000005
	args := []uint64{
		v,
		0x00000001_00000004, // low half smaller
		0x00000001_00000006, // low half larger
		0x00000000_00000005, // high half smaller
		0x00000002_00000005, // high half larger
		0x00000000_ffffffff, // high smaller, low larger
		0x00000002_00000000, // high larger, low smaller
		0,
		^uint64(0),
	}
	ops := []struct {
		op   specs.LinuxSeccompOperator
		want func(x uint64) bool
	}{
		{specs.OpEqualTo, func(x uint64) bool { return x == v }},
		{specs.OpNotEqual, func(x uint64) bool { return x != v }},
		{specs.OpLessThan, func(x uint64) bool { return x < v }},
		{specs.OpLessEqual, func(x uint64) bool { return x <= v }},
		{specs.OpGreaterThan, func(x uint64) bool { return x > v }},
		{specs.OpGreaterEqual, func(x uint64) bool { return x >= v }},
	}
	nr := nrOf(t, specs.ArchX86_64, "personality")
	for _, o := range ops {
		for idx := uint(0); idx < 6; idx += 5 {
			p := &specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow,
				Syscalls: []specs.LinuxSyscall{{
					Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: errno(42),
					Args: []specs.LinuxSeccompArg{{Index: idx, Value: v, Op: o.op}},
				}},
			}
			vm := newVM(t, compileT(t, p, specs.ArchX86_64))
			for _, x := range args {
				var c call
				c.audit, c.nr, c.args[idx] = auditArchX86_64, nr, x
				want := uint32(retAllow)
				if o.want(x) {
					want = retErrno | 42
				}
				if got := runVM(t, vm, c); got != want {
					t.Errorf("arg%d=%#x %s %#x: got %#x, want %#x", idx, x, o.op, uint64(v), got, want)
				}
			}
		}
	}
}

func TestMaskedEqual(t *testing.T) {
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{
			Names: []string{"clone"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0xff000000_000000ff, ValueTwo: 0x12000000_00000034, Op: specs.OpMaskedEqual}},
		}},
	}
	vm := newVM(t, compileT(t, p, specs.ArchX86_64))
	nr := nrOf(t, specs.ArchX86_64, "clone")
	for _, tt := range []struct {
		arg  uint64
		deny bool
	}{
		{0x12000000_00000034, true},
		{0x12345678_9abcde34, true},  // unmasked bits differ
		{0x13000000_00000034, false}, // high half differs
		{0x12000000_00000035, false}, // low half differs
		{0x00000000_00000034, false},
	} {
		want := uint32(retAllow)
		if tt.deny {
			want = retErrno | 1
		}
		if got := runVM(t, vm, call{audit: auditArchX86_64, nr: nr, args: [6]uint64{tt.arg}}); got != want {
			t.Errorf("arg %#x: got %#x, want %#x", tt.arg, got, want)
		}
	}
}

// TestRuleLogic: the args of one rule are ANDed, an index named twice ORs
// them (as runc), several rules for a call are ORed and the first that
// holds decides, and a rule with the default's action is dropped.
func TestRuleLogic(t *testing.T) {
	arg := func(i uint, v uint64) specs.LinuxSeccompArg {
		return specs.LinuxSeccompArg{Index: i, Value: v, Op: specs.OpEqualTo}
	}
	const deny, allow = retErrno | 1, retAllow
	tests := []struct {
		name  string
		rules []specs.LinuxSyscall
		cases map[[2]uint64]uint32 // args 0 and 1 → result
	}{
		{
			"and",
			[]specs.LinuxSyscall{{Names: []string{"kill"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{arg(0, 1), arg(1, 2)}}},
			map[[2]uint64]uint32{{1, 2}: allow, {1, 3}: deny, {0, 2}: deny},
		},
		{
			"repeated index ors",
			[]specs.LinuxSyscall{{Names: []string{"kill"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{arg(0, 1), arg(0, 2)}}},
			map[[2]uint64]uint32{{1, 0}: allow, {2, 0}: allow, {3, 0}: deny},
		},
		{
			"rules or",
			[]specs.LinuxSyscall{
				{Names: []string{"kill"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{arg(0, 1)}},
				{Names: []string{"kill"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{arg(1, 7)}},
			},
			map[[2]uint64]uint32{{1, 0}: allow, {0, 7}: allow, {0, 0}: deny},
		},
		{
			"first match decides",
			[]specs.LinuxSyscall{
				{Names: []string{"kill"}, Action: specs.ActTrap, Args: []specs.LinuxSeccompArg{arg(0, 1)}},
				{Names: []string{"kill"}, Action: specs.ActAllow},
				{Names: []string{"kill"}, Action: specs.ActLog, Args: []specs.LinuxSeccompArg{arg(0, 2)}},
			},
			map[[2]uint64]uint32{{1, 0}: retTrap, {2, 0}: allow, {3, 0}: allow},
		},
		{
			"default's action dropped",
			[]specs.LinuxSyscall{
				{Names: []string{"kill"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{arg(0, 1)}},
				{Names: []string{"kill"}, Action: specs.ActAllow},
			},
			map[[2]uint64]uint32{{1, 0}: allow, {0, 0}: allow},
		},
	}
	nr := nrOf(t, specs.ArchX86_64, "kill")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: tt.rules}
			vm := newVM(t, compileT(t, p, specs.ArchX86_64))
			for a, want := range tt.cases {
				c := call{audit: auditArchX86_64, nr: nr, args: [6]uint64{a[0], a[1]}}
				if got := runVM(t, vm, c); got != want {
					t.Errorf("args %v: got %#x, want %#x", a, got, want)
				}
				if m := model(t, p, specs.ArchX86_64, c); m != want {
					t.Errorf("model, args %v: got %#x, want %#x", a, m, want)
				}
			}
		})
	}
}

// TestArchitectures: the kernel's own ABI is always filtered; the others
// it runs only when listed, in their own numbers; anything else kills.
func TestArchitectures(t *testing.T) {
	rules := []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: specs.ActErrno, ErrnoRet: errno(42)}}
	const hit, miss = retErrno | 42, retAllow
	x32 := func(name string) uint32 { return nrOf(t, specs.ArchX32, name) }
	tests := []struct {
		native specs.Arch
		listed []specs.Arch
		c      call
		want   uint32
	}{
		{specs.ArchX86_64, nil, call{audit: auditArchX86_64, nr: nrOf(t, specs.ArchX86_64, "getpid")}, hit},
		{specs.ArchX86_64, nil, call{audit: auditArchX86_64, nr: nrOf(t, specs.ArchX86_64, "getppid")}, miss},
		// i386 calls: 20 is getpid there, but 20 is writev on x86_64.
		{specs.ArchX86_64, nil, call{audit: auditArchI386, nr: 20}, retKillProcess},
		{specs.ArchX86_64, []specs.Arch{specs.ArchX86}, call{audit: auditArchI386, nr: 20}, hit},
		{specs.ArchX86_64, []specs.Arch{specs.ArchX86}, call{audit: auditArchI386, nr: nrOf(t, specs.ArchX86_64, "getpid")}, miss},
		// x32: the x86_64 arch, and a bit in nr.
		{specs.ArchX86_64, nil, call{audit: auditArchX86_64, nr: x32("getpid")}, retKillProcess},
		{specs.ArchX86_64, []specs.Arch{specs.ArchX86}, call{audit: auditArchX86_64, nr: x32("getpid")}, retKillProcess},
		{specs.ArchX86_64, []specs.Arch{specs.ArchX32}, call{audit: auditArchX86_64, nr: x32("getpid")}, hit},
		{specs.ArchX86_64, []specs.Arch{specs.ArchX32}, call{audit: auditArchX86_64, nr: x32("getppid")}, miss},
		{specs.ArchX86_64, []specs.Arch{specs.ArchX32}, call{audit: auditArchX86_64, nr: nrOf(t, specs.ArchX86_64, "getpid")}, hit},
		// arm64 and its 32-bit arm.
		{specs.ArchX86_64, []specs.Arch{specs.ArchAARCH64}, call{audit: auditArchAARCH64, nr: 172}, retKillProcess},
		{specs.ArchAARCH64, nil, call{audit: auditArchAARCH64, nr: 172}, hit},
		{specs.ArchAARCH64, nil, call{audit: auditArchARM, nr: 20}, retKillProcess},
		{specs.ArchAARCH64, []specs.Arch{specs.ArchARM, specs.ArchMIPS}, call{audit: auditArchARM, nr: 20}, hit},
		{specs.ArchAARCH64, []specs.Arch{specs.ArchARM}, call{audit: auditArchX86_64, nr: 39}, retKillProcess},
	}
	for _, tt := range tests {
		p := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: tt.listed, Syscalls: rules}
		vm := newVM(t, compileT(t, p, tt.native))
		if got := runVM(t, vm, tt.c); got != tt.want {
			t.Errorf("%s filter listing %v, call %#x/%#x: got %#x, want %#x", tt.native, tt.listed, tt.c.audit, tt.c.nr, got, tt.want)
		}
		if m := model(t, p, tt.native, tt.c); m != tt.want {
			t.Errorf("model: %s filter listing %v, call %#x/%#x: got %#x, want %#x", tt.native, tt.listed, tt.c.audit, tt.c.nr, m, tt.want)
		}
	}
}

// TestArgs32: a 32-bit ABI compares the low halves only, as libseccomp.
func TestArgs32(t *testing.T) {
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86},
		Syscalls: []specs.LinuxSyscall{{
			Names: []string{"personality"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0xffffffff_ffffffff, Op: specs.OpEqualTo}},
		}},
	}
	vm := newVM(t, compileT(t, p, specs.ArchX86_64))
	nr := nrOf(t, specs.ArchX86, "personality")
	if got := runVM(t, vm, call{audit: auditArchI386, nr: nr, args: [6]uint64{0xffffffff}}); got != retErrno|1 {
		t.Errorf("i386 personality(0xffffffff): got %#x, want EPERM", got)
	}
	nr64 := nrOf(t, specs.ArchX86_64, "personality")
	if got := runVM(t, vm, call{audit: auditArchX86_64, nr: nr64, args: [6]uint64{0xffffffff}}); got != retAllow {
		t.Errorf("x86_64 personality(0xffffffff): got %#x, want allow (the high half differs)", got)
	}
}

func TestUnknownNamesSkipped(t *testing.T) {
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"getpid", "no_such_call", "socketcall", "arch_prctl"}, Action: specs.ActAllow},
			{Names: []string{"another_unknown", "no_such_call"}, Action: specs.ActTrap},
		},
	}
	prog := compileT(t, p, specs.ArchX86_64)
	// socketcall is i386's only and arch_prctl x86_64's only: each is
	// known to one of the filter's ABIs, so neither is skipped.
	if want := []string{"another_unknown", "no_such_call"}; !slices.Equal(prog.Skipped, want) {
		t.Errorf("skipped %q, want %q", prog.Skipped, want)
	}
	vm := newVM(t, prog)
	if got := runVM(t, vm, call{audit: auditArchX86_64, nr: nrOf(t, specs.ArchX86_64, "getpid")}); got != retAllow {
		t.Errorf("getpid: %#x, want allow", got)
	}
	if got := runVM(t, vm, call{audit: auditArchI386, nr: nrOf(t, specs.ArchX86, "socketcall")}); got != retAllow {
		t.Errorf("i386 socketcall: %#x, want allow", got)
	}
	prog = compileT(t, p, specs.ArchAARCH64)
	if want := []string{"another_unknown", "arch_prctl", "no_such_call", "socketcall"}; !slices.Equal(prog.Skipped, want) {
		t.Errorf("arm64: skipped %q, want %q", prog.Skipped, want)
	}
}

func TestCompileErrors(t *testing.T) {
	ok := specs.LinuxSyscall{Names: []string{"getpid"}, Action: specs.ActAllow}
	tests := []struct {
		name string
		p    specs.LinuxSeccomp
		want string
	}{
		{"no default", specs.LinuxSeccomp{}, "defaultAction is empty"},
		{"unknown default", specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_NOPE"}, `unknown action "SCMP_ACT_NOPE"`},
		{"notify default", specs.LinuxSeccomp{DefaultAction: specs.ActNotify}, "SCMP_ACT_NOTIFY is not supported"},
		{"notify rule", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActNotify}}}, "syscalls[0].action SCMP_ACT_NOTIFY is not supported"},
		{"listener", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock"}, "listenerPath"},
		{"unknown arch", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_Z80"}}, `unknown architecture "SCMP_ARCH_Z80"`},
		{"unknown flag", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_NEW_LISTENER"}}, "not supported"},
		{"wait killable", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}}, "not supported"},
		{"unknown rule action", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{ok, {Names: []string{"x"}, Action: "ALLOW"}}}, `syscalls[1].action: unknown action "ALLOW"`},
		{"errno on allow", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"x"}, Action: specs.ActAllow, ErrnoRet: errno(1)}}}, "takes no errnoRet"},
		{"default errno on allow", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, DefaultErrnoRet: errno(1)}, "takes no defaultErrnoRet"},
		{"errno too big", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: errno(1 << 16)}, "16 bits"},
		{"arg index", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"x"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}}, "args: index 6"},
		{"unknown op", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"x"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Op: "SCMP_CMP_LIKE"}}}}}, `unknown operator "SCMP_CMP_LIKE"`},
		{"empty name", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{""}, Action: specs.ActErrno}}}, "empty system call name"},
	}
	for _, tt := range tests {
		_, err := CompileFor(&tt.p, specs.ArchX86_64)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one saying %q", tt.name, err, tt.want)
		}
	}
	if _, err := CompileFor(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow}, specs.ArchMIPS); err == nil {
		t.Error("compiled for MIPS, which has no tables")
	}
}

func TestFlags(t *testing.T) {
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{
		"SECCOMP_FILTER_FLAG_TSYNC", specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow,
	}}
	if got := compileT(t, p, specs.ArchX86_64).Flags; got != 1|2|4 {
		t.Errorf("flags %#x, want 0x7", got)
	}
}

// TestLongProgram: every x86_64 call with a rule on its arguments makes a
// program of thousands of instructions whose jumps reach far beyond the
// 255 a conditional jump can; the result must still be exact. One more
// rule per call passes the kernel's limit of 4096 instructions.
func TestLongProgram(t *testing.T) {
	var rules []specs.LinuxSyscall
	for i, e := range callsOf(abiX86_64) {
		r := specs.LinuxSyscall{Names: []string{e.name}, Action: specs.ActAllow}
		if i%2 == 0 {
			r.Args = []specs.LinuxSeccompArg{{Index: uint(i % 6), Value: uint64(i) << 31, Op: specs.OpGreaterEqual}}
		}
		rules = append(rules, r)
	}
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: rules}
	prog := compileT(t, p, specs.ArchX86_64)
	if prog.Len() < 1000 {
		t.Fatalf("only %d instructions: the test needs a long program", prog.Len())
	}
	vm := newVM(t, prog)
	rng := rand.New(rand.NewPCG(1, 2))
	for i, e := range callsOf(abiX86_64) {
		for _, v := range []uint64{uint64(i)<<31 - 1, uint64(i) << 31, rng.Uint64()} {
			var c call
			c.audit, c.nr, c.args[i%6] = auditArchX86_64, e.nr, v
			if got, want := runVM(t, vm, c), model(t, p, specs.ArchX86_64, c); got != want {
				t.Fatalf("%s(arg%d=%#x): got %#x, want %#x", e.name, i%6, v, got, want)
			}
		}
	}
	for i := range rules {
		rules[i].Args = append(rules[i].Args, specs.LinuxSeccompArg{Index: 5, Value: 1, Op: specs.OpNotEqual}, specs.LinuxSeccompArg{Index: 4, Value: 1, Op: specs.OpLessEqual})
	}
	_, err := CompileFor(p, specs.ArchX86_64)
	if !errors.Is(err, errTooLong) || !strings.Contains(err.Error(), "BPF_MAXINSNS") {
		t.Errorf("a program over 4096 instructions: error %v", err)
	}
}

func loadProfile(t testing.TB, name string) *specs.LinuxSeccomp {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var p specs.LinuxSeccomp
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

// TestPodmanProfile compiles podman's profile (containers-common's
// seccomp.json, resolved as podman resolves it for amd64 and its default
// capabilities) for both architectures and checks the program against the
// model on every call of every ABI it covers, with arguments its rules
// look at.
func TestPodmanProfile(t *testing.T) {
	p := loadProfile(t, "podman_amd64.json")
	for _, native := range []specs.Arch{specs.ArchX86_64, specs.ArchAARCH64} {
		prog := compileT(t, p, native)
		t.Logf("%s: %d instructions, skipped %d names", native, prog.Len(), len(prog.Skipped))
		vm := newVM(t, prog)
		for _, a := range kernelABIs(native) {
			for _, e := range callsOf(a) {
				for _, args := range [][6]uint64{{}, {16, 0, 9}, {8}, {0xffffffff}, {16, 0, 0}, {0x20008}} {
					c := call{audit: a.audit, nr: e.nr, args: args}
					if got, want := runVM(t, vm, c), model(t, p, native, c); got != want {
						t.Errorf("%s %s %s%v: got %#x, want %#x", native, a.arch, e.name, args, got, want)
					}
				}
			}
		}
	}
	prog := compileT(t, p, specs.ArchX86_64)
	vm := newVM(t, prog)
	// A few answers spelled out: the model could share a mistake.
	for _, tt := range []struct {
		name string
		args [6]uint64
		want uint32
	}{
		{"read", [6]uint64{}, retAllow},
		{"kexec_load", [6]uint64{}, retErrno | 1},
		{"add_key", [6]uint64{}, retErrno | 38}, // not listed: the default, ENOSYS
		{"personality", [6]uint64{8}, retAllow},
		{"personality", [6]uint64{9}, retErrno | 38},
		{"socket", [6]uint64{16, 3, 9}, retErrno | 22}, // netlink audit
		{"socket", [6]uint64{2, 1, 0}, retAllow},
	} {
		c := call{audit: auditArchX86_64, nr: nrOf(t, specs.ArchX86_64, tt.name), args: tt.args}
		if got := runVM(t, vm, c); got != tt.want {
			t.Errorf("%s%v: got %#x, want %#x", tt.name, tt.args, got, tt.want)
		}
	}
}

// TestRandomProfiles checks the compiler against the model on random
// profiles and calls, seeded so that a failure repeats.
func TestRandomProfiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for i := 0; i < 300; i++ {
		p := randomProfile(rng)
		for _, native := range []specs.Arch{specs.ArchX86_64, specs.ArchAARCH64} {
			prog, err := CompileFor(p, native)
			if err != nil {
				t.Fatalf("profile %d: %v", i, err)
			}
			vm := newVM(t, prog)
			for j := 0; j < 200; j++ {
				c := randomCall(rng, native, p)
				if got, want := runVM(t, vm, c), model(t, p, native, c); got != want {
					js, _ := json.Marshal(p)
					t.Fatalf("profile %s on %s, call %+v: got %#x, want %#x", js, native, c, got, want)
				}
			}
		}
	}
}

var testNames = []string{"read", "write", "getpid", "kill", "personality", "socket", "clone", "mmap", "open", "socketcall", "arch_prctl", "no_such_call"}

var testValues = []uint64{0, 1, 2, 0xffffffff, 0x1_00000000, 0x1_00000001, ^uint64(0), 0x80000000_00000000}

func randomProfile(rng *rand.Rand) *specs.LinuxSeccomp {
	acts := []specs.LinuxSeccompAction{specs.ActAllow, specs.ActErrno, specs.ActKillProcess, specs.ActTrap, specs.ActLog, specs.ActTrace}
	ops := []specs.LinuxSeccompOperator{specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpMaskedEqual}
	archs := []specs.Arch{specs.ArchX86, specs.ArchX32, specs.ArchARM, specs.ArchX86_64, specs.ArchAARCH64}
	p := &specs.LinuxSeccomp{DefaultAction: acts[rng.IntN(len(acts))]}
	for _, a := range archs {
		if rng.IntN(2) == 0 {
			p.Architectures = append(p.Architectures, a)
		}
	}
	for range rng.IntN(8) {
		r := specs.LinuxSyscall{Action: acts[rng.IntN(len(acts))]}
		if r.Action == specs.ActErrno && rng.IntN(2) == 0 {
			r.ErrnoRet = errno(uint(rng.IntN(3)))
		}
		for range 1 + rng.IntN(3) {
			r.Names = append(r.Names, testNames[rng.IntN(len(testNames))])
		}
		for range rng.IntN(4) {
			r.Args = append(r.Args, specs.LinuxSeccompArg{
				Index: uint(rng.IntN(3)), Op: ops[rng.IntN(len(ops))],
				Value: testValues[rng.IntN(len(testValues))], ValueTwo: testValues[rng.IntN(len(testValues))],
			})
		}
		p.Syscalls = append(p.Syscalls, r)
	}
	return p
}

func randomCall(rng *rand.Rand, native specs.Arch, p *specs.LinuxSeccomp) call {
	abis := kernelABIs(native)
	a := abis[rng.IntN(len(abis))]
	c := call{audit: a.audit}
	if nr, ok := a.lookup(testNames[rng.IntN(len(testNames))]); ok && rng.IntN(4) != 0 {
		c.nr = nr
	} else {
		c.nr = uint32(rng.IntN(500))
		if a == abiX32 {
			c.nr |= x32SyscallBit
		}
	}
	if rng.IntN(20) == 0 {
		c.audit = auditArchAARCH64 ^ auditArchX86_64 ^ c.audit
	}
	for i := range 3 {
		c.args[i] = testValues[rng.IntN(len(testValues))]
		if rng.IntN(3) == 0 {
			c.args[i] = rng.Uint64()
		}
	}
	return c
}

func TestProgramJSON(t *testing.T) {
	prog := compileT(t, loadProfile(t, "podman_amd64.json"), specs.ArchX86_64)
	prog.Skipped = []string{"x"}
	data, err := json.Marshal(prog)
	if err != nil {
		t.Fatal(err)
	}
	var back Program
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Instructions, prog.Instructions) || back.Flags != prog.Flags || back.Arch != prog.Arch || !slices.Equal(back.Skipped, prog.Skipped) {
		t.Error("program changed through JSON")
	}
	if err := json.Unmarshal([]byte(`{"bpf":"AAAA"}`), &back); err == nil {
		t.Error("3 bytes decoded as a program")
	}
}

func BenchmarkCompileDefaultSized(b *testing.B) {
	p := loadProfile(b, "podman_amd64.json")
	names := 0
	for _, r := range p.Syscalls {
		names += len(r.Names)
	}
	b.ReportAllocs()
	var prog *Program
	for b.Loop() {
		var err error
		if prog, err = CompileFor(p, specs.ArchX86_64); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(names), "names")
	b.ReportMetric(float64(prog.Len()), "insns")
}
