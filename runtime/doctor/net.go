package doctor

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/minirun/minirun/network"
)

// nftModules are the kernel modules behind the expressions minirun's
// nftables table uses: nat chains, masquerade, dnat, conntrack state and
// "fib daddr type local".
const nftModules = "nf_tables nft_chain_nat nft_nat nft_masq nft_ct nft_fib_ipv4"

func checkNftables(err error, root bool) Finding {
	f := Finding{Check: "nftables"}
	switch {
	case !root:
		// nfnetlink answers nothing without CAP_NET_ADMIN.
		f.Status = Info
		f.Message = "only root may ask the kernel's nf_tables whether it answers"
		f.Fix = "sudo minirun doctor"
	case err != nil:
		f.Status = Fail
		f.Message = fmt.Sprintf("the kernel's nf_tables does not answer over netlink (%v): bridged containers fail (NAT, published ports); --network none and --network host still work", err)
		f.Fix = "modprobe -a " + nftModules
	default:
		f.Status = OK
		f.Message = "nf_tables answers over netlink: NAT and published ports work (minirun needs no nft binary)"
	}
	return f
}

func checkIPForward(file File) Finding {
	f := Finding{Check: "ip_forward"}
	if file.Err != nil {
		f.Status, f.Message = Warn, fmt.Sprintf("cannot read net.ipv4.ip_forward: %v", file.Err)
		return f
	}
	switch v := strings.TrimSpace(file.Data); v {
	case "1":
		f.Status = OK
		f.Message = "net.ipv4.ip_forward is 1: the host routes between minirun's bridges and its other links"
	case "0":
		f.Status = Info
		f.Message = "net.ipv4.ip_forward is 0: minirun turns it on (and logs that it did) when the first bridged container starts; --network none and host need it not"
		f.Fix = "sysctl -w net.ipv4.ip_forward=1 (to turn it on now; a file in /etc/sysctl.d/ keeps it across reboots)"
	default:
		f.Status, f.Message = Warn, fmt.Sprintf("net.ipv4.ip_forward reads %q, neither 0 nor 1", v)
	}
	return f
}

// isMinirunBridge reports whether a link is one of minirun's bridges:
// minirun0, minirun1, ... Their routes are minirun's own.
func isMinirunBridge(dev string) bool {
	n, ok := strings.CutPrefix(dev, network.BridgePrefix)
	return ok && n != "" && strings.Trim(n, "0123456789") == ""
}

func checkSubnets(nets []network.Network, netsErr error, routes []Route, routesErr error) Finding {
	f := Finding{Check: "subnets"}
	if routesErr != nil {
		f.Status, f.Message = Warn, fmt.Sprintf("cannot list the host's routes: %v", routesErr)
		return f
	}
	if len(nets) == 0 {
		nets = []network.Network{network.Default()}
	}
	var taken []netip.Prefix
	for _, r := range routes {
		if r.Dst.Bits() > 0 && !isMinirunBridge(r.Dev) {
			taken = append(taken, r.Dst)
		}
	}
	for _, n := range nets {
		taken = append(taken, n.Subnet)
	}
	var clashes, fixes, names []string
	for _, n := range nets {
		names = append(names, fmt.Sprintf("%s %s", n.Name, n.Subnet))
		for _, r := range routes {
			if r.Dst.Bits() == 0 || isMinirunBridge(r.Dev) || !n.Subnet.Overlaps(r.Dst) {
				continue
			}
			clashes = append(clashes, fmt.Sprintf("network %s (%s) overlaps the host's route to %s via %s", n.Name, n.Subnet, r.Dst, r.Dev))
			free := "A.B.C.0/24"
			if p, ok := freeSubnet(taken); ok {
				free = p.String()
				taken = append(taken, p)
			}
			if n.Name == network.DefaultNetwork {
				fixes = append(fixes, fmt.Sprintf("minirun network create --subnet %s mynet, then minirun run --network mynet ...", free))
			} else {
				fixes = append(fixes, fmt.Sprintf("minirun network rm %[1]s && minirun network create --subnet %[2]s %[1]s", n.Name, free))
			}
			break
		}
	}
	if len(clashes) > 0 {
		f.Status = Warn
		f.Message = strings.Join(clashes, "; ") + ": packets for the overlap go one way only, so containers cannot reach the hosts behind that route, or the host its containers"
		f.Fix = strings.Join(fixes, "; ")
		return f
	}
	f.Status = OK
	f.Message = fmt.Sprintf("no route of the host overlaps minirun's networks (%s)", strings.Join(names, ", "))
	if netsErr != nil {
		f.Status = Warn
		f.Message += fmt.Sprintf("; but the named networks could not be read: %v", netsErr)
	}
	return f
}

// freeSubnet returns the first /24 that overlaps none of taken, looking
// where network create does (10.89.0.0/16 on) and then in the other
// private ranges, 172.16.0.0/12 and 192.168.0.0/16 (RFC 1918).
func freeSubnet(taken []netip.Prefix) (netip.Prefix, bool) {
	for _, r := range []struct{ a, bFrom, bTo byte }{{10, 89, 255}, {172, 16, 31}, {192, 168, 168}} {
		for b := int(r.bFrom); b <= int(r.bTo); b++ {
			for c := range 256 {
				p := netip.PrefixFrom(netip.AddrFrom4([4]byte{r.a, byte(b), byte(c), 0}), 24)
				if !slices.ContainsFunc(taken, p.Overlaps) {
					return p, true
				}
			}
		}
	}
	return netip.Prefix{}, false
}

func checkDNS(in network.DNSInput, err error) Finding {
	f := Finding{Check: "dns"}
	if err != nil {
		f.Status, f.Message = Warn, fmt.Sprintf("cannot read the host's resolver configuration: %v", err)
		return f
	}
	content, warnings, err := network.ResolvConf(in)
	if err != nil {
		f.Status, f.Message = Warn, fmt.Sprintf("a container's resolv.conf cannot be made from the host's: %v", err)
		return f
	}
	host, got := nameservers(in.Host), strings.Join(nameservers(content), ", ")
	var loopback []string
	for _, s := range host {
		if a, err := netip.ParseAddr(s); err == nil && a.IsLoopback() {
			loopback = append(loopback, s)
		}
	}
	switch {
	case len(warnings) > 0:
		named := strings.Join(host, ", ")
		if named == "" {
			named = "none"
		}
		f.Status = Warn
		f.Message = fmt.Sprintf("%s names no name server a container can reach (it names %s; a loopback one is the container's own loopback inside its network namespace, an IPv6 one is out of reach of minirun's IPv4 networks): bridged containers get %s, which fails where outside DNS is blocked",
			network.HostResolvConf, named, got)
		f.Fix = "minirun run --dns ADDRESS ... with a server containers can reach, or name one in " + network.HostResolvConf + " (systemd-resolved: DNS= in /etc/systemd/resolved.conf)"
	case len(loopback) > 0:
		from := "the host's other name servers"
		if in.Systemd != nil && slices.Contains(host, "127.0.0.53") {
			from = "systemd-resolved's upstream servers in " + network.SystemdResolvConf
		}
		f.Status = Info
		f.Message = fmt.Sprintf("%s names the loopback stub %s, which inside a container's network namespace is the container's own loopback: bridged containers get %s instead (%s)",
			network.HostResolvConf, strings.Join(loopback, ", "), got, from)
	default:
		f.Status = OK
		f.Message = "bridged containers get the host's name servers: " + got
	}
	return f
}

// nameservers lists the nameserver lines of a resolv.conf(5).
func nameservers(conf []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(conf))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "nameserver" {
			out = append(out, f[1])
		}
	}
	return out
}
