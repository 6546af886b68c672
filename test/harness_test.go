// Package test holds minirun's black-box integration tests: they drive a
// runc-compatible runtime binary as root the way podman, containerd and the
// OCI validation suite do, and look at containers from the inside with
// test/probe.
//
// The runtime under test is $MINIRUN_TEST_RUNTIME when set (for example
// /usr/sbin/runc, the reference behaviour the tests were written against);
// otherwise TestMain builds ./cmd/minirun. Likewise $MINIRUN_TEST_PROBE
// names a prebuilt static probe, and $MINIRUN_TEST_BUSYBOX the static
// busybox for the rootfs (default /bin/busybox). Run them as root:
//
//	MINIRUN_REQUIRE_ROOT=1 go test ./test/ -count=1
//	MINIRUN_TEST_RUNTIME=/usr/sbin/runc MINIRUN_REQUIRE_ROOT=1 go test ./test/ -count=1
//
// The tests run one at a time. TestMain makes the test binary a child
// subreaper (as conmon and containerd's shim are), so a container's init is
// re-parented to it once `create` returns, and reaps such orphans itself;
// this is also how it notices a process a runtime left behind. Start every
// command with rt, runCmd or startCmd, never os/exec alone: the reaper
// cannot tell an unregistered child from an orphan. At the end it
// fails the run if anything leaked: a mount under its temp dirs, a state dir
// under a per-test --root, or a container process still alive.
package test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var (
	runtimePath string // the runtime binary under test, absolute
	isMinirun   bool   // where minirun must differ from runc, tests check this
	rootfsPath  string // shared busybox rootfs; tests must not write to it
	suiteDir    string // everything the suite creates lives below it
	hostNS      = map[string]string{}
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "minirun-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "test setup:", err)
		return 1
	}
	suiteDir = dir
	// Readable by all, like a normal bundle's path: a container in a user
	// namespace runs as a host uid that must still reach its rootfs.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "test setup:", err)
		return 1
	}
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "test setup:", err)
		os.RemoveAll(dir)
		return 1
	}
	code := m.Run()
	if leaks := findLeaks(); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the tests leaked:\n\t%s\n", strings.Join(leaks, "\n\t"))
		code = 1
	}
	if len(mountsUnder(suiteDir)) == 0 { // never RemoveAll through a leaked mount
		os.RemoveAll(suiteDir)
	}
	return code
}

func setup() error {
	for _, d := range []string{"bin", "tmp", "roots"} {
		if err := os.MkdirAll(filepath.Join(suiteDir, d), 0o755); err != nil {
			return err
		}
	}
	// Prebuilt binaries skip the builds, and so the need for a source tree
	// and a Go toolchain (test/vm runs this suite in a VM that has neither).
	var root string
	var err error
	runtimePath = os.Getenv("MINIRUN_TEST_RUNTIME")
	probe := os.Getenv("MINIRUN_TEST_PROBE")
	if runtimePath == "" || probe == "" {
		if root, err = moduleRoot(); err != nil {
			return err
		}
	}
	if runtimePath == "" {
		runtimePath = filepath.Join(suiteDir, "bin", "minirun")
		if err := goBuild(root, "./cmd/minirun", runtimePath); err != nil {
			return err
		}
	} else if runtimePath, err = exec.LookPath(runtimePath); err != nil {
		return err
	}
	if runtimePath, err = filepath.Abs(runtimePath); err != nil {
		return err
	}
	isMinirun = strings.Contains(filepath.Base(runtimePath), "minirun")
	if probe == "" {
		probe = filepath.Join(suiteDir, "bin", "probe")
		if err := goBuild(root, "./test/probe", probe); err != nil {
			return err
		}
	}
	if rootfsPath, err = buildRootfs(filepath.Join(suiteDir, "rootfs"), probe); err != nil {
		return err
	}
	for _, ns := range []string{"cgroup", "ipc", "mnt", "net", "pid", "user", "uts", "time"} {
		hostNS[ns], _ = os.Readlink("/proc/self/ns/" + ns)
	}
	// Every t.TempDir (bundles, sockets, bind sources) lands under suiteDir,
	// so one look at the host's mountinfo finds a leaked mount.
	os.Setenv("TMPDIR", filepath.Join(suiteDir, "tmp"))
	if os.Geteuid() == 0 {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("become subreaper: %w", err)
		}
		go reaper()
	}
	fmt.Fprintf(os.Stderr, "runtime under test: %s (minirun: %v)\n", runtimePath, isMinirun)
	return nil
}

// moduleRoot walks up from the working directory to the go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

func goBuild(modRoot, pkg, out string) error {
	// The tag is the Makefile's (it drops the CLI's man-page generator).
	cmd := exec.Command("go", "build", "-tags", "urfave_cli_no_docs", "-o", out, pkg)
	cmd.Dir = modRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// etcFiles are the rootfs's /etc: root, an unprivileged user 1000:1000 and
// an extra group 1001 it belongs to.
var etcFiles = map[string]string{
	"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n",
	"etc/group":  "root:x:0:\nuser:x:1000:\nextra:x:1001:user\n",
}

// rootfsDirs exist in every rootfs: mount points (mnt is where tests bind
// host dirs, so the shared rootfs needs no new mount point) and homes.
var rootfsDirs = []string{"bin", "proc", "sys", "dev", "etc", "tmp", "mnt", "root", "home/user"}

// buildRootfs makes the shared busybox rootfs with every applet.
func buildRootfs(dir, probe string) (string, error) {
	bb := "/bin/busybox"
	if env := os.Getenv("MINIRUN_TEST_BUSYBOX"); env != "" {
		bb = env // a static busybox elsewhere; never installed for it
	} else if _, err := os.Stat(bb); err != nil {
		fmt.Fprintln(os.Stderr, "test setup: /bin/busybox missing, running apt-get install -y busybox-static")
		if b, err := exec.Command("apt-get", "install", "-y", "busybox-static").CombinedOutput(); err != nil {
			return "", fmt.Errorf("install busybox-static: %w\n%s", err, b)
		}
	}
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return "", fmt.Errorf("busybox --list: %w", err)
	}
	return dir, populateRootfs(dir, bb, probe, strings.Fields(string(list)), false)
}

// populateRootfs lays out a rootfs at dir with the given applets; link asks
// for hard links to busybox and the probe instead of copies.
func populateRootfs(dir, busybox, probe string, applets []string, link bool) error {
	for _, d := range rootfsDirs {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	if err := os.Chown(filepath.Join(dir, "home/user"), 1000, 1000); err != nil && os.Geteuid() == 0 {
		return err
	}
	place := copyFile
	if link {
		place = func(src, dst string) error {
			if os.Link(src, dst) == nil {
				return nil
			}
			return copyFile(src, dst)
		}
	}
	if err := place(busybox, filepath.Join(dir, "bin/busybox")); err != nil {
		return err
	}
	if err := place(probe, filepath.Join(dir, "probe")); err != nil {
		return err
	}
	for _, a := range applets {
		if a == "busybox" || strings.Contains(a, "/") {
			continue // busybox --list names itself; never replace the binary by a link
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	for name, content := range etcFiles {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// privateRootfs makes a small rootfs that a test may write to (a root that
// is not read-only, a cwd the runtime must create).
func privateRootfs(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rootfs")
	applets := []string{"sh", "ls", "cat", "echo", "sleep", "true", "false", "id", "mkdir",
		"touch", "stat", "test", "tty", "pwd", "rm", "hostname", "mount", "ps"}
	err := populateRootfs(dir, filepath.Join(rootfsPath, "bin/busybox"), filepath.Join(rootfsPath, "probe"), applets, true)
	if err != nil {
		t.Fatalf("private rootfs: %v", err)
	}
	return dir
}

// --- processes -------------------------------------------------------------

// procs tracks the commands this process started (and will Wait for), so
// that the reaper only ever reaps orphans that the subreaper inherited.
var procs = struct {
	sync.Mutex
	started  map[int]bool
	recorded map[int]string // container pids seen by tests → /proc start time
	reaped   int
}{started: map[int]bool{}, recorded: map[int]string{}}

func startCmd(cmd *exec.Cmd) error {
	procs.Lock()
	defer procs.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	procs.started[cmd.Process.Pid] = true
	return nil
}

func waitCmd(cmd *exec.Cmd) error {
	err := cmd.Wait()
	procs.Lock()
	delete(procs.started, cmd.Process.Pid)
	procs.Unlock()
	return err
}

// runCmd runs a helper command (not the runtime) and returns its output.
func runCmd(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := startCmd(cmd); err != nil {
		return "", err
	}
	err := waitCmd(cmd)
	return out.String(), err
}

// reaper reaps orphans while a command started by startCmd runs: a runtime
// that kills a container's init (delete --force, kill) may wait for it to
// be gone, and a zombie is not gone. It cannot tell an orphan from a child
// that some other code started with os/exec and has yet to Wait for, so in
// this package start every command with startCmd, runCmd or rt.
func reaper() {
	for {
		procs.Lock()
		busy := len(procs.started) > 0
		procs.Unlock()
		if busy {
			reapOrphans()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reapOrphans waits for zombie children that os/exec does not own: container
// inits re-parented to this subreaper.
func reapOrphans() {
	procs.Lock()
	defer procs.Unlock()
	for _, p := range children() {
		if p.state == "Z" && !procs.started[p.pid] {
			var ws unix.WaitStatus
			if pid, _ := unix.Wait4(p.pid, &ws, unix.WNOHANG, nil); pid > 0 {
				procs.reaped++
			}
		}
	}
}

type procInfo struct {
	pid, ppid   int
	state, comm string
	start       string // field 22, to tell a reused pid apart
}

func readProc(pid int) (procInfo, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procInfo{}, false
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procInfo{}, false
	}
	f := strings.Fields(s[end+1:]) // f[0] is field 3 (state)
	if len(f) < 20 {
		return procInfo{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	return procInfo{pid: pid, ppid: ppid, state: f[0], comm: s[open+1 : end], start: f[19]}, true
}

func children() []procInfo {
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	var out []procInfo
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok && p.ppid == self {
			out = append(out, p)
		}
	}
	return out
}

// liveOrphans lists living children that no command of ours accounts for:
// a process a runtime left behind.
func liveOrphans() []procInfo {
	procs.Lock()
	defer procs.Unlock()
	var out []procInfo
	for _, p := range children() {
		if p.state != "Z" && !procs.started[p.pid] {
			out = append(out, p)
		}
	}
	return out
}

// waitNoOrphans gives dying processes a moment, then reports survivors
// other than those in known.
func waitNoOrphans(d time.Duration, known map[int]bool) []procInfo {
	deadline := time.Now().Add(d)
	for {
		var o []procInfo
		for _, p := range liveOrphans() {
			if !known[p.pid] {
				o = append(o, p)
			}
		}
		if len(o) == 0 || time.Now().After(deadline) {
			return o
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// recordPid remembers a container process so the end of the run can check
// it is gone.
func recordPid(pid int) {
	if p, ok := readProc(pid); ok {
		procs.Lock()
		procs.recorded[pid] = p.start
		procs.Unlock()
	}
}

// alive reports whether pid still runs (a zombie does not).
func alive(pid int) bool {
	p, ok := readProc(pid)
	return ok && p.state != "Z"
}

// --- leaks -----------------------------------------------------------------

func mountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

// stateDirs lists what a runtime left under a --root dir.
func stateDirs(root string) []string {
	ents, _ := os.ReadDir(root)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func findLeaks() []string {
	var leaks []string
	for _, m := range mountsUnder(suiteDir) {
		leaks = append(leaks, "mount "+m)
	}
	for i := len(leaks) - 1; i >= 0; i-- { // deepest first, so the dir can go
		unix.Unmount(strings.TrimPrefix(leaks[i], "mount "), unix.MNT_DETACH)
	}
	roots, _ := filepath.Glob(filepath.Join(suiteDir, "roots", "*"))
	for _, r := range roots {
		for _, s := range stateDirs(r) {
			leaks = append(leaks, "state "+filepath.Join(r, s))
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		reapOrphans() // the tests are over: no command of theirs is left to Wait
		var live []string
		procs.Lock()
		pids := make([]int, 0, len(procs.recorded))
		for pid, start := range procs.recorded {
			if p, ok := readProc(pid); ok && p.state != "Z" && p.start == start {
				pids = append(pids, pid)
			}
		}
		procs.Unlock()
		sort.Ints(pids)
		for _, pid := range pids {
			p, _ := readProc(pid)
			live = append(live, fmt.Sprintf("process %d (%s) still alive", pid, p.comm))
		}
		orphans := liveOrphans()
		for _, p := range orphans {
			live = append(live, fmt.Sprintf("process %d (%s) re-parented to the tests and still alive", p.pid, p.comm))
		}
		if len(live) == 0 || time.Now().After(deadline) {
			// Reported; now end them, so one bad run does not burden the
			// next. All were started by these tests.
			for _, pid := range pids {
				unix.Kill(pid, unix.SIGKILL)
			}
			for _, p := range orphans {
				unix.Kill(p.pid, unix.SIGKILL)
			}
			return append(leaks, live...)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
