package doctor

import (
	"errors"
	"io/fs"
	"net/netip"
	"testing"

	"github.com/minirun/minirun/network"
)

func TestCheckNftables(t *testing.T) {
	checkFinding(t, checkNftables(nil, true), "nftables", OK, []string{"answers"}, nil)
	checkFinding(t, checkNftables(errors.New("list nftables tables: protocol not supported"), true), "nftables", Fail,
		[]string{"protocol not supported", "bridged containers fail", "--network none"}, []string{"modprobe -a nf_tables", "nft_masq"})
	checkFinding(t, checkNftables(nil, false), "nftables", Info, []string{"only root"}, []string{"sudo"})
}

func TestCheckIPForward(t *testing.T) {
	checkFinding(t, checkIPForward(File{Data: "1\n"}), "ip_forward", OK, []string{"is 1"}, nil)
	checkFinding(t, checkIPForward(File{Data: "0\n"}), "ip_forward", Info,
		[]string{"minirun turns it on"}, []string{"sysctl -w net.ipv4.ip_forward=1"})
	checkFinding(t, checkIPForward(File{Data: "2\n"}), "ip_forward", Warn, []string{`"2"`}, nil)
	checkFinding(t, checkIPForward(File{Err: fs.ErrNotExist}), "ip_forward", Warn, []string{"cannot read"}, nil)
}

func TestCheckSubnets(t *testing.T) {
	route := func(dst, dev string) Route { return Route{Dst: netip.MustParsePrefix(dst), Dev: dev} }
	backend := network.Network{Name: "backend", Bridge: "minirun1", Subnet: netip.MustParsePrefix("10.89.0.0/24")}
	home := []Route{
		route("0.0.0.0/0", "eth0"),
		route("192.168.1.0/24", "eth0"),
		route("10.88.0.0/16", "minirun0"), // minirun's own
		route("10.89.0.0/24", "minirun1"),
	}
	for _, tc := range []struct {
		name      string
		nets      []network.Network
		netsErr   error
		routes    []Route
		routesErr error
		status    Status
		msg, fix  []string
	}{
		{name: "none", routes: home, status: OK, msg: []string{"minirun 10.88.0.0/16"}},
		{name: "default network in a corporate 10/8", routes: append(home, route("10.0.0.0/8", "vpn0")),
			status: Warn, msg: []string{"network minirun (10.88.0.0/16) overlaps the host's route to 10.0.0.0/8 via vpn0"},
			// All of 10/8 is taken: the next free /24 is past it.
			fix: []string{"minirun network create --subnet 172.16.0.0/24 mynet, then minirun run --network mynet"}},
		{name: "named network", nets: []network.Network{network.Default(), backend}, routes: append(home, route("10.89.0.128/25", "eth1")),
			status: Warn, msg: []string{"network backend (10.89.0.0/24) overlaps the host's route to 10.89.0.128/25 via eth1"},
			fix: []string{"minirun network rm backend && minirun network create --subnet 10.89.1.0/24 backend"}},
		{name: "default network, free subnet suggested", routes: append(home, route("10.88.3.0/24", "eth1")),
			status: Warn, fix: []string{"--subnet 10.89.0.0/24 mynet"}},
		{name: "named networks unreadable", netsErr: fs.ErrPermission, routes: home, status: Warn, msg: []string{"could not be read"}},
		{name: "routes unreadable", routesErr: errors.New("list routes: permission denied"), status: Warn, msg: []string{"cannot list"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkFinding(t, checkSubnets(tc.nets, tc.netsErr, tc.routes, tc.routesErr), "subnets", tc.status, tc.msg, tc.fix)
		})
	}
}

func TestFreeSubnet(t *testing.T) {
	for _, tc := range []struct {
		taken []string
		want  string
	}{
		{nil, "10.89.0.0/24"},
		{[]string{"10.89.0.0/24", "10.89.1.0/25"}, "10.89.2.0/24"},
		{[]string{"10.0.0.0/9"}, "10.128.0.0/24"},
		{[]string{"10.0.0.0/8", "172.16.0.0/16"}, "172.17.0.0/24"},
	} {
		var taken []netip.Prefix
		for _, p := range tc.taken {
			taken = append(taken, netip.MustParsePrefix(p))
		}
		if got, ok := freeSubnet(taken); !ok || got.String() != tc.want {
			t.Errorf("freeSubnet(%v) = %v, %v; want %s", tc.taken, got, ok, tc.want)
		}
	}
	private := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16")}
	if got, ok := freeSubnet(private); ok {
		t.Errorf("freeSubnet(all private ranges) = %v, want none", got)
	}
}

func TestCheckDNS(t *testing.T) {
	stub := []byte("# This is /run/systemd/resolve/stub-resolv.conf\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n")
	upstream := []byte("nameserver 192.168.1.1\nnameserver fd00::1\nsearch lan\n")
	for _, tc := range []struct {
		name     string
		in       network.DNSInput
		err      error
		status   Status
		msg, fix []string
	}{
		{name: "plain", in: network.DNSInput{Host: []byte("nameserver 10.255.255.53\n")}, status: OK, msg: []string{"host's name servers: 10.255.255.53"}},
		{name: "systemd-resolved stub", in: network.DNSInput{Host: stub, Systemd: upstream}, status: Info,
			msg: []string{"loopback stub 127.0.0.53", "get 192.168.1.1 instead", "systemd-resolved's upstream servers"}},
		{name: "stub without its upstream file", in: network.DNSInput{Host: stub}, status: Warn,
			msg: []string{"it names 127.0.0.53", "get 8.8.8.8, 8.8.4.4"}, fix: []string{"--dns ADDRESS", "DNS= in /etc/systemd/resolved.conf"}},
		{name: "dnsmasq and a real one", in: network.DNSInput{Host: []byte("nameserver 127.0.1.1\nnameserver 9.9.9.9\n")}, status: Info,
			msg: []string{"stub 127.0.1.1", "get 9.9.9.9 instead", "the host's other name servers"}},
		{name: "empty", in: network.DNSInput{}, status: Warn, msg: []string{"it names none"}, fix: []string{"--dns"}},
		{name: "unreadable", err: fs.ErrPermission, status: Warn, msg: []string{"cannot read"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkFinding(t, checkDNS(tc.in, tc.err), "dns", tc.status, tc.msg, tc.fix)
		})
	}
}
