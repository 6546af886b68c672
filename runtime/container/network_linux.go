package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/internal/crashpoint"
	"github.com/minirun/minirun/network"
	"github.com/minirun/minirun/runtime/spec"
)

// Network modes of a container (--network).
const (
	NetBridge    = "bridge"    // a veth on a network's bridge: the default
	NetNone      = "none"      // a namespace of its own with lo only
	NetHost      = "host"      // the host's namespace
	NetContainer = "container" // another container's namespace
)

// NetworkSettings is how a container is networked: what was asked, kept
// for every start, and while it runs on a bridge, what it got.
type NetworkSettings struct {
	Mode string `json:"mode"`
	// Network is the bridge network's name (bridge mode).
	Network string `json:"network,omitempty"`
	// Container is the ID whose namespace it joins (container mode).
	Container string `json:"container,omitempty"`
	// Ports are -p and -P as asked; a HostPort of 0 is picked at start.
	Ports      []network.PortMapping `json:"ports,omitempty"`
	DNS        []string              `json:"dns,omitempty"`
	DNSSearch  []string              `json:"dnsSearch,omitempty"`
	DNSOptions []string              `json:"dnsOptions,omitempty"`
	AddHosts   []string              `json:"addHosts,omitempty"`

	// Set while it runs on a bridge. Holder is the process that wired it
	// (the foreground run or the monitor) and releases it at the exit: if
	// it dies first, gc does.
	IPAddress  netip.Prefix          `json:"ipAddress,omitzero"`
	Gateway    netip.Addr            `json:"gateway,omitzero"`
	MacAddress string                `json:"macAddress,omitempty"`
	Published  []network.PortMapping `json:"published,omitempty"`
	Holder     int                   `json:"holder,omitempty"`
}

// NetworkOptions are run's network flags.
type NetworkOptions struct {
	// Network is --network: bridge (or ""), none, host, container:NAME,
	// or the name of a network made with `network create`.
	Network string
	// Ports are -p's, parsed (network.ParsePort); PublishAll is -P.
	Ports      []network.PortMapping
	PublishAll bool
	DNS        []string
	DNSSearch  []string
	DNSOptions []string
	AddHosts   []string
}

// Networks returns the store's network manager (STORE/networks), opened on
// first use: containers without a bridge never need it.
func (m *Manager) Networks() (*network.Manager, error) {
	if m.nets != nil {
		return m.nets, nil
	}
	n, err := network.Open(filepath.Join(m.store.Root(), "networks"))
	if err != nil {
		return nil, err
	}
	n.Logger = m.log
	n.Explain = m.rt.Explain
	m.nets = n
	return n, nil
}

// networkSettings turns run's flags into the record's settings, and
// checks them: a named network must exist, a joined container must run,
// ports need a bridge. exposed are the image's ExposedPorts, for -P.
func (m *Manager) networkSettings(o NetworkOptions, exposed map[string]struct{}) (NetworkSettings, error) {
	ns := NetworkSettings{DNS: o.DNS, DNSSearch: o.DNSSearch, DNSOptions: o.DNSOptions, AddHosts: o.AddHosts}
	switch mode, target, _ := strings.Cut(o.Network, ":"); {
	case o.Network == "" || o.Network == NetBridge:
		ns.Mode, ns.Network = NetBridge, network.DefaultNetwork
	case o.Network == NetNone || o.Network == NetHost:
		ns.Mode = o.Network
	case mode == NetContainer:
		r, err := m.Resolve(target)
		if err != nil {
			return ns, fmt.Errorf("--network %s: %w", o.Network, err)
		}
		if !m.Running(r) {
			return ns, fmt.Errorf("--network %s: container %s is not running", o.Network, r.Name)
		}
		ns.Mode, ns.Container = NetContainer, r.ID
	default:
		nets, err := m.Networks()
		if err != nil {
			return ns, err
		}
		if _, err := nets.Get(o.Network); err != nil {
			return ns, fmt.Errorf("--network %s: %w", o.Network, err)
		}
		ns.Mode, ns.Network = NetBridge, o.Network
	}
	ns.Ports = slices.Clone(o.Ports)
	if o.PublishAll {
		for _, p := range slices.Sorted(maps.Keys(exposed)) {
			port, proto, _ := strings.Cut(p, "/")
			n, err := strconv.ParseUint(port, 10, 16)
			if err != nil || n == 0 {
				return ns, fmt.Errorf("-P: the image exposes %q, not a port", p)
			}
			if proto == "" {
				proto = "tcp"
			}
			ns.Ports = append(ns.Ports, network.PortMapping{ContainerPort: uint16(n), Protocol: proto})
		}
	}
	if len(ns.Ports) > 0 && ns.Mode != NetBridge {
		return ns, fmt.Errorf("-p and -P publish ports of a bridged container, not with --network %s", o.Network)
	}
	return ns, nil
}

// resolvConf is the container's /etc/resolv.conf: the host's name servers
// (never a loopback one, which would be the container's own: for
// systemd-resolved's stub its upstream list), or --dns's.
func (m *Manager) resolvConf(ns NetworkSettings) (string, error) {
	in, err := network.ReadHostDNS()
	if err != nil {
		return "", err
	}
	in.Servers, in.Search, in.Options = ns.DNS, ns.DNSSearch, ns.DNSOptions
	b, warnings, err := network.ResolvConf(in)
	if err != nil {
		return "", err
	}
	for _, w := range warnings {
		// Only a bridged container asks name servers over a network of
		// its own; to the others the fallback is a detail.
		if ns.Mode == NetBridge {
			m.log.Warn(w)
		} else {
			m.log.Debug(w)
		}
	}
	return string(b), nil
}

// hosts is the container's /etc/hosts: localhost, its name on its address
// (127.0.1.1 until it has one), and --add-host's.
func hosts(hostname string, addr netip.Addr, extra []string) (string, error) {
	if !addr.IsValid() {
		addr = netip.AddrFrom4([4]byte{127, 0, 1, 1}) // Debian's name for the host itself
	}
	b, err := network.Hosts(hostname, addr, extra)
	return string(b), err
}

// netUp prepares a container's network for a start, before its namespaces
// exist: on a bridge, a lease (address and host ports, refused here if a
// port is taken) and /etc/hosts with the address; for container mode, the
// namespace path of the joined container as it runs now. The returned
// attach wires the namespace once init exists; down releases everything,
// whatever happened in between, and may be called more than once.
func (m *Manager) netUp(ctx context.Context, rec *Record) (attach func(pid int) error, down func(), err error) {
	nop := func() {}
	switch rec.Network.Mode {
	case NetContainer:
		r, err := m.Load(rec.Network.Container)
		if err != nil {
			return nil, nop, fmt.Errorf("network container %s: %w", shortID(rec.Network.Container), err)
		}
		st := m.Status(r)
		if st.Status != StatusRunning || st.Pid <= 0 {
			return nil, nop, fmt.Errorf("network container %s is not running", r.Name)
		}
		return nil, nop, m.joinNetNS(rec.ID, "/proc/"+strconv.Itoa(st.Pid)+"/ns/net")
	case NetBridge:
	default:
		return nil, nop, nil
	}
	nets, err := m.Networks()
	if err != nil {
		return nil, nop, err
	}
	hostname := ""
	if b, err := os.ReadFile(m.path(rec.ID, "etc", "hostname")); err == nil {
		hostname = strings.TrimSpace(string(b))
	}
	if _, err := m.update(rec.ID, func(r *Record) { r.Network.Holder = os.Getpid() }); err != nil {
		return nil, nop, err
	}
	lease, err := nets.Allocate(ctx, network.AllocRequest{ContainerID: rec.ID, Network: rec.Network.Network, Ports: rec.Network.Ports, Hostname: hostname})
	if err != nil {
		return nil, nop, err
	}
	down = sync.OnceFunc(func() {
		if err := nets.Release(context.WithoutCancel(ctx), rec.ID); err != nil {
			m.log.Warn("release the container's network (minirun gc retries)", "id", rec.ID, "err", err)
		}
		m.update(rec.ID, func(r *Record) {
			r.Network.IPAddress, r.Network.Gateway, r.Network.MacAddress, r.Network.Published, r.Network.Holder = netip.Prefix{}, netip.Addr{}, "", nil, 0
		})
	})
	h, err := hosts(hostname, lease.Address.Addr(), rec.Network.AddHosts)
	if err == nil {
		err = os.WriteFile(m.path(rec.ID, "etc", "hosts"), []byte(h), 0o644)
	}
	if err == nil {
		_, err = m.update(rec.ID, func(r *Record) {
			r.Network.IPAddress, r.Network.Gateway, r.Network.MacAddress, r.Network.Published = lease.Address, lease.Gateway, lease.MAC, lease.Ports
		})
	}
	if err != nil {
		down()
		return nil, nop, err
	}
	rec.Network.IPAddress, rec.Network.Published = lease.Address, lease.Ports
	attach = func(pid int) error {
		if err := nets.Attach(ctx, lease, "/proc/"+strconv.Itoa(pid)+"/ns/net"); err != nil {
			return err
		}
		// Leased and attached: a crash here kills the process that would
		// release both, the foreground run or the monitor.
		crashpoint.Hit(crashpoint.Network)
		return nil
	}
	return attach, down, nil
}

// joinNetNS points the container's config.json at the network namespace
// it joins: another container's, whose pid differs from start to start.
func (m *Manager) joinNetNS(id, path string) error {
	cfgPath := m.path(id, "config.json")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%s: %w", cfgPath, err)
	}
	if s.Linux == nil {
		return fmt.Errorf("%s: no linux section", cfgPath)
	}
	i := slices.IndexFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.NetworkNamespace })
	if i < 0 {
		return fmt.Errorf("%s: no network namespace to join", cfgPath)
	}
	s.Linux.Namespaces[i].Path = path
	out, err := json.MarshalIndent(&s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(cfgPath, out, 0o600)
}

// netRemove releases whatever network a removed container still holds:
// rules, lease and, should its namespace live on, the veth.
func (m *Manager) netRemove(r *Record) error {
	if r.Network.Mode != NetBridge {
		return nil
	}
	nets, err := m.Networks()
	if err != nil {
		return err
	}
	return nets.Detach(context.Background(), r.ID)
}

// netGC releases the leases, rules and veths of containers that are gone
// or no longer run, and whose network no live process holds.
func (m *Manager) netGC(ctx context.Context) ([]string, error) {
	if _, err := os.Stat(filepath.Join(m.store.Root(), "networks")); errors.Is(err, os.ErrNotExist) {
		return nil, nil // no container ever had a bridge
	}
	nets, err := m.Networks()
	if err != nil {
		return nil, err
	}
	return nets.GC(ctx, func(id string) bool {
		// The run lock first: Running would wait for the runtime's lock,
		// which a create holds while it attaches, under the lock of the
		// networks that this callback runs under.
		if m.runHeld(id) {
			return true
		}
		r, err := m.Load(id)
		return err == nil && m.Running(r)
	})
}

// specNetwork is the runtime-spec side of the settings.
func specNetwork(ns NetworkSettings, r *spec.ImageRun) {
	switch ns.Mode {
	case NetContainer:
		// The path is set at each start (joinNetNS); a placeholder until
		// then, which FromImage checks only for being absolute.
		r.Network, r.NetNS = "container", "/proc/self/ns/net"
	default:
		r.Network = ns.Mode
	}
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
