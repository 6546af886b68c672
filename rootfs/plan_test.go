package rootfs

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runcMounts are the mounts of `runc spec`, plus bind mounts the way docker
// and podman write volumes.
func runcMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		{Destination: "/data", Type: "bind", Source: "/srv/data", Options: []string{"rbind", "ro", "rprivate"}},
		{Destination: "etc/hosts", Source: "/run/x/hosts", Options: []string{"bind", "nosuid", "rw", "z"}},
	}
}

func TestPlanRuncDefaults(t *testing.T) {
	c := &Config{Rootfs: "/run/minirun/c1/rootfs", Spec: &specs.Spec{Mounts: runcMounts()}}
	got, err := Plan(c)
	if err != nil {
		t.Fatal(err)
	}
	const nsn = msNosuid | msNodev | msNoexec
	want := []Mount{
		{Source: "proc", Target: "/proc", FSType: "proc", Flags: nsn},
		{Source: "tmpfs", Target: "/dev", FSType: "tmpfs", Flags: msNosuid | msStrictatime, Data: "mode=755,size=65536k"},
		{Source: "devpts", Target: "/dev/pts", FSType: "devpts", Flags: msNosuid | msNoexec, Data: "newinstance,ptmxmode=0666,mode=0620,gid=5"},
		{Source: "shm", Target: "/dev/shm", FSType: "tmpfs", Flags: nsn, Data: "mode=1777,size=65536k"},
		{Source: "mqueue", Target: "/dev/mqueue", FSType: "mqueue", Flags: nsn},
		{Source: "sysfs", Target: "/sys", FSType: "sysfs", Flags: nsn | msRdonly},
		{Source: "cgroup2", Target: "/sys/fs/cgroup", FSType: "cgroup2", Flags: nsn | msRelatime | msRdonly, Cgroup: true},
		{
			Source: "/srv/data", Target: "/data", Flags: msBind | msRec,
			PropagationFlags: []uintptr{msRec | msPrivate},
			Bind:             true, Recursive: true,
			RemountFlags: msRemount | msBind | msRdonly,
		},
		{
			// "z" is data to the kernel, and the kernel ignores data on a
			// bind; "rw" asks for read-write explicitly.
			Source: "/run/x/hosts", Target: "/etc/hosts", Flags: msBind,
			Bind: true, RemountFlags: msRemount | msBind | msNosuid,
			ClearedFlags: msRdonly,
		},
	}
	if len(got) != len(want) {
		t.Fatalf("Plan returned %d mounts, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("mount %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if !setsUpDev(got) {
		t.Error("setsUpDev = false with a tmpfs on /dev")
	}
}

func TestPlanErrors(t *testing.T) {
	tests := []struct {
		name string
		m    specs.Mount
		want string
		is   error
	}{
		{"no destination", specs.Mount{Type: "tmpfs", Source: "tmpfs"}, "no destination", nil},
		{"over root", specs.Mount{Destination: "/", Type: "tmpfs"}, "on /:", nil},
		{"no type", specs.Mount{Destination: "/x", Source: "/y"}, "no type", nil},
		{"bind without source", specs.Mount{Destination: "/x", Type: "bind"}, "needs a source", nil},
		{"bind over /proc", specs.Mount{Destination: "/proc", Type: "bind", Source: "/tmp", Options: []string{"rbind"}}, "on /proc", errProcTarget},
		{"tmpfs over /proc", specs.Mount{Destination: "/proc/", Type: "tmpfs", Source: "tmpfs"}, "on /proc", errProcTarget},
		{"inside /proc", specs.Mount{Destination: "/proc/sys", Type: "bind", Source: "/tmp", Options: []string{"bind"}}, "/proc/sys", errProcTarget},
		{"dot-dot into /proc", specs.Mount{Destination: "/x/../proc/self", Type: "tmpfs"}, "/proc/self", errProcTarget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{Rootfs: "/r", Spec: &specs.Spec{Mounts: []specs.Mount{tt.m}}}
			_, err := Plan(c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Plan error = %v, want one containing %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
		})
	}
}

func TestPlanAllowsLxcfsAndProc(t *testing.T) {
	c := &Config{Rootfs: "/r", Spec: &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/proc/meminfo", Type: "bind", Source: "/var/lib/lxcfs/proc/meminfo", Options: []string{"bind"}},
		{Destination: "/myproc", Type: "proc", Source: "proc"},
	}}}
	if _, err := Plan(c); err != nil {
		t.Fatal(err)
	}
}

func TestConfigCheck(t *testing.T) {
	spec := &specs.Spec{}
	for _, c := range []*Config{
		nil,
		{Rootfs: "/r"},
		{Rootfs: "rel", Spec: spec},
		{Rootfs: "/r/../s", Spec: spec},
		{Rootfs: "/", Spec: spec},
		{Rootfs: "/r", Spec: &specs.Spec{Linux: &specs.Linux{RootfsPropagation: "rbind"}}},
	} {
		if _, err := Plan(c); err == nil {
			t.Errorf("Plan(%+v) accepted", c)
		}
	}
}

func TestPlanDevices(t *testing.T) {
	mode := os.FileMode(0o640) | os.ModeSetgid
	uid, gid := uint32(1000), uint32(5)
	spec := &specs.Spec{Linux: &specs.Linux{Devices: []specs.LinuxDevice{
		{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: &mode, UID: &uid, GID: &gid},
		{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, UID: &uid},
		{Path: "/dev/sda", Type: "b", Major: 8, Minor: 0},
		{Path: "/dev/fifo", Type: "p", Major: 9, Minor: 9},
		{Path: "/dev/tty0", Type: "u", Major: 4, Minor: 0},
	}}}
	got, err := planDevices(spec)
	if err != nil {
		t.Fatal(err)
	}
	want := []device{
		{"/dev/zero", sIFCHR | 0o666, 1, 5, 0, 0},
		{"/dev/full", sIFCHR | 0o666, 1, 7, 0, 0},
		{"/dev/random", sIFCHR | 0o666, 1, 8, 0, 0},
		{"/dev/urandom", sIFCHR | 0o666, 1, 9, 0, 0},
		{"/dev/tty", sIFCHR | 0o666, 5, 0, 0, 0},
		{"/dev/fuse", sIFCHR | 0o2640, 10, 229, 1000, 5},
		{"/dev/null", sIFCHR | 0o666, 1, 3, 1000, 0},
		{"/dev/sda", sIFBLK | 0o666, 8, 0, 0, 0},
		{"/dev/fifo", sIFIFO | 0o666, 0, 0, 0, 0},
		{"/dev/tty0", sIFCHR | 0o666, 4, 0, 0, 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("planDevices:\n got %+v\nwant %+v", got, want)
	}

	def, err := planDevices(&specs.Spec{})
	if err != nil || !reflect.DeepEqual(def, defaultDevices) {
		t.Errorf("planDevices(no linux) = %+v, %v; want the defaults", def, err)
	}
	for _, bad := range []specs.LinuxDevice{{Path: "dev/x", Type: "c"}, {Path: "/dev/x", Type: "a"}, {Path: "/", Type: "c"}} {
		if _, err := planDevices(&specs.Spec{Linux: &specs.Linux{Devices: []specs.LinuxDevice{bad}}}); err == nil {
			t.Errorf("planDevices accepted %+v", bad)
		}
	}
	if got := modeString(sIFCHR | 0o666); got != "S_IFCHR|0666" {
		t.Errorf("modeString = %q", got)
	}
}

func TestSetsUpDev(t *testing.T) {
	bound := []Mount{{Target: "/dev", Bind: true, Source: "/dev"}}
	if setsUpDev(bound) {
		t.Error("setsUpDev = true with /dev bound from the host")
	}
	if !setsUpDev(nil) {
		t.Error("setsUpDev = false without a /dev mount: runtime-spec requires the default devices")
	}
}
