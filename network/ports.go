package network

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ParsePort parses one value of docker's -p flag:
//
//	[HOSTIP:][HOSTPORT:]CONTAINERPORT[/tcp|/udp]
//
// HOSTPORT and CONTAINERPORT may be ranges of equal length (8000-8001:80-81);
// a container port range without host ports publishes each on a random
// host port. An empty HOSTPORT (127.0.0.1::80) also means random. HOSTIP
// must be IPv4; 0.0.0.0 means every address and is returned as the zero
// netip.Addr.
func ParsePort(s string) ([]PortMapping, error) {
	m, err := parsePort(s)
	if err != nil {
		return nil, fmt.Errorf("parse port mapping %q: %w", s, err)
	}
	return m, nil
}

func parsePort(s string) ([]PortMapping, error) {
	spec, proto, hasProto := strings.Cut(s, "/")
	if !hasProto {
		proto = "tcp"
	}
	switch proto {
	case "tcp", "udp":
	case "":
		return nil, fmt.Errorf("empty protocol after '/'")
	default:
		return nil, fmt.Errorf("unsupported protocol %q (want tcp or udp)", proto)
	}
	if strings.HasPrefix(spec, "[") {
		return nil, fmt.Errorf("IPv6 host addresses are not supported")
	}

	var hostIP, hostPorts, ctrPorts string
	parts := strings.Split(spec, ":")
	switch len(parts) {
	case 1:
		ctrPorts = parts[0]
	case 2:
		hostPorts, ctrPorts = parts[0], parts[1]
		if hostPorts == "" {
			return nil, fmt.Errorf("empty host port before ':'")
		}
	case 3:
		hostIP, hostPorts, ctrPorts = parts[0], parts[1], parts[2]
	default:
		return nil, fmt.Errorf("too many ':' (want [HOSTIP:][HOSTPORT:]CONTAINERPORT[/PROTO])")
	}

	var ip netip.Addr
	if len(parts) == 3 {
		a, err := netip.ParseAddr(hostIP)
		if err != nil {
			return nil, fmt.Errorf("invalid host address %q", hostIP)
		}
		if !a.Is4() {
			return nil, fmt.Errorf("host address %s: only IPv4 is supported", a)
		}
		if !a.IsUnspecified() {
			ip = a
		}
	}

	cLo, cHi, err := parseRange(ctrPorts, "container port")
	if err != nil {
		return nil, err
	}
	var hLo, hHi uint16
	if hostPorts != "" {
		if hLo, hHi, err = parseRange(hostPorts, "host port"); err != nil {
			return nil, err
		}
		if hHi-hLo != cHi-cLo {
			return nil, fmt.Errorf("host port range %s and container port range %s differ in length", hostPorts, ctrPorts)
		}
	}

	out := make([]PortMapping, 0, int(cHi-cLo)+1)
	for i := 0; i <= int(cHi-cLo); i++ {
		m := PortMapping{HostIP: ip, ContainerPort: cLo + uint16(i), Protocol: proto}
		if hostPorts != "" {
			m.HostPort = hLo + uint16(i)
		}
		out = append(out, m)
	}
	return out, nil
}

// parseRange parses "80" or "80-81".
func parseRange(s, what string) (lo, hi uint16, err error) {
	if s == "" {
		return 0, 0, fmt.Errorf("missing %s", what)
	}
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = parseOnePort(a, what); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	if hi, err = parseOnePort(b, what); err != nil {
		return 0, 0, err
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("%s range %s ends before it starts", what, s)
	}
	return lo, hi, nil
}

func parseOnePort(s, what string) (uint16, error) {
	// Digits only: ParseUint would also take "+80" in some forms and
	// strconv errors are noisy for users.
	if s == "" || len(s) > 5 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("invalid %s %q", what, s)
	}
	n, _ := strconv.Atoi(s)
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("%s %s out of range 1-65535", what, s)
	}
	return uint16(n), nil
}
