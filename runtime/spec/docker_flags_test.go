package spec

import (
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestFromImageMounts(t *testing.T) {
	s := mustDockerRun(t, func(r *ImageRun) {
		r.Volumes = []Volume{
			{Source: "/srv/cache", Target: "/var/cache/app"},
			{Source: "/srv/data", Target: "/data", ReadOnly: true},
		}
		r.Tmpfs = []Tmpfs{{Target: "/data/tmp", Options: "size=1m"}, {Target: "/run", Options: "exec,mode=755"}}
		r.EtcFiles = map[string]string{
			"/etc/resolv.conf": "/state/resolv.conf",
			"/etc/hostname":    "/state/hostname",
			"/etc/hosts":       "/state/hosts",
		}
		r.Init, r.InitPath = true, "/usr/libexec/minirun/init"
	})
	base := destinations(DockerDefault().Mounts)
	want := append(base,
		"/data", "/run", // one level
		"/data/tmp", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/sbin/minirun-init", // two
		"/var/cache/app") // three
	if got := destinations(s.Mounts); !slices.Equal(got, want) {
		t.Errorf("mounts =\n%q\nwant\n%q", got, want)
	}
	wantMounts := map[string]specs.Mount{
		"/var/cache/app":     {Destination: "/var/cache/app", Type: "bind", Source: "/srv/cache", Options: []string{"rbind", "rprivate"}},
		"/data":              {Destination: "/data", Type: "bind", Source: "/srv/data", Options: []string{"rbind", "ro", "rprivate"}},
		"/data/tmp":          {Destination: "/data/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"noexec", "nosuid", "nodev", "rprivate", "size=1m"}},
		"/run":               {Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "rprivate", "exec", "mode=755"}},
		"/etc/hosts":         {Destination: "/etc/hosts", Type: "bind", Source: "/state/hosts", Options: []string{"rbind", "rprivate"}},
		"/sbin/minirun-init": {Destination: "/sbin/minirun-init", Type: "bind", Source: "/usr/libexec/minirun/init", Options: []string{"bind", "ro"}},
	}
	for dest, w := range wantMounts {
		if m := mount(s, dest); m == nil || !reflect.DeepEqual(*m, w) {
			t.Errorf("mount %s = %+v, want %+v", dest, m, w)
		}
	}
	validateSpec(t, s)
}

// TestFromImageMountsReplace checks that a mount of the run replaces the
// base mount at the same place, and the base mounts under it.
func TestFromImageMountsReplace(t *testing.T) {
	s := mustDockerRun(t, func(r *ImageRun) {
		r.Tmpfs = []Tmpfs{{Target: "/dev/shm", Options: "size=1g"}}
		r.ShmSize = 128 << 20 // for the base /dev/shm, which is gone
		r.Volumes = []Volume{{Source: "/etc/hosts", Target: "/etc/hosts", ReadOnly: true}}
		r.EtcFiles = map[string]string{"/etc/hosts": "/state/hosts", "/etc/hostname": "/state/hostname"}
	})
	shm := mount(s, "/dev/shm")
	if want := []string{"noexec", "nosuid", "nodev", "rprivate", "size=1g"}; !slices.Equal(shm.Options, want) {
		t.Errorf("/dev/shm options = %q, want the --tmpfs's %q", shm.Options, want)
	}
	if hosts := mount(s, "/etc/hosts"); hosts.Source != "/etc/hosts" || !slices.Contains(hosts.Options, "ro") {
		t.Errorf("/etc/hosts = %+v, want the volume's", hosts)
	}
	if got := destinations(s.Mounts); len(got) != len(DockerDefault().Mounts)+2 {
		t.Errorf("mounts = %q, want base's with /dev/shm replaced, /etc/hosts and /etc/hostname", got)
	}

	s = mustDockerRun(t, func(r *ImageRun) { r.Volumes = []Volume{{Source: "/dev", Target: "/dev"}} })
	want := []string{"/proc", "/sys", "/sys/fs/cgroup", "/dev"}
	if got := destinations(s.Mounts); !slices.Equal(got, want) {
		t.Errorf("mounts with -v /dev:/dev = %q, want %q", got, want)
	}
}

func TestFromImageMountErrors(t *testing.T) {
	tests := []struct {
		name    string
		run     func(r *ImageRun)
		wantErr string
	}{
		{"relative volume source", func(r *ImageRun) { r.Volumes = []Volume{{Source: "data", Target: "/data"}} },
			`--volume data:/data: source "data" is not an absolute path`},
		{"relative volume target", func(r *ImageRun) { r.Volumes = []Volume{{Source: "/d", Target: "data"}} },
			`--volume /d:data: target "data" is not absolute`},
		{"unclean volume target", func(r *ImageRun) { r.Volumes = []Volume{{Source: "/d", Target: "/data/"}} },
			`--volume /d:/data/: target "/data/" is not clean (/data)`},
		{"volume on the root", func(r *ImageRun) { r.Volumes = []Volume{{Source: "/d", Target: "/"}} },
			"--volume /d:/: target cannot be /"},
		{"volume twice", func(r *ImageRun) { r.Volumes = []Volume{{Source: "/a", Target: "/d"}, {Source: "/b", Target: "/d"}} },
			"--volume /b:/d: /d is mounted twice"},
		{"tmpfs on a volume", func(r *ImageRun) {
			r.Volumes = []Volume{{Source: "/a", Target: "/d"}}
			r.Tmpfs = []Tmpfs{{Target: "/d"}}
		}, "--tmpfs /d: /d is mounted twice"},
		{"tmpfs option", func(r *ImageRun) { r.Tmpfs = []Tmpfs{{Target: "/run", Options: "size=1m,huge"}} },
			`--tmpfs /run: option "huge" is not a tmpfs option`},
		{"tmpfs target", func(r *ImageRun) { r.Tmpfs = []Tmpfs{{Target: "run"}} },
			`--tmpfs run: target "run" is not absolute`},
		{"etc file not in /etc", func(r *ImageRun) { r.EtcFiles = map[string]string{"/etc/passwd": "/x"} },
			"etc file /etc/passwd: not one of /etc/hostname, /etc/hosts, /etc/resolv.conf"},
		{"etc file relative", func(r *ImageRun) { r.EtcFiles = map[string]string{"/etc/hosts": "hosts"} },
			`etc file /etc/hosts: source "hosts" is not an absolute path`},
		{"negative shm size", func(r *ImageRun) { r.ShmSize = -1 }, "--shm-size: -1 is negative"},
		{"init without binary", func(r *ImageRun) { r.Init = true }, "--init: no init binary given"},
		{"init relative", func(r *ImageRun) { r.Init, r.InitPath = true, "tini" },
			`--init: init binary "tini" is not an absolute path`},
		{"init on a volume", func(r *ImageRun) {
			r.Init, r.InitPath = true, "/bin/tini"
			r.Volumes = []Volume{{Source: "/x", Target: InitTarget}}
		}, "--init: /sbin/minirun-init is mounted already"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dockerRun(t, tt.run)
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("FromImage = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestFromImageShmSize(t *testing.T) {
	tests := []struct {
		size int64
		want string
	}{
		{0, "size=64m"},
		{128 << 20, "size=128m"},
		{3 << 29, "size=1536m"},
		{2 << 30, "size=2g"},
		{1536 << 10, "size=1536k"},
		{1000, "size=1000"},
	}
	for _, tt := range tests {
		s := mustDockerRun(t, func(r *ImageRun) { r.ShmSize = tt.size })
		want := []string{"nosuid", "noexec", "nodev", "mode=1777", tt.want}
		if got := mount(s, "/dev/shm").Options; !slices.Equal(got, want) {
			t.Errorf("--shm-size %d: /dev/shm options %q, want %q", tt.size, got, want)
		}
	}
	// A base /dev/shm without size= gets one at the end; of two, one stays,
	// in the first's place.
	for _, tt := range []struct{ base, want []string }{
		{[]string{"nosuid", "mode=1777"}, []string{"nosuid", "mode=1777", "size=1m"}},
		{[]string{"size=1k", "nosuid", "size=2k"}, []string{"size=1m", "nosuid"}},
	} {
		base := DockerDefault()
		mount(base, "/dev/shm").Options = tt.base
		s, err := FromImage(base, ImageRun{Image: imageWith(nil), ShmSize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if got := mount(s, "/dev/shm").Options; !slices.Equal(got, tt.want) {
			t.Errorf("base options %q: got %q, want %q", tt.base, got, tt.want)
		}
	}
}

func TestFromImageNetwork(t *testing.T) {
	netNS := func(s *specs.Spec) int {
		n := 0
		for _, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				n++
				if ns.Path != "" {
					t.Errorf("network namespace joins %s, want a new one", ns.Path)
				}
			}
		}
		return n
	}
	for _, network := range []string{"", "none"} {
		s := mustDockerRun(t, func(r *ImageRun) { r.Network = network })
		if netNS(s) != 1 {
			t.Errorf("--network %q: namespaces %+v, want one network namespace", network, s.Linux.Namespaces)
		}
		if len(s.Linux.Sysctl) != 2 {
			t.Errorf("--network %q: sysctl %v, want docker's two", network, s.Linux.Sysctl)
		}
	}

	// "none" on a base that has no network namespace, or joins one.
	for _, ns := range [][]specs.LinuxNamespace{nil, {{Type: specs.NetworkNamespace, Path: "/proc/1/ns/net"}}} {
		base := Default()
		base.Linux.Namespaces = slices.Concat(ns, []specs.LinuxNamespace{{Type: specs.UTSNamespace}, {Type: specs.MountNamespace}})
		s, err := FromImage(base, ImageRun{Image: imageWith(nil), Network: "none"})
		if err != nil {
			t.Fatal(err)
		}
		if netNS(s) != 1 {
			t.Errorf("--network none on %+v: namespaces %+v", ns, s.Linux.Namespaces)
		}
	}

	s := mustDockerRun(t, func(r *ImageRun) {
		r.Network = "host"
		r.Sysctls = map[string]string{"kernel.shmmax": "1000"}
	})
	if netNS(s) != 0 {
		t.Errorf("--network host: namespaces %+v, want no network namespace", s.Linux.Namespaces)
	}
	if want := map[string]string{"kernel.shmmax": "1000"}; !reflect.DeepEqual(s.Linux.Sysctl, want) {
		t.Errorf("--network host: sysctl %v, want %v (no net.*)", s.Linux.Sysctl, want)
	}
	validateSpec(t, s)
	if s := mustDockerRun(t, func(r *ImageRun) { r.Network = "host" }); s.Linux.Sysctl != nil {
		t.Errorf("--network host: sysctl %v, want none", s.Linux.Sysctl)
	}

	// bridge: a namespace of its own, as none; container: the one at
	// NetNS.
	if s := mustDockerRun(t, func(r *ImageRun) { r.Network = "bridge" }); netNS(s) != 1 {
		t.Errorf("--network bridge: namespaces %+v, want one new network namespace", s.Linux.Namespaces)
	}
	s = mustDockerRun(t, func(r *ImageRun) { r.Network, r.NetNS = "container", "/proc/42/ns/net" })
	isNet := func(n specs.LinuxNamespace) bool { return n.Type == specs.NetworkNamespace }
	if i := slices.IndexFunc(s.Linux.Namespaces, isNet); i < 0 || s.Linux.Namespaces[i].Path != "/proc/42/ns/net" || slices.IndexFunc(s.Linux.Namespaces[i+1:], isNet) >= 0 {
		t.Errorf("--network container: namespaces %+v, want the network namespace /proc/42/ns/net", s.Linux.Namespaces)
	}
	if _, err := dockerRun(t, func(r *ImageRun) { r.Network = "container" }); err == nil {
		t.Error("--network container without a namespace path: no error")
	}

	for _, network := range []string{"default", "container:web", "mynet"} {
		_, err := dockerRun(t, func(r *ImageRun) { r.Network = network })
		if !errors.Is(err, ErrUnsupportedNetwork) {
			t.Errorf("--network %s: %v, want ErrUnsupportedNetwork", network, err)
			continue
		}
		want := "--network " + network + ": unsupported network: want bridge, none, host or container"
		if err.Error() != want {
			t.Errorf("--network %s: %q, want %q", network, err, want)
		}
	}
}

func TestFromImageSysctls(t *testing.T) {
	s := mustDockerRun(t, func(r *ImageRun) {
		r.Sysctls = map[string]string{"net.ipv4.ip_unprivileged_port_start": "1024", "net.core.somaxconn": "1024", "fs.mqueue.msg_max": "20"}
	})
	want := map[string]string{
		"net.ipv4.ping_group_range":           "0 2147483647",
		"net.ipv4.ip_unprivileged_port_start": "1024",
		"net.core.somaxconn":                  "1024",
		"fs.mqueue.msg_max":                   "20",
	}
	if !reflect.DeepEqual(s.Linux.Sysctl, want) {
		t.Errorf("sysctl = %v, want %v", s.Linux.Sysctl, want)
	}
	validateSpec(t, s)

	tests := []struct {
		name    string
		run     func(r *ImageRun)
		base    func(s *specs.Spec)
		wantErr string
	}{
		{"not namespaced", func(r *ImageRun) { r.Sysctls = map[string]string{"kernel.pid_max": "1"} }, nil,
			`--sysctl kernel.pid_max: "kernel.pid_max" is not namespaced: it would change the host`},
		{"not dotted", func(r *ImageRun) { r.Sysctls = map[string]string{"net/ipv4/ip_forward": "1"} }, nil,
			`--sysctl net/ipv4/ip_forward: key "net/ipv4/ip_forward" is not a dotted sysctl name`},
		{"net with host network", func(r *ImageRun) { r.Network, r.Sysctls = "host", map[string]string{"net.ipv4.ip_forward": "1"} }, nil,
			"--sysctl net.ipv4.ip_forward: not allowed with --network host: it would change the host"},
		{"ipc without ipc namespace", func(r *ImageRun) { r.Sysctls = map[string]string{"kernel.shmmax": "1"} },
			func(s *specs.Spec) {
				s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == specs.IPCNamespace })
			},
			"--sysctl kernel.shmmax: needs the container's own ipc namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := DockerDefault()
			if tt.base != nil {
				tt.base(base)
			}
			r := ImageRun{Image: imageWith(nil)}
			tt.run(&r)
			_, err := FromImage(base, r)
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("FromImage = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestFromImageResources(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	tests := []struct {
		name    string
		run     func(r *ImageRun)
		memory  *specs.LinuxMemory
		cpu     *specs.LinuxCPU
		pids    *specs.LinuxPids
		wantErr string
	}{
		{name: "none", run: func(r *ImageRun) {}},
		{name: "memory", run: func(r *ImageRun) { r.Memory = 64 << 20 },
			memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(128 << 20)}},
		{name: "memory at the minimum", run: func(r *ImageRun) { r.Memory = 6 << 20 },
			memory: &specs.LinuxMemory{Limit: i64(6 << 20), Swap: i64(12 << 20)}},
		{name: "memory and swap", run: func(r *ImageRun) { r.Memory, r.MemorySwap = 64<<20, 96<<20 },
			memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(96 << 20)}},
		{name: "memory and no swap", run: func(r *ImageRun) { r.Memory, r.MemorySwap = 64<<20, 64<<20 },
			memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(64 << 20)}},
		{name: "memory and unlimited swap", run: func(r *ImageRun) { r.Memory, r.MemorySwap = 64<<20, -1 },
			memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(-1)}},
		{name: "unlimited swap alone", run: func(r *ImageRun) { r.MemorySwap = -1 },
			memory: &specs.LinuxMemory{Swap: i64(-1)}},
		{name: "huge memory", run: func(r *ImageRun) { r.Memory = math.MaxInt64 },
			memory: &specs.LinuxMemory{Limit: i64(math.MaxInt64), Swap: i64(-1)}},
		{name: "cpus", run: func(r *ImageRun) { r.CPUs = 1.5 },
			cpu: &specs.LinuxCPU{Quota: i64(150000), Period: u64(100000)}},
		{name: "cpus at the minimum", run: func(r *ImageRun) { r.CPUs = 0.01 },
			cpu: &specs.LinuxCPU{Quota: i64(1000), Period: u64(100000)}},
		{name: "cpus inexact in binary", run: func(r *ImageRun) { r.CPUs = 1.1 },
			cpu: &specs.LinuxCPU{Quota: i64(110000), Period: u64(100000)}},
		{name: "shares", run: func(r *ImageRun) { r.CPUShares = 512 }, cpu: &specs.LinuxCPU{Shares: u64(512)}},
		{name: "cpus and shares", run: func(r *ImageRun) { r.CPUs, r.CPUShares = 2, 2048 },
			cpu: &specs.LinuxCPU{Shares: u64(2048), Quota: i64(200000), Period: u64(100000)}},
		{name: "pids", run: func(r *ImageRun) { r.PidsLimit = 100 }, pids: &specs.LinuxPids{Limit: i64(100)}},
		{name: "pids unlimited", run: func(r *ImageRun) { r.PidsLimit = -1 }, pids: &specs.LinuxPids{Limit: i64(-1)}},
		{name: "pids negative", run: func(r *ImageRun) { r.PidsLimit = -5 }, pids: &specs.LinuxPids{Limit: i64(-1)}},

		{name: "memory below minimum", run: func(r *ImageRun) { r.Memory = 3 },
			wantErr: "--memory: 3 bytes is below the 6 MiB minimum"},
		{name: "memory just below minimum", run: func(r *ImageRun) { r.Memory = 6<<20 - 1 },
			wantErr: "--memory: 6291455 bytes is below the 6 MiB minimum"},
		{name: "negative memory", run: func(r *ImageRun) { r.Memory = -1 }, wantErr: "--memory: -1 is negative"},
		{name: "swap without memory", run: func(r *ImageRun) { r.MemorySwap = 1 << 30 },
			wantErr: "--memory-swap: needs --memory, as it limits memory and swap together"},
		{name: "swap below memory", run: func(r *ImageRun) { r.Memory, r.MemorySwap = 64<<20, 32<<20 },
			wantErr: "--memory-swap: 33554432 bytes is below --memory 67108864 bytes; it limits memory and swap together"},
		{name: "swap below -1", run: func(r *ImageRun) { r.Memory, r.MemorySwap = 64<<20, -2 },
			wantErr: "--memory-swap: -2 is neither -1 (unlimited) nor a size"},
		{name: "cpus below minimum", run: func(r *ImageRun) { r.CPUs = 0.001 },
			wantErr: "--cpus: 0.001 is below the minimum of 0.01"},
		{name: "negative cpus", run: func(r *ImageRun) { r.CPUs = -1 }, wantErr: "--cpus: -1 is not a number of CPUs"},
		{name: "NaN cpus", run: func(r *ImageRun) { r.CPUs = math.NaN() }, wantErr: "--cpus: NaN is not a number of CPUs"},
		{name: "infinite cpus", run: func(r *ImageRun) { r.CPUs = math.Inf(1) }, wantErr: "--cpus: +Inf is not a number of CPUs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := dockerRun(t, tt.run)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("FromImage = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			res := s.Linux.Resources
			if !reflect.DeepEqual(res.Memory, tt.memory) {
				t.Errorf("memory = %s, want %s", jsonOf(res.Memory), jsonOf(tt.memory))
			}
			if !reflect.DeepEqual(res.CPU, tt.cpu) {
				t.Errorf("cpu = %s, want %s", jsonOf(res.CPU), jsonOf(tt.cpu))
			}
			if !reflect.DeepEqual(res.Pids, tt.pids) {
				t.Errorf("pids = %s, want %s", jsonOf(res.Pids), jsonOf(tt.pids))
			}
			if !reflect.DeepEqual(res.Devices, DockerDefault().Linux.Resources.Devices) {
				t.Errorf("devices = %+v, want DockerDefault's", res.Devices)
			}
			validateSpec(t, s)
		})
	}

	// Base's other memory settings stay.
	base := DockerDefault()
	reservation := int64(32 << 20)
	base.Linux.Resources.Memory = &specs.LinuxMemory{Reservation: &reservation}
	s, err := FromImage(base, ImageRun{Image: imageWith(nil), Memory: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if m := s.Linux.Resources.Memory; m.Reservation == nil || *m.Reservation != reservation || *m.Limit != 64<<20 {
		t.Errorf("memory = %s, want base's reservation and the limit", jsonOf(m))
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestFromImageUlimits(t *testing.T) {
	r := ImageRun{Image: imageWith(nil), Ulimits: []specs.POSIXRlimit{
		{Type: "RLIMIT_NOFILE", Soft: 4096, Hard: 8192},
		{Type: "RLIMIT_NPROC", Soft: 10, Hard: 10},
		{Type: "RLIMIT_NPROC", Soft: 512, Hard: 512},
	}}
	s, err := FromImage(Default(), r)
	if err != nil {
		t.Fatal(err)
	}
	want := []specs.POSIXRlimit{
		{Type: "RLIMIT_NOFILE", Soft: 4096, Hard: 8192}, // over Default()'s 1024
		{Type: "RLIMIT_NPROC", Soft: 512, Hard: 512},    // the last one given
	}
	if !reflect.DeepEqual(s.Process.Rlimits, want) {
		t.Errorf("rlimits = %+v, want %+v", s.Process.Rlimits, want)
	}

	s = mustDockerRun(t, func(r *ImageRun) {
		r.Ulimits = []specs.POSIXRlimit{{Type: "RLIMIT_CORE", Soft: math.MaxUint64, Hard: math.MaxUint64}}
	})
	if want := []specs.POSIXRlimit{{Type: "RLIMIT_CORE", Soft: math.MaxUint64, Hard: math.MaxUint64}}; !reflect.DeepEqual(s.Process.Rlimits, want) {
		t.Errorf("rlimits = %+v, want %+v", s.Process.Rlimits, want)
	}
	validateSpec(t, s)

	for _, tt := range []struct {
		rl      specs.POSIXRlimit
		wantErr string
	}{
		{specs.POSIXRlimit{Type: "RLIMIT_FOO", Soft: 1, Hard: 1}, `--ulimit foo: unknown resource limit "RLIMIT_FOO"`},
		{specs.POSIXRlimit{Type: "nofile", Soft: 1, Hard: 1}, `--ulimit nofile: unknown resource limit "nofile"`},
		{specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: 2, Hard: 1}, "--ulimit nofile: soft limit 2 is above hard limit 1"},
	} {
		_, err := dockerRun(t, func(r *ImageRun) { r.Ulimits = []specs.POSIXRlimit{tt.rl} })
		if err == nil || err.Error() != tt.wantErr {
			t.Errorf("--ulimit %+v: %v, want %q", tt.rl, err, tt.wantErr)
		}
	}
}

func TestFromImageInit(t *testing.T) {
	s := mustDockerRun(t, func(r *ImageRun) {
		r.Image = imageWith(func(c *imageConfig) { c.Entrypoint, c.Cmd = []string{"/entry"}, []string{"serve"} })
		r.Init, r.InitPath = true, "/usr/bin/tini"
	})
	if want := []string{"/sbin/minirun-init", "--", "/entry", "serve"}; !slices.Equal(s.Process.Args, want) {
		t.Errorf("args = %q, want %q", s.Process.Args, want)
	}
	m := mount(s, InitTarget)
	if want := (specs.Mount{Destination: InitTarget, Type: "bind", Source: "/usr/bin/tini", Options: []string{"bind", "ro"}}); m == nil || !reflect.DeepEqual(*m, want) {
		t.Errorf("init mount = %+v, want %+v", m, want)
	}
	validateSpec(t, s)

	// InitPath alone does nothing.
	s = mustDockerRun(t, func(r *ImageRun) { r.InitPath = "/usr/bin/tini" })
	if mount(s, InitTarget) != nil || s.Process.Args[0] != "sh" {
		t.Errorf("InitPath without Init: args %q, mounts %q", s.Process.Args, destinations(s.Mounts))
	}

	base := DockerDefault()
	base.Linux.Namespaces = slices.DeleteFunc(base.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == specs.PIDNamespace })
	_, err := FromImage(base, ImageRun{Image: imageWith(nil), Init: true, InitPath: "/usr/bin/tini"})
	if want := "--init: needs the container's own pid namespace"; err == nil || err.Error() != want {
		t.Errorf("--init without a pid namespace: %v, want %q", err, want)
	}
}

func TestFromImageAnnotationsFromFlags(t *testing.T) {
	img := imageWith(func(c *imageConfig) {
		c.StopSignal = "SIGQUIT"
		c.Labels = map[string]string{"maintainer": "image", "com.example.kept": "image"}
	})
	s := mustDockerRun(t, func(r *ImageRun) {
		r.Image = img
		r.Labels = map[string]string{"maintainer": "run", "com.example.new": ""}
		r.StopSignal = "SIGUSR1"
	})
	want := map[string]string{
		"maintainer":                          "run",
		"com.example.kept":                    "image",
		"com.example.new":                     "",
		"org.opencontainers.image.stopSignal": "SIGUSR1",
	}
	if !reflect.DeepEqual(s.Annotations, want) {
		t.Errorf("annotations = %v, want %v", s.Annotations, want)
	}

	// A label cannot beat --stop-signal; with no image annotations at all
	// the flags still make some.
	s = mustDockerRun(t, func(r *ImageRun) {
		r.Labels = map[string]string{"org.opencontainers.image.stopSignal": "label"}
		r.StopSignal = "15"
	})
	if want := map[string]string{"org.opencontainers.image.stopSignal": "15"}; !reflect.DeepEqual(s.Annotations, want) {
		t.Errorf("annotations = %v, want %v", s.Annotations, want)
	}

	for flag, run := range map[string]func(r *ImageRun){
		"--label =x: empty name":             func(r *ImageRun) { r.Labels = map[string]string{"": "x"} },
		"--stop-signal SIGFOO: not a signal": func(r *ImageRun) { r.StopSignal = "SIGFOO" },
	} {
		if _, err := dockerRun(t, run); err == nil || err.Error() != flag {
			t.Errorf("FromImage = %v, want %q", err, flag)
		}
	}
}

func TestCheckSignal(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"SIGTERM", ""},
		{"TERM", ""},
		{"sigquit", ""},
		{"Kill", ""},
		{"SIGRTMIN", ""},
		{"RTMIN+3", ""},
		{"SIGRTMAX-14", ""},
		{"RTMAX", ""},
		{"9", ""},
		{"64", ""},

		{"", "not a signal"},
		{"SIG", "not a signal"},
		{"SIGFOO", "not a signal"},
		{"0", "signal number 0 is outside 1..64"},
		{"65", "signal number 65 is outside 1..64"},
		{"-9", "signal number -9 is outside 1..64"},
		{"RTMIN+16", "not a signal"},
		{"RTMIN+03", "not a signal"},
		{"RTMAX-15", "not a signal"},
		{"RTMAX-0", "not a signal"},
	}
	for _, tt := range tests {
		checkErr(t, checkSignal(tt.in), tt.wantErr)
	}
}

func TestFromImageTerminal(t *testing.T) {
	s := mustDockerRun(t, func(r *ImageRun) { r.Terminal = true })
	if !s.Process.Terminal || envValue(s.Process.Env, "TERM") != "xterm" {
		t.Errorf("-t: terminal %v, env %q; want true and TERM=xterm", s.Process.Terminal, s.Process.Env)
	}
	s = mustDockerRun(t, nil)
	if s.Process.Terminal || slices.ContainsFunc(s.Process.Env, func(e string) bool { return strings.HasPrefix(e, "TERM=") }) {
		t.Errorf("no -t: terminal %v, env %q; want false and no TERM", s.Process.Terminal, s.Process.Env)
	}
	s = mustDockerRun(t, func(r *ImageRun) {
		r.Terminal = true
		r.Image = imageWith(func(c *imageConfig) { c.Env = []string{"TERM=dumb"} })
	})
	if envValue(s.Process.Env, "TERM") != "dumb" {
		t.Errorf("-t with an image TERM: env %q, want the image's TERM", s.Process.Env)
	}
}

func TestFromImageNoNewPrivileges(t *testing.T) {
	if s := mustDockerRun(t, nil); s.Process.NoNewPrivileges {
		t.Error("noNewPrivileges set without the flag")
	}
	if s := mustDockerRun(t, func(r *ImageRun) { r.NoNewPrivileges = true }); !s.Process.NoNewPrivileges {
		t.Error("noNewPrivileges not set with the flag")
	}
	// Default()'s true stays.
	s, err := FromImage(Default(), ImageRun{Image: imageWith(nil)})
	if err != nil || !s.Process.NoNewPrivileges {
		t.Errorf("FromImage(Default()): %v, noNewPrivileges %v", err, s != nil && s.Process.NoNewPrivileges)
	}
}

func TestSetSecurityOpt(t *testing.T) {
	files := map[string]string{
		"/p/deny-mkdir.json": `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]}`,
		"/p/broken.json":     `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_MAYBE"}]}`,
	}
	readFile := func(name string) ([]byte, error) {
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	for _, tt := range []struct {
		name       string
		opts       []string
		nnp        bool
		unconfined bool
		profile    bool
		err        string
	}{
		{name: "no-new-privileges", opts: []string{"no-new-privileges"}, nnp: true},
		{name: "no-new-privileges:true", opts: []string{"no-new-privileges:true"}, nnp: true},
		{name: "no-new-privileges=false after true", opts: []string{"no-new-privileges", "no-new-privileges=false"}},
		{name: "unconfined", opts: []string{"seccomp=unconfined"}, unconfined: true},
		{name: "unconfined, old colon form", opts: []string{"seccomp:unconfined"}, unconfined: true},
		{name: "file", opts: []string{"seccomp=/p/deny-mkdir.json"}, profile: true},
		{name: "file after unconfined", opts: []string{"seccomp=unconfined", "seccomp=/p/deny-mkdir.json"}, profile: true},
		{name: "unconfined after file", opts: []string{"seccomp=/p/deny-mkdir.json", "seccomp=unconfined"}, unconfined: true},
		{name: "both kinds", opts: []string{"seccomp=unconfined", "no-new-privileges"}, nnp: true, unconfined: true},
		{name: "missing file", opts: []string{"seccomp=/p/none.json"}, err: "read seccomp profile: open /p/none.json: file does not exist"},
		{name: "malformed file", opts: []string{"seccomp=/p/broken.json"}, err: `seccomp profile /p/broken.json: syscalls[0]: action: unknown action "SCMP_ACT_MAYBE"`},
		{name: "empty seccomp", opts: []string{"seccomp="}, err: "want seccomp=unconfined or seccomp=FILE"},
		{name: "bad bool", opts: []string{"no-new-privileges=maybe"}, err: "want no-new-privileges=true or false"},
		{name: "apparmor", opts: []string{"apparmor=unconfined"}, err: `invalid security option "apparmor=unconfined"`},
		{name: "label", opts: []string{"label:disable"}, err: `invalid security option "label:disable"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var r ImageRun
			var err error
			for _, o := range tt.opts {
				if err = r.SetSecurityOpt(o, readFile); err != nil {
					break
				}
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.NoNewPrivileges != tt.nnp || r.SeccompUnconfined != tt.unconfined || (r.Seccomp != nil) != tt.profile {
				t.Errorf("noNewPrivileges %v, unconfined %v, profile %v; want %v, %v, %v",
					r.NoNewPrivileges, r.SeccompUnconfined, r.Seccomp != nil, tt.nnp, tt.unconfined, tt.profile)
			}
		})
	}
}

func TestFromImageSeccomp(t *testing.T) {
	denyMkdir, err := ParseSeccompProfile([]byte(`{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42},
		             {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	withCaps := func(add ...string) *specs.LinuxSeccomp {
		return DefaultSeccomp(append(slices.Clone(dockerCaps), add...))
	}
	for _, tt := range []struct {
		name   string
		change func(r *ImageRun)
		want   *specs.LinuxSeccomp
	}{
		{"default", nil, DefaultSeccomp(dockerCaps)},
		{"--cap-add SYS_ADMIN rebuilds it", func(r *ImageRun) { r.CapAdd = []string{"sys_admin"} }, withCaps("CAP_SYS_ADMIN")},
		{"--cap-drop ALL rebuilds it", func(r *ImageRun) { r.CapDrop = []string{"ALL"} }, DefaultSeccomp(nil)},
		{"--privileged drops it", func(r *ImageRun) { r.Privileged = true }, nil},
		{"--privileged wins over a file", func(r *ImageRun) { r.Privileged, r.Seccomp = true, denyMkdir }, nil},
		{"unconfined", func(r *ImageRun) { r.SeccompUnconfined = true }, nil},
		{"a file replaces it", func(r *ImageRun) { r.Seccomp = denyMkdir }, denyMkdir.Spec(dockerCaps)},
		{"a file, resolved for the caps", func(r *ImageRun) { r.Seccomp, r.CapAdd = denyMkdir, []string{"SYS_ADMIN"} },
			denyMkdir.Spec(append(slices.Clone(dockerCaps), "CAP_SYS_ADMIN"))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := mustDockerRun(t, tt.change)
			if !reflect.DeepEqual(s.Linux.Seccomp, tt.want) {
				t.Errorf("seccomp =\n%s\nwant\n%s", jsonOf(s.Linux.Seccomp), jsonOf(tt.want))
			}
			validateSpec(t, s)
		})
	}
	if len(denyMkdir.Spec(dockerCaps).Syscalls) != 1 || len(denyMkdir.Spec([]string{"CAP_SYS_ADMIN"}).Syscalls) != 2 {
		t.Error("the file's mount rule does not follow CAP_SYS_ADMIN")
	}

	// A profile of base's own that is not the default stays as it is,
	// whatever the capabilities.
	base := DockerDefault()
	own := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno}}}
	base.Linux.Seccomp = own
	s, err := FromImage(base, ImageRun{Image: imageWith(nil), CapAdd: []string{"SYS_ADMIN"}})
	if err != nil || !reflect.DeepEqual(s.Linux.Seccomp, own) {
		t.Errorf("base's own profile with --cap-add: %v, %s", err, jsonOf(s.Linux.Seccomp))
	}
	// So does none: runc's Default has no filter.
	s, err = FromImage(Default(), ImageRun{Image: imageWith(nil), CapAdd: []string{"SYS_ADMIN"}})
	if err != nil || s.Linux.Seccomp != nil {
		t.Errorf("FromImage(Default()) with --cap-add: %v, seccomp %s", err, jsonOf(s.Linux.Seccomp))
	}

	// Both at once is an error, and base is left as it was.
	base = DockerDefault()
	_, err = FromImage(base, ImageRun{Image: imageWith(nil), Seccomp: denyMkdir, SeccompUnconfined: true})
	if err == nil || !strings.Contains(err.Error(), "--security-opt") {
		t.Errorf("unconfined and a profile: err = %v, want one naming --security-opt", err)
	}
	if !reflect.DeepEqual(base.Linux.Seccomp, DefaultSeccomp(dockerCaps)) {
		t.Error("a failed FromImage changed base's seccomp")
	}
}
