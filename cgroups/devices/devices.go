package devices

import (
	"fmt"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The values of struct bpf_cgroup_dev_ctx, from include/uapi/linux/bpf.h.
// They are spelled out here rather than taken from x/sys/unix so that the
// compiler (program.go) builds, and is tested, on every platform.
const (
	// access_type, low 16 bits: the kind of device node.
	devBlock = 1 // BPF_DEVCG_DEV_BLOCK
	devChar  = 2 // BPF_DEVCG_DEV_CHAR

	// access_type, high 16 bits: what the process wants to do with it.
	accMknod = 1 // BPF_DEVCG_ACC_MKNOD
	accRead  = 2 // BPF_DEVCG_ACC_READ
	accWrite = 4 // BPF_DEVCG_ACC_WRITE
	accAll   = accMknod | accRead | accWrite

	// Byte offsets of the fields of struct bpf_cgroup_dev_ctx, each a __u32.
	ctxAccessType = 0
	ctxMajor      = 4
	ctxMinor      = 8
)

// wildcard is what a rule holds for "any major" or "any minor".
const wildcard = -1

// maxNumber is the largest major or minor number a rule may name. The
// kernel's numbers are far smaller (12 bits of major, 20 of minor); the
// bound is the largest value a BPF immediate compares correctly with a
// zero-extended 32-bit context field.
const maxNumber = 1<<31 - 1

func i64(v int64) *int64 { return &v }

// DefaultAllow are the rules every container gets after the spec's own
// rules: the devices a process expects to find in any /dev, each allowed
// rwm: the memory devices (null, zero, full, random, urandom), the
// terminal devices (tty, console, ptmx) and every pseudo-terminal under
// /dev/pts (major 136).
//
// Because the last matching rule wins, putting these after the spec's
// rules means a spec cannot deny them by accident (with "deny a" first,
// say), only by leaving minirun's defaults out of the list.
//
// runc's specconv adds these same devices and three more rules, left
// out here on purpose: mknod of any char and of any block device ("c
// *:* m", "b *:* m"), which even runc's comments call questionable, and
// /dev/net/tun (c 10:200), which a container that needs it must ask for
// in its spec.
//
// Append it to a list of your own (append(rules, DefaultAllow...)); do
// not change it.
var DefaultAllow = []specs.LinuxDeviceCgroup{
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}, // /dev/null
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"}, // /dev/zero
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(7), Access: "rwm"}, // /dev/full
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(8), Access: "rwm"}, // /dev/random
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(9), Access: "rwm"}, // /dev/urandom
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(0), Access: "rwm"}, // /dev/tty
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(1), Access: "rwm"}, // /dev/console
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(2), Access: "rwm"}, // /dev/ptmx
	{Allow: true, Type: "c", Major: i64(136), Minor: nil, Access: "rwm"},  // /dev/pts/*
}

// rule is one OCI rule, checked and reduced to what the program compares.
type rule struct {
	allow        bool
	typ          uint32 // devBlock, devChar, or 0 for both
	major, minor int64  // wildcard for any
	access       uint32 // accMknod|accRead|accWrite bits
}

// coversAll reports whether r decides every request: any device, all of
// rwm.
func (r rule) coversAll() bool {
	return r.typ == 0 && r.major == wildcard && r.minor == wildcard && r.access == accAll
}

// parseRules checks every rule of rules and converts it. It refuses what
// the program could not express rather than guessing: an unknown type or
// access letter, a negative or huge device number.
func parseRules(rules []specs.LinuxDeviceCgroup) ([]rule, error) {
	out := make([]rule, 0, len(rules))
	for i, r := range rules {
		p, err := parseRule(r)
		if err != nil {
			return nil, fmt.Errorf("device rule %d (%s): %w", i, describe(r), err)
		}
		out = append(out, p)
	}
	return out, nil
}

func parseRule(r specs.LinuxDeviceCgroup) (rule, error) {
	p := rule{allow: r.Allow}
	switch r.Type {
	case "", "a":
		p.typ = 0
	case "c":
		p.typ = devChar
	case "b":
		p.typ = devBlock
	default:
		return rule{}, fmt.Errorf("type %q is not a, b or c", r.Type)
	}
	var err error
	if p.major, err = parseNumber("major", r.Major); err != nil {
		return rule{}, err
	}
	if p.minor, err = parseNumber("minor", r.Minor); err != nil {
		return rule{}, err
	}
	for _, c := range r.Access {
		switch c {
		case 'r':
			p.access |= accRead
		case 'w':
			p.access |= accWrite
		case 'm':
			p.access |= accMknod
		default:
			return rule{}, fmt.Errorf("access %q: %q is not r, w or m", r.Access, c)
		}
	}
	return p, nil
}

// parseNumber accepts nil and, as runc does, -1 as "any".
func parseNumber(what string, n *int64) (int64, error) {
	switch {
	case n == nil || *n == wildcard:
		return wildcard, nil
	case *n < 0 || *n > maxNumber:
		return 0, fmt.Errorf("%s %d out of range [0, %d]", what, *n, maxNumber)
	}
	return *n, nil
}

// Describe renders rules one line per rule, in the cgroup v1 notation
// of devices.allow plus the verdict: "deny a *:* rwm", "allow c 1:3 rwm",
// "allow c 136:* rwm". It shows what the spec says, valid or not (an
// empty type is shown as "a", an empty access as "-"), so that a log
// line can explain a rule that Program refuses.
func Describe(rules []specs.LinuxDeviceCgroup) []string {
	lines := make([]string, len(rules))
	for i, r := range rules {
		lines[i] = describe(r)
	}
	return lines
}

func describe(r specs.LinuxDeviceCgroup) string {
	verdict := "deny"
	if r.Allow {
		verdict = "allow"
	}
	typ := r.Type
	if typ == "" {
		typ = "a"
	}
	access := r.Access
	if access == "" {
		access = "-"
	}
	return verdict + " " + typ + " " + number(r.Major) + ":" + number(r.Minor) + " " + access
}

func number(n *int64) string {
	if n == nil || *n == wildcard {
		return "*"
	}
	return strconv.FormatInt(*n, 10)
}
