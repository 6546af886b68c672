package network

import (
	"errors"
	"net/netip"
	"testing"
)

func addrs(ss ...string) map[netip.Addr]bool {
	m := map[netip.Addr]bool{}
	for _, s := range ss {
		m[netip.MustParseAddr(s)] = true
	}
	return m
}

func TestNextAddr(t *testing.T) {
	tests := []struct {
		subnet, gw string
		used       map[netip.Addr]bool
		want       string // "" means ErrNoAddress
	}{
		{"10.88.0.0/16", "10.88.0.1", nil, "10.88.0.2"},
		{"10.88.0.0/16", "10.88.0.1", addrs("10.88.0.2", "10.88.0.3"), "10.88.0.4"},
		{"10.88.0.0/16", "10.88.0.1", addrs("10.88.0.2", "10.88.0.4"), "10.88.0.3"}, // reuse a gap
		{"10.88.0.0/16", "10.88.0.1", addrs("10.88.0.2"), "10.88.0.3"},
		{"10.89.3.0/24", "10.89.3.1", nil, "10.89.3.2"},
		// A gateway that is not the first address: .1 is free.
		{"10.89.3.0/24", "10.89.3.254", nil, "10.89.3.1"},
		// /30: .0 network, .1 gateway, .2 host, .3 broadcast.
		{"10.0.0.0/30", "10.0.0.1", nil, "10.0.0.2"},
		{"10.0.0.0/30", "10.0.0.1", addrs("10.0.0.2"), ""},
	}
	for _, tt := range tests {
		got, err := nextAddr(netip.MustParsePrefix(tt.subnet), netip.MustParseAddr(tt.gw), tt.used)
		if tt.want == "" {
			if !errors.Is(err, ErrNoAddress) {
				t.Errorf("nextAddr(%s, used %v) = %v, %v; want ErrNoAddress", tt.subnet, tt.used, got, err)
			}
			continue
		}
		if err != nil || got != netip.MustParseAddr(tt.want) {
			t.Errorf("nextAddr(%s, used %v) = %v, %v; want %s", tt.subnet, tt.used, got, err, tt.want)
		}
	}
}

func TestNextAddrFillsSubnet(t *testing.T) {
	subnet := netip.MustParsePrefix("10.1.2.0/24")
	gw := netip.MustParseAddr("10.1.2.1")
	used := map[netip.Addr]bool{}
	for {
		a, err := nextAddr(subnet, gw, used)
		if err != nil {
			if !errors.Is(err, ErrNoAddress) {
				t.Fatal(err)
			}
			break
		}
		if a == gw || a == subnet.Addr() || a == netip.MustParseAddr("10.1.2.255") || !subnet.Contains(a) || used[a] {
			t.Fatalf("nextAddr gave %s", a)
		}
		used[a] = true
	}
	if len(used) != 253 {
		t.Errorf("allocated %d addresses in a /24, want 253", len(used))
	}
}

func TestNextAddrRejects(t *testing.T) {
	for _, s := range []string{"fd00::/64", "10.0.0.0/31", "10.0.0.1/32"} {
		if _, err := nextAddr(netip.MustParsePrefix(s), netip.Addr{}, nil); err == nil {
			t.Errorf("nextAddr(%s) succeeded", s)
		}
	}
}

func TestPickSubnet(t *testing.T) {
	p := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	tests := []struct {
		taken []netip.Prefix
		want  string
	}{
		{[]netip.Prefix{DefaultSubnet}, "10.89.0.0/24"},
		{[]netip.Prefix{DefaultSubnet, p("10.89.0.0/24"), p("10.89.1.0/24")}, "10.89.2.0/24"},
		{[]netip.Prefix{p("10.89.0.0/23")}, "10.89.2.0/24"},
		{[]netip.Prefix{p("10.89.0.128/25")}, "10.89.1.0/24"},
	}
	for _, tt := range tests {
		got, err := pickSubnet(tt.taken)
		if err != nil || got != p(tt.want) {
			t.Errorf("pickSubnet(%v) = %v, %v; want %s", tt.taken, got, err, tt.want)
		}
	}
	if _, err := pickSubnet([]netip.Prefix{p("10.89.0.0/16")}); err == nil {
		t.Error("pickSubnet with 10.89.0.0/16 taken succeeded")
	}
}

func TestPickBridge(t *testing.T) {
	if got := pickBridge(map[string]bool{"minirun0": true}); got != "minirun1" {
		t.Errorf("pickBridge = %s, want minirun1", got)
	}
	if got := pickBridge(map[string]bool{"minirun0": true, "minirun1": true, "minirun3": true}); got != "minirun2" {
		t.Errorf("pickBridge = %s, want minirun2", got)
	}
}

func TestMACAndVethName(t *testing.T) {
	if got, want := macFor(netip.MustParseAddr("10.88.0.2")).String(), "02:42:0a:58:00:02"; got != want {
		t.Errorf("macFor = %s, want %s", got, want)
	}
	id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if got := VethName(id); got != "mr-0123456789ab" || len(got) != 15 {
		t.Errorf("VethName = %q, want mr-0123456789ab (15 bytes, IFNAMSIZ-1)", got)
	}
}

func TestCheckSubnetAndNames(t *testing.T) {
	for _, s := range []string{"10.0.0.0/8", "192.168.5.0/24", "10.9.8.0/30"} {
		if err := checkSubnet(netip.MustParsePrefix(s)); err != nil {
			t.Errorf("checkSubnet(%s): %v", s, err)
		}
	}
	for _, s := range []string{"10.0.0.1/24", "fd00::/64", "10.0.0.0/31", "127.0.0.0/16", "224.0.0.0/24", "0.0.0.0/0"} {
		if err := checkSubnet(netip.MustParsePrefix(s)); err == nil {
			t.Errorf("checkSubnet(%s) succeeded", s)
		}
	}
	for _, s := range []string{"", "-x", "a/b", "../x", "a b", string(make([]byte, 70))} {
		if checkName(s) == nil {
			t.Errorf("checkName(%q) succeeded", s)
		}
	}
	for _, s := range []string{"0123456789a", "0123456789ABCDEF", "../../etc/passwd"} {
		if checkID(s) == nil {
			t.Errorf("checkID(%q) succeeded", s)
		}
	}
	if !isMinirunBridge("minirun12") || isMinirunBridge("minirun") || isMinirunBridge("minirunx") || isMinirunBridge("eth0") {
		t.Error("isMinirunBridge wrong")
	}
}
