package network

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
)

var ctx = context.Background()

func TestAttachTwoContainers(t *testing.T) {
	e := newEnv(t)
	a := e.container(t, "")
	b := e.container(t, "")
	if a.lease.Address == b.lease.Address {
		t.Fatalf("both containers got %s", a.lease.Address)
	}
	if a.lease.Address.String() != "10.88.0.2/16" || b.lease.Address.String() != "10.88.0.3/16" {
		t.Errorf("addresses %s, %s; want 10.88.0.2/16, 10.88.0.3/16", a.lease.Address, b.lease.Address)
	}

	// The container side: eth0 with the lease's address and MAC, up, and
	// a default route via the gateway.
	h := a.ns.handle(t)
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if eth0.Attrs().HardwareAddr.String() != a.lease.MAC || eth0.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("eth0 = %s flags %v, want %s up", eth0.Attrs().HardwareAddr, eth0.Attrs().Flags, a.lease.MAC)
	}
	routes, err := h.RouteList(eth0, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(routes, func(r netlink.Route) bool {
		return (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.String() == "10.88.0.1"
	}) {
		t.Errorf("no default route via 10.88.0.1 in %v", routes)
	}

	// a and b talk directly across the bridge: no NAT.
	srv := serve(t, a.ns, ":9000")
	from, err := ask(b.ns, net.JoinHostPort(a.lease.Address.Addr().String(), "9000"), 2*time.Second)
	if err != nil {
		t.Fatalf("connect from b to a (%s): %v", srv, err)
	}
	if from != b.lease.Address.Addr().String() {
		t.Errorf("a saw the connection from %s, want b's %s", from, b.lease.Address.Addr())
	}

	// Detach removes the veth (and with it eth0), the lease, and is
	// idempotent.
	if err := e.m.Detach(ctx, a.lease.ContainerID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.host.handle(t).LinkByName(a.lease.HostVeth); err == nil {
		t.Errorf("veth %s still exists after Detach", a.lease.HostVeth)
	}
	if _, err := h.LinkByName("eth0"); err == nil {
		t.Error("eth0 still exists in the container after Detach")
	}
	if _, err := e.m.Lease(a.lease.ContainerID); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lease after Detach: %v, want fs.ErrNotExist", err)
	}
	if err := e.m.Detach(ctx, a.lease.ContainerID); err != nil {
		t.Errorf("second Detach: %v", err)
	}
	if err := e.m.Detach(ctx, newID()); err != nil {
		t.Errorf("Detach of a container never attached: %v", err)
	}
	// The freed address is the next one given out.
	c := e.container(t, "")
	if c.lease.Address != a.lease.Address {
		t.Errorf("after Detach the next container got %s, want %s again", c.lease.Address, a.lease.Address)
	}
}

func TestAttachUndoesOnError(t *testing.T) {
	e := newEnv(t)
	path := sleeper(t)
	l, err := e.m.Allocate(ctx, AllocRequest{ContainerID: newID()})
	if err != nil {
		t.Fatal(err)
	}
	bad := *l
	bad.Gateway = netip.MustParseAddr("192.0.2.1") // not on the subnet: the route step fails
	err = e.m.Attach(ctx, &bad, path)
	if err == nil || !strings.HasPrefix(err.Error(), "attach network: add default route via 192.0.2.1") {
		t.Fatalf("Attach = %v, want an error from the route step", err)
	}
	if _, err := e.host.handle(t).LinkByName(l.HostVeth); err == nil {
		t.Errorf("veth %s left behind by a failed Attach", l.HostVeth)
	}
	// The container is still wireable.
	if err := e.m.Attach(ctx, l, path); err != nil {
		t.Fatalf("Attach after a failed one: %v", err)
	}
	// A second Attach of the same lease fails naming the veth.
	if err := e.m.Attach(ctx, l, path); err == nil || !strings.Contains(err.Error(), "create veth "+l.HostVeth) {
		t.Errorf("second Attach = %v, want a create veth error", err)
	}
	if _, err := e.host.handle(t).LinkByName(l.HostVeth); err != nil {
		t.Errorf("the failed second Attach deleted the first one's veth: %v", err)
	}
	if err := e.m.Detach(ctx, l.ContainerID); err != nil {
		t.Fatal(err)
	}
}

// rulesTagged lists the rules of table ip minirun in ns with the tag.
func rulesTagged(t *testing.T, ns *nsThread, tag string) []*nftables.Rule {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(ns.fd))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := listRuleset(c)
	if err != nil {
		t.Fatal(err)
	}
	var out []*nftables.Rule
	for _, r := range rs.rules {
		if ruleTag(r) == tag {
			out = append(out, r)
		}
	}
	return out
}

func TestPublishedPortRule(t *testing.T) {
	e := newEnv(t)
	a := e.container(t, "", PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}, PortMapping{ContainerPort: 53, Protocol: "udp"})
	if p := a.lease.Ports[1]; p.HostPort == 0 {
		t.Errorf("random host port not resolved: %+v", p)
	}
	rules := rulesTagged(t, e.host, ctrTag(a.lease.ContainerID))
	if len(rules) != 2 {
		t.Fatalf("found %d rules for the container, want 2", len(rules))
	}
	var nat *expr.NAT
	var to []byte
	for _, x := range rules[0].Exprs {
		switch x := x.(type) {
		case *expr.NAT:
			nat = x
		case *expr.Immediate:
			if x.Register == 1 {
				to = x.Data
			}
		}
	}
	want := a.lease.Address.Addr().As4()
	if rules[0].Chain.Name != ChainPublished || nat == nil || nat.Type != expr.NATTypeDestNAT || string(to) != string(want[:]) {
		t.Errorf("rule in chain %s: nat %+v to %v; want dnat to %s in %s", rules[0].Chain.Name, nat, to, a.lease.Address.Addr(), ChainPublished)
	}
	// The table was set up once, whatever the number of containers.
	e.container(t, "")
	if n := len(rulesTagged(t, e.host, tagBase)); n != len(TableRules()) {
		t.Errorf("%d base rules after two containers, want %d", n, len(TableRules()))
	}
	if n := len(rulesTagged(t, e.host, netTag(DefaultNetwork))); n != len(NetworkRules(Default())) {
		t.Errorf("%d network rules after two containers, want %d", n, len(NetworkRules(Default())))
	}

	if err := e.m.Detach(ctx, a.lease.ContainerID); err != nil {
		t.Fatal(err)
	}
	if n := len(rulesTagged(t, e.host, ctrTag(a.lease.ContainerID))); n != 0 {
		t.Errorf("%d rules of the container left after Detach", n)
	}
}

func TestPortInUse(t *testing.T) {
	e := newEnv(t)
	// Something on the "host" holds a TCP port (on 127.0.0.1 only) and a
	// UDP port.
	var ln net.Listener
	var pc net.PacketConn
	var err error
	e.host.Do(func() {
		if ln, err = net.Listen("tcp4", "127.0.0.1:0"); err == nil {
			pc, err = net.ListenPacket("udp4", "0.0.0.0:0")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	defer pc.Close()
	tcpPort := uint16(ln.Addr().(*net.TCPAddr).Port)
	udpPort := uint16(pc.LocalAddr().(*net.UDPAddr).Port)

	for _, p := range []PortMapping{
		{HostPort: tcpPort, ContainerPort: 80, Protocol: "tcp"},
		{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: tcpPort, ContainerPort: 80, Protocol: "tcp"},
		{HostPort: udpPort, ContainerPort: 53, Protocol: "udp"},
	} {
		id := newID()
		_, err := e.m.Allocate(ctx, AllocRequest{ContainerID: id, Ports: []PortMapping{p}})
		if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), fmt.Sprint(p.HostPort)) {
			t.Errorf("Allocate with %s = %v, want ErrPortInUse naming the port", p, err)
		}
		if _, err := e.m.Lease(id); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a lease exists after a failed Allocate: %v", err)
		}
	}
	// Nothing was created in the kernel.
	links, err := e.host.handle(t).LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.Attrs().Name != "lo" {
			t.Errorf("link %s exists after failed Allocate calls", l.Attrs().Name)
		}
	}

	// A port published by another lease is taken too, though nothing
	// listens on it; the same port over UDP is not.
	a, err := e.m.Allocate(ctx, AllocRequest{ContainerID: newID(), Ports: []PortMapping{{ContainerPort: 80, Protocol: "tcp"}}})
	if err != nil {
		t.Fatal(err)
	}
	taken := a.Ports[0].HostPort
	_, err = e.m.Allocate(ctx, AllocRequest{ContainerID: newID(), Ports: []PortMapping{{HostPort: taken, ContainerPort: 81, Protocol: "tcp"}}})
	if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), a.ContainerID[:12]) {
		t.Errorf("Allocate of a published port = %v, want ErrPortInUse naming the owner", err)
	}
	if _, err := e.m.Allocate(ctx, AllocRequest{ContainerID: newID(), Ports: []PortMapping{{HostPort: taken, ContainerPort: 81, Protocol: "udp"}}}); err != nil {
		t.Errorf("Allocate of the same port over udp: %v", err)
	}
}

// outside connects a new namespace to e's host namespace with a veth:
// host 192.0.2.1/24, outside 192.0.2.2/24 (TEST-NET-1; nothing here ever
// leaves the test's namespaces).
func (e *env) outside(t *testing.T) *nsThread {
	out := newNS(t, "")
	h := e.host.handle(t)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "ext0"}, PeerName: "ext1", PeerNamespace: netlink.NsFd(out.fd)}
	if err := h.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	up := func(h *netlink.Handle, name, addr string) {
		l, err := h.LinkByName(name)
		if err == nil {
			err = h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(netip.MustParsePrefix(addr))})
		}
		if err == nil {
			err = h.LinkSetUp(l)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	up(h, "ext0", "192.0.2.1/24")
	oh := out.handle(t)
	up(oh, "ext1", "192.0.2.2/24")
	lo, _ := oh.LinkByName("lo")
	oh.LinkSetUp(lo)
	return out
}

func TestPublishedPortAndMasquerade(t *testing.T) {
	e := newEnv(t)
	out := e.outside(t)
	a := e.container(t, "", PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"})
	b := e.container(t, "")
	serve(t, a.ns, ":80")

	t.Run("from outside via DNAT", func(t *testing.T) {
		from, err := ask(out, "192.0.2.1:8080", 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if from != "192.0.2.2" {
			t.Errorf("container saw %s, want the outside's own 192.0.2.2 (DNAT only)", from)
		}
	})
	t.Run("from 127.0.0.1 on the host", func(t *testing.T) {
		from, err := ask(e.host, "127.0.0.1:8080", 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if from != "10.88.0.1" {
			t.Errorf("container saw %s, want the gateway 10.88.0.1 (loopback source masqueraded)", from)
		}
	})
	t.Run("hairpin from a container on the same bridge", func(t *testing.T) {
		from, err := ask(b.ns, "192.0.2.1:8080", 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if from != "10.88.0.1" {
			t.Errorf("container saw %s, want the gateway 10.88.0.1", from)
		}
	})
	t.Run("container to outside is masqueraded", func(t *testing.T) {
		serve(t, out, "192.0.2.2:7000")
		from, err := ask(a.ns, "192.0.2.2:7000", 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if from != "192.0.2.1" {
			t.Errorf("outside saw %s, want the host's 192.0.2.1", from)
		}
	})
	if err := e.m.Detach(ctx, a.lease.ContainerID); err != nil {
		t.Fatal(err)
	}
	if _, err := ask(out, "192.0.2.1:8080", 300*time.Millisecond); err == nil {
		t.Error("published port still answers after Detach")
	}
}

func TestNetworksIsolated(t *testing.T) {
	e := newEnv(t)
	red, err := e.m.Create(ctx, "red", netip.Prefix{})
	if err != nil {
		t.Fatal(err)
	}
	blue, err := e.m.Create(ctx, "blue", netip.MustParsePrefix("10.90.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	if red.Subnet.String() != "10.89.0.0/24" || red.Bridge != "minirun1" || blue.Bridge != "minirun2" {
		t.Errorf("networks %+v %+v", red, blue)
	}
	r1 := e.container(t, "red")
	r2 := e.container(t, "red")
	b1 := e.container(t, "blue")
	d1 := e.container(t, "")
	serve(t, r1.ns, ":9000")
	serve(t, b1.ns, ":9000")
	addr := func(c *ctr) string { return net.JoinHostPort(c.lease.Address.Addr().String(), "9000") }

	if _, err := ask(r2.ns, addr(r1), 2*time.Second); err != nil {
		t.Errorf("red to red: %v", err)
	}
	if _, err := ask(e.host, addr(b1), 2*time.Second); err != nil {
		t.Errorf("host to blue: %v", err)
	}
	if _, err := ask(r1.ns, addr(b1), 300*time.Millisecond); err == nil {
		t.Error("red reached blue")
	}
	if _, err := ask(b1.ns, addr(r1), 300*time.Millisecond); err == nil {
		t.Error("blue reached red")
	}
	if _, err := ask(d1.ns, addr(r1), 300*time.Millisecond); err == nil {
		t.Error("the default network reached red")
	}

	if err := e.m.Remove(ctx, "red"); !errors.Is(err, ErrNetworkInUse) {
		t.Errorf("Remove of a network in use = %v, want ErrNetworkInUse", err)
	}
	for _, c := range []*ctr{r1, r2} {
		if err := e.m.Detach(ctx, c.lease.ContainerID); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.m.Remove(ctx, "red"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.host.handle(t).LinkByName("minirun1"); err == nil {
		t.Error("bridge minirun1 left after Remove")
	}
	if n := len(rulesTagged(t, e.host, netTag("red"))); n != 0 {
		t.Errorf("%d rules of network red left after Remove", n)
	}
	if _, err := e.m.Get("red"); !errors.Is(err, ErrNetworkNotFound) {
		t.Errorf("Get after Remove = %v", err)
	}
	if _, err := e.m.Create(ctx, "blue", netip.Prefix{}); !errors.Is(err, ErrNetworkExists) {
		t.Errorf("Create of an existing network = %v", err)
	}
	if _, err := e.m.Create(ctx, "green", netip.MustParsePrefix("10.90.0.0/16")); err == nil {
		t.Error("Create with an overlapping subnet succeeded")
	}
	nets, err := e.m.List()
	if err != nil || len(nets) != 2 || nets[0].Name != DefaultNetwork || nets[1].Name != "blue" {
		t.Errorf("List = %v, %v", nets, err)
	}
}

func TestGC(t *testing.T) {
	e := newEnv(t)
	live := e.container(t, "", PortMapping{HostPort: 8081, ContainerPort: 80, Protocol: "tcp"})
	dead := e.container(t, "", PortMapping{HostPort: 8082, ContainerPort: 80, Protocol: "tcp"})
	// A crash after Detach released the lease but before it removed the
	// rules and veth.
	orphan := e.container(t, "", PortMapping{HostPort: 8083, ContainerPort: 80, Protocol: "tcp"})
	if err := os.Remove(e.m.leasePath(orphan.lease.ContainerID)); err != nil {
		t.Fatal(err)
	}
	// A veth minirun made whose lease is gone, and a stranger's link.
	h := e.host.handle(t)
	for _, v := range []*netlink.Veth{
		{LinkAttrs: netlink.LinkAttrs{Name: "mr-00000000dead"}, PeerName: "peer-dead"},
		{LinkAttrs: netlink.LinkAttrs{Name: "other0"}, PeerName: "other1"},
	} {
		if err := h.LinkAdd(v); err != nil {
			t.Fatal(err)
		}
	}

	removed, err := e.m.GC(ctx, func(id string) bool { return id == live.lease.ContainerID })
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	want := []string{dead.lease.ContainerID, orphan.lease.ContainerID}
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Errorf("GC removed %v, want %v", removed, want)
	}
	for _, name := range []string{dead.lease.HostVeth, orphan.lease.HostVeth, "mr-00000000dead"} {
		if _, err := h.LinkByName(name); err == nil {
			t.Errorf("GC left %s", name)
		}
	}
	for _, name := range []string{live.lease.HostVeth, "other0", DefaultBridge} {
		if _, err := h.LinkByName(name); err != nil {
			t.Errorf("GC removed %s: %v", name, err)
		}
	}
	for _, c := range []*ctr{dead, orphan} {
		if n := len(rulesTagged(t, e.host, ctrTag(c.lease.ContainerID))); n != 0 {
			t.Errorf("GC left %d rules of %s", n, c.lease.ContainerID[:12])
		}
	}
	if n := len(rulesTagged(t, e.host, ctrTag(live.lease.ContainerID))); n != 1 {
		t.Errorf("live container has %d rules after GC, want 1", n)
	}
	if _, err := e.m.Lease(dead.lease.ContainerID); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dead container's lease after GC: %v", err)
	}
	if removed, err := e.m.GC(ctx, func(string) bool { return true }); err != nil || len(removed) != 0 {
		t.Errorf("second GC = %v, %v; want nothing", removed, err)
	}
}

// TestConcurrentAllocate runs 50 Allocate calls at once, half through one
// Manager and half through Managers of their own (as separate processes
// would), and wants 50 addresses. Allocate without ports touches only
// files, so this test needs neither root nor a namespace; it must not call
// anything that does.
func TestConcurrentAllocate(t *testing.T) {
	root := t.TempDir()
	shared, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	const n = 50
	var wg sync.WaitGroup
	leases := make([]*Lease, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := shared
			if i%2 == 1 {
				own, err := Open(root)
				if err != nil {
					errs[i] = err
					return
				}
				defer own.Close()
				m = own
			}
			leases[i], errs[i] = m.Allocate(ctx, AllocRequest{ContainerID: newID()})
		}()
	}
	wg.Wait()
	seen := map[netip.Prefix]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Allocate %d: %v", i, errs[i])
		}
		if seen[leases[i].Address] {
			t.Errorf("address %s given twice", leases[i].Address)
		}
		seen[leases[i].Address] = true
	}
	all, err := shared.Leases()
	if err != nil || len(all) != n {
		t.Errorf("Leases() = %d, %v; want %d", len(all), err, n)
	}
	for a := range seen {
		if a.Addr().As4()[2] != 0 || a.Addr().As4()[3] < 2 || a.Addr().As4()[3] > n+1 {
			t.Errorf("address %s outside 10.88.0.2-10.88.0.%d: not the lowest free", a, n+1)
		}
	}
}

func TestLockHonoursContext(t *testing.T) {
	m, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	unlock, err := m.lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := m.Allocate(c, AllocRequest{ContainerID: newID()}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Allocate while locked = %v, want context.DeadlineExceeded", err)
	}
}

func TestSysctlInHostNamespace(t *testing.T) {
	e := newEnv(t)
	e.container(t, "")
	var fwd []byte
	var err error
	e.host.Do(func() { fwd, err = os.ReadFile("/proc/sys/net/ipv4/ip_forward") })
	if err != nil || strings.TrimSpace(string(fwd)) != "1" {
		t.Errorf("ip_forward in the host namespace = %q, %v; want 1", fwd, err)
	}
	e.host.Do(func() { fwd, err = os.ReadFile("/proc/sys/net/ipv4/conf/minirun0/route_localnet") })
	if err != nil || strings.TrimSpace(string(fwd)) != "1" {
		t.Errorf("route_localnet of minirun0 = %q, %v; want 1", fwd, err)
	}
	br, err := e.host.handle(t).LinkByName(DefaultBridge)
	if err != nil || br.Attrs().HardwareAddr.String() != "02:42:0a:58:00:01" {
		t.Errorf("bridge %v, %v; want address 02:42:0a:58:00:01", br, err)
	}
}

// TestConcurrentAttach wires containers at once: they race to create the
// bridge, its address and the table, and must all succeed.
func TestConcurrentAttach(t *testing.T) {
	e := newEnv(t)
	const n = 8
	paths := make([]string, n)
	for i := range paths {
		paths[i] = sleeper(t)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := e.m.Allocate(ctx, AllocRequest{ContainerID: newID(), Ports: []PortMapping{{ContainerPort: 80, Protocol: "tcp"}}})
			if err == nil {
				err = e.m.Attach(ctx, l, paths[i])
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("container %d: %v", i, err)
		}
	}
	if n := len(rulesTagged(t, e.host, tagBase)); n != len(TableRules()) {
		t.Errorf("%d base rules after concurrent Attach calls, want %d", n, len(TableRules()))
	}
}

// BenchmarkAttach measures wiring one container in-process: Allocate,
// Attach and Detach, with the bridge and table already in place. It also
// reports each phase alone: Detach is most of the total, because deleting
// a veth waits for RCU grace periods in the kernel (when a container's
// namespace dies first, the kernel deletes the veth itself, in the
// background, and Detach only removes rules and the lease).
func BenchmarkAttach(b *testing.B) {
	e := newEnv(b)
	path := sleeper(b)
	var alloc, attach, detach time.Duration
	for b.Loop() {
		t0 := time.Now()
		l, err := e.m.Allocate(ctx, AllocRequest{ContainerID: newID()})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := e.m.Attach(ctx, l, path); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := e.m.Detach(ctx, l.ContainerID); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		alloc += t1.Sub(t0)
		attach += t2.Sub(t1)
		detach += t3.Sub(t2)
	}
	n := float64(b.N)
	b.ReportMetric(float64(alloc.Nanoseconds())/n, "allocate-ns/op")
	b.ReportMetric(float64(attach.Nanoseconds())/n, "attach-ns/op")
	b.ReportMetric(float64(detach.Nanoseconds())/n, "detach-ns/op")
}
