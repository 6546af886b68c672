package spec

import (
	"encoding/json"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestCapabilityNames(t *testing.T) {
	if len(CapabilityNames) != 41 {
		t.Fatalf("len(CapabilityNames) = %d, want 41 (CAP_CHOWN..CAP_CHECKPOINT_RESTORE)", len(CapabilityNames))
	}
	// A few numbers from <linux/capability.h>; capability_linux_test.go
	// checks every one against golang.org/x/sys/unix.
	for nr, want := range map[int]string{
		0:  "CAP_CHOWN",
		5:  "CAP_KILL",
		10: "CAP_NET_BIND_SERVICE",
		21: "CAP_SYS_ADMIN",
		29: "CAP_AUDIT_WRITE",
		40: "CAP_CHECKPOINT_RESTORE",
	} {
		if got := CapabilityNames[nr]; got != want {
			t.Errorf("CapabilityNames[%d] = %q, want %q", nr, got, want)
		}
	}
	seen := make(map[string]int)
	for nr, name := range CapabilityNames {
		if !capabilityName.MatchString(name) {
			t.Errorf("CapabilityNames[%d] = %q fails the check ValidateProcess makes", nr, name)
		}
		if prev, dup := seen[name]; dup {
			t.Errorf("%s is both capability %d and %d", name, prev, nr)
		}
		seen[name] = nr
	}
}

func TestFeatures(t *testing.T) {
	f := Features()
	if f.OCIVersionMin != "1.0.0" || f.OCIVersionMax != specs.Version {
		t.Errorf("OCI versions = %q..%q, want 1.0.0..%s", f.OCIVersionMin, f.OCIVersionMax, specs.Version)
	}
	wantHooks := []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}
	if !slices.Equal(f.Hooks, wantHooks) {
		t.Errorf("Hooks = %q, want %q", f.Hooks, wantHooks)
	}

	for _, opt := range []string{"bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec", "relatime", "strictatime", "rprivate", "rslave", "runbindable"} {
		if !slices.Contains(f.MountOptions, opt) {
			t.Errorf("MountOptions lacks %q", opt)
		}
	}
	// Options that are neither mount flags nor propagation, or that need
	// support minirun lacks, must not be claimed. Filesystem data such as
	// "mode=755" is never listed (features.md).
	for _, opt := range []string{"idmap", "ridmap", "tmpcopyup", "mode=755", "size=65536k"} {
		if slices.Contains(f.MountOptions, opt) {
			t.Errorf("MountOptions claims %q", opt)
		}
	}
	if !slices.IsSorted(f.MountOptions) || len(slices.Compact(slices.Clone(f.MountOptions))) != len(f.MountOptions) {
		t.Errorf("MountOptions = %q, want sorted without duplicates", f.MountOptions)
	}

	if f.Linux == nil {
		t.Fatal("Linux is nil")
	}
	wantNS := []string{"pid", "network", "mount", "ipc", "uts", "cgroup"}
	if !slices.Equal(f.Linux.Namespaces, wantNS) {
		t.Errorf("Namespaces = %q, want %q", f.Linux.Namespaces, wantNS)
	}
	if !slices.Equal(f.Linux.Capabilities, CapabilityNames) {
		t.Errorf("Capabilities = %q, want CapabilityNames", f.Linux.Capabilities)
	}

	// nil means "unknown" in this document, so each of these must be set.
	flags := []struct {
		name string
		got  *bool
		want bool
	}{
		{"cgroup.v1", f.Linux.Cgroup.V1, true},
		{"cgroup.v2", f.Linux.Cgroup.V2, true},
		{"cgroup.systemd", f.Linux.Cgroup.Systemd, false},
		{"cgroup.systemdUser", f.Linux.Cgroup.SystemdUser, false},
		{"seccomp.enabled", f.Linux.Seccomp.Enabled, true},
		{"apparmor.enabled", f.Linux.Apparmor.Enabled, false},
		{"selinux.enabled", f.Linux.Selinux.Enabled, false},
	}
	for _, fl := range flags {
		if fl.got == nil || *fl.got != fl.want {
			t.Errorf("%s = %v, want %v", fl.name, fl.got, fl.want)
		}
	}
	sc := f.Linux.Seccomp
	for _, want := range []struct {
		field string
		list  []string
		has   string
	}{
		{"actions", sc.Actions, string(specs.ActKillProcess)},
		{"actions", sc.Actions, string(specs.ActLog)},
		{"operators", sc.Operators, string(specs.OpMaskedEqual)},
		{"archs", sc.Archs, string(specs.ArchAARCH64)},
		{"archs", sc.Archs, string(specs.ArchX86_64)},
		{"knownFlags", sc.KnownFlags, string(specs.LinuxSeccompFlagSpecAllow)},
	} {
		if !slices.Contains(want.list, want.has) {
			t.Errorf("seccomp.%s = %q, want it to hold %s", want.field, want.list, want.has)
		}
	}
	// minirun has no seccomp agent: it must not claim notify.
	if slices.Contains(sc.Actions, string(specs.ActNotify)) {
		t.Errorf("seccomp.actions claims %s", specs.ActNotify)
	}
}

// TestFeaturesIsFresh checks that changing the returned document, as a
// caller adding annotations might, cannot change minirun's own tables.
func TestFeaturesIsFresh(t *testing.T) {
	f := Features()
	f.Linux.Capabilities[0] = "CHANGED"
	f.Hooks[0] = "CHANGED"
	f.MountOptions[0] = "CHANGED"
	*f.Linux.Cgroup.V1 = false

	if CapabilityNames[0] != "CAP_CHOWN" {
		t.Errorf("changing Features().Linux.Capabilities changed CapabilityNames[0] to %q", CapabilityNames[0])
	}
	g := Features()
	if g.Hooks[0] != "prestart" || g.MountOptions[0] == "CHANGED" || !*g.Linux.Cgroup.V1 {
		t.Errorf("a second Features() saw changes made to the first: %+v", g)
	}
}

// TestFeaturesJSON checks the field names `minirun features` prints, which
// tools such as containerd parse.
func TestFeaturesJSON(t *testing.T) {
	m := toJSONValue(t, Features())
	for _, key := range []string{"ociVersionMin", "ociVersionMax", "hooks", "mountOptions", "linux"} {
		if _, ok := m[key]; !ok {
			t.Errorf("features JSON lacks %q: %v", key, m)
		}
	}
	linux, _ := m["linux"].(map[string]any)
	cgroup, _ := linux["cgroup"].(map[string]any)
	if cgroup["v2"] != true || cgroup["systemd"] != false {
		t.Errorf("linux.cgroup = %v, want v2 true and systemd false", cgroup)
	}
	if _, err := json.MarshalIndent(Features(), "", "  "); err != nil {
		t.Errorf("MarshalIndent: %v", err)
	}
}
