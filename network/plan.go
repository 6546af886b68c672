package network

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Op is what one Step does.
type Op int

const (
	OpBridgeAdd  Op = iota // create the bridge; an existing one is fine
	OpAddrAdd              // add an address to a link; an existing one is fine on the bridge
	OpLinkUp               // set a link up
	OpSysctl               // write a sysctl of the host namespace
	OpTable                // create table, chains and the base and network rules, once
	OpVethAdd              // create a veth pair, the peer directly in the container's namespace
	OpLinkMaster           // enslave a link to the bridge and set it up
	OpRouteAdd             // add a default route
	OpRules                // add the container's rules
)

// Step is one operation of Attach, as plain data: which kernel object it
// touches and how. Steps with a NetNS run in the container's network
// namespace, the others in the Manager's.
type Step struct {
	Op    Op
	NetNS string // container namespace path; "" for the host side
	Link  string
	Peer  string           // OpVethAdd: the container end
	MAC   net.HardwareAddr // OpBridgeAdd: the bridge's; OpVethAdd: the container end's
	Addr  netip.Prefix     // OpAddrAdd
	Gw    netip.Addr       // OpRouteAdd
	Key   string           // OpSysctl, e.g. "net/ipv4/ip_forward"
	Value string           // OpSysctl
	Net   Network          // OpTable
	Rules []Rule           // OpTable (network rules), OpRules
	Man   string           // where to read about it
}

// PlanAttach returns what Attach does to wire lease into the network
// namespace at netnsPath, in order.
func PlanAttach(l *Lease, netnsPath string) []Step {
	n := Network{Name: l.Network, Bridge: l.Bridge, Subnet: l.Address.Masked(), Gateway: l.Gateway}
	mac, _ := net.ParseMAC(l.MAC)
	steps := []Step{
		// The bridge and its address are shared by every container of the
		// network, created by whoever comes first.
		// A bridge without an address of its own takes the lowest of its
		// ports' and changes it as containers come and go, which leaves
		// containers with a stale gateway in their ARP caches. So it gets
		// a fixed one, derived from the gateway like a container's.
		{Op: OpBridgeAdd, Link: n.Bridge, MAC: macFor(n.Gateway), Man: "rtnetlink(7), ip-link(8) type bridge"},
		{Op: OpAddrAdd, Link: n.Bridge, Addr: netip.PrefixFrom(n.Gateway, n.Subnet.Bits()), Man: "rtnetlink(7) RTM_NEWADDR"},
		{Op: OpLinkUp, Link: n.Bridge, Man: "rtnetlink(7) RTM_NEWLINK"},
		// Routing between the bridge and other interfaces.
		{Op: OpSysctl, Key: "net/ipv4/ip_forward", Value: "1", Man: "proc_sys_net(5)"},
		// 127.0.0.1:PORT DNATed to a container must be allowed out of the
		// bridge with its loopback source (masqueraded right after).
		{Op: OpSysctl, Key: "net/ipv4/conf/" + n.Bridge + "/route_localnet", Value: "1", Man: "kernel ip-sysctl.rst"},
		{Op: OpTable, Net: n, Rules: append(TableRules(), NetworkRules(n)...), Man: "nft(8)"},
		// The peer is created inside the container's namespace: moving a
		// link there afterwards would wait for RCU grace periods.
		{Op: OpVethAdd, Link: l.HostVeth, Peer: ContainerIf, NetNS: netnsPath, MAC: mac, Man: "veth(4)"},
		{Op: OpLinkMaster, Link: l.HostVeth, Peer: n.Bridge, Man: "rtnetlink(7) IFLA_MASTER"},
		{Op: OpLinkUp, NetNS: netnsPath, Link: "lo", Man: "rtnetlink(7)"},
		{Op: OpAddrAdd, NetNS: netnsPath, Link: ContainerIf, Addr: l.Address, Man: "rtnetlink(7) RTM_NEWADDR"},
		{Op: OpLinkUp, NetNS: netnsPath, Link: ContainerIf, Man: "rtnetlink(7)"},
		{Op: OpRouteAdd, NetNS: netnsPath, Link: ContainerIf, Gw: l.Gateway, Man: "rtnetlink(7) RTM_NEWROUTE"},
	}
	if rs := ContainerRules(l); len(rs) > 0 {
		steps = append(steps, Step{Op: OpRules, Rules: rs, Man: "nft(8) dnat"})
	}
	return steps
}

// String writes the step in the words of ip(8), sysctl(8) and nft(8),
// with the man page that explains it.
func (s Step) String() string {
	what := s.Command()
	if s.Man != "" {
		what += " (" + s.Man + ")"
	}
	return what
}

// Command is String without the man page: the ip(8), sysctl(8) or nft(8)
// command lines that do what the step does (--explain prints them).
func (s Step) Command() string {
	ns := ""
	if s.NetNS != "" {
		ns = "netns " + s.NetNS + ": "
	}
	var what string
	switch s.Op {
	case OpBridgeAdd:
		what = fmt.Sprintf("link add %s address %s type bridge (if missing)", s.Link, s.MAC)
	case OpAddrAdd:
		what = fmt.Sprintf("addr add %s dev %s", s.Addr, s.Link)
	case OpLinkUp:
		what = fmt.Sprintf("link set %s up", s.Link)
	case OpSysctl:
		what = fmt.Sprintf("sysctl %s=%s", strings.ReplaceAll(s.Key, "/", "."), s.Value)
	case OpTable:
		lines := []string{fmt.Sprintf("nft add table ip %s (once; chains and rules below unless present)", TableName)}
		for _, c := range Chains() {
			lines = append(lines, "  nft add "+c.String())
		}
		for _, r := range s.Rules {
			lines = append(lines, "  nft "+r.String())
		}
		what = strings.Join(lines, "\n")
	case OpVethAdd:
		what = fmt.Sprintf("link add %s type veth peer %s netns %s address %s", s.Link, s.Peer, s.NetNS, s.MAC)
		ns = ""
	case OpLinkMaster:
		what = fmt.Sprintf("link set %s master %s up", s.Link, s.Peer)
	case OpRouteAdd:
		what = fmt.Sprintf("route add default via %s dev %s", s.Gw, s.Link)
	case OpRules:
		lines := make([]string, len(s.Rules))
		for i, r := range s.Rules {
			lines[i] = "nft " + r.String()
		}
		what = strings.Join(lines, "\n")
	default:
		what = fmt.Sprintf("op %d", int(s.Op))
	}
	return ns + what
}

// Verb names the step briefly, for error messages:
// "attach network: create veth mr-0123456789ab: file exists".
func (s Step) Verb() string {
	in := ""
	if s.NetNS != "" {
		in = " in " + s.NetNS
	}
	switch s.Op {
	case OpBridgeAdd:
		return "create bridge " + s.Link
	case OpAddrAdd:
		return fmt.Sprintf("add address %s to %s%s", s.Addr, s.Link, in)
	case OpLinkUp:
		return fmt.Sprintf("set %s up%s", s.Link, in)
	case OpSysctl:
		return "set sysctl " + strings.ReplaceAll(s.Key, "/", ".")
	case OpTable:
		return fmt.Sprintf("set up nftables table %s for network %s", TableName, s.Net.Name)
	case OpVethAdd:
		return "create veth " + s.Link
	case OpLinkMaster:
		return fmt.Sprintf("attach %s to bridge %s", s.Link, s.Peer)
	case OpRouteAdd:
		return fmt.Sprintf("add default route via %s%s", s.Gw, in)
	case OpRules:
		return "add nftables rules for published ports"
	}
	return fmt.Sprintf("step %d", int(s.Op))
}
