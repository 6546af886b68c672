package seccomp

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// This file holds what the tests measure the compiler against: a direct
// reading of the profile (model), a VM that runs the compiled program on a
// seccomp_data built by hand (runProgram), and the kernel's own checks of a
// filter (checkKernelRules).

// call is one system call as a filter sees it.
type call struct {
	audit uint32
	nr    uint32
	args  [6]uint64
}

// seccompData lays out struct seccomp_data for x/net/bpf's VM. The VM
// loads 32-bit words big-endian where the kernel loads them in the
// machine's (little-endian) order, so each word is stored big-endian here
// and the VM sees the value the kernel would; an argument's low half goes
// at +0 and its high half at +4, where a little-endian kernel has them.
func seccompData(c call) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[offNr:], c.nr)
	binary.BigEndian.PutUint32(b[offArch:], c.audit)
	for i, a := range c.args {
		binary.BigEndian.PutUint32(b[offArgs+8*i:], uint32(a))
		binary.BigEndian.PutUint32(b[offArgs+8*i+4:], uint32(a>>32))
	}
	return b
}

func newVM(t testing.TB, p *Program) *bpf.VM {
	t.Helper()
	if err := checkKernelRules(p.Instructions); err != nil {
		t.Fatal(err)
	}
	insns, ok := bpf.Disassemble(p.Instructions)
	if !ok {
		t.Fatalf("program does not disassemble: %v", p.Instructions)
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatalf("program refused by the VM: %v", err)
	}
	return vm
}

func runVM(t testing.TB, vm *bpf.VM, c call) uint32 {
	t.Helper()
	out, err := vm.Run(seccompData(c))
	if err != nil {
		t.Fatalf("run %+v: %v", c, err)
	}
	return uint32(out)
}

// checkKernelRules applies the kernel's checks of a seccomp filter
// (bpf_check_classic and seccomp_check_filter in kernel/seccomp.c): at
// most BPF_MAXINSNS instructions; loads only of aligned 32-bit words
// inside seccomp_data; only the opcodes seccomp allows; every jump
// forward and inside the program; the last instruction a return.
func checkKernelRules(prog []bpf.RawInstruction) error {
	if len(prog) == 0 || len(prog) > maxInsns {
		return fmt.Errorf("%d instructions", len(prog))
	}
	for i, in := range prog {
		switch in.Op {
		case opLoadAbs:
			if in.K >= 64 || in.K%4 != 0 {
				return fmt.Errorf("insn %d: load at %d", i, in.K)
			}
		case opAndK, opRet:
		case opJA:
			if uint64(i)+1+uint64(in.K) >= uint64(len(prog)) {
				return fmt.Errorf("insn %d: ja %d leaves the program", i, in.K)
			}
		case opJEQ, opJGT, opJGE:
			if i+1+int(max(in.Jt, in.Jf)) >= len(prog) {
				return fmt.Errorf("insn %d: jump leaves the program", i)
			}
		default:
			return fmt.Errorf("insn %d: opcode %#x not allowed in a seccomp filter", i, in.Op)
		}
	}
	if prog[len(prog)-1].Op != opRet {
		return fmt.Errorf("last instruction %#x is not a return", prog[len(prog)-1].Op)
	}
	return nil
}

// model decides c as CompileFor's documentation says, straight from the
// profile, with none of the compiler's grouping, search or layout.
func model(t testing.TB, p *specs.LinuxSeccomp, native specs.Arch, c call) uint32 {
	t.Helper()
	def := mustRet(t, p.DefaultAction, p.DefaultErrnoRet)
	abis := kernelABIs(native)
	var a *abi
	for _, k := range abis {
		if k != abis[0] && !slices.Contains(p.Architectures, k.arch) {
			continue
		}
		if k.audit != c.audit {
			continue
		}
		if k.audit == auditArchX86_64 && (k.arch == specs.ArchX32) != (c.nr&x32SyscallBit != 0) {
			continue
		}
		a = k
	}
	if a == nil {
		return retKillProcess
	}
	for _, sc := range p.Syscalls {
		r := mustRet(t, sc.Action, sc.ErrnoRet)
		if r == def {
			continue
		}
		named := slices.ContainsFunc(sc.Names, func(n string) bool {
			nr, ok := a.lookup(n)
			return ok && nr == c.nr
		})
		if named && argsHold(sc.Args, a.args32, c.args) {
			return r
		}
	}
	return def
}

func argsHold(args []specs.LinuxSeccompArg, args32 bool, v [6]uint64) bool {
	seen := map[uint]bool{}
	repeat := false
	for _, a := range args {
		repeat = repeat || seen[a.Index]
		seen[a.Index] = true
	}
	for _, a := range args {
		ok := compare(a, args32, v[a.Index])
		if repeat && ok {
			return true
		}
		if !repeat && !ok {
			return false
		}
	}
	return !repeat || len(args) == 0
}

func compare(a specs.LinuxSeccompArg, args32 bool, x uint64) bool {
	v, v2 := a.Value, a.ValueTwo
	if args32 {
		x, v, v2 = uint64(uint32(x)), uint64(uint32(v)), uint64(uint32(v2))
	}
	switch a.Op {
	case specs.OpEqualTo:
		return x == v
	case specs.OpNotEqual:
		return x != v
	case specs.OpLessThan:
		return x < v
	case specs.OpLessEqual:
		return x <= v
	case specs.OpGreaterThan:
		return x > v
	case specs.OpGreaterEqual:
		return x >= v
	case specs.OpMaskedEqual:
		return x&v == v2
	}
	panic("unknown op " + a.Op)
}

func mustRet(t testing.TB, act specs.LinuxSeccompAction, errno *uint) uint32 {
	t.Helper()
	r, err := returnValue("action", "errnoRet", act, errno)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// namedNr is one call of one ABI.
type namedNr struct {
	name string
	nr   uint32
}

// callsOf lists the calls of a, sorted by name.
func callsOf(a *abi) []namedNr {
	var calls []namedNr
	for _, e := range a.family {
		if nr := e.nr[a.col]; nr != noSys {
			calls = append(calls, namedNr{e.name, nr})
		}
	}
	return calls
}
