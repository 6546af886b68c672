package network

import (
	"net/netip"
	"strings"
	"testing"
)

const testID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func testLease() *Lease {
	return &Lease{
		ContainerID: testID,
		Network:     DefaultNetwork,
		Bridge:      DefaultBridge,
		Address:     netip.MustParsePrefix("10.88.0.2/16"),
		Gateway:     netip.MustParseAddr("10.88.0.1"),
		MAC:         "02:42:0a:58:00:02",
		HostVeth:    "mr-0123456789ab",
		Ports: []PortMapping{
			{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
			{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 5353, ContainerPort: 53, Protocol: "udp"},
		},
	}
}

func TestPlanAttach(t *testing.T) {
	steps := PlanAttach(testLease(), "/proc/123/ns/net")
	var got []string
	for _, s := range steps {
		if s.Op == OpTable {
			got = append(got, strings.SplitN(s.String(), "\n", 2)[0])
			continue
		}
		got = append(got, s.String())
	}
	want := []string{
		"link add minirun0 address 02:42:0a:58:00:01 type bridge (if missing) (rtnetlink(7), ip-link(8) type bridge)",
		"addr add 10.88.0.1/16 dev minirun0 (rtnetlink(7) RTM_NEWADDR)",
		"link set minirun0 up (rtnetlink(7) RTM_NEWLINK)",
		"sysctl net.ipv4.ip_forward=1 (proc_sys_net(5))",
		"sysctl net.ipv4.conf.minirun0.route_localnet=1 (kernel ip-sysctl.rst)",
		"nft add table ip minirun (once; chains and rules below unless present)",
		"link add mr-0123456789ab type veth peer eth0 netns /proc/123/ns/net address 02:42:0a:58:00:02 (veth(4))",
		"link set mr-0123456789ab master minirun0 up (rtnetlink(7) IFLA_MASTER)",
		"netns /proc/123/ns/net: link set lo up (rtnetlink(7))",
		"netns /proc/123/ns/net: addr add 10.88.0.2/16 dev eth0 (rtnetlink(7) RTM_NEWADDR)",
		"netns /proc/123/ns/net: link set eth0 up (rtnetlink(7))",
		"netns /proc/123/ns/net: route add default via 10.88.0.1 dev eth0 (rtnetlink(7) RTM_NEWROUTE)",
		`nft add rule ip minirun published meta l4proto tcp th dport 8080 dnat to 10.88.0.2:80 comment "minirun ctr ` + testID + `"` + "\n" +
			`nft add rule ip minirun published ip daddr 127.0.0.1 meta l4proto udp th dport 5353 dnat to 10.88.0.2:53 comment "minirun ctr ` + testID + `" (nft(8) dnat)`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d steps:\n%s\nwant %d", len(got), strings.Join(got, "\n"), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	if v := steps[6].Verb(); v != "create veth mr-0123456789ab" {
		t.Errorf("veth step Verb() = %q", v)
	}
}

func TestPlanAttachNoPorts(t *testing.T) {
	l := testLease()
	l.Ports = nil
	for _, s := range PlanAttach(l, "/proc/1/ns/net") {
		if s.Op == OpRules {
			t.Errorf("plan without ports has a rules step: %s", s)
		}
	}
}

func TestRules(t *testing.T) {
	n := Network{Name: "blue", Bridge: "minirun3", Subnet: netip.MustParsePrefix("10.89.2.0/24"), Gateway: netip.MustParseAddr("10.89.2.1")}
	var got []string
	for _, r := range append(TableRules(), NetworkRules(n)...) {
		got = append(got, r.String())
	}
	want := []string{
		`add rule ip minirun prerouting fib daddr type local jump published comment "minirun base"`,
		`add rule ip minirun output fib daddr type local jump published comment "minirun base"`,
		`add rule ip minirun postrouting ip saddr 127.0.0.0/8 oifname "minirun*" masquerade comment "minirun base"`,
		`add rule ip minirun forward ct state established,related accept comment "minirun base"`,
		`add rule ip minirun postrouting ip saddr 10.89.2.0/24 oifname != "minirun3" masquerade comment "minirun net blue"`,
		`add rule ip minirun postrouting ip saddr 10.89.2.0/24 oifname "minirun3" ct status dnat masquerade comment "minirun net blue"`,
		`insert rule ip minirun forward iifname "minirun3" oifname "minirun*" oifname != "minirun3" drop comment "minirun net blue"`,
		`add rule ip minirun forward iifname "minirun3" accept comment "minirun net blue"`,
		`add rule ip minirun forward oifname "minirun3" ct status dnat accept comment "minirun net blue"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Every rule must be findable by its owner.
	for _, r := range append(NetworkRules(n), ContainerRules(testLease())...) {
		if !strings.HasPrefix(r.Tag, "minirun ") || len(r.Tag) > 127 {
			t.Errorf("rule %s: bad tag", r)
		}
	}
	if id, ok := ctrFromTag(ctrTag(testID)); !ok || id != testID {
		t.Errorf("ctrFromTag(ctrTag(id)) = %q, %v", id, ok)
	}
}

func TestChains(t *testing.T) {
	cs := Chains()
	if cs[0].Name != ChainPublished || cs[0].Hook != "" {
		t.Errorf("the jump target must be created first, got %v", cs[0])
	}
	if got := cs[1].String(); got != "chain prerouting { type nat hook prerouting priority -100; policy accept; }" {
		t.Errorf("chain String() = %q", got)
	}
}
