package network

import (
	"fmt"
	"net/netip"
	"strings"
)

// This file describes minirun's nftables ruleset as plain data. The
// _linux.go side compiles each Rule into nftables expressions; String
// prints it in nft(8) syntax, which is what --explain shows and what
// `nft list table ip minirun` prints back.

// ChainSpec is one chain of table ip minirun. A chain with a Hook is a
// base chain the kernel calls at that netfilter hook; the others are only
// reached by a jump.
type ChainSpec struct {
	Name     string
	Type     string // "nat" or "filter"; "" for a regular chain
	Hook     string // "prerouting", "output", "postrouting", "forward"
	Priority int
}

// Chain names.
const (
	ChainPrerouting  = "prerouting"
	ChainOutput      = "output"
	ChainPostrouting = "postrouting"
	ChainForward     = "forward"
	ChainPublished   = "published"
)

// Chains lists the table's chains in the order they are created (a chain
// must exist before a rule jumps to it). Priorities are nft's dstnat
// (-100), srcnat (100) and filter (0). The base chains keep policy accept:
// minirun adds rules for its own traffic and decides nothing else.
func Chains() []ChainSpec {
	return []ChainSpec{
		{Name: ChainPublished},
		{Name: ChainPrerouting, Type: "nat", Hook: "prerouting", Priority: -100},
		{Name: ChainOutput, Type: "nat", Hook: "output", Priority: -100},
		{Name: ChainPostrouting, Type: "nat", Hook: "postrouting", Priority: 100},
		{Name: ChainForward, Type: "filter", Hook: "forward", Priority: 0},
	}
}

func (c ChainSpec) String() string {
	if c.Hook == "" {
		return fmt.Sprintf("chain %s", c.Name)
	}
	return fmt.Sprintf("chain %s { type %s hook %s priority %d; policy accept; }", c.Name, c.Type, c.Hook, c.Priority)
}

// IfMatch compares an interface name. A Name ending in '*' matches every
// name with that prefix, as in nft(8).
type IfMatch struct {
	Name string
	Not  bool
}

// Verdict kinds.
const (
	VerdictAccept     = "accept"
	VerdictDrop       = "drop"
	VerdictMasquerade = "masquerade"
	VerdictDNAT       = "dnat"
	VerdictJump       = "jump"
)

// Rule is one nftables rule. Every set field is a match, all must hold
// (in the order String prints them); then Verdict is applied.
type Rule struct {
	Chain string
	// Head puts the rule at the start of its chain instead of the end.
	Head bool
	// Tag is stored as the rule's comment (its UserData): it names who
	// owns the rule, so rules are found again by owner (see tag*).
	Tag string

	SAddr, DAddr  netip.Prefix // ip saddr / ip daddr
	IIf, OIf      []IfMatch    // iifname / oifname
	FibDaddrLocal bool         // fib daddr type local
	CtState       []string     // ct state {established, related, new}
	CtStatusDNAT  bool         // ct status dnat
	Proto         string       // meta l4proto tcp|udp
	DPort         uint16       // th dport (needs Proto)

	Verdict string
	JumpTo  string         // for VerdictJump
	DNATTo  netip.AddrPort // for VerdictDNAT
}

// Tags name the owner of a rule. They are stored as the rule's comment and
// matched exactly.
const (
	tagBase   = "minirun base"
	tagNetPre = "minirun net "
	tagCtrPre = "minirun ctr "
)

func netTag(name string) string { return tagNetPre + name }
func ctrTag(id string) string   { return tagCtrPre + id }

// ctrFromTag returns the container ID a tag names.
func ctrFromTag(tag string) (string, bool) { return strings.CutPrefix(tag, tagCtrPre) }

func (r Rule) String() string {
	var f []string
	if r.SAddr.IsValid() {
		f = append(f, "ip saddr "+prefixString(r.SAddr))
	}
	if r.DAddr.IsValid() {
		f = append(f, "ip daddr "+prefixString(r.DAddr))
	}
	for _, m := range r.IIf {
		f = append(f, "iifname "+m.String())
	}
	for _, m := range r.OIf {
		f = append(f, "oifname "+m.String())
	}
	if r.FibDaddrLocal {
		f = append(f, "fib daddr type local")
	}
	if len(r.CtState) > 0 {
		f = append(f, "ct state "+strings.Join(r.CtState, ","))
	}
	if r.CtStatusDNAT {
		f = append(f, "ct status dnat")
	}
	if r.Proto != "" {
		f = append(f, "meta l4proto "+r.Proto)
	}
	if r.DPort != 0 {
		f = append(f, fmt.Sprintf("th dport %d", r.DPort))
	}
	switch r.Verdict {
	case VerdictJump:
		f = append(f, "jump "+r.JumpTo)
	case VerdictDNAT:
		f = append(f, "dnat to "+r.DNATTo.String())
	default:
		f = append(f, r.Verdict)
	}
	if r.Tag != "" {
		f = append(f, fmt.Sprintf("comment %q", r.Tag))
	}
	verb := "add"
	if r.Head {
		verb = "insert"
	}
	return fmt.Sprintf("%s rule ip %s %s %s", verb, TableName, r.Chain, strings.Join(f, " "))
}

func (m IfMatch) String() string {
	op := ""
	if m.Not {
		op = "!= "
	}
	return fmt.Sprintf("%s%q", op, m.Name)
}

func prefixString(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// TableRules are the rules every minirun network relies on, added once
// per table.
func TableRules() []Rule {
	lo := netip.MustParsePrefix("127.0.0.0/8")
	anyBridge := []IfMatch{{Name: BridgePrefix + "*"}}
	return []Rule{
		// Published ports: only traffic to one of this host's own
		// addresses is a candidate for DNAT. prerouting sees packets from
		// other hosts and from containers, output sees the host's own.
		{Chain: ChainPrerouting, Tag: tagBase, FibDaddrLocal: true, Verdict: VerdictJump, JumpTo: ChainPublished},
		{Chain: ChainOutput, Tag: tagBase, FibDaddrLocal: true, Verdict: VerdictJump, JumpTo: ChainPublished},
		// A connection to 127.0.0.1:PORT that output DNATed to a
		// container leaves through a bridge with source 127.0.0.1, which
		// the container could never answer: rewrite the source to the
		// bridge's address.
		{Chain: ChainPostrouting, Tag: tagBase, SAddr: lo, OIf: anyBridge, Verdict: VerdictMasquerade},
		// Replies of connections that the rules below let through.
		{Chain: ChainForward, Tag: tagBase, CtState: []string{"established", "related"}, Verdict: VerdictAccept},
	}
}

// NetworkRules are the rules of one network, added when its bridge is
// first used and removed with the network.
func NetworkRules(n Network) []Rule {
	br := IfMatch{Name: n.Bridge}
	return []Rule{
		// Containers reach the world with the host's address: the
		// masquerade target picks the address of whatever interface the
		// packet leaves by. Traffic staying on the bridge keeps its source.
		{Chain: ChainPostrouting, Tag: netTag(n.Name), SAddr: n.Subnet, OIf: []IfMatch{{Name: n.Bridge, Not: true}}, Verdict: VerdictMasquerade},
		// Hairpin: a container reaching a published port of a container
		// on its own bridge. Without a new source the reply would go
		// straight across the bridge from an address the client never
		// called.
		{Chain: ChainPostrouting, Tag: netTag(n.Name), SAddr: n.Subnet, OIf: []IfMatch{br}, CtStatusDNAT: true, Verdict: VerdictMasquerade},
		// Isolation: nothing is forwarded from this bridge to another
		// minirun bridge. Inserted at the head, before the accepts.
		{Chain: ChainForward, Head: true, Tag: netTag(n.Name), IIf: []IfMatch{br}, OIf: []IfMatch{{Name: BridgePrefix + "*"}, {Name: n.Bridge, Not: true}}, Verdict: VerdictDrop},
		{Chain: ChainForward, Tag: netTag(n.Name), IIf: []IfMatch{br}, Verdict: VerdictAccept},
		{Chain: ChainForward, Tag: netTag(n.Name), OIf: []IfMatch{br}, CtStatusDNAT: true, Verdict: VerdictAccept},
	}
}

// ContainerRules are the DNAT rules publishing a lease's ports.
func ContainerRules(l *Lease) []Rule {
	var rs []Rule
	for _, p := range l.Ports {
		r := Rule{
			Chain:   ChainPublished,
			Tag:     ctrTag(l.ContainerID),
			Proto:   p.Protocol,
			DPort:   p.HostPort,
			Verdict: VerdictDNAT,
			DNATTo:  netip.AddrPortFrom(l.Address.Addr(), p.ContainerPort),
		}
		if p.HostIP.IsValid() && !p.HostIP.IsUnspecified() {
			r.DAddr = netip.PrefixFrom(p.HostIP, 32)
		}
		rs = append(rs, r)
	}
	return rs
}
