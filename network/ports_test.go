package network

import (
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParsePort(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		in   string
		want []PortMapping
	}{
		{"80", []PortMapping{{ContainerPort: 80, Protocol: "tcp"}}},
		{"80/udp", []PortMapping{{ContainerPort: 80, Protocol: "udp"}}},
		{"8080:80", []PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}},
		{"8080:80/tcp", []PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}},
		{"127.0.0.1:8080:80", []PortMapping{{HostIP: lo, HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}},
		{"127.0.0.1::80/udp", []PortMapping{{HostIP: lo, ContainerPort: 80, Protocol: "udp"}}},
		{"0.0.0.0:53:53/udp", []PortMapping{{HostPort: 53, ContainerPort: 53, Protocol: "udp"}}},
		{"65535:1", []PortMapping{{HostPort: 65535, ContainerPort: 1, Protocol: "tcp"}}},
		{"8000-8001:80-81", []PortMapping{
			{HostPort: 8000, ContainerPort: 80, Protocol: "tcp"},
			{HostPort: 8001, ContainerPort: 81, Protocol: "tcp"},
		}},
		{"80-82", []PortMapping{
			{ContainerPort: 80, Protocol: "tcp"},
			{ContainerPort: 81, Protocol: "tcp"},
			{ContainerPort: 82, Protocol: "tcp"},
		}},
		{"127.0.0.1::5000-5001/udp", []PortMapping{
			{HostIP: lo, ContainerPort: 5000, Protocol: "udp"},
			{HostIP: lo, ContainerPort: 5001, Protocol: "udp"},
		}},
	}
	for _, tt := range tests {
		got, err := ParsePort(tt.in)
		if err != nil {
			t.Errorf("ParsePort(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParsePort(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParsePortErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "missing container port"},
		{"0", "out of range"},
		{"65536", "out of range"},
		{"80/sctp", `unsupported protocol "sctp"`},
		{"80/", "empty protocol"},
		{"http", `invalid container port "http"`},
		{"+80", "invalid container port"},
		{"-80", "invalid container port"},
		{":80", "empty host port"},
		{"8080:", "missing container port"},
		{"1.2.3.4:5:6:7", "too many ':'"},
		{"localhost:8080:80", `invalid host address "localhost"`},
		{"[::1]:8080:80", "IPv6"},
		{"::1:8080:80", "too many"},
		{"8000-8002:80-81", "differ in length"},
		{"8001-8000:80-81", "ends before it starts"},
		{"80-", "invalid container port"},
		{"80/tcp/udp", "unsupported protocol"},
		{"1.2.3.4:0:80", "host port 0 out of range"},
	}
	for _, tt := range tests {
		_, err := ParsePort(tt.in)
		if err == nil {
			t.Errorf("ParsePort(%q) succeeded, want error containing %q", tt.in, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "parse port mapping") {
			t.Errorf("ParsePort(%q) error = %q, want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func TestPortMappingString(t *testing.T) {
	p := PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}
	if got, want := p.String(), "0.0.0.0:8080->80/tcp"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func FuzzParsePort(f *testing.F) {
	for _, s := range []string{"80", "8080:80/udp", "127.0.0.1::80", "8000-8001:80-81", "1.2.3.4:5:6:7", "[::1]:1:2", "80-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParsePort(s)
		if err != nil {
			if len(ms) != 0 {
				t.Fatalf("ParsePort(%q) returned mappings with an error", s)
			}
			return
		}
		if len(ms) == 0 {
			t.Fatalf("ParsePort(%q) returned nothing and no error", s)
		}
		for i, m := range ms {
			if m.ContainerPort == 0 || (m.Protocol != "tcp" && m.Protocol != "udp") {
				t.Fatalf("ParsePort(%q)[%d] = %+v: invalid", s, i, m)
			}
			if m.HostIP.IsValid() && (!m.HostIP.Is4() || m.HostIP.IsUnspecified()) {
				t.Fatalf("ParsePort(%q)[%d] host address %s", s, i, m.HostIP)
			}
			if i > 0 && ms[i].ContainerPort != ms[i-1].ContainerPort+1 {
				t.Fatalf("ParsePort(%q): container ports not consecutive", s)
			}
			if (m.HostPort == 0) != (ms[0].HostPort == 0) {
				t.Fatalf("ParsePort(%q): mixed random and fixed host ports", s)
			}
			if i > 0 && m.HostPort != 0 && m.HostPort != ms[i-1].HostPort+1 {
				t.Fatalf("ParsePort(%q): host ports not consecutive", s)
			}
			// Each mapping, written back in -p's form, parses to itself.
			host := ""
			if m.HostPort != 0 {
				host = strconv.Itoa(int(m.HostPort))
			}
			form := strconv.Itoa(int(m.ContainerPort)) + "/" + m.Protocol
			switch {
			case m.HostIP.IsValid():
				form = m.HostIP.String() + ":" + host + ":" + form
			case host != "":
				form = host + ":" + form
			}
			if again, err := ParsePort(form); err != nil || len(again) != 1 || again[0] != m {
				t.Fatalf("ParsePort(%q)[%d] = %+v; its form %q parses to %+v, %v", s, i, m, form, again, err)
			}
		}
	})
}
