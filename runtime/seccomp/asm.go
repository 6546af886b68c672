package seccomp

import (
	"errors"
	"fmt"
	"slices"

	"golang.org/x/net/bpf"
)

// Classic BPF opcodes (<linux/filter.h>, <linux/bpf_common.h>): the few a
// seccomp filter needs.
const (
	opLoadAbs = 0x20 // BPF_LD | BPF_W | BPF_ABS: A = 32-bit word at k
	opAndK    = 0x54 // BPF_ALU | BPF_AND | BPF_K: A &= k
	opJA      = 0x05 // BPF_JMP | BPF_JA: pc += k
	opJEQ     = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
	opJGT     = 0x25 // BPF_JMP | BPF_JGT | BPF_K (unsigned)
	opJGE     = 0x35 // BPF_JMP | BPF_JGE | BPF_K (unsigned)
	opRet     = 0x06 // BPF_RET | BPF_K
)

// maxInsns is BPF_MAXINSNS: the kernel refuses a longer filter (EINVAL).
const maxInsns = 4096

// maxShortJump is the longest forward jump a conditional instruction can
// make: its jt and jf are 8-bit offsets. Only BPF_JA has a 32-bit one.
const maxShortJump = 255

// label names a place in the program. noLabel, as a branch of a
// conditional jump, means the next instruction.
type label int32

const noLabel label = 0

// insn is one instruction before layout: jumps name labels, which layout
// turns into offsets. A node with def set holds no code: it places a label.
type insn struct {
	op     uint16
	k      uint32
	jt, jf label // conditional jumps
	to     label // BPF_JA
	def    label
}

// asm collects a program whose jumps name labels. Classic BPF only jumps
// forward, and every jump here does.
type asm struct {
	code   []insn
	labels int
}

func (a *asm) newLabel() label {
	a.labels++
	return label(a.labels)
}

func (a *asm) place(l label)              { a.code = append(a.code, insn{def: l}) }
func (a *asm) load(off uint32)            { a.code = append(a.code, insn{op: opLoadAbs, k: off}) }
func (a *asm) and(k uint32)               { a.code = append(a.code, insn{op: opAndK, k: k}) }
func (a *asm) ret(k uint32)               { a.code = append(a.code, insn{op: opRet, k: k}) }
func (a *asm) jump(to label)              { a.code = append(a.code, insn{op: opJA, to: to}) }
func (a *asm) jeq(k uint32, jt, jf label) { a.jcond(opJEQ, k, jt, jf) }
func (a *asm) jgt(k uint32, jt, jf label) { a.jcond(opJGT, k, jt, jf) }
func (a *asm) jge(k uint32, jt, jf label) { a.jcond(opJGE, k, jt, jf) }

func (a *asm) jcond(op uint16, k uint32, jt, jf label) {
	// A branch to the next instruction gets a label of its own, placed
	// right after the jump: layout may put a BPF_JA there later, and the
	// branch must still reach what followed.
	next := noLabel
	if jt == noLabel || jf == noLabel {
		next = a.newLabel()
		jt, jf = or(jt, next), or(jf, next)
	}
	a.code = append(a.code, insn{op: op, k: k, jt: jt, jf: jf})
	if next != noLabel {
		a.place(next)
	}
}

func or(l, otherwise label) label {
	if l == noLabel {
		return otherwise
	}
	return l
}

func isCond(op uint16) bool { return op == opJEQ || op == opJGT || op == opJGE }

var errTooLong = errors.New("filter too long")

// errBug marks what no profile should cause: the fuzz test fails on it.
var errBug = errors.New("assemble: internal error")

// assemble lays the program out and resolves its labels. A conditional
// branch whose target lies beyond 255 instructions goes through a BPF_JA
// placed right after the jump instead; that lengthens other jumps, so
// layout repeats until every branch fits. It only ever adds instructions,
// and a branch to the BPF_JA right after it is never far, so it ends.
func (a *asm) assemble() ([]bpf.RawInstruction, error) {
	code := a.code
	var pos []int
	for {
		var n int
		pos, n = a.positions(code, pos)
		if n > maxInsns {
			return nil, fmt.Errorf("%w: %d instructions, more than the kernel's limit (BPF_MAXINSNS) of %d", errTooLong, n, maxInsns)
		}
		if !a.anyFar(code, pos) {
			break
		}
		out := make([]insn, 0, len(code)+len(code)/8)
		at := 0
		for _, in := range code {
			if in.def != noLabel || !isCond(in.op) {
				out = append(out, in)
				if in.def == noLabel {
					at++
				}
				continue
			}
			var tramps [4]insn
			nt := 0
			for _, br := range []*label{&in.jt, &in.jf} {
				if pos[*br]-at-1 > maxShortJump {
					l := a.newLabel()
					tramps[nt], tramps[nt+1] = insn{def: l}, insn{op: opJA, to: *br}
					nt += 2
					*br = l
				}
			}
			out = append(out, in)
			out = append(out, tramps[:nt]...)
			at++
		}
		code = out
	}
	prog := make([]bpf.RawInstruction, 0, len(code))
	for _, in := range code {
		if in.def != noLabel {
			continue
		}
		at := len(prog)
		raw := bpf.RawInstruction{Op: in.op, K: in.k}
		switch {
		case in.op == opJA:
			off := pos[in.to] - at - 1
			if off < 0 {
				return nil, fmt.Errorf("%w: jump at %d goes backwards", errBug, at)
			}
			raw.K = uint32(off)
		case isCond(in.op):
			jt, jf := pos[in.jt]-at-1, pos[in.jf]-at-1
			// Every label is placed after its jump: a negative offset
			// is a bug in the compiler, never in the profile.
			if jt < 0 || jf < 0 || jt > maxShortJump || jf > maxShortJump {
				return nil, fmt.Errorf("%w: jump at %d out of range", errBug, at)
			}
			raw.Jt, raw.Jf = uint8(jt), uint8(jf)
		}
		prog = append(prog, raw)
	}
	return prog, nil
}

// anyFar reports whether a conditional branch of code jumps further than
// its 8 bits reach.
func (a *asm) anyFar(code []insn, pos []int) bool {
	at := 0
	for _, in := range code {
		if in.def != noLabel {
			continue
		}
		if isCond(in.op) && (pos[in.jt]-at-1 > maxShortJump || pos[in.jf]-at-1 > maxShortJump) {
			return true
		}
		at++
	}
	return false
}

// positions returns, indexed by label, the index of the instruction each
// label precedes (-1: never placed), and the number of instructions. It
// reuses buf.
func (a *asm) positions(code []insn, buf []int) ([]int, int) {
	pos := slices.Grow(buf[:0], a.labels+1)[:a.labels+1]
	for i := range pos {
		pos[i] = -1
	}
	n := 0
	for _, in := range code {
		if in.def != noLabel {
			pos[in.def] = n
			continue
		}
		n++
	}
	return pos, n
}
