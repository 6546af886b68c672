package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/minirun/minirun/internal/explain"
)

// Manager keeps the networks and leases under one root directory:
//
//	ROOT/lock               flock(2)ed around every change
//	ROOT/<name>.json        one named network
//	ROOT/leases/<id>.json   one container's lease
//
// Its host side is the network namespace of the thread that called Open:
// links, nftables rules and sysctls are made there, whatever thread later
// calls a method. A Manager is safe for concurrent use, and so are many
// Managers (in many processes) on one root.
type Manager struct {
	root string
	host hostNS
	// Logger receives what the Manager changes on the host beyond its
	// own objects (for example turning on ip_forward). Open sets it to
	// slog.Default().
	Logger *slog.Logger
	// Explain receives each step of Attach as it is done, in the words of
	// ip(8) and nft(8) (--explain). nil: none.
	Explain *explain.Sink
}

// Root returns the directory the Manager keeps its state in.
func (m *Manager) Root() string { return m.root }

func (m *Manager) leaseDir() string           { return filepath.Join(m.root, "leases") }
func (m *Manager) leasePath(id string) string { return filepath.Join(m.leaseDir(), id+".json") }
func (m *Manager) netPath(name string) string { return filepath.Join(m.root, name+".json") }
func (m *Manager) logger() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.Default()
}

// Get returns the network called name ("" is the default network).
func (m *Manager) Get(name string) (Network, error) {
	if name == "" || name == DefaultNetwork {
		return Default(), nil
	}
	if err := checkName(name); err != nil {
		return Network{}, err
	}
	var n Network
	if err := readJSON(m.netPath(name), &n); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Network{}, fmt.Errorf("network %s: %w", name, ErrNetworkNotFound)
		}
		return Network{}, fmt.Errorf("read network %s: %w", name, err)
	}
	return n, nil
}

// List returns every network, the default one first, then by name.
func (m *Manager) List() ([]Network, error) {
	ents, err := os.ReadDir(m.root)
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	nets := []Network{Default()}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() || checkName(name) != nil {
			continue
		}
		n, err := m.Get(name)
		if err != nil {
			return nil, fmt.Errorf("list networks: %w", err)
		}
		nets = append(nets, n)
	}
	return nets, nil
}

// Create makes a named network. A zero subnet picks the first free
// 10.89.N.0/24. Its bridge, minirunN, is created when the first container
// attaches.
func (m *Manager) Create(ctx context.Context, name string, subnet netip.Prefix) (Network, error) {
	if err := checkName(name); err != nil {
		return Network{}, fmt.Errorf("create network: %w", err)
	}
	if name == DefaultNetwork {
		return Network{}, fmt.Errorf("create network %s: %w", name, ErrNetworkExists)
	}
	if subnet.IsValid() {
		if err := checkSubnet(subnet); err != nil {
			return Network{}, fmt.Errorf("create network %s: %w", name, err)
		}
	}
	unlock, err := m.lock(ctx)
	if err != nil {
		return Network{}, fmt.Errorf("create network %s: %w", name, err)
	}
	defer unlock()

	nets, err := m.List()
	if err != nil {
		return Network{}, fmt.Errorf("create network %s: %w", name, err)
	}
	var taken []netip.Prefix
	bridges := map[string]bool{}
	for _, n := range nets {
		if n.Name == name {
			return Network{}, fmt.Errorf("create network %s: %w", name, ErrNetworkExists)
		}
		if subnet.IsValid() && n.Subnet.Overlaps(subnet) {
			return Network{}, fmt.Errorf("create network %s: subnet %s overlaps %s of network %s", name, subnet, n.Subnet, n.Name)
		}
		taken = append(taken, n.Subnet)
		bridges[n.Bridge] = true
	}
	if !subnet.IsValid() {
		if subnet, err = pickSubnet(taken); err != nil {
			return Network{}, fmt.Errorf("create network %s: %w", name, err)
		}
	}
	n := Network{Name: name, Bridge: pickBridge(bridges), Subnet: subnet, Gateway: subnet.Addr().Next()}
	if err := writeJSON(m.netPath(name), n); err != nil {
		return Network{}, fmt.Errorf("create network %s: %w", name, err)
	}
	return n, nil
}

// Remove deletes a named network, its bridge and its rules. It refuses
// (ErrNetworkInUse) while a lease is on the network.
func (m *Manager) Remove(ctx context.Context, name string) error {
	if name == "" || name == DefaultNetwork {
		return fmt.Errorf("remove network %s: the default network cannot be removed", DefaultNetwork)
	}
	unlock, err := m.lock(ctx)
	if err != nil {
		return fmt.Errorf("remove network %s: %w", name, err)
	}
	defer unlock()
	n, err := m.Get(name)
	if err != nil {
		return fmt.Errorf("remove network: %w", err)
	}
	leases, err := m.Leases()
	if err != nil {
		return fmt.Errorf("remove network %s: %w", name, err)
	}
	var users []string
	for _, l := range leases {
		if l.Network == name {
			users = append(users, l.ContainerID)
		}
	}
	if len(users) > 0 {
		return fmt.Errorf("remove network %s: %w by %d container(s): %s", name, ErrNetworkInUse, len(users), strings.Join(users, ", "))
	}
	if err := m.teardownNetwork(n); err != nil {
		return fmt.Errorf("remove network %s: %w", name, err)
	}
	if err := os.Remove(m.netPath(name)); err != nil {
		return fmt.Errorf("remove network %s: %w", name, err)
	}
	return nil
}

// Leases returns every lease, ordered by container ID.
func (m *Manager) Leases() ([]*Lease, error) {
	ents, err := os.ReadDir(m.leaseDir())
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	var out []*Lease
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || checkID(id) != nil {
			continue // temporary files of writeJSON, strangers
		}
		l, err := m.Lease(id)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// Lease returns the lease of a container; the error wraps fs.ErrNotExist
// when there is none.
func (m *Manager) Lease(containerID string) (*Lease, error) {
	if err := checkID(containerID); err != nil {
		return nil, err
	}
	var l Lease
	if err := readJSON(m.leasePath(containerID), &l); err != nil {
		return nil, fmt.Errorf("read lease of %s: %w", containerID, err)
	}
	return &l, nil
}

// Allocate reserves an address, a MAC, a veth name and the host ports of
// req, and records them as a lease. It creates nothing in the kernel, so
// a port that is taken (bound on the host, or published by another
// lease) fails here, with ErrPortInUse, before anything exists to undo.
func (m *Manager) Allocate(ctx context.Context, req AllocRequest) (*Lease, error) {
	l, err := m.allocate(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("allocate network for %s: %w", shortID(req.ContainerID), err)
	}
	return l, nil
}

func (m *Manager) allocate(ctx context.Context, req AllocRequest) (*Lease, error) {
	if err := checkID(req.ContainerID); err != nil {
		return nil, err
	}
	for _, p := range req.Ports {
		if p.ContainerPort == 0 || (p.Protocol != "tcp" && p.Protocol != "udp") {
			return nil, fmt.Errorf("invalid port mapping %s", p)
		}
		if p.HostIP.IsValid() && !p.HostIP.Is4() {
			return nil, fmt.Errorf("port mapping %s: only IPv4 host addresses are supported", p)
		}
	}
	unlock, err := m.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()

	n, err := m.Get(req.Network)
	if err != nil {
		return nil, err
	}
	leases, err := m.Leases()
	if err != nil {
		return nil, err
	}
	veth := VethName(req.ContainerID)
	used := map[netip.Addr]bool{}
	var claimed []PortMapping
	owner := map[int]string{}
	for _, o := range leases {
		if o.ContainerID == req.ContainerID {
			return nil, fmt.Errorf("container already has a lease on network %s: %w", o.Network, fs.ErrExist)
		}
		if o.HostVeth == veth {
			return nil, fmt.Errorf("veth name %s is taken by container %s (same first 12 hex digits)", veth, o.ContainerID)
		}
		if o.Network == n.Name {
			used[o.Address.Addr()] = true
		}
		for _, p := range o.Ports {
			owner[len(claimed)] = o.ContainerID
			claimed = append(claimed, p)
		}
	}

	ports := slices.Clone(req.Ports)
	// Fixed ports first, so that a random pick can never take one the
	// request names later.
	for i, p := range ports {
		if p.HostPort == 0 {
			continue
		}
		for j, c := range claimed {
			if p.overlaps(c) {
				return nil, fmt.Errorf("publish %s: %w (published by container %s)", hostPortString(p), ErrPortInUse, shortID(owner[j]))
			}
		}
		for _, q := range ports[:i] {
			if p.overlaps(q) {
				return nil, fmt.Errorf("publish %s: %w (named twice)", hostPortString(p), ErrPortInUse)
			}
		}
		if _, err := m.probePort(p); err != nil {
			return nil, err
		}
	}
	for i := range ports {
		if ports[i].HostPort != 0 {
			continue
		}
		if err := m.pickPort(&ports[i], append(slices.Clone(claimed), ports...)); err != nil {
			return nil, err
		}
	}

	addr, err := nextAddr(n.Subnet, n.Gateway, used)
	if err != nil {
		return nil, err
	}
	l := &Lease{
		ContainerID: req.ContainerID,
		Network:     n.Name,
		Bridge:      n.Bridge,
		Address:     netip.PrefixFrom(addr, n.Subnet.Bits()),
		Gateway:     n.Gateway,
		MAC:         macFor(addr).String(),
		HostVeth:    veth,
		Ports:       ports,
		Hostname:    req.Hostname,
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := writeJSON(m.leasePath(l.ContainerID), l); err != nil {
		return nil, fmt.Errorf("write lease: %w", err)
	}
	return l, nil
}

// pickPort lets the kernel choose a free host port for p (bind to port
// 0), retrying when the choice is one another lease already publishes
// (nothing listens on published ports, so the kernel cannot know).
func (m *Manager) pickPort(p *PortMapping, claimed []PortMapping) error {
	for range 32 {
		port, err := m.probePort(*p)
		if err != nil {
			return err
		}
		q := *p
		q.HostPort = port
		if !slices.ContainsFunc(claimed, q.overlaps) {
			*p = q
			return nil
		}
	}
	return fmt.Errorf("publish %s: no free host port found", p)
}

// probePort binds p's host address and port in the host namespace and
// closes the socket again: the only way to know nobody holds it. Port 0
// asks the kernel for a free one, which probePort returns.
func (m *Manager) probePort(p PortMapping) (uint16, error) {
	ip := netip.IPv4Unspecified()
	if p.HostIP.IsValid() {
		ip = p.HostIP
	}
	addr := netip.AddrPortFrom(ip, p.HostPort).String()
	var port uint16
	err := m.inHostNS(func() error {
		switch p.Protocol {
		case "udp":
			c, err := net.ListenPacket("udp4", addr)
			if err != nil {
				return err
			}
			port = uint16(c.LocalAddr().(*net.UDPAddr).Port)
			return c.Close()
		default:
			ln, err := net.Listen("tcp4", addr)
			if err != nil {
				return err
			}
			port = uint16(ln.Addr().(*net.TCPAddr).Port)
			return ln.Close()
		}
	})
	if errors.Is(err, syscall.EADDRINUSE) {
		return 0, fmt.Errorf("publish %s: %w (bound on the host)", hostPortString(p), ErrPortInUse)
	}
	if err != nil {
		return 0, fmt.Errorf("publish %s: %w", hostPortString(p), err)
	}
	return port, nil
}

func hostPortString(p PortMapping) string {
	ip := "0.0.0.0"
	if p.HostIP.IsValid() {
		ip = p.HostIP.String()
	}
	return fmt.Sprintf("%s:%d/%s", ip, p.HostPort, p.Protocol)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

// writeJSON replaces path atomically (a temporary file renamed over it),
// so a reader under no lock never sees half a file.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// removeLease deletes a lease file; a missing one is fine.
func (m *Manager) removeLease(id string) error {
	if err := os.Remove(m.leasePath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("release lease: %w", err)
	}
	return nil
}
