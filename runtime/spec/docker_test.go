package spec

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

type imageConfig = ocispec.ImageConfig

// imageWith returns an image that runs sh, changed by change.
func imageWith(change func(*imageConfig)) ocispec.Image {
	img := ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"sh"}}}
	if change != nil {
		change(&img.Config)
	}
	return img
}

// dockerRun returns FromImage(DockerDefault(), r) for an image that runs
// sh, with r changed by change.
func dockerRun(t *testing.T, change func(r *ImageRun)) (*specs.Spec, error) {
	t.Helper()
	r := ImageRun{Image: imageWith(nil)}
	if change != nil {
		change(&r)
	}
	return FromImage(DockerDefault(), r)
}

// mustDockerRun is dockerRun that fails the test on error.
func mustDockerRun(t *testing.T, change func(r *ImageRun)) *specs.Spec {
	t.Helper()
	s, err := dockerRun(t, change)
	if err != nil {
		t.Fatalf("FromImage: %v", err)
	}
	return s
}

// mount returns the mount at dest, or nil.
func mount(s *specs.Spec, dest string) *specs.Mount {
	for i := range s.Mounts {
		if s.Mounts[i].Destination == dest {
			return &s.Mounts[i]
		}
	}
	return nil
}

func destinations(mounts []specs.Mount) []string {
	var d []string
	for _, m := range mounts {
		d = append(d, m.Destination)
	}
	return d
}

// validateSpec checks s with Validate, and that it comes back unchanged
// from config.json through Load.
func validateSpec(t *testing.T, s *specs.Spec) {
	t.Helper()
	data, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	bundle := newBundle(t, data)
	if err := Validate(s, bundle); err != nil {
		t.Errorf("Validate = %v", err)
	}
	loaded, err := Load(bundle)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	if !reflect.DeepEqual(loaded, s) {
		t.Errorf("Load changed the config:\n got %+v\nwant %+v", loaded, s)
	}
}

var dockerCapsWant = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

func TestDockerDefault(t *testing.T) {
	s := DockerDefault()
	validateSpec(t, s)

	p := s.Process
	if p.Terminal || p.NoNewPrivileges || len(p.Rlimits) != 0 {
		t.Errorf("terminal %v, noNewPrivileges %v, rlimits %v; want false, false, none", p.Terminal, p.NoNewPrivileges, p.Rlimits)
	}
	c := p.Capabilities
	for name, set := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective, "permitted": c.Permitted} {
		if !slices.Equal(set, dockerCapsWant) {
			t.Errorf("%s = %q, want docker's %q", name, set, dockerCapsWant)
		}
	}
	if c.Inheritable != nil || c.Ambient != nil {
		t.Errorf("inheritable %q, ambient %q; want none", c.Inheritable, c.Ambient)
	}
	if s.Root.Readonly || s.Root.Path != "rootfs" {
		t.Errorf("root = %+v, want rootfs, writable", s.Root)
	}
	if s.Hostname != "" {
		t.Errorf("hostname = %q, want none", s.Hostname)
	}

	wantMounts := []struct {
		dest, typ string
		options   []string
	}{
		{"/proc", "proc", []string{"nosuid", "noexec", "nodev"}},
		{"/dev", "tmpfs", []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{"/dev/pts", "devpts", []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{"/sys", "sysfs", []string{"nosuid", "noexec", "nodev", "ro"}},
		{"/sys/fs/cgroup", "cgroup", []string{"ro", "nosuid", "noexec", "nodev"}},
		{"/dev/mqueue", "mqueue", []string{"nosuid", "noexec", "nodev"}},
		{"/dev/shm", "tmpfs", []string{"nosuid", "noexec", "nodev", "mode=1777", "size=64m"}},
	}
	if len(s.Mounts) != len(wantMounts) {
		t.Fatalf("mounts = %q, want %d", destinations(s.Mounts), len(wantMounts))
	}
	for i, w := range wantMounts {
		m := s.Mounts[i]
		if m.Destination != w.dest || m.Type != w.typ || !slices.Equal(m.Options, w.options) {
			t.Errorf("mounts[%d] = %s %s %q, want %s %s %q", i, m.Destination, m.Type, m.Options, w.dest, w.typ, w.options)
		}
	}

	l := s.Linux
	wantMasked := []string{
		"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
		"/proc/timer_stats", "/sys/devices/virtual/powercap", "/sys/firmware",
	}
	if !slices.Equal(l.MaskedPaths, wantMasked) {
		t.Errorf("maskedPaths = %q, want %q", l.MaskedPaths, wantMasked)
	}
	wantReadonly := []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
	if !slices.Equal(l.ReadonlyPaths, wantReadonly) {
		t.Errorf("readonlyPaths = %q, want %q", l.ReadonlyPaths, wantReadonly)
	}
	var ns []specs.LinuxNamespaceType
	for _, n := range l.Namespaces {
		if n.Path != "" {
			t.Errorf("namespace %s joins %s, want a new one", n.Type, n.Path)
		}
		ns = append(ns, n.Type)
	}
	wantNS := []specs.LinuxNamespaceType{"mount", "network", "uts", "pid", "ipc", "cgroup"}
	if !slices.Equal(ns, wantNS) {
		t.Errorf("namespaces = %q, want %q", ns, wantNS)
	}
	wantSysctl := map[string]string{"net.ipv4.ping_group_range": "0 2147483647", "net.ipv4.ip_unprivileged_port_start": "0"}
	if !reflect.DeepEqual(l.Sysctl, wantSysctl) {
		t.Errorf("sysctl = %v, want %v", l.Sysctl, wantSysctl)
	}
	if d := l.Resources.Devices; len(d) != 8 || d[0].Allow || d[0].Type != "" || d[0].Access != "rwm" ||
		!d[1].Allow || *d[1].Major != 1 || *d[1].Minor != 5 || d[7].Allow || *d[7].Major != 10 || *d[7].Minor != 229 {
		t.Errorf("devices cgroup = %+v, want docker's rules", d)
	}
	if !reflect.DeepEqual(l.Seccomp, DefaultSeccomp(dockerCaps)) {
		t.Errorf("seccomp = %+v, want the default profile of docker's capabilities", l.Seccomp)
	}
	if l.Resources.Memory != nil || l.Resources.CPU != nil || l.Resources.Pids != nil {
		t.Errorf("linux = %+v, want no limits", l)
	}
}

func TestDockerDefaultIsFresh(t *testing.T) {
	a := DockerDefault()
	a.Process.Capabilities.Bounding[0] = "CAP_SYS_ADMIN"
	a.Mounts[0].Options[0] = "changed"
	a.Linux.MaskedPaths[0] = "/changed"
	a.Linux.ReadonlyPaths[0] = "/changed"
	a.Linux.Sysctl["net.ipv4.ping_group_range"] = "changed"
	*a.Linux.Resources.Devices[1].Major = 99

	if a.Process.Capabilities.Effective[0] != "CAP_CHOWN" {
		t.Error("bounding and effective share memory")
	}
	if !reflect.DeepEqual(DockerDefault(), DockerDefault()) {
		t.Fatal("DockerDefault is not the same twice")
	}
	b := DockerDefault()
	if b.Process.Capabilities.Bounding[0] != "CAP_CHOWN" || b.Mounts[0].Options[0] != "nosuid" ||
		b.Linux.MaskedPaths[0] != "/proc/acpi" || b.Linux.ReadonlyPaths[0] != "/proc/bus" ||
		b.Linux.Sysctl["net.ipv4.ping_group_range"] != "0 2147483647" || *b.Linux.Resources.Devices[1].Major != 1 {
		t.Errorf("a change to one DockerDefault reached the next: %+v", b)
	}
}

// TestFromImageDockerZero checks that a run without flags leaves
// DockerDefault as it is, beyond the process and annotations.
func TestFromImageDockerZero(t *testing.T) {
	s := mustDockerRun(t, nil)
	want := DockerDefault()
	s.Process.Args, want.Process.Args = nil, nil
	s.Process.Env, want.Process.Env = nil, nil
	if !reflect.DeepEqual(s, want) {
		t.Errorf("FromImage(DockerDefault()) =\n%+v\nwant\n%+v", s, want)
	}
}

func TestFromImageCapabilities(t *testing.T) {
	all := CapabilityNames
	without := func(list []string, drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(list), func(c string) bool { return slices.Contains(drop, c) })
	}
	tests := []struct {
		name       string
		add, drop  []string
		privileged bool
		want       []string
		wantErr    string
	}{
		{name: "none", want: dockerCapsWant},
		{name: "add one", add: []string{"NET_ADMIN"}, want: append(slices.Clone(dockerCapsWant), "CAP_NET_ADMIN")},
		{name: "add lower case with prefix", add: []string{"cap_net_admin"}, want: append(slices.Clone(dockerCapsWant), "CAP_NET_ADMIN")},
		{name: "add sorted, once", add: []string{"sys_admin", "Net_Admin", "CAP_SYS_ADMIN"},
			want: append(slices.Clone(dockerCapsWant), "CAP_NET_ADMIN", "CAP_SYS_ADMIN")},
		{name: "add one already there", add: []string{"CHOWN"}, want: dockerCapsWant},
		{name: "drop one", drop: []string{"NET_RAW"}, want: without(dockerCapsWant, "CAP_NET_RAW")},
		{name: "drop two", drop: []string{"mknod", "CAP_NET_RAW"}, want: without(dockerCapsWant, "CAP_MKNOD", "CAP_NET_RAW")},
		{name: "drop one not there", drop: []string{"SYS_ADMIN"}, want: dockerCapsWant},
		{name: "drop and add", drop: []string{"NET_RAW"}, add: []string{"NET_ADMIN"},
			want: append(without(dockerCapsWant, "CAP_NET_RAW"), "CAP_NET_ADMIN")},
		{name: "drop ALL", drop: []string{"ALL"}, want: nil},
		{name: "drop all lower case", drop: []string{"all"}, want: nil},
		{name: "drop ALL then add", drop: []string{"ALL"}, add: []string{"NET_BIND_SERVICE", "CHOWN"},
			want: []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE"}},
		{name: "drop ALL and one, add it", drop: []string{"ALL", "CHOWN"}, add: []string{"CHOWN"}, want: []string{"CAP_CHOWN"}},
		{name: "add ALL", add: []string{"ALL"}, want: all},
		{name: "add ALL, drop one", add: []string{"ALL"}, drop: []string{"NET_RAW"}, want: without(all, "CAP_NET_RAW")},
		{name: "add ALL and one, drop it", add: []string{"ALL", "NET_ADMIN"}, drop: []string{"NET_ADMIN"}, want: without(all, "CAP_NET_ADMIN")},
		{name: "add ALL, drop ALL", add: []string{"ALL"}, drop: []string{"ALL"}, want: all},
		{name: "added and dropped is added", add: []string{"NET_ADMIN"}, drop: []string{"NET_ADMIN"},
			want: append(slices.Clone(dockerCapsWant), "CAP_NET_ADMIN")},
		{name: "default added and dropped stays", add: []string{"NET_RAW"}, drop: []string{"NET_RAW"}, want: dockerCapsWant},
		{name: "privileged", privileged: true, want: all},
		{name: "privileged ignores drop", privileged: true, drop: []string{"ALL"}, want: all},

		{name: "unknown add", add: []string{"FOO"}, wantErr: "--cap-add FOO: unknown capability"},
		{name: "unknown drop", drop: []string{"CHOWN", "cap_bar"}, wantErr: "--cap-drop cap_bar: unknown capability"},
		{name: "unknown beside ALL", add: []string{"ALL", "FOO"}, wantErr: "--cap-add FOO: unknown capability"},
		{name: "unknown with privileged", privileged: true, add: []string{"FOO"}, wantErr: "--cap-add FOO: unknown capability"},
		{name: "empty name", add: []string{""}, wantErr: "--cap-add : unknown capability"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := dockerRun(t, func(r *ImageRun) { r.CapAdd, r.CapDrop, r.Privileged = tt.add, tt.drop, tt.privileged })
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("FromImage = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := s.Process.Capabilities
			if !slices.Equal(c.Bounding, tt.want) || !slices.Equal(c.Effective, tt.want) || !slices.Equal(c.Permitted, tt.want) {
				t.Errorf("capabilities = %+v, want %q in bounding, effective and permitted", c, tt.want)
			}
			if c.Inheritable != nil || c.Ambient != nil {
				t.Errorf("inheritable %q, ambient %q; want none", c.Inheritable, c.Ambient)
			}
			validateSpec(t, s)
		})
	}
}

// TestFromImageCapabilitiesBase checks that the capabilities start from
// base's bounding set, and that without flags base's stay as they are,
// ambient set included.
func TestFromImageCapabilitiesBase(t *testing.T) {
	r := ImageRun{Image: imageWith(nil)}
	s, err := FromImage(Default(), r)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Process.Capabilities, Default().Process.Capabilities) {
		t.Errorf("capabilities = %+v, want Default()'s", s.Process.Capabilities)
	}
	r.CapDrop = []string{"KILL"}
	s, err = FromImage(Default(), r)
	if err != nil {
		t.Fatal(err)
	}
	want := &specs.LinuxCapabilities{
		Bounding:  []string{"CAP_AUDIT_WRITE", "CAP_NET_BIND_SERVICE"},
		Effective: []string{"CAP_AUDIT_WRITE", "CAP_NET_BIND_SERVICE"},
		Permitted: []string{"CAP_AUDIT_WRITE", "CAP_NET_BIND_SERVICE"},
	}
	if !reflect.DeepEqual(s.Process.Capabilities, want) {
		t.Errorf("capabilities = %+v, want %+v", s.Process.Capabilities, want)
	}
}

func TestFromImagePrivileged(t *testing.T) {
	for _, readOnly := range []bool{false, true} {
		base := DockerDefault()
		base.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
		s, err := FromImage(base, ImageRun{Image: imageWith(nil), Privileged: true, ReadOnly: readOnly})
		if err != nil {
			t.Fatal(err)
		}
		l := s.Linux
		if l.MaskedPaths != nil || l.ReadonlyPaths != nil || l.Seccomp != nil {
			t.Errorf("read-only %v: masked %q, read-only %q, seccomp %+v; want none", readOnly, l.MaskedPaths, l.ReadonlyPaths, l.Seccomp)
		}
		// Docker clears ro on /sys after --read-only has set it.
		for _, dest := range []string{"/sys", "/sys/fs/cgroup"} {
			if m := mount(s, dest); slices.Contains(m.Options, "ro") {
				t.Errorf("read-only %v: %s options %q, want it writable", readOnly, dest, m.Options)
			}
		}
		wantDevices := []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		if !reflect.DeepEqual(l.Resources.Devices, wantDevices) {
			t.Errorf("devices cgroup = %+v, want %+v", l.Resources.Devices, wantDevices)
		}
		if got := s.Process.Capabilities.Bounding; !slices.Equal(got, CapabilityNames) {
			t.Errorf("bounding = %q, want every capability", got)
		}
		if s.Root.Readonly != readOnly {
			t.Errorf("root.readonly = %v, want %v", s.Root.Readonly, readOnly)
		}
		validateSpec(t, s)
	}
}

func TestFromImageReadOnly(t *testing.T) {
	run := func(r *ImageRun) {
		r.Volumes = []Volume{
			{Source: "/srv/data", Target: "/data"},
			{Source: "/srv/conf", Target: "/etc/app", ReadOnly: true},
		}
		r.Tmpfs = []Tmpfs{{Target: "/run"}}
		r.EtcFiles = map[string]string{"/etc/hosts": "/state/hosts", "/etc/resolv.conf": "/state/resolv.conf"}
	}
	rw := mustDockerRun(t, run)
	ro := mustDockerRun(t, func(r *ImageRun) { run(r); r.ReadOnly = true })
	if rw.Root.Readonly || !ro.Root.Readonly {
		t.Errorf("root.readonly = %v without --read-only, %v with it", rw.Root.Readonly, ro.Root.Readonly)
	}
	tests := []struct {
		dest         string
		rwRO, roRO   bool // has "ro" without and with --read-only
		wantOptionsR []string
	}{
		{"/proc", false, false, nil},
		{"/dev", false, false, nil},
		{"/dev/pts", false, false, nil},
		{"/dev/shm", false, false, nil},
		{"/dev/mqueue", false, false, nil},
		{"/sys", true, true, []string{"nosuid", "noexec", "nodev", "ro"}},
		{"/sys/fs/cgroup", true, true, []string{"ro", "nosuid", "noexec", "nodev"}},
		// Volumes keep their own mode.
		{"/data", false, false, []string{"rbind", "rprivate"}},
		{"/etc/app", true, true, []string{"rbind", "ro", "rprivate"}},
		{"/run", false, false, []string{"noexec", "nosuid", "nodev", "rprivate"}},
		// /etc files are writable, unless the root is not (docker's rule).
		{"/etc/hosts", false, true, []string{"rbind", "ro", "rprivate"}},
		{"/etc/resolv.conf", false, true, []string{"rbind", "ro", "rprivate"}},
	}
	for _, tt := range tests {
		mrw, mro := mount(rw, tt.dest), mount(ro, tt.dest)
		if mrw == nil || mro == nil {
			t.Errorf("%s: not mounted", tt.dest)
			continue
		}
		if got := slices.Contains(mrw.Options, "ro"); got != tt.rwRO {
			t.Errorf("%s without --read-only: options %q", tt.dest, mrw.Options)
		}
		if got := slices.Contains(mro.Options, "ro"); got != tt.roRO {
			t.Errorf("%s with --read-only: options %q", tt.dest, mro.Options)
		}
		if tt.wantOptionsR != nil && !slices.Equal(mro.Options, tt.wantOptionsR) {
			t.Errorf("%s with --read-only: options %q, want %q", tt.dest, mro.Options, tt.wantOptionsR)
		}
	}
	validateSpec(t, ro)

	// A base mount without ro gets it; a base mount already ro is kept as
	// it is.
	base := DockerDefault()
	base.Mounts = append(base.Mounts, specs.Mount{Destination: "/opt", Type: "bind", Source: "/opt", Options: []string{"rbind", "rw"}})
	s, err := FromImage(base, ImageRun{Image: imageWith(nil), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := mount(s, "/opt").Options; !slices.Equal(got, []string{"rbind", "rw", "ro"}) {
		t.Errorf("/opt options = %q, want rbind,rw,ro", got)
	}
}

// fullDockerRun uses every docker flag of ImageRun.
func fullDockerRun() ImageRun {
	r := fullRun()
	r.Terminal = true
	r.ReadOnly = true
	r.Volumes = []Volume{{Source: "/srv/www", Target: "/srv/www", ReadOnly: true}, {Source: "/var/lib/minirun/volumes/data/_data", Target: "/data"}}
	r.Tmpfs = []Tmpfs{{Target: "/run", Options: "size=64m"}, {Target: "/tmp", Options: "exec"}}
	r.Memory = 256 << 20
	r.MemorySwap = 512 << 20
	r.CPUs = 0.5
	r.CPUShares = 512
	r.PidsLimit = 200
	r.CapAdd = []string{"net_admin"}
	r.CapDrop = []string{"MKNOD"}
	r.NoNewPrivileges = true
	r.Ulimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 4096}}
	r.Sysctls = map[string]string{"net.core.somaxconn": "1024", "kernel.shmmax": "1000000"}
	r.Network = "none"
	r.Labels = map[string]string{"com.example.app": "web"}
	r.StopSignal = "SIGTERM"
	r.ShmSize = 128 << 20
	r.Init, r.InitPath = true, "/usr/libexec/minirun/init"
	r.EtcFiles = map[string]string{"/etc/hostname": "/state/hostname", "/etc/hosts": "/state/hosts", "/etc/resolv.conf": "/state/resolv.conf"}
	return r
}

// TestFromImageDockerValidates checks that DockerDefault() filled from an
// image with every flag is a config the package accepts.
func TestFromImageDockerValidates(t *testing.T) {
	s, err := FromImage(DockerDefault(), fullDockerRun())
	if err != nil {
		t.Fatal(err)
	}
	validateSpec(t, s)
	if want := []string{"/sbin/minirun-init", "--", "/docker-entrypoint.sh", "nginx-debug"}; !slices.Equal(s.Process.Args, want) {
		t.Errorf("args = %q, want %q", s.Process.Args, want)
	}
	if s.Hostname != "web1" || !s.Root.Readonly || !s.Process.Terminal {
		t.Errorf("hostname %q, root %+v, terminal %v", s.Hostname, s.Root, s.Process.Terminal)
	}

	// And with --privileged and --network host.
	r := fullDockerRun()
	r.Privileged = true
	r.Network = "host"
	r.Sysctls = map[string]string{"kernel.shmmax": "1000000"}
	s, err = FromImage(DockerDefault(), r)
	if err != nil {
		t.Fatal(err)
	}
	validateSpec(t, s)
}

// TestFromImageDockerFailures checks that a failing flag leaves base as it
// was, each failing after every other flag has been checked.
func TestFromImageDockerFailures(t *testing.T) {
	failures := map[string]func(r *ImageRun){
		"cap-add":      func(r *ImageRun) { r.CapAdd = []string{"FOO"} },
		"ulimit":       func(r *ImageRun) { r.Ulimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 2, Hard: 1}} },
		"network":      func(r *ImageRun) { r.Network = "mynet" },
		"sysctl":       func(r *ImageRun) { r.Sysctls = map[string]string{"vm.swappiness": "1"} },
		"init":         func(r *ImageRun) { r.InitPath = "" },
		"volume":       func(r *ImageRun) { r.Volumes = append(r.Volumes, Volume{Source: "/x", Target: "/data"}) },
		"tmpfs":        func(r *ImageRun) { r.Tmpfs = []Tmpfs{{Target: "/run", Options: "bogus"}} },
		"etc file":     func(r *ImageRun) { r.EtcFiles = map[string]string{"/etc/shadow": "/x"} },
		"shm-size":     func(r *ImageRun) { r.ShmSize = -1 },
		"memory":       func(r *ImageRun) { r.Memory = 1 },
		"memory-swap":  func(r *ImageRun) { r.MemorySwap = 1 },
		"cpus":         func(r *ImageRun) { r.CPUs = 0.001 },
		"label":        func(r *ImageRun) { r.Labels = map[string]string{"": "x"} },
		"stop-signal":  func(r *ImageRun) { r.StopSignal = "NOPE" },
		"user (older)": func(r *ImageRun) { r.User = "ghost" },
	}
	for name, fail := range failures {
		r := fullDockerRun()
		fail(&r)
		base := DockerDefault()
		if _, err := FromImage(base, r); err == nil {
			t.Errorf("%s: FromImage succeeded, want an error", name)
		}
		if !reflect.DeepEqual(base, DockerDefault()) {
			t.Errorf("%s: a failed FromImage changed base:\n%+v", name, base)
		}
	}

	// A run that succeeds changes base's slices only through base: the
	// next DockerDefault is untouched, and so is the run.
	r := fullDockerRun()
	s, err := FromImage(DockerDefault(), r)
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.Mounts {
		for j := range s.Mounts[i].Options {
			s.Mounts[i].Options[j] = "changed"
		}
	}
	s.Process.Capabilities.Bounding[0] = "changed"
	s.Process.Rlimits[0].Soft = 1
	s.Linux.Sysctl["kernel.shmmax"] = "changed"
	if want := fullDockerRun(); !reflect.DeepEqual(r.Ulimits, want.Ulimits) || !reflect.DeepEqual(r.Sysctls, want.Sysctls) ||
		!reflect.DeepEqual(r.Volumes, want.Volumes) || !slices.Equal(r.CapAdd, want.CapAdd) {
		t.Errorf("run changed through the result: %+v", r)
	}
	if !reflect.DeepEqual(tmpfsDefaults, []string{"noexec", "nosuid", "nodev", "rprivate"}) {
		t.Errorf("tmpfsDefaults changed through the result: %q", tmpfsDefaults)
	}
}

// TestFromImageDefaultBaseUnchanged checks that the docker fields, left
// zero, change nothing of a Default() base: existing callers keep runc's
// config.
func TestFromImageDefaultBaseUnchanged(t *testing.T) {
	s, err := FromImage(Default(), ImageRun{Image: imageWith(nil)})
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	s.Process.Args, want.Process.Args = nil, nil
	s.Process.Env, want.Process.Env = nil, nil
	if !reflect.DeepEqual(s, want) {
		t.Errorf("FromImage(Default()) =\n%+v\nwant\n%+v", s, want)
	}
}

func TestResolveUser(t *testing.T) {
	tests := []struct {
		user    string
		want    specs.User
		wantErr string
	}{
		{"", specs.User{AdditionalGids: []uint32{1, 2, 10}}, ""}, // root, a member of bin, daemon and wheel
		{"app", specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 18, 100}}, ""},
		{"app:audio", specs.User{UID: 1000, GID: 18}, ""},
		{"4242:77", specs.User{UID: 4242, GID: 77}, ""},
		{"ghost", specs.User{}, `resolve user "ghost": look up user "ghost" in /etc/passwd: unknown user`},
		{"app:ghosts", specs.User{}, `resolve user "app:ghosts": look up group "ghosts" in /etc/group: unknown group`},
	}
	for _, tt := range tests {
		got, err := ResolveUser(testRootFS(), tt.user)
		if checkErr(t, err, tt.wantErr) && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ResolveUser(%q) = %+v, want %+v", tt.user, got, tt.want)
		}
	}
	if _, err := ResolveUser(testRootFS(), "ghost"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("ResolveUser(ghost) = %v, want ErrUnknownUser", err)
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		1: "1", 1000: "1000", 1024: "1k", 1536: "1536", 1 << 20: "1m", 64 << 20: "64m",
		3 << 29: "1536m", 1 << 30: "1g", 1 << 40: "1024g",
	} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
