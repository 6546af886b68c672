package test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// nsProcName maps the spec's namespace types to /proc/self/ns names.
var nsProcName = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.IPCNamespace: "ipc",
	specs.UTSNamespace: "uts", specs.MountNamespace: "mnt", specs.CgroupNamespace: "cgroup",
	specs.UserNamespace: "user", specs.TimeNamespace: "time",
}

// checkedMasked and checkedReadonly are paths every runc-compatible default
// spec covers; a path this kernel lacks (here /proc/kcore and
// /proc/sysrq-trigger) is logged and left out of the read-only check (a
// missing path is trivially unreadable).
var (
	checkedMasked   = []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"}
	checkedReadonly = []string{"/proc/sys", "/proc/sysrq-trigger"}
)

// TestDefaultSpec runs the probe under the runtime's own default spec and
// checks what the spec promises, seen from inside.
func TestDefaultSpec(t *testing.T) {
	b := newBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/probe",
			"-masked", strings.Join(s.Linux.MaskedPaths, ","),
			"-readonly", strings.Join(s.Linux.ReadonlyPaths, ",")}
	})
	s := readSpec(t, b)
	p := runProbe(t, b)
	defer func() {
		if t.Failed() {
			t.Logf("report: %s", p.raw)
		}
	}()

	if p.Pid != 1 {
		t.Errorf("pid = %d, want 1", p.Pid)
	}
	if s.Hostname == "" || p.Hostname != s.Hostname {
		t.Errorf("hostname = %q, want the spec's %q (non-empty)", p.Hostname, s.Hostname)
	}
	if p.UID != 0 || p.GID != 0 || p.EUID != 0 || p.EGID != 0 {
		t.Errorf("ids = %d/%d/%d/%d, want all 0", p.UID, p.GID, p.EUID, p.EGID)
	}
	if p.Cwd != "/" {
		t.Errorf("cwd = %q, want /", p.Cwd)
	}

	// The runc-compatible default: exactly these three capabilities.
	const defaultCaps = 0x20000420 // CAP_AUDIT_WRITE | CAP_KILL | CAP_NET_BIND_SERVICE
	want := expectedCaps(t, s.Process)
	for _, k := range []string{"CapBnd", "CapEff", "CapPrm"} {
		if want[k] != defaultCaps {
			t.Errorf("default spec gives %s %x, want %x (AUDIT_WRITE|KILL|NET_BIND_SERVICE)", k, want[k], defaultCaps)
		}
	}
	checkCaps(t, p.Caps, want)

	if !s.Process.NoNewPrivileges || p.NoNewPrivs != "1" {
		t.Errorf("NoNewPrivs = %q (spec %v), want 1", p.NoNewPrivs, s.Process.NoNewPrivileges)
	}
	var sawNofile bool
	for _, l := range s.Process.Rlimits {
		got := p.Rlimits[l.Type]
		if got.Soft != l.Soft || got.Hard != l.Hard {
			t.Errorf("%s = %d/%d, want %d/%d", l.Type, got.Soft, got.Hard, l.Soft, l.Hard)
		}
		sawNofile = sawNofile || l.Type == "RLIMIT_NOFILE" && l.Soft == 1024 && l.Hard == 1024
	}
	if !sawNofile {
		t.Errorf("default spec lacks RLIMIT_NOFILE 1024/1024: %+v", s.Process.Rlimits)
	}
	if len(p.Fds) != 3 || p.Fds[0] == "" || p.Fds[1] == "" || p.Fds[2] == "" {
		t.Errorf("open fds = %v, want exactly 0, 1, 2", p.Fds)
	}

	for _, path := range checkedMasked {
		if !slices.Contains(s.Linux.MaskedPaths, path) {
			t.Errorf("default maskedPaths lack %s", path)
		}
		if _, err := os.Stat(path); err != nil {
			t.Logf("%s: not on this host, nothing to mask", path)
		}
	}
	for path, readable := range p.Masked {
		if readable {
			t.Errorf("masked path %s is readable inside", path)
		}
	}
	for _, path := range checkedReadonly {
		if !slices.Contains(s.Linux.ReadonlyPaths, path) {
			t.Errorf("default readonlyPaths lack %s", path)
		}
	}
	for path, ro := range p.Readonly {
		if _, err := os.Stat(path); err != nil {
			t.Logf("%s: not on this host, read-only check skipped", path)
			continue
		}
		if !ro {
			t.Errorf("read-only path %s: writing did not fail with EROFS (%v)", path, p.Errors)
		}
	}

	for _, m := range []struct{ point, fstype, opt string }{
		{"/proc", "proc", ""},
		{"/dev", "tmpfs", ""},
		{"/dev/pts", "devpts", ""},
		{"/dev/shm", "tmpfs", ""},
		{"/dev/mqueue", "mqueue", ""},
		{"/sys", "sysfs", "ro"},
	} {
		got, ok := p.mount(m.point)
		if !ok || got.FSType != m.fstype || m.opt != "" && !hasOpt(got.Options, m.opt) {
			t.Errorf("mount at %s = %+v (found %v), want %s with %q", m.point, got, ok, m.fstype, m.opt)
		}
	}
	if root, ok := p.mount("/"); !ok || hasOpt(root.Options, "ro") != s.Root.Readonly {
		t.Errorf("root mount %+v, want ro=%v as root.readonly says", root, s.Root.Readonly)
	}

	for _, ns := range []string{"pid", "net", "ipc", "uts", "mnt"} {
		if !specHasNS(s, ns) {
			t.Errorf("default spec does not unshare %s", ns)
		}
	}
	for typ, name := range nsProcName {
		inSpec := specHasNS(s, name)
		if differs := p.Namespaces[name] != hostNS[name]; differs != inSpec {
			t.Errorf("namespace %s (%s): %s inside, %s on the host; spec lists it: %v", typ, name, p.Namespaces[name], hostNS[name], inSpec)
		}
	}
}

func specHasNS(s *specs.Spec, name string) bool {
	for _, ns := range s.Linux.Namespaces {
		if nsProcName[ns.Type] == name && ns.Path == "" {
			return true
		}
	}
	return false
}

// TestSpecVariations changes one thing in the default spec per row and
// checks the probe sees it.
func TestSpecVariations(t *testing.T) {
	uid := func(n uint32) *uint32 { return &n }
	type row struct {
		name   string
		mutate func(t *testing.T, s *specs.Spec)
		check  func(t *testing.T, s *specs.Spec, p probeReport)
	}
	rows := []row{{
		name:   "hostname",
		mutate: func(t *testing.T, s *specs.Spec) { s.Hostname = "probe-host" },
		check: func(t *testing.T, s *specs.Spec, p probeReport) {
			if p.Hostname != "probe-host" {
				t.Errorf("hostname = %q", p.Hostname)
			}
		},
	}, {
		name: "user",
		mutate: func(t *testing.T, s *specs.Spec) {
			s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1001}, Umask: uid(0o027)}
		},
		check: func(t *testing.T, s *specs.Spec, p probeReport) {
			if p.UID != 1000 || p.EUID != 1000 || p.GID != 1000 || p.EGID != 1000 {
				t.Errorf("ids = %d/%d/%d/%d, want 1000", p.UID, p.EUID, p.GID, p.EGID)
			}
			if !reflect.DeepEqual(p.Groups, []int{1001}) {
				t.Errorf("groups = %v, want [1001]", p.Groups)
			}
			if p.Umask != "0027" {
				t.Errorf("umask = %q, want 0027", p.Umask)
			}
			checkCaps(t, p.Caps, expectedCaps(t, s.Process))
		},
	}, {
		name:   "cwd",
		mutate: func(t *testing.T, s *specs.Spec) { s.Process.Cwd = "/tmp" },
		check: func(t *testing.T, s *specs.Spec, p probeReport) {
			if p.Cwd != "/tmp" {
				t.Errorf("cwd = %q", p.Cwd)
			}
		},
	}, {
		name: "cwd created",
		mutate: func(t *testing.T, s *specs.Spec) {
			s.Root.Path = privateRootfs(t) // the runtime creates the cwd in the rootfs
			s.Process.Cwd = "/work/not/there"
		},
		check: func(t *testing.T, s *specs.Spec, p probeReport) {
			if p.Cwd != "/work/not/there" {
				t.Errorf("cwd = %q", p.Cwd)
			}
		},
	}, {
		name:   "env",
		mutate: func(t *testing.T, s *specs.Spec) { s.Process.Env = []string{"PATH=/bin", "FOO=bar baz", "EMPTY="} },
		check: func(t *testing.T, s *specs.Spec, p probeReport) {
			for _, kv := range s.Process.Env {
				if !p.hasEnv(kv) {
					t.Errorf("env %v lacks %q", p.Env, kv)
				}
			}
		},
	}, {
		name: "rlimits",
		mutate: func(t *testing.T, s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{
				{Type: "RLIMIT_NOFILE", Soft: 512, Hard: 512},
				{Type: "RLIMIT_NPROC", Soft: 4096, Hard: 4096},
				{Type: "RLIMIT_CORE", Soft: 0, Hard: 0},
			}
		},
		check: func(t *testing.T, s *specs.Spec, p probeReport) {
			for _, l := range s.Process.Rlimits {
				if got := p.Rlimits[l.Type]; got.Soft != l.Soft || got.Hard != l.Hard {
					t.Errorf("%s = %d/%d, want %d/%d", l.Type, got.Soft, got.Hard, l.Soft, l.Hard)
				}
			}
		},
	}, {
		name:   "no new privileges off",
		mutate: func(t *testing.T, s *specs.Spec) { s.Process.NoNewPrivileges = false },
		check: func(t *testing.T, s *specs.Spec, p probeReport) {
			if p.NoNewPrivs != "0" {
				t.Errorf("NoNewPrivs = %q, want 0", p.NoNewPrivs)
			}
		},
	}, {
		name: "ambient capabilities for a user",
		mutate: func(t *testing.T, s *specs.Spec) {
			caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"}
			s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps, Inheritable: caps, Ambient: caps}
			s.Process.User = specs.User{UID: 1000, GID: 1000}
		},
		check: func(t *testing.T, s *specs.Spec, p probeReport) {
			want := expectedCaps(t, s.Process)
			if want["CapEff"]&(1<<capBits["CAP_SYS_ADMIN"]) == 0 {
				t.Fatalf("test bug: expected effective set lacks CAP_SYS_ADMIN")
			}
			checkCaps(t, p.Caps, want)
		},
	}, {
		name:   "oom score adj",
		mutate: func(t *testing.T, s *specs.Spec) { n := 100; s.Process.OOMScoreAdj = &n },
		check: func(t *testing.T, s *specs.Spec, p probeReport) {
			if p.OOMScoreAdj != "100" {
				t.Errorf("oom_score_adj = %q, want 100", p.OOMScoreAdj)
			}
		},
	}, {
		name: "writable root",
		mutate: func(t *testing.T, s *specs.Spec) {
			s.Root = &specs.Root{Path: privateRootfs(t), Readonly: false}
			s.Process.Args = []string{"/probe", "-readonly", "/,/etc"}
		},
		check: func(t *testing.T, s *specs.Spec, p probeReport) {
			if p.Readonly["/"] || p.Readonly["/etc"] {
				t.Errorf("writing to a root with readonly=false failed with EROFS: %v", p.Readonly)
			}
			if root, _ := p.mount("/"); hasOpt(root.Options, "ro") {
				t.Errorf("root mounted %q", root.Options)
			}
		},
	}, {
		name: "sysctl",
		mutate: func(t *testing.T, s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
			s.Process.Args = []string{"/probe", "-sysctl", "net.ipv4.ip_forward"}
		},
		check: func(t *testing.T, s *specs.Spec, p probeReport) {
			if p.Sysctl["net.ipv4.ip_forward"] != "1" {
				t.Errorf("net.ipv4.ip_forward inside = %q, want 1 (%v)", p.Sysctl["net.ipv4.ip_forward"], p.Errors)
			}
			if host, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(host)) == "1" {
				t.Logf("the host's ip_forward is 1 as well: this row cannot tell the namespaces apart")
			}
		},
	}, {
		name: "masked and readonly paths",
		mutate: func(t *testing.T, s *specs.Spec) {
			s.Linux.MaskedPaths = []string{"/proc/cpuinfo", "/proc/bus"}
			s.Linux.ReadonlyPaths = []string{"/proc/sys", "/dev/shm"}
			s.Process.Args = []string{"/probe", "-masked", "/proc/cpuinfo,/proc/bus,/proc/version", "-readonly", "/proc/sys,/dev/shm,/tmp"}
		},
		check: func(t *testing.T, s *specs.Spec, p probeReport) {
			want := map[string]bool{"/proc/cpuinfo": false, "/proc/bus": false, "/proc/version": true}
			if !reflect.DeepEqual(p.Masked, want) {
				t.Errorf("readable = %v, want %v (only the listed paths masked)", p.Masked, want)
			}
			// /tmp is in the read-only root: EROFS too.
			want = map[string]bool{"/proc/sys": true, "/dev/shm": true, "/tmp": true}
			if !reflect.DeepEqual(p.Readonly, want) {
				t.Errorf("EROFS = %v, want %v (%v)", p.Readonly, want, p.Errors)
			}
		},
	}, {
		name: "tmpfs mount",
		mutate: func(t *testing.T, s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs",
				Options: []string{"nosuid", "nodev", "noexec", "size=1m", "mode=755"}})
			s.Process.Args = []string{"/probe", "-readonly", "/tmp"}
		},
		check: func(t *testing.T, s *specs.Spec, p probeReport) {
			m, ok := p.mount("/tmp")
			if !ok || m.FSType != "tmpfs" || !hasOpt(m.Options, "nosuid") || !hasOpt(m.Options, "nodev") ||
				!hasOpt(m.Options, "noexec") || !hasOpt(m.SuperOptions, "size=1024k") || !hasOpt(m.SuperOptions, "mode=755") {
				t.Errorf("/tmp mount = %+v", m)
			}
			if p.Readonly["/tmp"] {
				t.Errorf("tmpfs /tmp is not writable")
			}
		},
	}}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			b := newBundle(t, func(s *specs.Spec) { r.mutate(t, s) })
			s := readSpec(t, b)
			p := runProbe(t, b)
			if len(p.Errors) > 0 {
				t.Logf("probe errors: %v", p.Errors)
			}
			r.check(t, s, p)
		})
	}
}

// TestBindMounts binds two host dirs, one read-only, one read-write.
func TestBindMounts(t *testing.T) {
	roDir, rwDir := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(roDir, "present"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := newBundle(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/mnt", Type: "bind", Source: roDir, Options: []string{"rbind", "ro"}},
			specs.Mount{Destination: "/tmp", Type: "bind", Source: rwDir, Options: []string{"rbind", "rw"}})
		s.Process.Args = []string{"/bin/sh", "-c",
			"echo written-inside > /tmp/out && exec /probe -readonly /mnt,/mnt/present,/tmp -masked /mnt/present"}
	})
	p := runProbe(t, b)
	if !p.Readonly["/mnt"] || !p.Readonly["/mnt/present"] {
		t.Errorf("ro bind mount: writes did not fail with EROFS: %v (%v)", p.Readonly, p.Errors)
	}
	if !p.Masked["/mnt/present"] {
		t.Errorf("ro bind mount: host file not readable inside")
	}
	if p.Readonly["/tmp"] {
		t.Errorf("rw bind mount is read-only")
	}
	if got, err := os.ReadFile(filepath.Join(rwDir, "out")); err != nil || string(got) != "written-inside\n" {
		t.Errorf("file written inside the rw bind mount: %q, %v on the host", got, err)
	}
	if m, _ := p.mount("/mnt"); !hasOpt(m.Options, "ro") {
		t.Errorf("/mnt mount options %q lack ro", m.Options)
	}
}

// TestDevice adds a character device like /dev/fuse.
func TestDevice(t *testing.T) {
	mode := os.FileMode(0o600)
	b := newBundle(t, func(s *specs.Spec) {
		s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: &mode})
		s.Process.Args = []string{"/bin/stat", "-c", "%F %t:%T %a %u:%g", "/dev/fuse"}
	})
	r := rt(t, "run", "--bundle", b, newID(t))
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	// stat prints major and minor in hex: 10 = a, 229 = e5.
	if got, want := strings.TrimSpace(r.stdout), "character special file a:e5 600 0:0"; got != want {
		t.Errorf("/dev/fuse: %q, want %q", got, want)
	}
}

// TestJoinNamespaceByPath joins namespaces given by path (as podman passes
// its network namespace): the container's process is in the bind-mounted
// namespace, and a joined mount namespace still gets the container's root.
func TestJoinNamespaceByPath(t *testing.T) {
	for _, tc := range []struct {
		typ     specs.LinuxNamespaceType
		proc    string // name under /proc/PID/ns
		unshare string // unshare(1) option that persists one
	}{
		{specs.NetworkNamespace, "net", "--net"},
		{specs.MountNamespace, "mnt", "--mount"},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			file := filepath.Join(testDir(t), tc.proc+"ns")
			if err := os.WriteFile(file, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := runCmd("unshare", tc.unshare+"="+file, "true"); err != nil {
				t.Fatalf("unshare %s=%s: %v\n%s", tc.unshare, file, err, out)
			}
			t.Cleanup(func() {
				if err := unix.Unmount(file, unix.MNT_DETACH); err != nil {
					t.Errorf("unmount %s: %v", file, err)
				}
			})
			var st unix.Stat_t
			if err := unix.Stat(file, &st); err != nil {
				t.Fatal(err)
			}
			b := newBundle(t, func(s *specs.Spec) {
				for i, ns := range s.Linux.Namespaces {
					if ns.Type == tc.typ {
						s.Linux.Namespaces[i].Path = file
					}
				}
			})
			p := runProbe(t, b)
			if got, want := nsInode(p.Namespaces[tc.proc]), strconv.FormatUint(st.Ino, 10); got != want {
				t.Errorf("%s namespace inode %s inside, want %s (the joined one)", tc.proc, got, want)
			}
			if p.Pid != 1 || !slices.ContainsFunc(p.Mounts, func(m mountEntry) bool { return m.Point == "/proc" }) {
				t.Errorf("pid %d, mounts %v: want pid 1 with the container's /proc", p.Pid, p.Mounts)
			}
		})
	}
}

// TestUserNamespace maps the container's root to an unprivileged host uid:
// inside it is uid 0 with the configured capabilities, in a user namespace
// of its own.
func TestUserNamespace(t *testing.T) {
	b := newBundle(t, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	})
	p := runProbe(t, b)
	if p.UID != 0 || p.EUID != 0 || p.GID != 0 {
		t.Errorf("ids inside = %d/%d/%d, want 0 (mapped to 100000 outside)", p.UID, p.EUID, p.GID)
	}
	if p.Namespaces["user"] == "" || p.Namespaces["user"] == hostNS["user"] {
		t.Errorf("user namespace %q, want a new one (host %q)", p.Namespaces["user"], hostNS["user"])
	}
	checkCaps(t, p.Caps, expectedCaps(t, readSpec(t, b).Process))
}

// TestPreserveFDs: --preserve-fds passes exactly the fds the caller gave,
// renumbered from 3, and refuses to reach past them, where it would hand
// one of the runtime's own fds (a state dir lock, the log file) to the
// container.
func TestPreserveFDs(t *testing.T) {
	bundle := newBundle(t, nil)
	passed, err := os.Open("/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}
	defer passed.Close()
	r := rtWith(t, rtOpts{extra: []*os.File{passed}}, "run", "--preserve-fds", "1", "--bundle", bundle, newID(t))
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	p := parseReport(t, r.stdout)
	if len(p.Fds) != 4 || p.Fds[3] != "/etc/hostname" {
		t.Errorf("open fds = %v, want 0, 1, 2 and 3 -> /etc/hostname", p.Fds)
	}
	if !isMinirun {
		return // runc hands on whatever its fd 3 happens to be
	}
	r = rt(t, "run", "--preserve-fds", "1", "--bundle", bundle, newID(t))
	if r.code == 0 || !strings.Contains(r.stderr, "preserve-fds") {
		t.Errorf("--preserve-fds 1 without an fd 3: want a clear error, got %v", r)
	}
}

// TestNoNamespaces: a config that lists no namespaces shares all of the
// host's (the spec's "inherit" rule), and its process still sees the
// bundle's root, through chroot.
func TestNoNamespaces(t *testing.T) {
	if !isMinirun {
		// runc mounts the spec's mounts in the host's namespace then, and
		// leaves them there when the container is gone.
		t.Skip("runc leaks the container's mounts onto the host without a mount namespace")
	}
	b := newBundle(t, func(s *specs.Spec) {
		// Masking paths and naming the host need namespaces of their own.
		s.Linux.Namespaces, s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil, nil
		s.Hostname = ""
		s.Process.Args = []string{"/probe", "-sleep", "60s"}
	})
	c := create(t, b)
	pid := strconv.Itoa(state(t, c.id).Pid)
	for _, ns := range []string{"cgroup", "ipc", "mnt", "net", "pid", "uts"} {
		got, err := os.Readlink("/proc/" + pid + "/ns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		if got != hostNS[ns] {
			t.Errorf("%s namespace %s, want the host's %s", ns, got, hostNS[ns])
		}
	}
	root, err := os.Readlink("/proc/" + pid + "/root")
	if err != nil {
		t.Fatal(err)
	}
	if want := readSpec(t, b).Root.Path; root != want {
		t.Errorf("root of the container's process = %s, want %s", root, want)
	}
}
