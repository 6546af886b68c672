package spec

import (
	"slices"
	"testing"
)

// A host whose bounding set lacks a capability (an outer container, a
// hardened VM) must still run --privileged and --cap-add ALL containers:
// they get the host's set, never a capability capset(2) would refuse.
func TestRunCapabilitiesHostBounding(t *testing.T) {
	host := []string{"CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"}
	tests := []struct {
		name       string
		add, drop  []string
		privileged bool
		host       []string
		want       []string
	}{
		{"privileged gets the host's set", nil, nil, true, host, host},
		{"cap-add ALL gets the host's set", []string{"ALL"}, nil, false, host, host},
		{"cap-add ALL minus one", []string{"ALL"}, []string{"KILL"}, false, host, []string{"CAP_CHOWN", "CAP_SYS_ADMIN"}},
		{"unknown host set: every capability", nil, nil, true, nil, CapabilityNames},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caps, err := runCapabilities(nil, tt.add, tt.drop, tt.privileged, tt.host)
			if err != nil {
				t.Fatal(err)
			}
			for set, got := range map[string][]string{"bounding": caps.Bounding, "effective": caps.Effective, "permitted": caps.Permitted} {
				if !slices.Equal(got, tt.want) {
					t.Errorf("%s = %v, want %v", set, got, tt.want)
				}
			}
		})
	}
}
