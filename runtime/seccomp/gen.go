package seccomp

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// gen writes the filter:
//
//	ld arch
//	jeq AUDIT_ARCH_X86_64 → x86_64 ; one per audit arch covered
//	ret KILL_PROCESS               ; any other ABI (retBadArch)
//	x86_64: ld nr
//	  jge X32_SYSCALL_BIT → x32 (or ret KILL_PROCESS if x32 is not listed)
//	  binary search on nr → ret action, or → the call's rule block
//	  rule blocks: per rule, its conditions then ret action; last, ret default
//	x32: (nr still in A) the same for x32's numbers
type gen struct {
	asm
	def   uint32
	rules []rule
}

// emit writes the program; perABI[i] are the rules of ABI use[i], sorted
// by number.
func (g *gen) emit(use []*abi, perABI [][]ruleRef) {
	var audits []uint32
	for _, a := range use {
		if !slices.Contains(audits, a.audit) {
			audits = append(audits, a.audit)
		}
	}
	g.load(offArch)
	entry := make([]label, len(audits))
	for i, audit := range audits {
		entry[i] = g.newLabel()
		g.jeq(audit, entry[i], noLabel)
	}
	g.ret(retBadArch)
	for i, audit := range audits {
		g.place(entry[i])
		g.load(offNr)
		if audit == auditArchX86_64 {
			// x32 calls come with the x86_64 arch and a bit set in nr;
			// unless the profile lists x32, they are a foreign ABI.
			x32 := slices.Index(use, abiX32)
			body := g.newLabel()
			if x32 < 0 {
				g.jge(x32SyscallBit, noLabel, body)
				g.ret(retBadArch)
				g.place(body)
				g.calls(abiX86_64, perABI[slices.Index(use, abiX86_64)])
				continue
			}
			g.jge(x32SyscallBit, body, noLabel)
			g.calls(abiX86_64, perABI[slices.Index(use, abiX86_64)])
			g.place(body)
			g.calls(abiX32, perABI[x32])
			continue
		}
		for j, a := range use {
			if a.audit == audit {
				g.calls(a, perABI[j])
			}
		}
	}
}

// calls emits the search on nr (in A) and the rule blocks of one ABI.
//
// The search runs over intervals of numbers, not single numbers: numbers
// next to each other with the same outcome (in an allow-list, most of the
// table) are one interval, and so are the gaps, which get the default. A
// binary search over the intervals' starts with JGE ends at each interval's
// return, or at the rule block of a call with conditions: about 2 log2(n)
// instructions run per system call, and the program is about twice the
// number of intervals long.
func (g *gen) calls(a *abi, refs []ruleRef) {
	var ivs []interval
	add := func(start uint32, to target) {
		if n := len(ivs); n > 0 && ivs[n-1].to == to {
			return // the last interval goes on
		}
		ivs = append(ivs, interval{start: start, to: to})
	}
	deflt := target{ret: g.def}
	next := uint32(0) // the first number not yet in an interval
	for i := 0; i < len(refs); {
		nr := refs[i].nr
		j := i + 1
		for j < len(refs) && refs[j].nr == nr {
			j++
		}
		if nr != next {
			add(next, deflt)
		}
		to := target{}
		if r := g.rules[refs[i].start]; len(r.conds) == 0 {
			// Decided whatever the arguments.
			to.ret = r.ret
		} else {
			to.block = g.newLabel()
		}
		add(nr, to)
		if to.block != noLabel {
			ivs[len(ivs)-1].refs = refs[i:j]
		}
		next = nr + 1
		i = j
	}
	if next != 0 || len(refs) == 0 { // 0: the last number was 0xffffffff
		add(next, deflt)
	}
	var search func(ivs []interval)
	search = func(ivs []interval) {
		if len(ivs) == 1 {
			if to := ivs[0].to; to.block != noLabel {
				g.jump(to.block)
			} else {
				g.ret(to.ret)
			}
			return
		}
		mid := len(ivs) / 2
		right := g.newLabel()
		g.jge(ivs[mid].start, right, noLabel)
		search(ivs[:mid])
		g.place(right)
		search(ivs[mid:])
	}
	search(ivs)
	for _, iv := range ivs {
		if iv.to.block != noLabel {
			g.place(iv.to.block)
			g.ruleBlock(a, iv.refs)
		}
	}
}

// interval is a run of system call numbers, from start up to the next
// interval's start, that end the same way.
type interval struct {
	start uint32
	to    target
	refs  []ruleRef // the rules of a call with a rule block
}

// target is where the search sends a number: a return value, or the rule
// block of a call whose rules look at its arguments.
type target struct {
	ret   uint32
	block label
}

// ruleBlock emits one call's rules: the first whose conditions all hold
// returns its action; none holding returns the default.
func (g *gen) ruleBlock(a *abi, refs []ruleRef) {
	for _, ref := range refs {
		for _, r := range g.rules[ref.start:ref.end] {
			if len(r.conds) == 0 {
				// Unconditional: it decides, and rules after it never
				// run.
				g.ret(r.ret)
				return
			}
			fail := g.newLabel()
			for _, c := range r.conds {
				g.cond(a, c, fail)
			}
			g.ret(r.ret)
			g.place(fail)
		}
	}
	g.ret(g.def)
}

// cond emits one comparison of an argument: it falls through when it holds
// and jumps to fail when not. A 64-bit comparison is made of two 32-bit
// ones: the high halves decide unless they are equal, then the low halves
// do. A 32-bit ABI compares the low halves alone.
func (g *gen) cond(a *abi, c specs.LinuxSeccompArg, fail label) {
	off := uint32(offArgs + 8*c.Index)
	lo, hi := uint32(c.Value), uint32(c.Value>>32)
	lo2, hi2 := uint32(c.ValueTwo), uint32(c.ValueTwo>>32)
	const next = noLabel
	if a.args32 {
		g.load(off)
		switch c.Op {
		case specs.OpEqualTo:
			g.jeq(lo, next, fail)
		case specs.OpNotEqual:
			g.jeq(lo, fail, next)
		case specs.OpGreaterThan:
			g.jgt(lo, next, fail)
		case specs.OpGreaterEqual:
			g.jge(lo, next, fail)
		case specs.OpLessThan:
			g.jge(lo, fail, next)
		case specs.OpLessEqual:
			g.jgt(lo, fail, next)
		case specs.OpMaskedEqual:
			g.and(lo)
			g.jeq(lo2, next, fail)
		}
		return
	}
	pass := g.newLabel()
	switch c.Op {
	case specs.OpEqualTo:
		g.load(off + 4)
		g.jeq(hi, next, fail)
		g.load(off)
		g.jeq(lo, next, fail)
	case specs.OpNotEqual:
		g.load(off + 4)
		g.jeq(hi, next, pass)
		g.load(off)
		g.jeq(lo, fail, next)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		g.load(off + 4)
		g.jgt(hi, pass, next)
		g.jeq(hi, next, fail)
		g.load(off)
		if c.Op == specs.OpGreaterThan {
			g.jgt(lo, next, fail)
		} else {
			g.jge(lo, next, fail)
		}
	case specs.OpLessThan, specs.OpLessEqual:
		g.load(off + 4)
		g.jgt(hi, fail, next)
		g.jeq(hi, next, pass)
		g.load(off)
		if c.Op == specs.OpLessThan {
			g.jge(lo, fail, next)
		} else {
			g.jgt(lo, fail, next)
		}
	case specs.OpMaskedEqual:
		g.load(off + 4)
		g.and(hi)
		g.jeq(hi2, next, fail)
		g.load(off)
		g.and(lo)
		g.jeq(lo2, next, fail)
	}
	g.place(pass)
}
