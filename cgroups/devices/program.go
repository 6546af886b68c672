package devices

import (
	"fmt"

	"github.com/cilium/ebpf/asm"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Registers of the program. R1 holds the context pointer on entry; once
// the three fields are loaded the context is not needed again, so R1
// becomes a scratch register.
const (
	regCtx     = asm.R1
	regScratch = asm.R1
	regType    = asm.R2 // devBlock or devChar
	regPending = asm.R3 // requested accesses no rule has decided yet
	regMajor   = asm.R4
	regMinor   = asm.R5
)

// Program compiles rules into a BPF_PROG_TYPE_CGROUP_DEVICE program and
// returns it with a one-line summary for logs ("9 rules, default deny,
// 56 instructions" for DefaultAllow).
//
// The decision for one access (read, write or mknod) of one device is
// that of the last rule that matches the device and lists the access; if
// no rule does, the access is denied. A request for several accesses at
// once (open with O_RDWR asks for read and write) is allowed only if each
// of them is. See the package documentation for why, and for where this
// differs from cgroup v1.
//
// The program checks the rules from the last to the first, keeping in a
// register the requested accesses still undecided:
//
//	type, pending, major, minor := ctx
//	if pending == 0 || pending has a bit other than rwm: return deny
//	for each rule, last first, that matches type, major and minor:
//	    allow rule: pending &^= rule.access; if pending == 0: return allow
//	    deny rule:  if pending & rule.access != 0: return deny
//	return deny
//
// A rule that matches every device for all of rwm decides every request,
// so the rules before it are left out (the verifier refuses code that can
// never run). A rule with an empty access changes nothing and is left out
// too. Every jump goes at most a few instructions forward, so the number
// of rules is bounded only by the kernel's limit on program size.
func Program(rules []specs.LinuxDeviceCgroup) (asm.Instructions, string, error) {
	parsed, err := parseRules(rules)
	if err != nil {
		return nil, "", err
	}

	insns := asm.Instructions{
		asm.LoadMem(regType, regCtx, ctxAccessType, asm.Word),
		asm.Mov.Reg32(regPending, regType),
		asm.RSh.Imm32(regPending, 16),
		asm.And.Imm32(regType, 0xffff),
		asm.LoadMem(regMajor, regCtx, ctxMajor, asm.Word),
		asm.LoadMem(regMinor, regCtx, ctxMinor, asm.Word),
		// Nothing requested, or an access this program does not know
		// (the kernel has none today): deny.
		asm.JEq.Imm(regPending, 0, "reject"),
		asm.JLE.Imm(regPending, accAll, "rule0"),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("reject"),
		asm.Return(),
	}

	// Blocks are named rule0, rule1, ... in the order they run; each one
	// jumps to the next when it does not decide, the last to the default.
	// Each block starts with the rule as a comment, for program dumps.
	label := "rule0"
	blocks := 0
	decided := false // a rule matched every request and ended the program
	for i := len(parsed) - 1; i >= 0; i-- {
		r := parsed[i]
		if r.access == 0 {
			continue
		}
		blocks++
		next := fmt.Sprintf("rule%d", blocks)
		block := compileRule(r, next)
		block[0] = block[0].WithSymbol(label).WithSource(asm.Comment(describe(rules[i])))
		insns = append(insns, block...)
		label = next
		if r.coversAll() {
			decided = true
			break
		}
	}
	if !decided {
		insns = append(insns,
			asm.Mov.Imm(asm.R0, 0).WithSymbol(label),
			asm.Return(),
		)
	}
	return insns, summary(parsed, len(insns)), nil
}

// compileRule returns the instructions of one rule: they fall through to
// a verdict when the rule decides the request and jump to next otherwise.
func compileRule(r rule, next string) asm.Instructions {
	var b asm.Instructions
	if r.typ != 0 {
		b = append(b, asm.JNE.Imm(regType, int32(r.typ), next))
	}
	if r.major != wildcard {
		b = append(b, asm.JNE.Imm(regMajor, int32(r.major), next))
	}
	if r.minor != wildcard {
		b = append(b, asm.JNE.Imm(regMinor, int32(r.minor), next))
	}
	verdict := int32(0)
	if r.allow {
		verdict = 1
	}
	switch {
	case r.access == accAll:
		// Every pending access is one of rwm, so this rule decides them
		// all at once.
	case r.allow:
		// These accesses are allowed; the rest are up to earlier rules.
		b = append(b,
			asm.And.Imm32(regPending, int32(accAll&^r.access)),
			asm.JNE.Imm(regPending, 0, next),
		)
	default:
		// Deny if the request still needs any access this rule denies.
		b = append(b,
			asm.Mov.Reg32(regScratch, regPending),
			asm.And.Imm32(regScratch, int32(r.access)),
			asm.JEq.Imm(regScratch, 0, next),
		)
	}
	return append(b, asm.Mov.Imm(asm.R0, verdict), asm.Return())
}

// summary says how many rules there are and what happens to a device no
// later rule mentions: the verdict of the last rule that covers every
// device for all of rwm, or deny without one.
func summary(rules []rule, insns int) string {
	def := "deny"
	for _, r := range rules {
		if r.coversAll() {
			def = "deny"
			if r.allow {
				def = "allow"
			}
		}
	}
	noun := "rules"
	if len(rules) == 1 {
		noun = "rule"
	}
	return fmt.Sprintf("%d %s, default %s, %d instructions", len(rules), noun, def, insns)
}
