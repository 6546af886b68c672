package network

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Names of everything minirun creates, so that GC (and a human with ip(8)
// and nft(8)) can find it after a crash.
const (
	// DefaultNetwork is the network a container joins when it names none.
	// It exists without a file under the root.
	DefaultNetwork = "minirun"
	// DefaultBridge is the default network's bridge; named networks get
	// BridgePrefix plus a number from 1.
	DefaultBridge = "minirun0"
	// BridgePrefix starts the name of every bridge minirun makes.
	BridgePrefix = "minirun"
	// VethPrefix starts the host end of every veth minirun makes, followed
	// by the first 12 hex digits of the container ID: 15 bytes, the most
	// IFNAMSIZ allows.
	VethPrefix = "mr-"
	// ContainerIf is the name of the container's end of its veth.
	ContainerIf = "eth0"
	// TableName is the nftables table (family ip) that holds every rule
	// minirun adds.
	TableName = "minirun"
)

var (
	// DefaultSubnet is the default network's subnet; its first address is
	// the gateway, on the bridge.
	DefaultSubnet = netip.MustParsePrefix("10.88.0.0/16")
	// autoSubnets is where Create picks a subnet when given none:
	// the first 10.89.N.0/24 that overlaps no other network.
	autoSubnets = netip.MustParsePrefix("10.89.0.0/16")
)

// Errors callers may test with errors.Is.
var (
	ErrNetworkNotFound = errors.New("network not found")
	ErrNetworkExists   = errors.New("network already exists")
	ErrNetworkInUse    = errors.New("network in use")
	ErrPortInUse       = errors.New("port already in use")
	ErrNoAddress       = errors.New("no free address")
)

// Network is a bridge and the subnet behind it. Named networks are stored
// as ROOT/<name>.json; the default network is never stored.
type Network struct {
	Name    string       `json:"name"`
	Bridge  string       `json:"bridge"`
	Subnet  netip.Prefix `json:"subnet"`
	Gateway netip.Addr   `json:"gateway"`
}

// Default returns the default network.
func Default() Network {
	return Network{
		Name:    DefaultNetwork,
		Bridge:  DefaultBridge,
		Subnet:  DefaultSubnet,
		Gateway: DefaultSubnet.Addr().Next(),
	}
}

// PortMapping publishes ContainerPort on the host: connections to
// HostIP:HostPort (any local address when HostIP is not valid) are
// forwarded to the container.
type PortMapping struct {
	HostIP        netip.Addr `json:"hostIP,omitzero"`
	HostPort      uint16     `json:"hostPort"` // 0: the kernel picks one in Allocate
	ContainerPort uint16     `json:"containerPort"`
	Protocol      string     `json:"protocol"` // "tcp" or "udp"
}

// String writes the mapping the way docker ps does: 0.0.0.0:8080->80/tcp.
func (p PortMapping) String() string {
	ip := "0.0.0.0"
	if p.HostIP.IsValid() {
		ip = p.HostIP.String()
	}
	return fmt.Sprintf("%s:%d->%d/%s", ip, p.HostPort, p.ContainerPort, p.Protocol)
}

// overlaps reports whether p and q claim the same host socket: same
// protocol and port, and host addresses that are equal or where one is
// "any".
func (p PortMapping) overlaps(q PortMapping) bool {
	if p.Protocol != q.Protocol || p.HostPort != q.HostPort || p.HostPort == 0 {
		return false
	}
	return !p.HostIP.IsValid() || !q.HostIP.IsValid() || p.HostIP == q.HostIP
}

// AllocRequest asks Allocate for an address on a network.
type AllocRequest struct {
	ContainerID string        // 12 to 64 lowercase hex digits
	Network     string        // "" means DefaultNetwork
	Ports       []PortMapping // HostPort 0 means any free port
	Hostname    string
}

// Lease is what Allocate reserved for one container; Attach wires it and
// Detach releases it. Stored as ROOT/leases/<ContainerID>.json.
type Lease struct {
	ContainerID string        `json:"containerID"`
	Network     string        `json:"network"`
	Bridge      string        `json:"bridge"`
	Address     netip.Prefix  `json:"address"` // the container's address with the subnet's length
	Gateway     netip.Addr    `json:"gateway"`
	MAC         string        `json:"mac"`
	HostVeth    string        `json:"hostVeth"`
	Ports       []PortMapping `json:"ports,omitempty"` // host ports resolved
	Hostname    string        `json:"hostname,omitempty"`
}

var (
	idRE   = regexp.MustCompile(`^[0-9a-f]{12,64}$`)
	nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)
)

func checkID(id string) error {
	if !idRE.MatchString(id) {
		return fmt.Errorf("invalid container id %q: want 12 to 64 lowercase hex digits", id)
	}
	return nil
}

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid network name %q: want letters, digits, '_', '.', '-' (at most 63, not starting with a symbol)", name)
	}
	return nil
}

// VethName returns the host end's name of a container's veth:
// "mr-" and the first 12 hex digits of its ID.
func VethName(containerID string) string {
	if len(containerID) > 12 {
		containerID = containerID[:12]
	}
	return VethPrefix + containerID
}

// isMinirunBridge reports whether name is one minirun makes: minirunN.
func isMinirunBridge(name string) bool {
	rest, ok := strings.CutPrefix(name, BridgePrefix)
	if !ok || rest == "" {
		return false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
