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
//
// As root, TestMain first re-executes the test binary in a network
// namespace of its own (CLONE_NEWNET, marked by MINIRUN_TEST_IN_NETNS=1),
// with lo up, and exits with its status. Everything the suite starts (the
// test registry on 127.0.0.1, minirun, runc, podman in the benchmarks)
// lives there: the bridges, veths, nftables tables and sysctls that
// container networking makes never reach the machine's own namespace, and
// go with the namespace when the run ends. The leak check adds what
// minirun's networking leaves there: veths mr-*, bridges minirunN of named
// networks, nftables rules of containers ("minirun ctr ID") and leases
// under the stores the tests made.
package test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink"
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

// netnsEnv marks the test binary that runs in the suite's own network
// namespace.
const netnsEnv = "MINIRUN_TEST_IN_NETNS"

// inSuiteNetns: this process is that binary.
var inSuiteNetns = os.Getenv(netnsEnv) == "1"

func testMain(m *testing.M) int {
	if os.Geteuid() == 0 && !inSuiteNetns {
		return inThrowawayNetns()
	}
	if inSuiteNetns {
		if err := linkUp("lo"); err != nil {
			fmt.Fprintln(os.Stderr, "test setup: in the suite's network namespace:", err)
			return 1
		}
	}
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

// inThrowawayNetns runs this test binary again, with the same arguments,
// in a new network namespace, passes on the signals a terminal or go test
// sends (SIGQUIT is go test's timeout: the child prints its goroutines),
// and returns its exit status. The child dies with this process.
func inThrowawayNetns() int {
	// The one step that may need the machine's network: the namespace
	// has none.
	if _, err := busyboxPath(); err != nil {
		fmt.Fprintln(os.Stderr, "test setup:", err)
		return 1
	}
	runtime.LockOSThread() // Pdeathsig follows the thread that started the child
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "test setup: run the tests in a network namespace of their own:", err)
		return 1
	}
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		fmt.Fprintf(os.Stderr, "the tests (pid %d, in their network namespace) were killed by %v\n", cmd.Process.Pid, ws.Signal())
		return 128 + int(ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}

// linkUp sets a link of this process's network namespace up.
func linkUp(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find link %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("set link %s up: %w", name, err)
	}
	return nil
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

// busyboxPath is the static busybox for the rootfs, installed with apt-get
// when missing (MINIRUN_TEST_BUSYBOX names one elsewhere, never installed).
func busyboxPath() (string, error) {
	bb := "/bin/busybox"
	if env := os.Getenv("MINIRUN_TEST_BUSYBOX"); env != "" {
		bb = env // a static busybox elsewhere; never installed for it
	} else if _, err := os.Stat(bb); err != nil {
		fmt.Fprintln(os.Stderr, "test setup: /bin/busybox missing, running apt-get install -y busybox-static")
		if b, err := exec.Command("apt-get", "install", "-y", "busybox-static").CombinedOutput(); err != nil {
			return "", fmt.Errorf("install busybox-static: %w\n%s", err, b)
		}
	}
	return bb, nil
}

// buildRootfs makes the shared busybox rootfs with every applet.
func buildRootfs(dir, probe string) (string, error) {
	bb, err := busyboxPath()
	if err != nil {
		return "", err
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
	leaks = append(leaks, netLeaks()...)
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

// --- network leaks -----------------------------------------------------------

// netLeftovers lists what minirun's networking has in the suite's
// namespace that belongs to containers or to named networks: links mr-*
// (host ends of veths) and minirunN other than minirun0 (the default
// network's bridge stays once made, as docker0 does), and the rules of
// table ip minirun whose comment names a container ("minirun ctr ID").
// Nothing outside the suite's namespace is ever looked at.
func netLeftovers() (links, rules []string, err error) {
	if !inSuiteNetns {
		return nil, nil, nil
	}
	ls, err := netlink.LinkList()
	if err != nil {
		return nil, nil, fmt.Errorf("list links: %w", err)
	}
	for _, l := range ls {
		name := l.Attrs().Name
		if strings.HasPrefix(name, "mr-") || strings.HasPrefix(name, "minirun") && name != "minirun0" {
			links = append(links, fmt.Sprintf("%s (%s)", name, l.Type()))
		}
	}
	rules, err = ctrRules()
	return links, rules, err
}

// ctrRules lists the rules of table ip minirun tagged "minirun ctr ...",
// as "CHAIN: TAG". The tag is the rule's comment, an nftables user data
// TLV, read the way network/nft_linux.go writes it.
func ctrRules() ([]string, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("connect to nftables: %w", err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("list nftables tables: %w", err)
	}
	var table *nftables.Table
	for _, t := range tables {
		if t.Name == "minirun" {
			table = t
		}
	}
	if table == nil {
		return nil, nil
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("list nftables chains: %w", err)
	}
	var out []string
	for _, ch := range chains {
		if ch.Table.Name != table.Name {
			continue
		}
		rules, err := c.GetRules(table, ch)
		if err != nil {
			return nil, fmt.Errorf("list the rules of chain %s: %w", ch.Name, err)
		}
		for _, r := range rules {
			if tag, _ := userdata.GetString(r.UserData, userdata.TypeComment); strings.HasPrefix(tag, "minirun ctr ") {
				out = append(out, ch.Name+": "+tag)
			}
		}
	}
	return out, nil
}

// leaseFiles lists the lease files under a store (STORE/networks/leases).
func leaseFiles(store string) []string {
	files, _ := filepath.Glob(filepath.Join(store, "networks", "leases", "*.json"))
	return files
}

// lateLeaks are leaks found when a test ended, in places gone by the end
// of the run (a store in a test's temp dir).
var lateLeaks struct {
	sync.Mutex
	list []string
}

func noteLeak(s string) {
	lateLeaks.Lock()
	lateLeaks.list = append(lateLeaks.list, s)
	lateLeaks.Unlock()
}

// netLeaks is the network part of the final leak check: what the tests'
// ends found, lease files under any store still in the suite dir, and the
// links and container rules still in the suite's namespace.
func netLeaks() []string {
	lateLeaks.Lock()
	leaks := append([]string(nil), lateLeaks.list...)
	lateLeaks.Unlock()
	filepath.WalkDir(suiteDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".json") &&
			filepath.Base(filepath.Dir(path)) == "leases" && filepath.Base(filepath.Dir(filepath.Dir(path))) == "networks" {
			leaks = append(leaks, "lease "+path)
		}
		return nil
	})
	links, rules, err := netLeftovers()
	if err != nil {
		leaks = append(leaks, "network check failed: "+err.Error())
	}
	for _, l := range links {
		leaks = append(leaks, "link "+l+" in the suite's network namespace")
	}
	for _, r := range rules {
		leaks = append(leaks, "nftables rule of table ip minirun, "+r)
	}
	return leaks
}
