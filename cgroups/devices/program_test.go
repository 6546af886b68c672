package devices

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// run executes a program from Program the way the kernel would for one
// access, so that the compiler can be tested without root. It knows only
// the instructions Program emits and fails on any other, on a read of a
// register never written, on a load through anything but the context,
// and on running off the end.
func run(insns asm.Instructions, accessType, major, minor uint32) (uint64, error) {
	symbols, err := insns.SymbolOffsets()
	if err != nil {
		return 0, err
	}
	ctx := [3]uint32{accessType, major, minor}
	var regs [asm.R10 + 1]uint64
	var written [asm.R10 + 1]bool
	written[asm.R1] = true
	isCtx := map[asm.Register]bool{asm.R1: true}

	read := func(r asm.Register) (uint64, error) {
		if !written[r] {
			return 0, fmt.Errorf("read of uninitialised %s", r)
		}
		return regs[r], nil
	}
	for pc, steps := 0, 0; ; steps++ {
		if pc < 0 || pc >= len(insns) {
			return 0, fmt.Errorf("pc %d outside the program", pc)
		}
		if steps > len(insns) {
			return 0, fmt.Errorf("loop at pc %d", pc)
		}
		ins := insns[pc]
		op := ins.OpCode
		src := uint64(ins.Constant)
		if op.Source() == asm.RegSource {
			if src, err = read(ins.Src); err != nil {
				return 0, fmt.Errorf("pc %d: %w", pc, err)
			}
		}
		next := pc + 1
		switch {
		case op == asm.LoadMemOp(asm.Word):
			if !isCtx[ins.Src] || ins.Offset%4 != 0 || ins.Offset < 0 || ins.Offset > 8 {
				return 0, fmt.Errorf("pc %d: bad load %v", pc, ins)
			}
			regs[ins.Dst], written[ins.Dst] = uint64(ctx[ins.Offset/4]), true
			delete(isCtx, ins.Dst)
		case op.Class().IsALU():
			dst := uint64(0)
			if op.ALUOp() != asm.Mov {
				if dst, err = read(ins.Dst); err != nil {
					return 0, fmt.Errorf("pc %d: %w", pc, err)
				}
			}
			switch op.ALUOp() {
			case asm.Mov:
				dst = src
			case asm.And:
				dst &= src
			case asm.RSh:
				dst >>= src
			default:
				return 0, fmt.Errorf("pc %d: unexpected %v", pc, ins)
			}
			if op.Class() == asm.ALUClass {
				dst = uint64(uint32(dst))
			}
			regs[ins.Dst], written[ins.Dst] = dst, true
			delete(isCtx, ins.Dst)
		case op.Class() == asm.JumpClass:
			jop := op.JumpOp()
			if jop == asm.Exit {
				return read(asm.R0)
			}
			target := pc + 1 + int(ins.Offset)
			if ref := ins.Reference(); ref != "" {
				t, ok := symbols[ref]
				if !ok {
					return 0, fmt.Errorf("pc %d: no symbol %q", pc, ref)
				}
				target = t
			}
			dst, err := read(ins.Dst)
			if err != nil && jop != asm.Ja {
				return 0, fmt.Errorf("pc %d: %w", pc, err)
			}
			var taken bool
			switch jop {
			case asm.Ja:
				taken = true
			case asm.JEq:
				taken = dst == src
			case asm.JNE:
				taken = dst != src
			case asm.JGT:
				taken = dst > src
			case asm.JLE:
				taken = dst <= src
			case asm.JSet:
				taken = dst&src != 0
			default:
				return 0, fmt.Errorf("pc %d: unexpected %v", pc, ins)
			}
			if taken {
				next = target
			}
		default:
			return 0, fmt.Errorf("pc %d: unexpected %v", pc, ins)
		}
		pc = next
	}
}

// request encodes a request the way the kernel fills access_type.
func request(typ rune, access string) uint32 {
	var t, a uint32 = devChar, 0
	if typ == 'b' {
		t = devBlock
	}
	for _, c := range access {
		a |= map[rune]uint32{'r': accRead, 'w': accWrite, 'm': accMknod}[c]
	}
	return a<<16 | t
}

// accessStrings are every non-empty subset of rwm.
var accessStrings = []string{"r", "w", "m", "rw", "rm", "wm", "rwm"}

// checkAgainstDecide runs prog for every request over a small grid of
// devices and compares it with decide.
func checkAgainstDecide(t *testing.T, rs []specs.LinuxDeviceCgroup, prog asm.Instructions) {
	t.Helper()
	for _, typ := range []rune{'c', 'b'} {
		for major := int64(0); major < 4; major++ {
			for minor := int64(0); minor < 4; minor++ {
				for _, acc := range accessStrings {
					got, err := run(prog, request(typ, acc), uint32(major), uint32(minor))
					if err != nil {
						t.Fatalf("rules %q: run: %v\n%v", Describe(rs), err, prog)
					}
					want := decide(rs, typ, major, minor, acc)
					if (got == 1) != want || got > 1 {
						t.Fatalf("rules %q: %c %d:%d %s: program returns %d, decide says %v\n%v",
							Describe(rs), typ, major, minor, acc, got, want, prog)
					}
				}
			}
		}
	}
}

func TestProgramMatchesDecide(t *testing.T) {
	sets := map[string][]specs.LinuxDeviceCgroup{
		"empty":             nil,
		"allow all":         rules(allowAll),
		"deny all":          rules(denyAll),
		"hole":              rules(denyAll, dev("allow", "c", 1, 3, "rw")),
		"later deny":        rules(allowAll, dev("deny", "c", 1, 3, "w")),
		"shadowed":          rules(dev("deny", "c", 1, 3, "rwm"), allowAll, dev("deny", "b", star, star, "m")),
		"split access":      rules(dev("allow", "c", 1, 3, "r"), dev("allow", "c", 1, 3, "w")),
		"defaults":          append(rules(denyAll), DefaultAllow...),
		"a with numbers":    rules(dev("allow", "a", 2, star, "rw"), dev("deny", "", 2, 1, "w")),
		"mknod only":        rules(denyAll, dev("allow", "c", star, star, "m"), dev("allow", "b", star, star, "m")),
		"empty access rule": rules(allowAll, dev("deny", "c", 1, 3, "")),
	}
	for name, rs := range sets {
		t.Run(name, func(t *testing.T) {
			prog, _, err := Program(rs)
			if err != nil {
				t.Fatal(err)
			}
			checkAgainstDecide(t, rs, prog)
		})
	}
}

// TestProgramRandom holds the compiler to decide over many random rule
// lists drawn from a small universe, where overlaps are common.
func TestProgramRandom(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	types := []string{"", "a", "c", "b"}
	numbers := []int64{star, star, 0, 1, 2}
	for range 2000 {
		rs := make([]specs.LinuxDeviceCgroup, rnd.IntN(8))
		for i := range rs {
			access := ""
			for _, c := range "rwm" {
				if rnd.IntN(2) == 0 {
					access += string(c)
				}
			}
			verdict := "deny"
			if rnd.IntN(2) == 0 {
				verdict = "allow"
			}
			rs[i] = dev(verdict, types[rnd.IntN(len(types))], numbers[rnd.IntN(len(numbers))], numbers[rnd.IntN(len(numbers))], access)
		}
		prog, _, err := Program(rs)
		if err != nil {
			t.Fatalf("rules %q: %v", Describe(rs), err)
		}
		checkAgainstDecide(t, rs, prog)
		checkShape(t, prog)
	}
}

// TestProgramOddRequests: the kernel never sends an empty access or an
// access beyond rwm today; should it, the program denies.
func TestProgramOddRequests(t *testing.T) {
	prog, _, err := Program(rules(dev("allow", "a", star, star, "rwm")))
	if err != nil {
		t.Fatal(err)
	}
	for _, accessType := range []uint32{devChar, 8<<16 | devChar, (8|accRead)<<16 | devChar} {
		got, err := run(prog, accessType, 1, 3)
		if err != nil {
			t.Fatal(err)
		}
		if got != 0 {
			t.Errorf("access_type %#x: program returns %d, want 0", accessType, got)
		}
	}
}

// checkShape checks what the verifier would refuse: every instruction
// reachable, every path ending in exit, every jump inside the program.
// It also checks that the program encodes (all labels resolve).
func checkShape(t *testing.T, prog asm.Instructions) {
	t.Helper()
	symbols, err := prog.SymbolOffsets()
	if err != nil {
		t.Fatal(err)
	}
	if last := prog[len(prog)-1].OpCode; last.JumpOp() != asm.Exit {
		t.Fatalf("program ends with %v, not exit\n%v", last, prog)
	}
	reached := make([]bool, len(prog))
	work := []int{0}
	for len(work) > 0 {
		pc := work[len(work)-1]
		work = work[:len(work)-1]
		if pc < 0 || pc >= len(prog) {
			t.Fatalf("control reaches pc %d outside the program\n%v", pc, prog)
		}
		if reached[pc] {
			continue
		}
		reached[pc] = true
		ins := prog[pc]
		if ins.OpCode.Class() != asm.JumpClass {
			work = append(work, pc+1)
			continue
		}
		switch ins.OpCode.JumpOp() {
		case asm.Exit:
		case asm.Ja:
			work = append(work, symbols[ins.Reference()])
		default:
			target, ok := symbols[ins.Reference()]
			if !ok {
				t.Fatalf("pc %d jumps to unknown label %q", pc, ins.Reference())
			}
			if target <= pc {
				t.Fatalf("pc %d jumps backwards", pc)
			}
			work = append(work, pc+1, target)
		}
	}
	for pc, ok := range reached {
		if !ok {
			t.Fatalf("pc %d is unreachable\n%v", pc, prog)
		}
	}
	if err := append(asm.Instructions(nil), prog...).Marshal(io.Discard, binary.LittleEndian); err != nil {
		t.Fatalf("encode: %v", err)
	}
}

func TestProgramShape(t *testing.T) {
	tests := []struct {
		name    string
		rules   []specs.LinuxDeviceCgroup
		summary string
		insns   int
	}{
		// Prologue (10) and the default deny (2).
		{"no rules", nil, "0 rules, default deny, 12 instructions", 12},
		// A last rule that decides everything makes the rest dead code,
		// and there is no default left to reach.
		{"allow all last", rules(dev("deny", "c", 1, 3, "rwm"), allowAll), "2 rules, default allow, 12 instructions", 12},
		{"deny all last", rules(allowAll, denyAll), "2 rules, default deny, 12 instructions", 12},
		// Eight exact devices (3 compares, 2 to return), one with any
		// minor (2+2), and the deny-all that ends the program (2).
		{"defaults", append(rules(denyAll), DefaultAllow...), "10 rules, default deny, 56 instructions", 56},
		{"one rule", rules(dev("allow", "c", 1, 3, "r")), "1 rule, default deny, 19 instructions", 19},
		{"empty access is skipped", rules(dev("allow", "c", 1, 3, "")), "1 rule, default deny, 12 instructions", 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prog, summary, err := Program(tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			checkShape(t, prog)
			if summary != tt.summary {
				t.Errorf("summary %q, want %q", summary, tt.summary)
			}
			if len(prog) != tt.insns {
				t.Errorf("%d instructions, want %d\n%v", len(prog), tt.insns, prog)
			}
		})
	}
}

func TestProgramRefuses(t *testing.T) {
	tests := []struct {
		rule specs.LinuxDeviceCgroup
		want string
	}{
		{dev("allow", "u", 1, 3, "rwm"), `type "u" is not a, b or c`},
		{dev("allow", "p", star, star, "rwm"), `type "p"`},
		{dev("allow", "c", 1, 3, "rwx"), `'x' is not r, w or m`},
		{dev("allow", "c", 1, 3, "R"), `'R' is not r, w or m`},
		{dev("allow", "c", -5, 3, "r"), "major -5 out of range"},
		{dev("allow", "c", 1, 1<<31, "r"), "minor 2147483648 out of range"},
	}
	for _, tt := range tests {
		rs := rules(dev("deny", "a", star, star, "rwm"), tt.rule)
		_, _, err := Program(rs)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Program(%q) = %v, want an error containing %q", Describe(rs), err, tt.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), "device rule 1 (") {
			t.Errorf("error %q does not name the rule", err)
		}
	}
}
