package rootfs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/testenv"
)

// hostDir returns a temp dir that is a shared mount on the host, as / is on
// a systemd host: a mount the child makes under it would propagate back
// here unless Prepare cuts propagation. (This machine's / is private, which
// would make a leak check pass for nothing.) At the end the test fails if
// any mount under it remains.
func hostDir(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t)
	dir := t.TempDir()
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s: %v", dir, err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		t.Fatalf("make %s shared: %v", dir, err)
	}
	return dir
}

// leaked returns the host's mounts under dir (not dir itself).
func leaked(t *testing.T, dir string) []string {
	t.Helper()
	ms, err := readMountInfo("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		if strings.HasPrefix(m.Point, dir+"/") {
			out = append(out, m.Point)
		}
	}
	return out
}

func checkNoLeak(t *testing.T, dir string) {
	t.Helper()
	if l := leaked(t, dir); len(l) > 0 {
		for _, p := range slices.Backward(l) {
			unix.Unmount(p, unix.MNT_DETACH)
		}
		t.Errorf("mounts leaked onto the host: %q", l)
	}
}

// buildRootfs makes a tiny root filesystem under dir: a few directories
// and a static busybox.
func buildRootfs(t *testing.T, dir string) string {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		testenv.SkipOrFail(t, "no static /bin/busybox (apt-get install busybox-static): "+err.Error())
	}
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp", "ro", "secret"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{"etc/hostname": "box\n", "secret/key": "s3cret\n", "ro/file": "ro\n"}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(rootfs, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	return rootfs
}

func findMount(ms []mountInfo, point string) *mountInfo {
	for i := len(ms) - 1; i >= 0; i-- { // the last one is on top
		if ms[i].Point == point {
			return &ms[i]
		}
	}
	return nil
}

func TestContainer(t *testing.T) {
	dir := hostDir(t)
	rootfs := buildRootfs(t, dir)
	data := filepath.Join(dir, "data")
	hosts := filepath.Join(dir, "hosts")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{filepath.Join(data, "f"): "volume\n", hosts: "127.0.0.1 box\n"} {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mode := os.FileMode(0o640)
	uid, gid := uint32(1000), uint32(1001)
	mounts := runcMounts()[:7]
	mounts = append(mounts,
		specs.Mount{Destination: "/data", Type: "bind", Source: data, Options: []string{"rbind", "ro", "rprivate"}},
		specs.Mount{Destination: "/etc/hosts", Type: "bind", Source: hosts, Options: []string{"bind", "ro"}},
		specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev"}},
	)
	spec := &specs.Spec{
		Root:   &specs.Root{Path: rootfs, Readonly: true},
		Mounts: mounts,
		Linux: &specs.Linux{
			Devices:       []specs.LinuxDevice{{Path: "/dev/mydev", Type: "c", Major: 1, Minor: 5, FileMode: &mode, UID: &uid, GID: &gid}},
			MaskedPaths:   []string{"/proc/kcore", "/proc/timer_list", "/proc/acpi", "/secret", "/does/not/exist", "/sys/firmware"},
			ReadonlyPaths: []string{"/proc/sys", "/ro", "/nope"},
		},
	}
	rep := runHelper(t, helperConfig{
		Rootfs: rootfs, Spec: spec,
		Stat: []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/mydev",
			"/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/ptmx", "/dev/core"},
		Read:  []string{"/proc/kcore", "/proc/timer_list", "/proc/acpi", "/secret", "/etc/hosts", "/data/f", "/sys/firmware"},
		Write: []string{"/newfile", "/ro/file", "/proc/sys/kernel/hostname", "/data/f", "/etc/hosts", "/tmp/ok", "/dev/shm/ok"},
		Exec:  []string{"/bin/busybox", "echo", "hello from inside"},
	})
	checkNoLeak(t, dir)
	if rep.Err != "" {
		t.Fatalf("%s: %s\nlog:\n%s", rep.Stage, rep.Err, strings.Join(rep.Log, "\n"))
	}

	t.Logf("the init's debug log:\n%s", strings.Join(rep.Log, "\n"))
	if rep.Cwd != "/" {
		t.Errorf("cwd after Pivot = %q, want /", rep.Cwd)
	}
	if rep.Exec != "hello from inside\n" {
		t.Errorf("busybox echo = %q", rep.Exec)
	}

	// Every mount the container sees, and nothing of the host's: the old
	// root is gone.
	type want struct {
		fstype string
		ro     bool
	}
	wantMounts := map[string]want{
		"/":              {"", true},
		"/proc":          {"proc", false},
		"/dev":           {"tmpfs", false},
		"/dev/pts":       {"devpts", false},
		"/dev/shm":       {"tmpfs", false},
		"/dev/mqueue":    {"mqueue", false},
		"/sys":           {"sysfs", true},
		"/sys/fs/cgroup": {"cgroup2", true},
		"/data":          {"", true},
		"/etc/hosts":     {"", true},
		"/tmp":           {"tmpfs", false},
		"/proc/sys":      {"proc", true},
		"/ro":            {"", true},
		"/secret":        {"tmpfs", true},
		// A masked file is /dev/null, which lives on the /dev tmpfs.
		"/proc/timer_list": {"tmpfs", false},
	}
	// Masked paths the kernel lacks are skipped, not created.
	for p, w := range map[string]want{"/proc/kcore": {"tmpfs", false}, "/proc/acpi": {"tmpfs", true}, "/sys/firmware": {"tmpfs", true}} {
		if _, err := os.Stat(p); err == nil {
			wantMounts[p] = w
		}
	}
	for _, m := range rep.Mounts {
		if _, ok := wantMounts[m.Point]; !ok {
			t.Errorf("unexpected mount in the container: %+v", m)
		}
	}
	for point, w := range wantMounts {
		m := findMount(rep.Mounts, point)
		switch {
		case m == nil:
			t.Errorf("no mount at %s", point)
		case w.fstype != "" && m.FSType != w.fstype:
			t.Errorf("%s: type %s, want %s", point, m.FSType, w.fstype)
		case hasOption(m.Options, "ro") != w.ro:
			t.Errorf("%s: options %s, want ro=%v", point, m.Options, w.ro)
		}
	}
	if m := findMount(rep.Mounts, "/proc"); m != nil && !(hasOption(m.Options, "nosuid") && hasOption(m.Options, "nodev") && hasOption(m.Options, "noexec")) {
		t.Errorf("/proc options %s, want nosuid,nodev,noexec", m.Options)
	}
	// A read-only path keeps the flags it had (procfs is nosuid,nodev,noexec).
	if m := findMount(rep.Mounts, "/proc/sys"); m != nil && !hasOption(m.Options, "noexec") {
		t.Errorf("/proc/sys options %s: lost noexec in the read-only remount", m.Options)
	}
	for _, m := range rep.Mounts {
		if strings.Contains(m.Point, dir) {
			t.Errorf("host path visible inside: %+v", m)
		}
	}

	// Devices: exact modes (umask 0), owners, numbers.
	for _, d := range []struct {
		path         string
		major, minor uint32
		mode         uint32
		uid, gid     uint32
	}{
		{"/dev/null", 1, 3, 0o666, 0, 0}, {"/dev/zero", 1, 5, 0o666, 0, 0}, {"/dev/full", 1, 7, 0o666, 0, 0},
		{"/dev/random", 1, 8, 0o666, 0, 0}, {"/dev/urandom", 1, 9, 0o666, 0, 0}, {"/dev/tty", 5, 0, 0o666, 0, 0},
		{"/dev/mydev", 1, 5, 0o640, 1000, 1001},
	} {
		st := rep.Stat[d.path]
		if st.Errno != 0 || st.Mode != unix.S_IFCHR|d.mode || st.Major != d.major || st.Minor != d.minor || st.UID != d.uid || st.GID != d.gid {
			t.Errorf("%s: %+v, want char %d:%d mode %o owner %d:%d", d.path, st, d.major, d.minor, d.mode, d.uid, d.gid)
		}
	}
	links := map[string]string{"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0", "/dev/stdout": "/proc/self/fd/1",
		"/dev/stderr": "/proc/self/fd/2", "/dev/ptmx": "pts/ptmx"}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links["/dev/core"] = "/proc/kcore"
	}
	for p, target := range links {
		if st := rep.Stat[p]; st.Mode&unix.S_IFMT != unix.S_IFLNK || st.Link != target {
			t.Errorf("%s: %+v, want a link to %s", p, st, target)
		}
	}

	// Masked: empty. Bind mounts: the host's content.
	reads := map[string]readFact{"/proc/timer_list": {}, "/secret": {}, "/etc/hosts": {Data: "127.0.0.1 box\n"}, "/data/f": {Data: "volume\n"}}
	for _, p := range []string{"/proc/kcore", "/proc/acpi", "/sys/firmware"} {
		if _, ok := wantMounts[p]; ok {
			reads[p] = readFact{}
		}
	}
	for p, w := range reads {
		if got := rep.Read[p]; got.Errno != w.Errno || got.Data != w.Data || len(got.Names) != 0 {
			t.Errorf("read %s = %+v, want %+v", p, got, w)
		}
	}
	writes := map[string]int{"/newfile": int(unix.EROFS), "/ro/file": int(unix.EROFS), "/proc/sys/kernel/hostname": int(unix.EROFS),
		"/data/f": int(unix.EROFS), "/etc/hosts": int(unix.EROFS), "/tmp/ok": 0, "/dev/shm/ok": 0}
	for p, w := range writes {
		if got := rep.Write[p]; got != w {
			t.Errorf("write %s: errno %d (%v), want %d (%v)", p, got, unix.Errno(got), w, unix.Errno(w))
		}
	}

	// The log names the kernel's steps in the kernel's terms.
	for _, line := range []string{
		`mount("", "/", "", MS_REC|MS_PRIVATE, "")`,
		`mount("` + rootfs + `", "` + rootfs + `", "", MS_BIND|MS_REC, "")`,
		`pivot_root(".", ".")`,
		`umount2(".", MNT_DETACH)`,
		`mknod("/dev/null", S_IFCHR|0666, 1:3)`,
	} {
		if !slices.Contains(rep.Log, line) {
			t.Errorf("log has no line %s\nlog:\n%s", line, strings.Join(rep.Log, "\n"))
		}
	}
	// The read-only remount of / keeps the flags the mount already has
	// (MS_RELATIME, and MS_NODEV where the test's tmp dir is nodev).
	remount := func(l string) bool {
		flags, ok := strings.CutPrefix(l, `mount("", "/", "", `)
		flags, _, _ = strings.Cut(flags, ",")
		set := strings.Split(flags, "|")
		return ok && slices.Contains(set, "MS_RDONLY") && slices.Contains(set, "MS_REMOUNT") && slices.Contains(set, "MS_BIND")
	}
	if !slices.ContainsFunc(rep.Log, remount) {
		t.Errorf("log has no read-only remount of /\nlog:\n%s", strings.Join(rep.Log, "\n"))
	}
	// The files a bind of a file needs exist inside the rootfs, not on the host.
	if _, err := os.Stat(filepath.Join(rootfs, "etc/hosts")); err != nil {
		t.Errorf("bind target not created in the rootfs: %v", err)
	}
}

// TestNoPivotShared covers MS_MOVE+chroot and linux.rootfsPropagation
// "rshared": / is shared at the end, and still nothing reached the host.
func TestNoPivotShared(t *testing.T) {
	for _, noPivot := range []bool{true, false} {
		dir := hostDir(t)
		rootfs := buildRootfs(t, dir)
		spec := &specs.Spec{
			Mounts: []specs.Mount{
				{Destination: "/proc", Type: "proc", Source: "proc"},
				{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"},
			},
			Linux: &specs.Linux{RootfsPropagation: "rshared"},
		}
		rep := runHelper(t, helperConfig{
			Rootfs: rootfs, Spec: spec, NoPivot: noPivot,
			Write: []string{"/newfile"}, Exec: []string{"/bin/busybox", "cat", "/etc/hostname"},
		})
		checkNoLeak(t, dir)
		if rep.Err != "" {
			t.Fatalf("noPivot=%v: %s: %s\nlog:\n%s", noPivot, rep.Stage, rep.Err, strings.Join(rep.Log, "\n"))
		}
		root := findMount(rep.Mounts, "/")
		if root == nil || !strings.Contains(root.Optional, "shared:") {
			t.Errorf("noPivot=%v: / is %+v, want shared", noPivot, root)
		}
		if rep.Cwd != "/" || rep.Exec != "box\n" || rep.Write["/newfile"] != 0 {
			t.Errorf("noPivot=%v: cwd %q, cat /etc/hostname %q, write /newfile errno %d", noPivot, rep.Cwd, rep.Exec, rep.Write["/newfile"])
		}
		wantStep := `pivot_root(".", ".")`
		if noPivot {
			wantStep = `chroot(".")`
		}
		if !slices.Contains(rep.Log, wantStep) {
			t.Errorf("noPivot=%v: log has no %s:\n%s", noPivot, wantStep, strings.Join(rep.Log, "\n"))
		}
	}
}

// TestCgroupFallback: when the kernel refuses cgroup2 (here: an option it
// does not know), the host's /sys/fs/cgroup is bound read-only, submounts
// included.
func TestCgroupFallback(t *testing.T) {
	dir := hostDir(t)
	rootfs := buildRootfs(t, dir)
	spec := &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "ro", "no-such-option"}},
	}}
	host, err := readMountInfo("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	rep := runHelper(t, helperConfig{Rootfs: rootfs, Spec: spec})
	checkNoLeak(t, dir)
	if rep.Err != "" {
		t.Fatalf("%s: %s\nlog:\n%s", rep.Stage, rep.Err, strings.Join(rep.Log, "\n"))
	}
	n := 0
	for _, m := range host {
		if m.Point != "/sys/fs/cgroup" && !strings.HasPrefix(m.Point, "/sys/fs/cgroup/") {
			continue
		}
		n++
		in := findMount(rep.Mounts, m.Point)
		if in == nil || !hasOption(in.Options, "ro") || !hasOption(in.Options, "nosuid") {
			t.Errorf("host's %s inside: %+v, want it read-only and nosuid", m.Point, in)
		}
	}
	if n == 0 {
		testenv.SkipOrFail(t, "the host has nothing at /sys/fs/cgroup")
	}
}

// TestUnbindableRoot: with rootfsPropagation "runbindable" the tree cannot
// be made unbindable before the rootfs is bound onto itself (the bind
// would fail with EINVAL): Prepare keeps it private and Finalize makes the
// new / unbindable.
func TestUnbindableRoot(t *testing.T) {
	for _, prop := range []string{"unbindable", "runbindable"} {
		dir := hostDir(t)
		rootfs := buildRootfs(t, dir)
		spec := &specs.Spec{
			Mounts: []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
			Linux:  &specs.Linux{RootfsPropagation: prop},
		}
		rep := runHelper(t, helperConfig{Rootfs: rootfs, Spec: spec})
		checkNoLeak(t, dir)
		if rep.Err != "" {
			t.Fatalf("%s: %s: %s\nlog:\n%s", prop, rep.Stage, rep.Err, strings.Join(rep.Log, "\n"))
		}
		if root := findMount(rep.Mounts, "/"); root == nil || !strings.Contains(root.Optional, "unbindable") {
			t.Errorf("%s: / is %+v, want unbindable", prop, root)
		}
	}
}

// TestNodevRootfs: with the rootfs on a nodev mount (a nodev /tmp, as on
// many distributions) and no /dev mount in the spec, the device nodes sit
// on that mount; mknod'ed nodes there could not be opened, so the host's
// are bound in instead. Both pivot_root and the no-pivot fallback.
func TestNodevRootfs(t *testing.T) {
	for _, noPivot := range []bool{false, true} {
		dir := hostDir(t)
		nodev := filepath.Join(dir, "nodev")
		if err := os.Mkdir(nodev, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("tmpfs", nodev, "tmpfs", unix.MS_NODEV, ""); err != nil {
			t.Fatalf("mount a nodev tmpfs: %v", err)
		}
		t.Cleanup(func() { unix.Unmount(nodev, unix.MNT_DETACH) })
		rootfs := buildRootfs(t, nodev)
		spec := &specs.Spec{Mounts: []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}}}
		// Exec's stdin is /dev/null: opening it is the check.
		rep := runHelper(t, helperConfig{
			Rootfs: rootfs, Spec: spec, NoPivot: noPivot,
			Exec: []string{"/bin/busybox", "cat", "/etc/hostname"},
		})
		if rep.Err != "" {
			t.Fatalf("noPivot=%v: %s: %s\nlog:\n%s", noPivot, rep.Stage, rep.Err, strings.Join(rep.Log, "\n"))
		}
		if rep.Exec != "box\n" {
			t.Errorf("noPivot=%v: cat /etc/hostname = %q", noPivot, rep.Exec)
		}
		if l := leaked(t, nodev); len(l) > 0 {
			t.Errorf("noPivot=%v: mounts leaked onto the host: %q", noPivot, l)
		}
	}
}
