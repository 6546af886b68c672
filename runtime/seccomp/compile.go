package seccomp

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	goruntime "runtime"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// Return values of a seccomp filter (SECCOMP_RET_* of <linux/seccomp.h>):
// the action in the high 16 bits, its data (an errno, a tracer's message)
// in the low 16.
const (
	retKillProcess = 0x80000000
	retKillThread  = 0x00000000
	retTrap        = 0x00030000
	retErrno       = 0x00050000
	retTrace       = 0x7ff00000
	retLog         = 0x7ffc0000
	retAllow       = 0x7fff0000
	retData        = 0x0000ffff
)

// retBadArch is what a call of an ABI the profile does not list gets. It
// kills the whole process, where libseccomp's default kills the thread: a
// 32-bit or x32 call in a container whose profile names only the 64-bit
// ABI is an attempt to get around the profile (its rules are written in
// another ABI's numbers) or a program that cannot work there, and a
// process with one thread killed is left half alive. Neither the default
// action nor ALLOW would be safe: with an allow-by-default profile, every
// call of the other ABI would pass, deny-list and all.
const retBadArch = retKillProcess

// Filter flags of seccomp(2) (SECCOMP_FILTER_FLAG_* of <linux/seccomp.h>).
const (
	flagTSYNC     = 1 << 0
	flagLog       = 1 << 1
	flagSpecAllow = 1 << 2
)

// Offsets in struct seccomp_data: int nr; __u32 arch; __u64
// instruction_pointer; __u64 args[6]. A BPF_LD loads 32 bits in the
// machine's order; every ABI here is little-endian, so an argument's low
// half is at +0 and its high half at +4.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// Program is a compiled seccomp filter: a classic BPF program for
// seccomp(2) with SECCOMP_SET_MODE_FILTER and the flags to pass with it.
type Program struct {
	// Arch is the architecture of the kernel the program is for.
	Arch         specs.Arch
	Instructions []bpf.RawInstruction
	// Flags are the SECCOMP_FILTER_FLAG_* bits of the profile.
	Flags uint
	// Skipped are the system call names the profile lists that none of
	// its ABIs has: rules for them are left out, as libseccomp does,
	// since a profile is often written for a newer or older kernel.
	Skipped []string
}

// Len is the number of instructions.
func (p *Program) Len() int { return len(p.Instructions) }

// programJSON is how a Program travels to init: the instructions as the
// kernel's struct sock_filter array (little-endian, 8 bytes each), which
// JSON carries as base64, a fraction of the size of one object per
// instruction.
type programJSON struct {
	Arch    specs.Arch `json:"arch"`
	BPF     []byte     `json:"bpf"`
	Flags   uint       `json:"flags,omitempty"`
	Skipped []string   `json:"skipped,omitempty"`
}

// MarshalJSON encodes p compactly.
func (p *Program) MarshalJSON() ([]byte, error) {
	b := make([]byte, 8*len(p.Instructions))
	for i, in := range p.Instructions {
		binary.LittleEndian.PutUint16(b[8*i:], in.Op)
		b[8*i+2], b[8*i+3] = in.Jt, in.Jf
		binary.LittleEndian.PutUint32(b[8*i+4:], in.K)
	}
	return json.Marshal(programJSON{Arch: p.Arch, BPF: b, Flags: p.Flags, Skipped: p.Skipped})
}

// UnmarshalJSON decodes what MarshalJSON encoded.
func (p *Program) UnmarshalJSON(data []byte) error {
	var j programJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	if len(j.BPF)%8 != 0 || len(j.BPF) == 0 || len(j.BPF)/8 > maxInsns {
		return fmt.Errorf("decode seccomp program: %d bytes is no filter", len(j.BPF))
	}
	p.Instructions = make([]bpf.RawInstruction, len(j.BPF)/8)
	for i := range p.Instructions {
		b := j.BPF[8*i:]
		p.Instructions[i] = bpf.RawInstruction{
			Op: binary.LittleEndian.Uint16(b), Jt: b[2], Jf: b[3],
			K: binary.LittleEndian.Uint32(b[4:]),
		}
	}
	p.Arch, p.Flags, p.Skipped = j.Arch, j.Flags, j.Skipped
	return nil
}

// NativeArch is the architecture of the kernel this binary runs on, as
// far as GOARCH says: SCMP_ARCH_X86_64, SCMP_ARCH_AARCH64, SCMP_ARCH_X86 or
// SCMP_ARCH_ARM, or "" where minirun has no system call tables.
func NativeArch() specs.Arch {
	return goarchArch(goruntime.GOARCH)
}

func goarchArch(goarch string) specs.Arch {
	switch goarch {
	case "amd64":
		return specs.ArchX86_64
	case "arm64":
		return specs.ArchAARCH64
	case "386":
		return specs.ArchX86
	case "arm":
		return specs.ArchARM
	}
	return ""
}

// actions maps the actions minirun implements to their return values,
// less the data. SCMP_ACT_KILL is libseccomp's old name for KILL_THREAD.
var actions = map[specs.LinuxSeccompAction]uint32{
	specs.ActKill:        retKillThread,
	specs.ActKillThread:  retKillThread,
	specs.ActKillProcess: retKillProcess,
	specs.ActTrap:        retTrap,
	specs.ActErrno:       retErrno,
	specs.ActTrace:       retTrace,
	specs.ActAllow:       retAllow,
	specs.ActLog:         retLog,
}

// flags maps the filter flags minirun accepts to their bits.
var flags = map[specs.LinuxSeccompFlag]uint{
	"SECCOMP_FILTER_FLAG_TSYNC":     flagTSYNC,
	specs.LinuxSeccompFlagLog:       flagLog,
	specs.LinuxSeccompFlagSpecAllow: flagSpecAllow,
}

// Actions lists the actions Compile accepts, for `minirun features`.
func Actions() []string { return sortedKeys(actions) }

// Operators lists the comparison operators Compile accepts.
func Operators() []string { return sortedKeys(operators) }

// Flags lists the filter flags Compile accepts.
func Flags() []string { return sortedKeys(flags) }

// Architectures lists the architectures with system call tables. A
// profile may list others: they are accepted and left out (see
// CompileFor).
func Architectures() []string {
	var archs []string
	for _, a := range allABIs {
		archs = append(archs, string(a.arch))
	}
	slices.Sort(archs)
	return archs
}

func sortedKeys[K ~string, V any](m map[K]V) []string {
	var s []string
	for k := range m {
		s = append(s, string(k))
	}
	slices.Sort(s)
	return s
}

// operators are the comparisons of an argument with value (and valueTwo).
var operators = map[specs.LinuxSeccompOperator]bool{
	specs.OpNotEqual: true, specs.OpLessThan: true, specs.OpLessEqual: true,
	specs.OpEqualTo: true, specs.OpGreaterEqual: true, specs.OpGreaterThan: true,
	specs.OpMaskedEqual: true,
}

// knownArchs are the architectures of runtime-spec; minirun compiles for
// those kernelABIs names and ignores the rest, which no kernel it runs on
// reports.
var knownArchs = map[specs.Arch]bool{
	specs.ArchX86: true, specs.ArchX86_64: true, specs.ArchX32: true,
	specs.ArchARM: true, specs.ArchAARCH64: true, specs.ArchMIPS: true,
	specs.ArchMIPS64: true, specs.ArchMIPS64N32: true, specs.ArchMIPSEL: true,
	specs.ArchMIPSEL64: true, specs.ArchMIPSEL64N32: true, specs.ArchPPC: true,
	specs.ArchPPC64: true, specs.ArchPPC64LE: true, specs.ArchS390: true,
	specs.ArchS390X: true, specs.ArchPARISC: true, specs.ArchPARISC64: true,
	specs.ArchRISCV64: true, specs.ArchLOONGARCH64: true, specs.ArchM68K: true,
	specs.ArchSH: true, specs.ArchSHEB: true,
}

// Compile compiles p for the architecture of this machine's kernel.
func Compile(p *specs.LinuxSeccomp) (*Program, error) {
	arch := NativeArch()
	if arch == "" {
		return nil, fmt.Errorf("compile seccomp profile: no system call tables for %s: %w", goruntime.GOARCH, errors.ErrUnsupported)
	}
	return CompileFor(p, arch)
}

// CompileFor compiles p into a filter for a kernel of architecture arch.
//
// The filter first checks seccomp_data.arch. The ABIs it covers are arch's
// own and those of its kernel's others (i386 and x32 beside x86_64, 32-bit
// arm beside arm64) that the profile lists; a call of any other ABI kills
// the process (see retBadArch). Architectures the profile lists that such a
// kernel never runs (MIPS on x86_64) can never match and are left out.
//
// Then, in each ABI, the rules: per system call, in the order the profile
// gives them, the first rule whose conditions all hold decides (the args of
// one rule are ANDed; several rules for a call are ORed); a call no rule
// decides gets the default action. As in runc, a rule whose args name one
// index more than once becomes one rule per arg, ORed, and rules whose
// action is the default action are dropped. Comparisons are unsigned, on
// all 64 bits, or on the low 32 for a 32-bit ABI as in libseccomp.
//
// Refused, with an error that says why: SCMP_ACT_NOTIFY and listenerPath
// (minirun has no agent to hand the notifications to), unknown actions,
// operators, architectures and flags, errnoRet or defaultErrnoRet with an
// action that takes none, an errno beyond 16 bits, an argument index over
// 5, and a program longer than the kernel's 4096 instructions.
func CompileFor(p *specs.LinuxSeccomp, arch specs.Arch) (*Program, error) {
	prog, err := compile(p, arch)
	if err != nil {
		return nil, fmt.Errorf("compile seccomp profile: %w", err)
	}
	return prog, nil
}

// rule is one rule of a profile, resolved: its return value and the
// conditions that must all hold.
type rule struct {
	ret   uint32
	conds []specs.LinuxSeccompArg
}

func compile(p *specs.LinuxSeccomp, arch specs.Arch) (*Program, error) {
	if p == nil {
		return nil, errors.New("no profile")
	}
	abis := kernelABIs(arch)
	if abis == nil {
		return nil, fmt.Errorf("no system call tables for architecture %q", arch)
	}
	if p.ListenerPath != "" {
		return nil, fmt.Errorf("listenerPath %q: SCMP_ACT_NOTIFY is not supported", p.ListenerPath)
	}
	def, err := returnValue("defaultAction", "defaultErrnoRet", p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		return nil, err
	}
	prog := &Program{Arch: arch}
	for _, f := range p.Flags {
		bit, ok := flags[f]
		if !ok {
			return nil, fmt.Errorf("flag %q is not supported (supported: %v)", f, Flags())
		}
		prog.Flags |= bit
	}
	// The ABIs to filter: the kernel's own always, as libseccomp does,
	// and its others when listed.
	use := []*abi{abis[0]}
	for _, a := range p.Architectures {
		if !knownArchs[a] {
			return nil, fmt.Errorf("unknown architecture %q", a)
		}
		for _, k := range abis[1:] {
			if k.arch == a && !slices.Contains(use, k) {
				use = append(use, k)
			}
		}
	}

	// All rules in profile order, and per ABI which calls they are for.
	var rules []rule
	names := 0
	for _, sc := range p.Syscalls {
		names += len(sc.Names)
	}
	perABI := make([][]ruleRef, len(use))
	for i := range perABI {
		perABI[i] = make([]ruleRef, 0, names)
	}
	skipped := map[string]bool{}
	for i, sc := range p.Syscalls {
		if err := checkRule(&sc); err != nil {
			return nil, fmt.Errorf("syscalls[%d]%w", i, err)
		}
		ret, _ := returnValue("", "", sc.Action, sc.ErrnoRet)
		if ret == def {
			// It could only say what the default says.
			continue
		}
		start := int32(len(rules))
		rules = appendRules(rules, ret, sc.Args)
		for _, name := range sc.Names {
			// One search finds the name in every ABI: they are of one
			// family (kernelABIs).
			known := false
			if i := find(use[0].family, name); i >= 0 {
				for j, a := range use {
					if nr := use[0].family[i].nr[a.col]; nr != noSys {
						known = true
						perABI[j] = append(perABI[j], ruleRef{nr, start, int32(len(rules))})
					}
				}
			}
			if !known {
				skipped[name] = true
			}
		}
	}
	buf := make([]ruleRef, names)
	for _, refs := range perABI {
		sortByNr(refs, buf)
	}
	for name := range skipped {
		prog.Skipped = append(prog.Skipped, name)
	}
	slices.Sort(prog.Skipped)

	g := gen{def: def, rules: rules}
	g.code = make([]insn, 0, 4*names+64)
	g.emit(use, perABI)
	prog.Instructions, err = g.assemble()
	if err != nil {
		return nil, err
	}
	return prog, nil
}

// checkRule checks one rule of the profile; its errors start with the
// field that is wrong.
func checkRule(sc *specs.LinuxSyscall) error {
	if _, err := returnValue(".action", "errnoRet", sc.Action, sc.ErrnoRet); err != nil {
		return err
	}
	for _, a := range sc.Args {
		if a.Index > 5 {
			return fmt.Errorf(".args: index %d: system calls have 6 arguments (0-5)", a.Index)
		}
		if !operators[a.Op] {
			return fmt.Errorf(".args: unknown operator %q", a.Op)
		}
	}
	for _, name := range sc.Names {
		if name == "" {
			return errors.New(".names: empty system call name")
		}
	}
	return nil
}

// ruleRef says that rules[start:end] are for system call nr.
type ruleRef struct {
	nr         uint32
	start, end int32
}

// sortByNr sorts refs by number, stably, so that a call's rules stay in
// profile order: a radix sort, a byte of the number at a time, in time
// linear in len(refs). buf is scratch space as long as refs.
func sortByNr(refs, buf []ruleRef) {
	if len(refs) < 2 {
		return
	}
	src, dst := refs, buf[:len(refs)]
	for shift := 0; shift < 32; shift += 8 {
		var count [257]int
		for _, r := range src {
			count[(r.nr>>shift&0xff)+1]++
		}
		if count[(src[0].nr>>shift&0xff)+1] == len(src) {
			continue // one digit for all: the order stands
		}
		for i := 1; i < len(count); i++ {
			count[i] += count[i-1]
		}
		for _, r := range src {
			d := r.nr >> shift & 0xff
			dst[count[d]] = r
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &refs[0] {
		copy(refs, src)
	}
}

// appendRules appends one rule of the profile as rules: one ANDing all its
// args, or, when an index repeats, one per arg. runc does the same,
// because libseccomp cannot put two conditions on one argument in a rule,
// and profiles written for runc rely on it.
func appendRules(rules []rule, ret uint32, args []specs.LinuxSeccompArg) []rule {
	var seen [6]bool
	repeat := false
	for _, a := range args {
		repeat = repeat || seen[a.Index]
		seen[a.Index] = true
	}
	if !repeat {
		return append(rules, rule{ret: ret, conds: args})
	}
	for i := range args {
		rules = append(rules, rule{ret: ret, conds: args[i : i+1]})
	}
	return rules
}

// returnValue is the filter's return value for an action and its errnoRet.
// ERRNO returns EPERM when no errno is given, and TRACE passes the errno to
// the tracer as its message, EPERM too by default, as runc does.
func returnValue(field, errnoField string, act specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	if act == specs.ActNotify {
		return 0, fmt.Errorf("%s %s is not supported: minirun has no seccomp agent (listenerPath) to pass notifications to", field, act)
	}
	if act == "" {
		return 0, fmt.Errorf("%s is empty", field)
	}
	ret, ok := actions[act]
	if !ok {
		return 0, fmt.Errorf("%s: unknown action %q", field, act)
	}
	if act != specs.ActErrno && act != specs.ActTrace {
		if errnoRet != nil {
			return 0, fmt.Errorf("%s %s takes no %s: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do", field, act, errnoField)
		}
		return ret, nil
	}
	data := uint(1) // EPERM, on every architecture
	if errnoRet != nil {
		data = *errnoRet
	}
	if data > retData {
		return 0, fmt.Errorf("%s: %s %d does not fit in the filter's 16 bits of data", field, errnoField, data)
	}
	return ret | uint32(data), nil
}
