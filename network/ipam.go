package network

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// This file is the pure half of IP address management: which address,
// subnet, bridge name and MAC a new lease or network gets, given what is
// taken. Manager calls it under its lock file, so "taken" is complete.

// nextAddr returns the lowest address of subnet that is not used: never the
// subnet's own address, its gateway or its broadcast address.
func nextAddr(subnet netip.Prefix, gateway netip.Addr, used map[netip.Addr]bool) (netip.Addr, error) {
	if !subnet.Addr().Is4() || subnet.Bits() > 30 {
		return netip.Addr{}, fmt.Errorf("allocate address in %s: need an IPv4 subnet of /30 or larger", subnet)
	}
	bcast := broadcast(subnet)
	for a := subnet.Masked().Addr().Next(); a.IsValid() && a != bcast; a = a.Next() {
		if a != gateway && !used[a] {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("allocate address in %s: %w", subnet, ErrNoAddress)
}

// broadcast returns the last address of an IPv4 prefix.
func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// pickSubnet returns the first 10.89.N.0/24 that overlaps none of taken.
func pickSubnet(taken []netip.Prefix) (netip.Prefix, error) {
	base := autoSubnets.Addr().As4()
	for n := 0; n < 256; n++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{base[0], base[1], byte(n), 0}), 24)
		free := true
		for _, t := range taken {
			if t.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("pick a subnet: every /24 of %s is taken", autoSubnets)
}

// pickBridge returns minirunN for the lowest N >= 1 that no network uses.
func pickBridge(taken map[string]bool) string {
	for n := 1; ; n++ {
		name := BridgePrefix + strconv.Itoa(n)
		if !taken[name] {
			return name
		}
	}
}

// macFor derives a container's MAC from its IPv4 address, as docker does:
// 02:42 (a locally administered unicast prefix) then the four bytes of the
// address. A fixed MAC per address means a reused address is not answered
// by stale ARP entries with somebody else's MAC.
func macFor(a netip.Addr) net.HardwareAddr {
	b := a.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

// checkSubnet validates a subnet given to Create.
func checkSubnet(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return fmt.Errorf("invalid subnet")
	case !p.Addr().Is4():
		return fmt.Errorf("subnet %s: only IPv4 is supported", p)
	case p.Bits() > 30 || p.Bits() < 8:
		return fmt.Errorf("subnet %s: prefix length must be between 8 and 30", p)
	case p.Masked() != p:
		return fmt.Errorf("subnet %s: host bits set (did you mean %s?)", p, p.Masked())
	case p.Addr().IsLoopback() || p.Addr().IsMulticast() || p.Overlaps(netip.MustParsePrefix("127.0.0.0/8")):
		return fmt.Errorf("subnet %s: not a unicast range", p)
	}
	return nil
}
