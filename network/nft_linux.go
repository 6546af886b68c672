package network

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// ipsDstNAT is IPS_DST_NAT of <linux/netfilter/nf_conntrack_common.h>:
// the connection's destination was rewritten, which is what nft's
// "ct status dnat" tests.
const ipsDstNAT = 1 << 5

var table = &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}

// nftConn dials nftables in the host namespace. The namespace is passed
// as a file descriptor, so the socket never depends on which thread dials.
func (m *Manager) nftConn() (*nftables.Conn, error) {
	c, err := nftables.New(nftables.WithNetNSFd(m.host.fd), nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("connect to nftables: %w", err)
	}
	return c, nil
}

// ruleset is what exists of table ip minirun.
type ruleset struct {
	hasTable bool
	chains   map[string]*nftables.Chain
	rules    []*nftables.Rule
}

func listRuleset(c *nftables.Conn) (*ruleset, error) {
	rs := &ruleset{chains: map[string]*nftables.Chain{}}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("list nftables tables: %w", err)
	}
	for _, t := range tables {
		rs.hasTable = rs.hasTable || t.Name == TableName
	}
	if !rs.hasTable {
		return rs, nil
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("list nftables chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Table.Name != TableName {
			continue
		}
		rs.chains[ch.Name] = ch
		rules, err := c.GetRules(table, ch)
		if err != nil {
			return nil, fmt.Errorf("list rules of chain %s: %w", ch.Name, err)
		}
		rs.rules = append(rs.rules, rules...)
	}
	return rs, nil
}

func ruleTag(r *nftables.Rule) string {
	s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
	return s
}

// ensureTable creates table ip minirun, its chains, the table rules and
// rules (a network's), each group only where it is not complete already.
// Callers hold the lock file, so nobody adds rules meanwhile; a group
// found incomplete (an older minirun, a human with nft) is replaced whole.
// Everything goes to the kernel in one batch, applied all or nothing.
func (m *Manager) ensureTable(rules []Rule) error {
	c, err := m.nftConn()
	if err != nil {
		return err
	}
	defer c.CloseLasting()
	rs, err := listRuleset(c)
	if err != nil {
		return err
	}
	dirty := false
	if !rs.hasTable {
		c.AddTable(table)
		dirty = true
	}
	chains := map[string]*nftables.Chain{}
	for _, spec := range Chains() {
		ch := chainFor(spec)
		chains[spec.Name] = ch
		if rs.chains[spec.Name] == nil {
			c.AddChain(ch)
			dirty = true
		}
	}
	want := map[string][]Rule{}
	var order []string
	for _, r := range rules {
		if want[r.Tag] == nil {
			order = append(order, r.Tag)
		}
		want[r.Tag] = append(want[r.Tag], r)
	}
	for _, tag := range order {
		var have []*nftables.Rule
		for _, r := range rs.rules {
			if ruleTag(r) == tag {
				have = append(have, r)
			}
		}
		if len(have) == len(want[tag]) {
			continue
		}
		for _, r := range have {
			if err := c.DelRule(r); err != nil {
				return fmt.Errorf("delete stale rule: %w", err)
			}
		}
		if err := addRules(c, chains, want[tag]); err != nil {
			return err
		}
		dirty = true
	}
	if !dirty {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("set up nftables table %s: %w", TableName, err)
	}
	return nil
}

// addContainerRules adds rules in one batch; the chains must exist.
func (m *Manager) addContainerRules(rules []Rule) error {
	c, err := m.nftConn()
	if err != nil {
		return err
	}
	defer c.CloseLasting()
	chains := map[string]*nftables.Chain{}
	for _, spec := range Chains() {
		chains[spec.Name] = chainFor(spec)
	}
	if err := addRules(c, chains, rules); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("add nftables rules: %w", err)
	}
	return nil
}

// deleteRules deletes, in one batch, every rule of the table whose tag
// match accepts, and returns the tags of what it deleted. A missing table
// deletes nothing.
func (m *Manager) deleteRules(match func(tag string) bool) ([]string, error) {
	c, err := m.nftConn()
	if err != nil {
		return nil, err
	}
	defer c.CloseLasting()
	rs, err := listRuleset(c)
	if err != nil {
		return nil, err
	}
	var tags []string
	for _, r := range rs.rules {
		if tag := ruleTag(r); match(tag) {
			if err := c.DelRule(r); err != nil {
				return nil, fmt.Errorf("delete nftables rule %q: %w", tag, err)
			}
			tags = append(tags, tag)
		}
	}
	if len(tags) == 0 {
		return nil, nil
	}
	if err := c.Flush(); err != nil {
		return nil, fmt.Errorf("delete nftables rules: %w", err)
	}
	return tags, nil
}

func chainFor(s ChainSpec) *nftables.Chain {
	ch := &nftables.Chain{Name: s.Name, Table: table}
	if s.Hook == "" {
		return ch
	}
	hooks := map[string]*nftables.ChainHook{
		"prerouting":  nftables.ChainHookPrerouting,
		"output":      nftables.ChainHookOutput,
		"postrouting": nftables.ChainHookPostrouting,
		"forward":     nftables.ChainHookForward,
	}
	ch.Hooknum = hooks[s.Hook]
	ch.Priority = nftables.ChainPriorityRef(nftables.ChainPriority(s.Priority))
	ch.Type = nftables.ChainType(s.Type)
	accept := nftables.ChainPolicyAccept
	ch.Policy = &accept
	return ch
}

func addRules(c *nftables.Conn, chains map[string]*nftables.Chain, rules []Rule) error {
	for _, r := range rules {
		exprs, err := compile(r)
		if err != nil {
			return fmt.Errorf("compile rule %s: %w", r, err)
		}
		nr := &nftables.Rule{
			Table:    table,
			Chain:    chains[r.Chain],
			Exprs:    exprs,
			UserData: userdata.AppendString(nil, userdata.TypeComment, r.Tag),
		}
		if nr.Chain == nil {
			return fmt.Errorf("rule %s: no chain %s", r, r.Chain)
		}
		if r.Head {
			c.InsertRule(nr)
		} else {
			c.AddRule(nr)
		}
	}
	return nil
}

// compile turns a Rule into nftables expressions, the bytecode nft(8)
// would produce for Rule.String(): load a field into register 1, compare.
func compile(r Rule) ([]expr.Any, error) {
	var e []expr.Any
	addr := func(offset uint32, p netip.Prefix) error {
		if !p.Addr().Is4() {
			return fmt.Errorf("address %s is not IPv4", p)
		}
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4})
		if p.Bits() < 32 {
			mask := make([]byte, 4)
			binary.BigEndian.PutUint32(mask, ^uint32(0)<<(32-p.Bits()))
			e = append(e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)})
		}
		a := p.Masked().Addr().As4()
		e = append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]})
		return nil
	}
	ifname := func(key expr.MetaKey, ms []IfMatch) {
		if len(ms) == 0 {
			return
		}
		e = append(e, &expr.Meta{Key: key, Register: 1})
		for _, m := range ms {
			op := expr.CmpOpEq
			if m.Not {
				op = expr.CmpOpNeq
			}
			e = append(e, &expr.Cmp{Op: op, Register: 1, Data: ifnameData(m.Name)})
		}
	}
	if r.SAddr.IsValid() {
		if err := addr(12, r.SAddr); err != nil {
			return nil, err
		}
	}
	if r.DAddr.IsValid() {
		if err := addr(16, r.DAddr); err != nil {
			return nil, err
		}
	}
	ifname(expr.MetaKeyIIFNAME, r.IIf)
	ifname(expr.MetaKeyOIFNAME, r.OIf)
	if r.FibDaddrLocal {
		e = append(e,
			&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)})
	}
	if len(r.CtState) > 0 {
		var bits uint32
		for _, s := range r.CtState {
			switch s {
			case "established":
				bits |= expr.CtStateBitESTABLISHED
			case "related":
				bits |= expr.CtStateBitRELATED
			case "new":
				bits |= expr.CtStateBitNEW
			default:
				return nil, fmt.Errorf("unknown ct state %q", s)
			}
		}
		e = append(e, &expr.Ct{Register: 1, Key: expr.CtKeySTATE})
		e = append(e, bitsSet(bits)...)
	}
	if r.CtStatusDNAT {
		e = append(e, &expr.Ct{Register: 1, Key: expr.CtKeySTATUS})
		e = append(e, bitsSet(ipsDstNAT)...)
	}
	if r.Proto != "" {
		p, ok := map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP}[r.Proto]
		if !ok {
			return nil, fmt.Errorf("unknown protocol %q", r.Proto)
		}
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}})
	}
	if r.DPort != 0 {
		if r.Proto == "" {
			return nil, fmt.Errorf("th dport without a protocol")
		}
		e = append(e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.DPort)})
	}
	switch r.Verdict {
	case VerdictAccept:
		e = append(e, &expr.Verdict{Kind: expr.VerdictAccept})
	case VerdictDrop:
		e = append(e, &expr.Verdict{Kind: expr.VerdictDrop})
	case VerdictJump:
		e = append(e, &expr.Verdict{Kind: expr.VerdictJump, Chain: r.JumpTo})
	case VerdictMasquerade:
		e = append(e, &expr.Masq{})
	case VerdictDNAT:
		if !r.DNATTo.Addr().Is4() {
			return nil, fmt.Errorf("dnat to %s: not IPv4", r.DNATTo)
		}
		a := r.DNATTo.Addr().As4()
		e = append(e,
			&expr.Immediate{Register: 1, Data: a[:]},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(r.DNATTo.Port())},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true})
	default:
		return nil, fmt.Errorf("unknown verdict %q", r.Verdict)
	}
	return e, nil
}

// bitsSet tests that any of bits is set in register 1, as nft compiles
// "ct state established,related": (reg & bits) != 0.
func bitsSet(bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

// ifnameData is what an interface name compares against: the name padded
// with NULs to IFNAMSIZ for an exact match, or only the bytes before '*'
// for a prefix match (the comparison covers just those bytes).
func ifnameData(name string) []byte {
	if p, ok := cutStar(name); ok {
		return []byte(p)
	}
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

func cutStar(name string) (string, bool) {
	if len(name) > 0 && name[len(name)-1] == '*' {
		return name[:len(name)-1], true
	}
	return name, false
}
