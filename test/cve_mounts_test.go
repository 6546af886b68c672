package test

// The escapes through the container's filesystem while the runtime builds
// it: mount targets swapped under it, a hostile /dev/null or /dev/console,
// and writes to /proc files redirected elsewhere. See cve_test.go.

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// hostShare makes dir a shared mount of its own on the host (bound onto
// itself) and returns a function listing the mounts that appeared under
// it since. A container whose rootfsPropagation is rshared keeps the peer
// group, so a mount a runtime wrongly makes on dir in the container's
// namespace shows in the host's mount table too.
func hostShare(t *testing.T, dir string) (escaped func() []string) {
	t.Helper()
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s: %v", dir, err)
	}
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		unix.Unmount(dir, unix.MNT_DETACH)
		t.Fatalf("make %s shared: %v", dir, err)
	}
	escaped = func() []string {
		return slices.DeleteFunc(mountsUnder(dir), func(m string) bool { return m == dir })
	}
	t.Cleanup(func() {
		for _, m := range slices.Backward(escaped()) {
			unix.Unmount(m, unix.MNT_DETACH)
		}
		unix.Unmount(dir, unix.MNT_DETACH)
	})
	return escaped
}

// tree lists the names under dir, recursively.
func tree(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err == nil {
			out = append(out, strings.TrimPrefix(p, dir))
		}
		return nil
	})
	return out
}

// TestCVE2021_30465MountTargetSwap: while the runtime creates containers
// over and over, a directory of the rootfs that holds mount destinations
// is swapped (renameat2 RENAME_EXCHANGE, atomically) with a symlink to a
// host directory. A runtime that checks a destination and then mounts by
// its path puts the mount on the host directory whenever the swap lands
// between the two; the runtime must mount only what it opened inside the
// root. The host directory is shared, so such a mount would show on the
// host, and it holds the same names, so the mounts would succeed there.
//
// Checked: with rootfs.(*root).mount mounting on the destination's host
// path instead of /proc/self/fd/N, mounts appear under the host directory
// within a few runs and the test fails.
func TestCVE2021_30465MountTargetSwap(t *testing.T) {
	dir := testDir(t)
	host := filepath.Join(dir, "host")
	src := filepath.Join(dir, "bind-source")
	rootfs := privateRootfs(t)
	race := filepath.Join(rootfs, "race")
	for _, d := range []string{"a", "b/c", "d"} {
		for _, base := range []string{host, race} {
			if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(host, filepath.Join(rootfs, "race-link")); err != nil {
		t.Fatal(err)
	}
	escaped := hostShare(t, host)
	before := tree(host)

	b := newBundle(t, func(s *specs.Spec) {
		s.Root.Path = rootfs
		s.Process.Args = []string{"/bin/true"}
		s.Linux.RootfsPropagation = "rshared"
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/race/a", Type: "tmpfs", Source: "tmpfs"},
			specs.Mount{Destination: "/race/b/c", Type: "tmpfs", Source: "tmpfs", Options: []string{"ro"}},
			specs.Mount{Destination: "/race/d", Type: "bind", Source: src, Options: []string{"rbind"}},
		)
	})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			unix.Renameat2(unix.AT_FDCWD, race, unix.AT_FDCWD, filepath.Join(rootfs, "race-link"), unix.RENAME_EXCHANGE)
		}
	}()
	const runs = 20
	ok := 0
	for i := 0; i < runs; i++ {
		if r := rt(t, "run", "--bundle", b, newID(t)); r.code == 0 {
			ok++
		}
		if m := escaped(); len(m) > 0 {
			t.Errorf("run %d: mounts appeared on the host, outside the rootfs: %q", i, m)
			break
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d of %d runs succeeded while the rootfs changed under them", ok, runs)
	if after := tree(host); !slices.Equal(after, before) {
		t.Errorf("the host directory changed: %q, was %q", after, before)
	}
}

// withoutDevTmpfs drops the /dev tmpfs from a spec: the rootfs's own /dev
// is then what the container gets, as the image made it.
func withoutDevTmpfs(s *specs.Spec) {
	s.Mounts = slices.DeleteFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/dev" })
}

// hostVolume makes a host dir with a canary file for a container to get as
// a bind mount at dest, and a check that the canary is unchanged.
func hostVolume(t *testing.T, dest string, ro bool) (m specs.Mount, dir string, unchanged func()) {
	t.Helper()
	dir = filepath.Join(testDir(t), "volume"+strings.ReplaceAll(dest, "/", "-"))
	canary := filepath.Join(dir, "canary")
	const content = "host canary\n"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(canary, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := []string{"rbind", "rw"}
	if ro {
		opts = []string{"rbind", "ro"}
	}
	m = specs.Mount{Destination: dest, Type: "bind", Source: dir, Options: opts}
	return m, dir, func() {
		t.Helper()
		if b, err := os.ReadFile(canary); err != nil || string(b) != content {
			t.Errorf("host canary %s: %q, %v; want it unchanged", canary, b, err)
		}
	}
}

// rwResult mirrors the probe's RW.
type rwResult struct {
	Read, Data, Write string
}

// TestCVE2025_31133MaskedPathsDevNull: masking a file binds /dev/null over
// it. An image whose /dev/null is a symlink (the rootfs's own /dev, no
// tmpfs over it) must not turn that bind into one of the symlink's
// target: a procfs file the spec masks, or a host file. The runtime masks
// with the real null device, or refuses the container.
//
// Checked: before maskPath verified /dev/null, minirun bound
// /proc/timer_list over /proc/keys and the host canary over the masked
// files, and both subtests failed; runc 1.1.5 fails the first.
func TestCVE2025_31133MaskedPathsDevNull(t *testing.T) {
	for _, tc := range []struct{ name, target string }{
		{"symlink to a procfs file", "/proc/timer_list"},
		{"symlink to a host file", "/mnt/host/canary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vol, _, unchanged := hostVolume(t, "/mnt/host", true)
			rootfs := privateRootfs(t)
			if err := os.Symlink(tc.target, filepath.Join(rootfs, "dev/null")); err != nil {
				t.Fatal(err)
			}
			var masked []string
			b := newBundle(t, func(s *specs.Spec) {
				s.Root.Path = rootfs
				withoutDevTmpfs(s)
				s.Mounts = append(s.Mounts, vol)
				for _, p := range s.Linux.MaskedPaths {
					if _, err := os.Stat(p); err == nil {
						masked = append(masked, p)
					}
				}
				s.Process.Args = append([]string{"/probe", "rw", "/dev/null"}, masked...)
			})
			r := rt(t, "run", "--bundle", b, newID(t))
			defer unchanged()
			if r.code != 0 {
				if isMinirun && !strings.Contains(r.stderr, "/dev/null") {
					t.Errorf("refused, but without saying why: %v", r)
				}
				return // refused: nothing was masked with the wrong file
			}
			var got map[string]rwResult
			if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &got); err != nil {
				t.Fatalf("parse the probe's output: %v\n%v", err, r)
			}
			for _, p := range masked {
				if g := got[p]; g.Data != "" {
					t.Errorf("masked %s reads %q", p, g.Data)
				}
			}
		})
	}
}

// TestCVE2025_52565DevConsole: a process with a terminal gets its pty
// from the runtime, and runc binds that pty over /dev/console. An image
// whose /dev/console is a symlink to a host file (here through a volume)
// must not get the pty mounted over, or written to, that file.
//
// Checked: minirun binds nothing over /dev/console and takes the pty's
// slave from its master (TIOCGPTPEER), so there is no path to swap; runc
// 1.1.5 follows the symlink and the mount check fails.
func TestCVE2025_52565DevConsole(t *testing.T) {
	vol, _, unchanged := hostVolume(t, "/mnt/host", false)
	rootfs := privateRootfs(t)
	if err := os.Symlink("/mnt/host/canary", filepath.Join(rootfs, "dev/console")); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.SetDeadline(time.Now().Add(rtTimeout))
	got := make(chan *os.File, 1)
	go func() {
		f, err := receiveFd(l)
		if err != nil {
			t.Logf("receive pty master: %v", err)
		}
		got <- f
	}()
	b := newBundle(t, func(s *specs.Spec) {
		s.Root.Path = rootfs
		withoutDevTmpfs(s)
		s.Mounts = append(s.Mounts, vol)
		s.Process.Terminal = true
		s.Process.Args = []string{"/probe"}
	})
	c := create(t, b, "--console-socket", sock)
	var master *os.File
	select {
	case master = <-got:
	case <-time.After(5 * time.Second):
	}
	if master == nil {
		t.Fatalf("no pty master arrived")
	}
	defer master.Close()
	mustRT(t, "start", c.id)
	out, _ := readUntil(master, 10*time.Second, "}\r\n")
	waitStatus(t, c.id, "stopped")
	unchanged()
	i := strings.Index(out, "{")
	if i < 0 {
		t.Fatalf("no report on the console: %q", out)
	}
	p := parseReport(t, strings.ReplaceAll(out[i:], "\r", ""))
	for _, m := range p.Mounts {
		if strings.HasPrefix(m.Point, "/mnt/host/") {
			t.Errorf("a mount on the host volume's file: %+v", m)
		}
	}
}

// TestCVE2025_52881ProcWrites: the runtime writes to /proc files of the
// container's process (oom_score_adj, sysctls). With no procfs of its
// own, the container's /proc is whatever the image put there: here
// /proc/self and /proc/sys are symlinks into a host volume, where files of
// the same names wait. The runtime's writes must reach the kernel's files
// for the process, never those.
//
// Checked: before the writes went through init's procfs handle, the
// oom_score_adj of run and of exec --process landed in the host's canary
// file and the test failed. runc 1.1.5 writes the sysctl into the host's
// file (and then refuses the container for lack of /proc/self/fd).
func TestCVE2025_52881ProcWrites(t *testing.T) {
	vol, dir, _ := hostVolume(t, "/mnt/host", false)
	canaries := map[string]string{"oom_score_adj": "canary\n", "sys/kernel/domainname": "canary\n"}
	for name, content := range canaries {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	check := func(t *testing.T) {
		t.Helper()
		for name, content := range canaries {
			if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != content {
				t.Errorf("host file %s: %q, %v; a write meant for /proc landed there", name, b, err)
			}
		}
	}
	rootfs := privateRootfs(t)
	for _, l := range [][2]string{{"proc/self", "/mnt/host"}, {"proc/sys", "/mnt/host/sys"}} {
		if err := os.Symlink(l[1], filepath.Join(rootfs, l[0])); err != nil {
			t.Fatal(err)
		}
	}
	adj := 500
	b := newBundle(t, func(s *specs.Spec) {
		s.Root.Path = rootfs
		s.Mounts = slices.DeleteFunc(s.Mounts, func(m specs.Mount) bool { return m.Type == "proc" })
		s.Mounts = append(s.Mounts, vol)
		s.Process.OOMScoreAdj = &adj
		s.Process.Args = []string{"/bin/sleep", "60"}
		s.Linux.Sysctl = map[string]string{"kernel.domainname": "cve-2025-52881"}
	})
	args := []string{"create", "--bundle", b, newID(t)}
	r := rt(t, args...)
	check(t)
	if r.code != 0 {
		if isMinirun {
			t.Fatalf("%v", r)
		}
		t.Logf("refused: %v", r) // runc needs a procfs at /proc
		return
	}
	c := &ctr{id: args[len(args)-1], bundle: b}
	pid := state(t, c.id).Pid
	recordPid(pid)
	if v, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/oom_score_adj"); err != nil || strings.TrimSpace(string(v)) != "500" {
		t.Errorf("init's oom_score_adj %q, %v; want 500", v, err)
	}

	proc := specs.Process{Args: []string{"/bin/true"}, Cwd: "/", OOMScoreAdj: &adj, Env: []string{"PATH=/bin"}}
	pb, _ := json.Marshal(proc)
	file := filepath.Join(testDir(t), "process.json")
	if err := os.WriteFile(file, pb, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := rt(t, "exec", "--process", file, c.id); r.code != 0 {
		t.Errorf("%v", r)
	}
	check(t)
}
