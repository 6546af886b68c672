package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/explain"
)

// Attach wires a container to its lease's network: it carries out
// PlanAttach(l, netnsPath) step by step. netnsPath names the container's
// network namespace (/proc/PID/ns/net). If a step fails, Attach removes
// the veth and rules it made (the bridge and the table stay: other
// containers share them) and says which step failed.
func (m *Manager) Attach(ctx context.Context, l *Lease, netnsPath string) (err error) {
	ctrNS, err := netns.GetFromPath(netnsPath)
	if err != nil {
		return fmt.Errorf("attach network: open %s: %w", netnsPath, err)
	}
	defer ctrNS.Close()
	// Both handles hold netlink sockets created in their namespace, so
	// every call below reaches the right namespace from any thread.
	host, err := netlink.NewHandleAt(netns.NsHandle(m.host.fd), unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("attach network: netlink socket in host namespace: %w", err)
	}
	defer host.Close()
	ctr, err := netlink.NewHandleAt(ctrNS, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("attach network: netlink socket in %s: %w", netnsPath, err)
	}
	defer ctr.Close()

	a := &applier{m: m, host: host, ctr: ctr, ctrNS: ctrNS, lease: l}
	defer func() {
		if err != nil {
			for i := len(a.undo) - 1; i >= 0; i-- {
				a.undo[i]()
			}
			err = fmt.Errorf("attach network: %w", err)
		}
	}()
	for _, s := range PlanAttach(l, netnsPath) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := a.apply(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s.Verb(), err)
		}
		if m.Explain.Enabled() {
			// Multi-line steps (the nftables table and rules) become one
			// explained line each.
			for _, line := range strings.Split(s.Command(), "\n") {
				m.Explain.Step(explain.Step{Phase: explain.PhaseNetwork, Text: strings.TrimSpace(line), Man: s.Man,
					Fields: map[string]any{"op": s.Verb()}})
			}
		}
	}
	return nil
}

// applier carries out Steps and remembers how to undo them.
type applier struct {
	m         *Manager
	host, ctr *netlink.Handle
	ctrNS     netns.NsHandle
	lease     *Lease
	undo      []func()
}

func (a *applier) apply(ctx context.Context, s Step) error {
	h := a.host
	if s.NetNS != "" {
		h = a.ctr
	}
	switch s.Op {
	case OpBridgeAdd:
		return ensureBridge(a.host, s.Link, s.MAC)
	case OpAddrAdd:
		link, err := h.LinkByName(s.Link)
		if err != nil {
			return err
		}
		err = h.AddrAdd(link, &netlink.Addr{IPNet: ipNet(s.Addr)})
		if s.NetNS == "" && errors.Is(err, unix.EEXIST) {
			return nil // the bridge's address, added by an earlier Attach
		}
		return err
	case OpLinkUp:
		link, err := h.LinkByName(s.Link)
		if err != nil {
			return err
		}
		return h.LinkSetUp(link)
	case OpSysctl:
		changed, err := a.m.setSysctl(s.Key, s.Value)
		if changed {
			// ip_forward changes how the whole host treats packets, so
			// the operator hears of it; route_localnet is the bridge's own.
			level := slog.LevelDebug
			if s.Key == "net/ipv4/ip_forward" {
				level = slog.LevelInfo
			}
			a.m.logger().Log(ctx, level, "changed sysctl for container networking",
				"sysctl", strings.ReplaceAll(s.Key, "/", "."), "value", s.Value)
		}
		return err
	case OpTable:
		unlock, err := a.m.lock(ctx)
		if err != nil {
			return err
		}
		defer unlock()
		return a.m.ensureTable(s.Rules)
	case OpVethAdd:
		veth := &netlink.Veth{
			LinkAttrs:        netlink.LinkAttrs{Name: s.Link},
			PeerName:         s.Peer,
			PeerHardwareAddr: s.MAC,
			PeerNamespace:    netlink.NsFd(int(a.ctrNS)),
		}
		if err := a.host.LinkAdd(veth); err != nil {
			return err
		}
		name := s.Link
		a.undo = append(a.undo, func() { deleteLink(a.host, name) })
		return nil
	case OpLinkMaster:
		link, err := a.host.LinkByName(s.Link)
		if err != nil {
			return err
		}
		br, err := a.host.LinkByName(s.Peer)
		if err != nil {
			return err
		}
		if err := a.host.LinkSetMaster(link, br); err != nil {
			return err
		}
		return a.host.LinkSetUp(link)
	case OpRouteAdd:
		link, err := h.LinkByName(s.Link)
		if err != nil {
			return err
		}
		return h.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: s.Gw.AsSlice()})
	case OpRules:
		unlock, err := a.m.lock(ctx)
		if err != nil {
			return err
		}
		defer unlock()
		if err := a.m.addContainerRules(s.Rules); err != nil {
			return err
		}
		id := a.lease.ContainerID
		a.undo = append(a.undo, func() {
			// Attach's caller gets the first error; undo is best effort and
			// whatever it leaves, GC finds by the tag.
			if unlock, err := a.m.lock(context.WithoutCancel(ctx)); err == nil {
				a.m.deleteRules(func(tag string) bool { return tag == ctrTag(id) })
				unlock()
			}
		})
		return nil
	}
	return fmt.Errorf("unknown step %d", int(s.Op))
}

// ensureBridge creates a bridge unless one of that name exists. Two
// Attach calls may race to create it; the loser's EEXIST is success.
func ensureBridge(h *netlink.Handle, name string, mac net.HardwareAddr) error {
	err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, HardwareAddr: mac}})
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EEXIST) {
		return err
	}
	link, err := h.LinkByName(name)
	if err != nil {
		return err
	}
	if t := link.Type(); t != "bridge" {
		return fmt.Errorf("%s exists and is a %s, not a bridge", name, t)
	}
	return nil
}

// deleteLink deletes a link by name; a missing one is fine. Deleting
// either end of a veth deletes both.
func deleteLink(h *netlink.Handle, name string) error {
	link, err := h.LinkByName(name)
	if err != nil {
		if _, ok := err.(netlink.LinkNotFoundError); ok {
			return nil
		}
		return err
	}
	if err := h.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return err
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func (m *Manager) hostHandle() (*netlink.Handle, error) {
	h, err := netlink.NewHandleAt(netns.NsHandle(m.host.fd), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket in host namespace: %w", err)
	}
	return h, nil
}

// Detach undoes Attach and Allocate: it deletes the container's rules and
// host veth and releases its lease. Each is skipped when already gone,
// so Detach may be called any number of times, after a failed Attach,
// or for a container that never had a network. When the container's
// namespace dies first, the kernel has already deleted the veth.
func (m *Manager) Detach(ctx context.Context, containerID string) error {
	if err := checkID(containerID); err != nil {
		return fmt.Errorf("detach network: %w", err)
	}
	unlock, err := m.lock(ctx)
	if err != nil {
		return fmt.Errorf("detach network of %s: %w", shortID(containerID), err)
	}
	defer unlock()
	if err := m.release(containerID, VethName(containerID)); err != nil {
		return fmt.Errorf("detach network of %s: %w", shortID(containerID), err)
	}
	return nil
}

// Release is Detach for a container whose network namespace is already
// gone (its last process exited): it deletes the container's rules and
// releases its lease, and leaves the veth to the kernel, which deletes
// both ends when it destroys the namespace. Deleting the veth here instead
// would wait for that same teardown (an RCU grace period and more, about
// 20 ms). A veth that outlives its namespace all the same (one another
// process still holds) is GC's.
func (m *Manager) Release(ctx context.Context, containerID string) error {
	if err := checkID(containerID); err != nil {
		return fmt.Errorf("release network: %w", err)
	}
	unlock, err := m.lock(ctx)
	if err != nil {
		return fmt.Errorf("release network of %s: %w", shortID(containerID), err)
	}
	defer unlock()
	if _, err := m.deleteRules(func(tag string) bool { return tag == ctrTag(containerID) }); err != nil {
		return fmt.Errorf("release network of %s: %w", shortID(containerID), err)
	}
	return m.removeLease(containerID)
}

// release removes a container's rules, veth and lease; the lock is held.
func (m *Manager) release(id, veth string) error {
	if _, err := m.deleteRules(func(tag string) bool { return tag == ctrTag(id) }); err != nil {
		return err
	}
	h, err := m.hostHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	if err := deleteLink(h, veth); err != nil {
		return fmt.Errorf("delete veth %s: %w", veth, err)
	}
	return m.removeLease(id)
}

// GC releases the lease, rules and veth of every container alive says is
// gone, then deletes mr-* veths and container rules that no lease names
// (what a crash between the steps of Attach or Detach leaves). It touches
// only objects with minirun's names and tags. alive must report true for
// a container that is still being created. removed lists the container
// IDs whose leases or rules went.
func (m *Manager) GC(ctx context.Context, alive func(containerID string) bool) (removed []string, err error) {
	unlock, err := m.lock(ctx)
	if err != nil {
		return nil, fmt.Errorf("gc network: %w", err)
	}
	defer unlock()
	leases, err := m.Leases()
	if err != nil {
		return nil, fmt.Errorf("gc network: %w", err)
	}
	live := map[string]bool{}
	liveVeth := map[string]bool{}
	for _, l := range leases {
		if alive(l.ContainerID) {
			live[l.ContainerID] = true
			liveVeth[l.HostVeth] = true
			continue
		}
		if err := m.release(l.ContainerID, l.HostVeth); err != nil {
			return removed, fmt.Errorf("gc network of %s: %w", shortID(l.ContainerID), err)
		}
		removed = append(removed, l.ContainerID)
	}
	tags, err := m.deleteRules(func(tag string) bool {
		id, ok := ctrFromTag(tag)
		return ok && !live[id]
	})
	if err != nil {
		return removed, fmt.Errorf("gc network: %w", err)
	}
	for _, t := range tags {
		id, _ := ctrFromTag(t)
		if !slices.Contains(removed, id) {
			removed = append(removed, id)
		}
	}
	h, err := m.hostHandle()
	if err != nil {
		return removed, fmt.Errorf("gc network: %w", err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return removed, fmt.Errorf("gc network: list links: %w", err)
	}
	for _, l := range links {
		name := l.Attrs().Name
		if l.Type() != "veth" || !strings.HasPrefix(name, VethPrefix) || liveVeth[name] {
			continue
		}
		if err := deleteLink(h, name); err != nil {
			return removed, fmt.Errorf("gc network: delete veth %s: %w", name, err)
		}
		m.logger().InfoContext(ctx, "deleted stray veth", "link", name)
	}
	return removed, nil
}

// teardownNetwork deletes a network's rules and bridge; the lock is held.
func (m *Manager) teardownNetwork(n Network) error {
	if !isMinirunBridge(n.Bridge) {
		return fmt.Errorf("refusing to delete %s: not a minirun bridge name", n.Bridge)
	}
	if _, err := m.deleteRules(func(tag string) bool { return tag == netTag(n.Name) }); err != nil {
		return err
	}
	h, err := m.hostHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	if err := deleteLink(h, n.Bridge); err != nil {
		return fmt.Errorf("delete bridge %s: %w", n.Bridge, err)
	}
	return nil
}
