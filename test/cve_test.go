package test

// Known escapes from runc, replayed against the runtime under test. Each
// test performs the attack for real, from inside a container (the probe's
// modes in test/probe/escape.go) or from the host side when the attack is a
// race with the runtime's setup, and then asserts on what reached the host:
// a binary's hash, a canary file's content, the host's mount table.
//
// Each test says how it was shown to fail on a runtime without the fix:
// with the protection taken out of minirun for one run, or, for the 2025
// advisories, against Debian's runc 1.1.5 (MINIRUN_TEST_RUNTIME=runc), which
// predates their fixes.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// useRuntimeCopy makes the rest of the test (cleanups included) drive a
// copy of the runtime binary in a temp dir: an attack on the binary must
// never risk the build output, nor a runtime another test uses.
func useRuntimeCopy(t *testing.T) string {
	t.Helper()
	stateFor(t)
	bin := filepath.Join(t.TempDir(), filepath.Base(runtimePath))
	if err := copyFile(runtimePath, bin); err != nil {
		t.Fatal(err)
	}
	orig := runtimePath
	runtimePath = bin
	// Registered before any container's cleanup, so it runs after them.
	t.Cleanup(func() { runtimePath = orig })
	return bin
}

func fileHash(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// addCaps grants caps in every set but the inheritable one.
func addCaps(p *specs.Process, caps ...string) {
	if p.Capabilities == nil {
		p.Capabilities = &specs.LinuxCapabilities{}
	}
	c := p.Capabilities
	c.Bounding = append(c.Bounding, caps...)
	c.Effective = append(c.Effective, caps...)
	c.Permitted = append(c.Permitted, caps...)
}

// waitLine waits until the file at path holds a complete line that starts
// with prefix, and returns that line.
func waitLine(t *testing.T, path, prefix string, d time.Duration) (string, bool) {
	t.Helper()
	var line string
	found := poll(d, func() bool {
		b, _ := os.ReadFile(path)
		lines := strings.Split(string(b), "\n")
		for _, l := range lines[:len(lines)-1] { // the last one is not complete yet
			if l = strings.TrimRight(l, "\r"); strings.HasPrefix(l, prefix) {
				line = l
				return true
			}
		}
		return false
	})
	return line, found
}

// exeHandle mirrors the probe's ExeHandle.
type exeHandle struct {
	Pid       int    `json:"pid"`
	Exe       string `json:"exe"`
	Comm      string `json:"comm"`
	OpenWrite string `json:"openWrite"`
	OpenRDWR  string `json:"openRDWR"`
	Reopen    string `json:"reopen"`
	Write     string `json:"write"`
	Wrote     bool   `json:"wrote"`
}

// checkExeAttack reads the probe's exe-attack result from path and fails
// unless it caught a process running the runtime binary and could not
// write into that binary. An open for writing alone is no failure: on a
// kernel without mount_setattr(2) the binary is a sealed memfd, which
// opens but refuses every write.
func checkExeAttack(t *testing.T, path string, d time.Duration) []exeHandle {
	t.Helper()
	line, ok := waitLine(t, path, "[", d)
	if !ok {
		b, _ := os.ReadFile(path)
		t.Fatalf("the attacking probe printed no result; its output: %q", b)
	}
	var hs []exeHandle
	if err := json.Unmarshal([]byte(line), &hs); err != nil {
		t.Fatalf("parse %q: %v", line, err)
	}
	for _, h := range hs {
		t.Logf("caught pid %d (%s) running %s: open O_WRONLY %q, O_RDWR %q; reopen for write %q, write %q",
			h.Pid, h.Comm, h.Exe, h.OpenWrite, h.OpenRDWR, h.Reopen, h.Write)
		if h.Wrote {
			t.Errorf("the container wrote into the binary of pid %d (%s)", h.Pid, h.Exe)
		}
	}
	if len(hs) == 0 {
		t.Fatalf("the probe caught no process running the runtime binary: the attack was not made")
	}
	return hs
}

// TestCVE2019_5736RuntimeBinary: a process in the container must not be
// able to overwrite the runtime binary through /proc/PID/exe of a runtime
// process that runs in the container, neither by opening it for writing
// nor by keeping an O_PATH handle and reopening it through /proc/self/fd
// once no process runs the binary any more (which runc's exploit did).
//
// While a container lives, minirun's monitor runs the binary, and the
// kernel refuses to open a running binary for writing (ETXTBSY): that is
// no protection, it ends with the container. So the containers here have
// no pid namespace of their own, and the attacker, exec'd into the
// container, outlives the container's init and with it the monitor: then
// only the protection of the binary init was exec'd from stands.
//
// Checked: with protectedSelf returning a plain open of /proc/self/exe,
// both subtests fail (the reopened handle writes and the hash changes).
func TestCVE2019_5736RuntimeBinary(t *testing.T) {
	orig := runtimePath
	bin := useRuntimeCopy(t)
	want := fileHash(t, bin)
	// checkBinary fails the test if the copy changed, and restores it so
	// that the containers can still be deleted.
	checkBinary := func(t *testing.T) {
		t.Helper()
		if got := fileHash(t, bin); got != want {
			t.Errorf("the runtime binary changed: sha256 %s, was %s", got, want)
			if err := copyFile(orig, bin); err != nil {
				t.Fatal(err)
			}
		}
	}
	noPidNS := func(s *specs.Spec) {
		s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool {
			return ns.Type == specs.PIDNamespace
		})
	}
	// attack runs the probe exec'd into c, detached, against the binary's
	// hash (and only pid, when not 0), and returns the file its output
	// goes to.
	attack := func(t *testing.T, c *ctr, pid int, d time.Duration) string {
		t.Helper()
		out, path := outFile(t, "attack")
		defer out.Close()
		args := []string{"exec", "--detach", c.id, "/probe", "exe-attack", d.String(), want}
		if pid != 0 {
			args = append(args, strconv.Itoa(pid))
		}
		if r := rtWith(t, rtOpts{stdout: out}, args...); r.code != 0 {
			t.Fatalf("%v", r)
		}
		return path
	}
	// stop kills c's init (pid) and waits until the monitor, the last
	// process that ran the binary, is gone. It asks the host's /proc, not
	// the runtime: the binary may be overwritten from then on.
	stop := func(t *testing.T, c *ctr, pid int) {
		t.Helper()
		mustRT(t, "kill", c.id, "KILL")
		if !poll(5*time.Second, func() bool { return !alive(pid) && len(storeProcs(c.id)) == 0 }) {
			t.Logf("init or a process naming %s still runs: %v", c.id, storeProcs(c.id))
		}
	}

	// init waits in the created state, running the runtime's binary,
	// while the probe takes a handle on it. CAP_SYS_PTRACE is granted so
	// that init's being non-dumpable (which also hides /proc/PID/exe) is
	// not what stops the attack: the binary itself must resist.
	t.Run("init in the created state", func(t *testing.T) {
		b := newBundle(t, func(s *specs.Spec) {
			noPidNS(s)
			addCaps(s.Process, "CAP_SYS_PTRACE")
			s.Process.Args = []string{"/bin/sleep", "60"}
		})
		c := create(t, b)
		pid := state(t, c.id).Pid
		path := attack(t, c, pid, 3*time.Second)
		if _, ok := waitLine(t, path, "held ", 5*time.Second); !ok {
			b, _ := os.ReadFile(path)
			t.Fatalf("the probe could not take a handle on init's binary; output %q", b)
		}
		mustRT(t, "start", c.id)
		stop(t, c, pid)
		hs := checkExeAttack(t, path, 10*time.Second)
		checkBinary(t)
		if !slices.ContainsFunc(hs, func(h exeHandle) bool { return h.Pid == pid }) {
			t.Errorf("no handle on init (pid %d) among %+v", pid, hs)
		}
	})

	// The exploit's own route: the container's /evil starts with
	// "#!/proc/self/exe", so the runtime's exec'd init, executing it,
	// makes the kernel run the runtime binary again, now as a dumpable
	// process of the container with the container's credentials.
	t.Run("exec through #!/proc/self/exe", func(t *testing.T) {
		rootfs := privateRootfs(t)
		if err := os.WriteFile(filepath.Join(rootfs, "evil"), []byte("#!/proc/self/exe\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		b := newBundle(t, func(s *specs.Spec) {
			noPidNS(s)
			s.Root.Path = rootfs
			s.Process.Args = []string{"/bin/sleep", "60"}
		})
		c := create(t, b)
		pid := state(t, c.id).Pid
		mustRT(t, "start", c.id)
		path := attack(t, c, 0, 8*time.Second)
		caught, tries := false, 0
		for ; tries < 40 && !caught; tries++ {
			rt(t, "exec", c.id, "/evil") // fails: the runtime's CLI knows no "/evil"
			_, caught = waitLine(t, path, "held ", 50*time.Millisecond)
		}
		if !caught {
			t.Fatalf("in 40 execs of /evil the probe never caught the runtime binary running in the container")
		}
		t.Logf("caught the runtime binary at exec %d", tries)
		stop(t, c, pid)
		checkExeAttack(t, path, 15*time.Second)
		checkBinary(t)
	})
}

// TestCVE2016_9962InitNotDumpable: while init waits for start it holds host
// resources (its fd of the host's /proc, the exec fifo, the sync socket)
// and already has the container's uid and capabilities. A process exec'd
// into the container, with those same credentials, must still not reach
// init's /proc/1/fd, environ or exe: only init's being non-dumpable stops
// it, since the kernel's other ptrace checks (same uid, capabilities a
// subset) pass.
//
// Checked: without the prctl(PR_SET_DUMPABLE, 0) at the top of Init, the
// probe opens every fd of init and reads its environ, and the test fails.
// Debian's runc 1.1.5 fails it too: the probe reaches its init's fds.
func TestCVE2016_9962InitNotDumpable(t *testing.T) {
	b := newBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/bin/true"} })
	c := create(t, b)
	r := rt(t, "exec", c.id, "/probe", "peek", "1")
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	var p struct {
		ListFds string            `json:"listFds"`
		Fds     map[string]string `json:"fds"`
		Links   map[string]string `json:"links"`
		Environ string            `json:"environ"`
		Exe     string            `json:"exe"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &p); err != nil {
		t.Fatalf("parse %q: %v", r.stdout, err)
	}
	// The fd numbers themselves may be listed (the directory's mode
	// allows root); following them is what takes the ptrace check.
	if len(p.Fds) == 0 {
		t.Errorf("listing init's fds failed (%s) or found none: the test proves nothing", p.ListFds)
	}
	for fd, e := range p.Fds {
		if e == "" || p.Links[fd] != "" {
			t.Errorf("the container reached init's fd %s (%s)", fd, p.Links[fd])
		}
	}
	if p.Environ == "" || p.Exe == "" {
		t.Errorf("the container read init's environ (%q) or exe link (%q)", p.Environ, p.Exe)
	}
}

// TestCVE2022_29162NoInheritable: the inheritable capability set stays
// empty unless the spec asks for it; exec --cap adds the capability
// everywhere else. A non-empty inheritable set lets a program with
// inheritable file capabilities gain them at execve.
//
// Checked: exec --cap gave CapInh = the capability until exec.go stopped
// adding it there (a hole this test found).
func TestCVE2022_29162NoInheritable(t *testing.T) {
	const netRaw = uint64(1) << 13
	capOf := func(t *testing.T, p probeReport, k string) uint64 {
		var v uint64
		if _, err := fmt.Sscanf(p.Caps[k], "%x", &v); err != nil {
			t.Fatalf("%s = %q", k, p.Caps[k])
		}
		return v
	}
	c, init := startProbe(t, func(s *specs.Spec) { s.Process.Capabilities.Inheritable = nil })
	if v := capOf(t, init, "CapInh"); v != 0 {
		t.Errorf("container process: CapInh %016x, want 0", v)
	}
	for _, args := range [][]string{
		{"exec", c.id, "/probe"},
		{"exec", "--cap", "CAP_NET_RAW", c.id, "/probe"},
		{"exec", "--cap", "CAP_NET_RAW", "--user", "1000:1000", c.id, "/probe"},
	} {
		r := rt(t, args...)
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
		p := parseReport(t, r.stdout)
		if v := capOf(t, p, "CapInh"); v != 0 {
			t.Errorf("%s: CapInh %016x, want 0", strings.Join(args, " "), v)
		}
		if slices.Contains(args, "--cap") && p.UID == 0 && capOf(t, p, "CapEff")&netRaw == 0 {
			t.Errorf("%s: CapEff %s lacks CAP_NET_RAW", strings.Join(args, " "), p.Caps["CapEff"])
		}
	}

	t.Run("image", func(t *testing.T) {
		e := newCtrEnv(t)
		inh := func(r result) string {
			for l := range strings.Lines(r.stdout) {
				if v, ok := strings.CutPrefix(l, "CapInh:"); ok {
					return strings.TrimSpace(v)
				}
			}
			t.Fatalf("no CapInh in %v", r)
			return ""
		}
		if v := inh(e.must("run", "--rm", e.ref, "grep", "CapInh", "/proc/self/status")); v != "0000000000000000" {
			t.Errorf("image run: CapInh %s, want 0", v)
		}
		id := e.runD(e.ref, "sleep", "60")
		if v := inh(e.must("exec", id, "grep", "CapInh", "/proc/self/status")); v != "0000000000000000" {
			t.Errorf("image exec: CapInh %s, want 0", v)
		}
	})
}

// cwdReport mirrors the probe's CwdReport.
type cwdReport struct {
	Getcwd  string            `json:"getcwd"`
	Errno   string            `json:"errno"`
	Dev     uint64            `json:"dev"`
	Ino     uint64            `json:"ino"`
	FSType  int64             `json:"fsType"`
	ProcDev uint64            `json:"procDev"`
	Reads   map[string]string `json:"reads"`
}

// hostCanary writes a file with a name unique to the test in each of dirs
// and returns the relative paths through which a working directory left on
// the host (in one of those dirs, or anywhere whose ".." chain reaches the
// host's /) would read one of them.
func hostCanary(t *testing.T, dirs ...string) []string {
	t.Helper()
	name := fmt.Sprintf("cve-canary-%d", time.Now().UnixNano())
	rel := []string{name}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, []byte("host\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		rel = append(rel, strings.Repeat("../", 40)+strings.TrimPrefix(p, "/"))
	}
	return rel
}

// checkCwd fails if the process's working directory was outside its root.
func checkCwd(t *testing.T, what, out string, hostDirs map[string]unix.Stat_t) {
	t.Helper()
	var r cwdReport
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil {
		t.Fatalf("%s: parse %q: %v", what, out, err)
	}
	if strings.HasPrefix(r.Getcwd, "(unreachable)") || r.Errno != "" {
		t.Errorf("%s: the working directory is outside the container's root: getcwd %q %s", what, r.Getcwd, r.Errno)
	}
	if r.FSType == unix.PROC_SUPER_MAGIC && r.Dev != r.ProcDev {
		t.Errorf("%s: the working directory is in another procfs than the container's (the host's)", what)
	}
	for name, st := range hostDirs {
		if r.Dev == st.Dev && r.Ino == st.Ino {
			t.Errorf("%s: the working directory is the host's %s", what, name)
		}
	}
	for p, e := range r.Reads {
		if e == "" {
			t.Errorf("%s: read the host's canary through %s", what, p)
		}
	}
}

// TestCVE2024_21626NoHostFD: no fd of the runtime reaches the container's
// process, after run or exec; and a working directory of
// /proc/self/fd/N, the path to any fd the runtime still holds while it
// sets the working directory, never puts the process on the host.
//
// Checked: before chdirInRoot, exec --cwd /proc/self/fd/8 put the
// process in the host's /proc (init's handle on it), from where it read
// the host's canaries, and process.cwd /proc/self/fd/6 put it in a host
// procfs: both subtests failed.
func TestCVE2024_21626NoHostFD(t *testing.T) {
	t.Run("fds after run and exec", func(t *testing.T) {
		if p := runProbe(t, newBundle(t, nil)); len(p.Fds) != 3 {
			t.Errorf("run: open fds %v, want 0, 1, 2", p.Fds)
		}
		c, init := startProbe(t, nil)
		if len(init.Fds) != 3 {
			t.Errorf("create and start: open fds %v, want 0, 1, 2", init.Fds)
		}
		r := rt(t, "exec", c.id, "/probe")
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
		if p := parseReport(t, r.stdout); len(p.Fds) != 3 {
			t.Errorf("exec: open fds %v, want 0, 1, 2", p.Fds)
		}
	})

	hostDirs := map[string]unix.Stat_t{}
	for _, d := range []string{"/", "/proc", "/run", suiteDir, testDir(t), rootFor(t)} {
		var st unix.Stat_t
		if unix.Stat(d, &st) == nil {
			hostDirs[d] = st
		}
	}

	t.Run("exec --cwd /proc/self/fd/N", func(t *testing.T) {
		c, _ := startProbe(t, nil)
		canary := hostCanary(t, c.bundle, testDir(t))
		refused := 0
		for n := 3; n <= 20; n++ {
			cwd := "/proc/self/fd/" + strconv.Itoa(n)
			r := rt(t, append([]string{"exec", "--cwd", cwd, c.id, "/probe", "cwd"}, canary...)...)
			if r.code != 0 {
				refused++
				continue
			}
			checkCwd(t, "exec --cwd "+cwd, r.stdout, hostDirs)
		}
		t.Logf("%d of 18 execs refused their working directory", refused)
	})

	t.Run("process.cwd /proc/self/fd/N", func(t *testing.T) {
		bundle := newBundle(t, nil)
		canary := hostCanary(t, bundle, testDir(t))
		for n := 3; n <= 12; n++ {
			cwd := "/proc/self/fd/" + strconv.Itoa(n)
			s := readSpec(t, bundle)
			s.Process.Cwd = cwd
			s.Process.Args = append([]string{"/probe", "cwd"}, canary...)
			b, _ := json.Marshal(s)
			if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
				t.Fatal(err)
			}
			r := rt(t, "run", "--bundle", bundle, newID(t))
			if r.code != 0 {
				continue
			}
			checkCwd(t, "process.cwd "+cwd, r.stdout, hostDirs)
		}
	})
}
