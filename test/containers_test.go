package test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	tr "github.com/minirun/minirun/internal/testregistry"
)

// Tests of the docker-style front end: run IMAGE with its flags, detached
// containers under their monitor, ps, logs, exec, stop, start, rm, gc.
// Each test pushes the Busybox image to a registry of its own, pulls it
// into a store of its own, and checks at the end that nothing of its
// containers is left: no directory, mount, cgroup, runtime state or
// process.

var hexID = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ctrEnv is one test's image and store.
type ctrEnv struct {
	t     *testing.T
	store string
	ref   string
	seen  *idSet // every container ID made in the store
}

type idSet struct {
	sync.Mutex
	ids []string
}

func (s *idSet) list() []string {
	s.Lock()
	defer s.Unlock()
	return slices.Clone(s.ids)
}

// watchContainers records the name of every directory made in dir (the
// store's containers/), so that the end of a test can look for what even
// a foreground run, whose ID is never printed, left behind.
func watchContainers(t *testing.T, dir string) *idSet {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatalf("inotify_init1: %v", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		unix.Close(fd)
		t.Fatalf("inotify_add_watch %s: %v", dir, err)
	}
	f := os.NewFile(uintptr(fd), "inotify") // non-blocking: Close ends a Read
	s := &idSet{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
				off += unix.SizeofInotifyEvent + int(ev.Len)
				if ev.Mask&unix.IN_ISDIR != 0 && hexID.MatchString(name) {
					s.Lock()
					s.ids = append(s.ids, name)
					s.Unlock()
				}
			}
		}
	}()
	t.Cleanup(func() {
		f.Close()
		<-done
	})
	return s
}

// newCtrEnv pushes Busybox to a fresh registry and pulls it into a fresh
// store, so that runs need no pull of their own (and parallel ones do not
// race to make one).
func newCtrEnv(t *testing.T) *ctrEnv {
	t.Helper()
	requireMinirun(t)
	stateFor(t)
	reg := tr.Start(t, tr.Options{})
	e := &ctrEnv{t: t, store: t.TempDir()}
	e.seen = watchContainers(t, filepath.Join(e.store, "containers"))
	e.ref = reg.Push(t, "bb:v1", tr.Busybox(t, tr.BuildOptions{}).Image)
	if r := e.rt("pull", "-q", e.ref); r.code != 0 {
		t.Fatalf("pull: %v", r)
	}
	// Whatever a failed test left running goes before --root is checked
	// (cleanups run last-in first-out: this one before stateFor's).
	t.Cleanup(e.removeAll)
	return e
}

// with is e for a subtest: failures are the subtest's.
func (e *ctrEnv) with(t *testing.T) *ctrEnv {
	c := *e
	c.t = t
	return &c
}

func (e *ctrEnv) rt(args ...string) result {
	e.t.Helper()
	return imageRT(e.t, e.store, args...)
}

func (e *ctrEnv) must(args ...string) result {
	e.t.Helper()
	r := e.rt(args...)
	if r.code != 0 {
		e.t.Fatalf("%v", r)
	}
	return r
}

// runD starts a detached container and returns its ID, recording its
// process for the suite's leak check.
func (e *ctrEnv) runD(args ...string) string {
	e.t.Helper()
	r := e.must(append([]string{"run", "-d"}, args...)...)
	id := strings.TrimSpace(r.stdout)
	if !hexID.MatchString(id) {
		e.t.Fatalf("run -d printed %q, want a 64-hex ID\n%v", r.stdout, r)
	}
	if st := e.inspect(id).State; st.Pid > 0 {
		recordPid(st.Pid)
	}
	return id
}

func (e *ctrEnv) removeAll() {
	ids := strings.Fields(e.rt("ps", "-aq").stdout)
	if len(ids) > 0 {
		if r := e.rt(append([]string{"rm", "-f"}, ids...)...); r.code != 0 {
			e.t.Errorf("cleanup: %v", r)
		}
	}
	poll(5*time.Second, func() bool { return len(storeProcs(e.store)) == 0 })
	for _, p := range storeProcs(e.store) {
		e.t.Errorf("cleanup: process %d still runs: %s", p.pid, p.cmdline)
		unix.Kill(p.pid, unix.SIGKILL)
	}
}

// ctrInspect is what the tests read of `inspect`.
type ctrInspect struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	State struct {
		Status     string `json:"status"`
		Pid        int    `json:"pid"`
		MonitorPid int    `json:"monitorPid"`
		ExitCode   int    `json:"exitCode"`
		Error      string `json:"error"`
	} `json:"state"`
	Dir string `json:"dir"`
}

func (e *ctrEnv) inspect(ref string) ctrInspect {
	e.t.Helper()
	r := e.must("inspect", ref)
	var out []ctrInspect
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out) != 1 {
		e.t.Fatalf("inspect %s: %v\n%v", ref, err, r)
	}
	return out[0]
}

// psRow is one row of `ps --format json`.
type psRow struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
	State  string `json:"state"`
	Exit   int    `json:"exitCode"`
}

func (e *ctrEnv) ps(all bool) []psRow {
	e.t.Helper()
	args := []string{"ps", "--format", "json"}
	if all {
		args = append(args, "-a")
	}
	r := e.must(args...)
	var rows []psRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		e.t.Fatalf("ps: %v\n%v", err, r)
	}
	return rows
}

// psOf returns the row of the container name (by name, ID or short ID).
func (e *ctrEnv) psOf(name string) (psRow, bool) {
	e.t.Helper()
	for _, row := range e.ps(true) {
		if row.Name == name || len(name) >= 12 && strings.HasPrefix(row.ID, name) {
			return row, true
		}
	}
	return psRow{}, false
}

// waitPs polls ps -a until the container's row satisfies ok.
func (e *ctrEnv) waitPs(name, what string, ok func(psRow) bool) psRow {
	e.t.Helper()
	var row psRow
	var found bool
	if !poll(10*time.Second, func() bool {
		row, found = e.psOf(name)
		return found && ok(row)
	}) {
		e.t.Fatalf("container %s: ps -a shows %+v (found: %v) after 10s; want %s", name, row, found, what)
	}
	return row
}

// logs returns `logs ARGS...`'s stdout.
func (e *ctrEnv) logs(args ...string) string {
	e.t.Helper()
	return e.must(append([]string{"logs"}, args...)...).stdout
}

// checkNothingLeft fails unless the store has no container directory or
// mount, no container process or monitor runs, and neither the runtime's
// --root nor the cgroup hierarchy keeps anything of the containers made
// in the store.
func (e *ctrEnv) checkNothingLeft() {
	e.t.Helper()
	poll(5*time.Second, func() bool { // a monitor may still be on its way out
		ents, _ := os.ReadDir(filepath.Join(e.store, "containers"))
		for _, d := range ents {
			if d.IsDir() {
				return false
			}
		}
		return len(storeProcs(e.store)) == 0
	})
	checkNoContainers(e.t, e.store)
	if left := stateDirs(rootFor(e.t)); len(left) > 0 {
		e.t.Errorf("runtime state left under --root: %v", left)
	}
	for _, id := range e.seen.list() {
		if dirs := cgroupDirs(func(name string) bool { return name == id }); len(dirs) > 0 {
			e.t.Errorf("cgroups left for %s: %v", id[:12], dirs)
		}
	}
	for _, p := range storeProcs(e.store) {
		e.t.Errorf("process %d still runs: %s", p.pid, p.cmdline)
	}
}

// poll calls f until it is true or d passes, and says which.
func poll(d time.Duration, f func() bool) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

type storeProc struct {
	pid     int
	cmdline string
}

// storeProcs lists live processes that name the store on their command
// line: monitors (minirun container-monitor STORE ...) and anything else
// of a test's minirun.
func storeProcs(store string) []storeProc {
	ents, _ := os.ReadDir("/proc")
	var out []storeProc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !strings.Contains(string(b), store) || !alive(pid) {
			continue
		}
		out = append(out, storeProc{pid, strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")})
	}
	return out
}

// cgroupDirs lists the cgroup directories whose names satisfy match, in
// every hierarchy mounted under /sys/fs/cgroup (each v1 controller's, or
// the single v2 one).
func cgroupDirs(match func(name string) bool) []string {
	var out []string
	filepath.WalkDir("/sys/fs/cgroup", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if match(d.Name()) {
			out = append(out, path)
			return filepath.SkipDir
		}
		return nil
	})
	return out
}

// memoryLimitFile is the file holding the memory limit of pid's cgroup,
// read from /proc/PID/cgroup (paths relative to our own cgroup namespace,
// the host's): the v1 memory controller's memory.limit_in_bytes where
// there is one (hybrid hosts), else the unified hierarchy's memory.max.
func memoryLimitFile(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", err
	}
	var unified string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c == "memory" {
				return filepath.Join("/sys/fs/cgroup/memory", f[2], "memory.limit_in_bytes"), nil
			}
		}
		if f[0] == "0" && f[1] == "" {
			unified = f[2]
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil && unified != "" {
		return filepath.Join("/sys/fs/cgroup", unified, "memory.max"), nil
	}
	return "", fmt.Errorf("no memory cgroup in %q", b)
}

// networkNotes drops from stderr the two notes a bridged run may log: the
// first one turns on ip_forward, and a host without a name server the
// container can reach gets public ones.
func networkNotes(stderr string) string {
	var keep []string
	for _, line := range strings.SplitAfter(stderr, "\n") {
		if strings.Contains(line, `msg="changed sysctl for container networking" sysctl=net.ipv4.ip_forward`) ||
			strings.Contains(strings.ToLower(line), "level=warn") && strings.Contains(line, "resolv.conf") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "")
}

// --- 1. run --rm --------------------------------------------------------

// run --rm prints what the command prints, nothing else, and leaves no
// container directory, mount, runtime state or cgroup behind.
func TestContainerRunRm(t *testing.T) {
	e := newCtrEnv(t)
	r := e.rt("run", "--rm", e.ref, "echo", "hi")
	if r.code != 0 || r.stdout != "hi\n" || networkNotes(r.stderr) != "" {
		t.Errorf("%v\nwant exit 0, exactly \"hi\\n\" on stdout and nothing on stderr", r)
	}
	// The default host name is the short ID: what names the cgroup.
	r = e.rt("run", "--rm", e.ref, "hostname")
	short := strings.TrimSpace(r.stdout)
	if r.code != 0 || len(short) != 12 {
		t.Fatalf("%v\nwant the 12-character short ID", r)
	}
	if d := cgroupDirs(func(n string) bool { return strings.HasPrefix(n, short) && hexID.MatchString(n) }); len(d) > 0 {
		t.Errorf("run --rm left its cgroup: %v", d)
	}
	// Both runs' IDs were seen, so the final check covers them.
	if seen := e.seen.list(); len(seen) != 2 || !strings.HasPrefix(seen[1], short) {
		t.Errorf("container IDs seen in the store: %v, want two, the second %s...", seen, short)
	}

	// A detached --rm container: its cgroup exists while it runs (so the
	// search above looks in the right places) and goes with it.
	id := e.runD("--rm", e.ref, "sleep", "100")
	if d := cgroupDirs(func(n string) bool { return n == id }); len(d) == 0 {
		t.Errorf("no cgroup named %s found under /sys/fs/cgroup while it runs", id[:12])
	}
	if r := e.rt("stop", "-t", "1", id); r.code != 0 {
		t.Errorf("stop: %v", r)
	}
	if !poll(5*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(e.store, "containers", id))
		return errors.Is(err, os.ErrNotExist)
	}) {
		t.Errorf("the --rm container's directory is still there 5s after it stopped")
	}
	e.checkNothingLeft()
}

// --- 2. exit codes ------------------------------------------------------

func TestContainerExitCodes(t *testing.T) {
	e := newCtrEnv(t)
	for _, tc := range []struct {
		name string
		args []string // after run --rm
		code int
		want string // in stderr, which must be one line; "" for none
	}{
		{"true", []string{e.ref, "true"}, 0, ""},
		{"exit 3", []string{e.ref, "sh", "-c", "exit 3"}, 3, ""},
		// pid 1 of a pid namespace cannot be sent SIGKILL from inside it
		// (pid_namespaces(7)): with --init the shell is not pid 1.
		{"killed by SIGKILL", []string{"--init", e.ref, "sh", "-c", "kill -9 $$"}, 137, ""},
		{"bad memory", []string{"--memory", "lots", e.ref, "true"}, 125, "--memory"},
		{"unknown image, pull never", []string{"--pull", "never", e.ref + "-missing", "true"}, 125, "not found"},
		{"bad pull policy", []string{"--pull", "sometimes", e.ref, "true"}, 125, "--pull"},
		// The image's entrypoint is busybox, which would take any
		// command for an applet's name: clear it.
		{"not executable", []string{"--entrypoint", "", e.ref, "/etc/passwd"}, 126, "/etc/passwd"},
		{"not found", []string{"--entrypoint", "", e.ref, "no-such-command"}, 127, "no-such-command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			r := e.rt(append([]string{"run", "--rm"}, tc.args...)...)
			if r.code != tc.code {
				t.Errorf("%v\nwant exit %d", r, tc.code)
			}
			stderr := strings.TrimRight(networkNotes(r.stderr), "\n")
			switch {
			case tc.want == "" && stderr != "":
				t.Errorf("%v\nwant nothing on stderr", r)
			case tc.want != "" && (!strings.Contains(stderr, tc.want) || strings.Contains(stderr, "\n")):
				t.Errorf("%v\nwant one line on stderr naming %q", r, tc.want)
			}
		})
	}
	e.checkNothingLeft()
}

// --- 3. environment -----------------------------------------------------

// The image's env, then --env-file, then -e, each overriding the last; a
// bare -e KEY passes the caller's value, or nothing when it has none.
func TestContainerEnv(t *testing.T) {
	e := newCtrEnv(t)
	envFile := filepath.Join(t.TempDir(), "env")
	content := "# a comment\n\nMINIRUN_TEST=from-file\nA=from-file\nB=from-file\n"
	if err := os.WriteFile(envFile, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MINIRUN_CT_HOST", "from-host")
	os.Unsetenv("MINIRUN_CT_UNSET")
	show := `echo "$MINIRUN_TEST|$A|$B|$MINIRUN_CT_HOST|${MINIRUN_CT_UNSET-unset}"`
	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"image", nil, "busybox||||unset"},
		{"env-file over image", []string{"--env-file", envFile}, "from-file|from-file|from-file||unset"},
		{"-e over both", []string{"--env-file", envFile, "-e", "A=from-flag", "-e", "MINIRUN_TEST=flag"}, "flag|from-flag|from-file||unset"},
		{"-e order does not matter", []string{"-e", "A=from-flag", "--env-file", envFile}, "from-file|from-flag|from-file||unset"},
		{"bare -e takes the host's", []string{"-e", "MINIRUN_CT_HOST", "-e", "MINIRUN_CT_UNSET"}, "busybox|||from-host|unset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			args := append(append([]string{"run", "--rm"}, tc.flags...), e.ref, "sh", "-c", show)
			r := e.rt(args...)
			if r.code != 0 || strings.TrimSpace(r.stdout) != tc.want {
				t.Errorf("%v\nwant %q", r, tc.want)
			}
		})
	}
	e.checkNothingLeft()
}

// --- 4. run flags -------------------------------------------------------

func TestContainerRunFlags(t *testing.T) {
	e := newCtrEnv(t)
	host := t.TempDir()
	if err := os.Chmod(host, 0o777); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		flags []string
		cmd   string
		code  int
		want  string // stdout, trimmed; with prefix "~": contains
	}{
		{"user by name", []string{"-u", "app"}, "id", 0, "~uid=1000(app) gid=1000(app) groups="},
		{"user by number", []string{"-u", "1234:5678"}, "id -u; id -g", 0, "1234\n5678"},
		{"workdir", []string{"-w", "/tmp"}, "pwd", 0, "/tmp"},
		{"volume read-write", []string{"-v", host + ":/data"}, "echo written-inside > /data/rw && cat /data/rw", 0, "written-inside"},
		{"volume read-only", []string{"-v", host + ":/data:ro"}, "touch /data/ro 2>/dev/null && echo written || echo refused", 0, "refused"},
		{"read-only root", []string{"--read-only", "-v", host + ":/data"}, "touch /x 2>/dev/null && echo written || echo refused; touch /data/ro-root && echo volume-ok", 0, "refused\nvolume-ok"},
		{"cap-drop ALL", []string{"--cap-drop", "ALL"}, "grep CapEff /proc/self/status", 0, "CapEff:\t0000000000000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			args := append(append([]string{"run", "--rm"}, tc.flags...), e.ref, "sh", "-c", tc.cmd)
			r := e.rt(args...)
			out := strings.TrimSpace(r.stdout)
			ok := out == tc.want
			if w, found := strings.CutPrefix(tc.want, "~"); found {
				ok = strings.Contains(out, w)
			}
			if r.code != tc.code || !ok {
				t.Errorf("%v\nwant exit %d and %q", r, tc.code, tc.want)
			}
		})
	}
	t.Run("supplementary group staff", func(t *testing.T) {
		e := e.with(t)
		r := e.rt("run", "--rm", "-u", "app", e.ref, "id")
		if !strings.Contains(r.stdout, "50(staff)") {
			t.Errorf("%v\nwant staff (50) among the groups", r)
		}
	})
	if b, err := os.ReadFile(filepath.Join(host, "rw")); err != nil || string(b) != "written-inside\n" {
		t.Errorf("the file written in the volume, on the host: %q (%v)", b, err)
	}
	if _, err := os.Stat(filepath.Join(host, "ro")); err == nil {
		t.Errorf("a file was written through the read-only volume")
	}
	if _, err := os.Stat(filepath.Join(host, "ro-root")); err != nil {
		t.Errorf("the volume of a --read-only container was not writable: %v", err)
	}

	t.Run("memory limit in the cgroup", func(t *testing.T) {
		e := e.with(t)
		id := e.runD("-m", "64m", e.ref, "sleep", "100")
		pid := e.inspect(id).State.Pid
		file, err := memoryLimitFile(pid)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(file, id) {
			t.Errorf("the container's process is in %s, not in a cgroup of its own", file)
		}
		b, err := os.ReadFile(file)
		if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(64<<20) {
			t.Errorf("%s: %q (%v), want %d", file, b, err, 64<<20)
		}
		e.must("rm", "-f", id)
		e.checkNothingLeft()
	})
	e.checkNothingLeft()
}

// --- 5. terminals -------------------------------------------------------

// ptyCmd is minirun started on a pty as its controlling terminal, as a
// shell would start it.
type ptyCmd struct {
	cmd    *exec.Cmd
	master *os.File
	done   chan struct{}
	code   int
}

func (e *ctrEnv) startOnPty(rows, cols uint16, args ...string) *ptyCmd {
	e.t.Helper()
	master, slave, _ := openPty(e.t)
	if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		e.t.Fatalf("set the pty's size: %v", err)
	}
	cmd := exec.Command(runtimePath, append([]string{"--root", rootFor(e.t), "--store", e.store}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	// A session of its own with the pty as its controlling terminal: it
	// is the terminal's foreground process group, which SIGWINCH reaches.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := startCmd(cmd); err != nil {
		e.t.Fatal(err)
	}
	slave.Close()
	p := &ptyCmd{cmd: cmd, master: master, done: make(chan struct{}), code: -1}
	go func() {
		waitCmd(cmd)
		p.code = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	e.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
	return p
}

func (p *ptyCmd) write(t *testing.T, s string) {
	t.Helper()
	if _, err := p.master.Write([]byte(s)); err != nil {
		t.Fatalf("write to the pty: %v", err)
	}
}

// expect reads the pty until want appears.
func (p *ptyCmd) expect(t *testing.T, d time.Duration, want string) string {
	t.Helper()
	out, err := readUntil(p.master, d, want)
	if err != nil {
		t.Fatalf("no %q on the terminal within %v (%v); got %q", want, d, err, out)
	}
	return out
}

// wait returns the exit status, failing the test if it takes longer than d.
func (p *ptyCmd) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	go readAll(p.master, d) // keep the terminal drained
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		t.Fatalf("%v still runs after %v", p.cmd.Args, d)
	}
	return -1
}

// A shell with a terminal: input typed reaches it, its exit status is
// run's, and the terminal's size follows the caller's, then and later.
func TestContainerInteractive(t *testing.T) {
	e := newCtrEnv(t)
	t.Run("exit status", func(t *testing.T) {
		e := e.with(t)
		p := e.startOnPty(24, 80, "run", "-it", "--rm", e.ref, "sh")
		p.expect(t, 10*time.Second, "# ")
		p.write(t, "echo $((6*7)); exit 5\n")
		p.expect(t, 10*time.Second, "42")
		if code := p.wait(t, 10*time.Second); code != 5 {
			t.Errorf("run -it exited %d, want 5", code)
		}
	})
	t.Run("window size", func(t *testing.T) {
		e := e.with(t)
		p := e.startOnPty(40, 100, "run", "-it", "--rm", e.ref, "sh")
		p.expect(t, 10*time.Second, "# ")
		p.write(t, "busybox stty size\n")
		p.expect(t, 10*time.Second, "40 100")
		if err := unix.IoctlSetWinsize(int(p.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 50, Col: 120}); err != nil {
			t.Fatal(err)
		}
		// The new size travels by SIGWINCH to minirun, then by ioctl to
		// the container's pty: ask until it has arrived.
		got := false
		for deadline := time.Now().Add(10 * time.Second); !got && time.Now().Before(deadline); {
			p.write(t, "busybox stty size\n")
			_, err := readUntil(p.master, time.Second, "50 120")
			got = err == nil
		}
		if !got {
			t.Errorf("stty size never said 50 120 after the resize")
		}
		p.write(t, "exit\n")
		if code := p.wait(t, 10*time.Second); code != 0 {
			t.Errorf("run -it exited %d, want 0", code)
		}
	})
	e.checkNothingLeft()
}

// --- 6. detached lifecycle ------------------------------------------------

func TestContainerDetachedLifecycle(t *testing.T) {
	e := newCtrEnv(t)
	// The trap comes first, so that "started" in the log means TERM is
	// handled.
	script := `trap "echo bye; exit 0" TERM; echo started; while true; do sleep 0.1; done`
	id := e.runD("--name", "web", e.ref, "sh", "-c", script)

	row := e.waitPs("web", "running", func(r psRow) bool { return r.State == "running" })
	if row.ID != id || !strings.HasPrefix(row.Status, "Up") {
		t.Errorf("ps: %+v; want ID %s and status Up ...", row, id)
	}
	if r := e.must("ps", "-q"); strings.TrimSpace(r.stdout) != id[:12] {
		t.Errorf("ps -q: %q, want %q", r.stdout, id[:12])
	}
	if !poll(5*time.Second, func() bool { return strings.Contains(e.logs("web"), "started") }) {
		t.Errorf("logs web: %q, want started", e.logs("web"))
	}
	if r := e.rt("top", "web"); r.code != 0 || !strings.Contains(r.stdout, "sleep") && !strings.Contains(r.stdout, "sh") {
		t.Errorf("top: %v", r)
	}

	// logs -f, in the background, sees what comes later, and ends when
	// the container does.
	followOut := filepath.Join(t.TempDir(), "follow")
	f, err := os.Create(followOut)
	if err != nil {
		t.Fatal(err)
	}
	follow := exec.Command(runtimePath, "--root", rootFor(t), "--store", e.store, "logs", "-f", "web")
	follow.Stdout, follow.Stderr = f, f
	if err := startCmd(follow); err != nil {
		t.Fatal(err)
	}
	f.Close()
	followDone := make(chan struct{})
	var followErr error
	go func() {
		followErr = waitCmd(follow)
		close(followDone)
	}()
	t.Cleanup(func() {
		select {
		case <-followDone:
		default:
			follow.Process.Kill()
			<-followDone
		}
	})
	readFollow := func() string { b, _ := os.ReadFile(followOut); return string(b) }
	if !poll(5*time.Second, func() bool { return strings.Contains(readFollow(), "started") }) {
		t.Errorf("logs -f: %q, want the output so far (started)", readFollow())
	}
	if r := e.rt("exec", "web", "sh", "-c", "echo via-exec > /proc/1/fd/1"); r.code != 0 {
		t.Errorf("exec: %v", r)
	}
	if !poll(5*time.Second, func() bool { return strings.Contains(readFollow(), "via-exec") }) {
		t.Errorf("logs -f: %q, want via-exec written later", readFollow())
	}

	t.Run("exec -it", func(t *testing.T) {
		e := e.with(t)
		p := e.startOnPty(24, 80, "exec", "-it", "web", "sh")
		p.expect(t, 10*time.Second, "# ")
		p.write(t, "echo $((6*7)); exit 4\n")
		p.expect(t, 10*time.Second, "42")
		if code := p.wait(t, 10*time.Second); code != 4 {
			t.Errorf("exec -it exited %d, want 4", code)
		}
	})

	r := e.rt("rm", "web")
	if r.code == 0 || !strings.Contains(r.stderr, "running") {
		t.Errorf("rm of a running container: %v\nwant a refusal that says it is running", r)
	}

	if r := e.rt("stop", "web"); r.code != 0 || strings.TrimSpace(r.stdout) != "web" {
		t.Errorf("stop: %v", r)
	}
	if l := e.logs("web"); !strings.Contains(l, "bye") {
		t.Errorf("logs after stop: %q, want bye (the TERM trap ran)", l)
	}
	select {
	case <-followDone:
		if followErr != nil {
			t.Errorf("logs -f ended with %v", followErr)
		}
		if !strings.Contains(readFollow(), "bye") {
			t.Errorf("logs -f: %q, want bye before it ended", readFollow())
		}
	case <-time.After(5 * time.Second):
		t.Errorf("logs -f still runs 5s after the container stopped")
	}
	row = e.waitPs("web", "exited", func(r psRow) bool { return r.State == "exited" })
	if row.Exit != 0 || !strings.HasPrefix(row.Status, "Exited (0)") {
		t.Errorf("ps -a after stop: %+v, want Exited (0)", row)
	}
	if rows := e.ps(false); len(rows) != 0 {
		t.Errorf("ps without -a lists a stopped container: %+v", rows)
	}
	if r := e.rt("wait", "web"); r.code != 0 || strings.TrimSpace(r.stdout) != "0" {
		t.Errorf("wait: %v", r)
	}
	if l := e.logs("--tail", "1", "web"); l != "bye\n" {
		t.Errorf("logs --tail 1: %q, want \"bye\\n\"", l)
	}
	stamped := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d) (started|via-exec|bye)$`)
	for _, line := range strings.Split(strings.TrimSuffix(e.logs("-t", "web"), "\n"), "\n") {
		if !stamped.MatchString(line) {
			t.Errorf("logs -t: line %q, want an RFC 3339 time, a space and the output", line)
		}
	}
	// Every line so far was written before the stop returned.
	stoppedAt := time.Now().UTC().Format(time.RFC3339Nano)

	// start runs it again, with the same log.
	if r := e.rt("start", "web"); r.code != 0 {
		t.Fatalf("start: %v", r)
	}
	if st := e.inspect("web").State; st.Pid > 0 {
		recordPid(st.Pid)
	}
	row = e.waitPs("web", "running again", func(r psRow) bool { return r.State == "running" })
	if !strings.HasPrefix(row.Status, "Up") {
		t.Errorf("ps after start: %+v", row)
	}
	if !poll(5*time.Second, func() bool { return strings.Count(e.logs("web"), "started") == 2 }) {
		t.Errorf("logs after start: %q, want started twice", e.logs("web"))
	}
	if l := e.logs("--since", stoppedAt, "web"); l != "started\n" {
		t.Errorf("logs --since (the time of the stop): %q, want only the second run's \"started\\n\"", l)
	}
	r = e.rt("rm", "web")
	if r.code == 0 || !strings.Contains(r.stderr, "running") {
		t.Errorf("rm of a running container: %v\nwant a refusal that says it is running", r)
	}
	if r := e.rt("rm", "-f", "web"); r.code != 0 {
		t.Errorf("rm -f: %v", r)
	}
	if _, ok := e.psOf("web"); ok {
		t.Errorf("ps -a still lists web after rm -f")
	}
	e.checkNothingLeft()
}

// --- 7. crash safety ------------------------------------------------------

// A monitor killed with SIGKILL writes nothing more: ps must still tell
// the truth, and gc must clean up after it.
func TestContainerCrashSafety(t *testing.T) {
	e := newCtrEnv(t)
	for _, autoRemove := range []bool{false, true} {
		name := "kept"
		flags := []string{"--name", name}
		if autoRemove {
			name = "autoremoved"
			flags = []string{"--rm", "--name", name}
		}
		t.Run(name, func(t *testing.T) {
			e := e.with(t)
			id := e.runD(append(flags, e.ref, "sleep", "100")...)
			st := e.inspect(name).State
			if st.Status != "running" || st.Pid <= 0 || st.MonitorPid <= 0 {
				t.Fatalf("inspect: %+v, want running with a pid and a monitor pid", st)
			}
			if err := unix.Kill(st.MonitorPid, unix.SIGKILL); err != nil {
				t.Fatalf("kill the monitor: %v", err)
			}
			poll(5*time.Second, func() bool { return !alive(st.MonitorPid) })
			if !alive(st.Pid) {
				t.Fatalf("the container's process died with its monitor")
			}
			if row, ok := e.psOf(name); !ok || row.State != "running" {
				t.Errorf("ps -a with the monitor gone and the container running: %+v (found %v), want running", row, ok)
			}
			if err := unix.Kill(st.Pid, unix.SIGKILL); err != nil {
				t.Fatalf("kill the container: %v", err)
			}
			row := e.waitPs(name, "exited", func(r psRow) bool { return r.State == "exited" })
			if !strings.HasPrefix(row.Status, "Exited") {
				t.Errorf("ps -a: %+v, want Exited", row)
			}
			if !slices.Contains(stateDirs(rootFor(t)), id) {
				t.Errorf("the runtime state was gone before gc (so gc's part is not tested): %v", stateDirs(rootFor(t)))
			}
			r := e.must("gc")
			if !strings.Contains(r.stdout, "state removed: "+name) {
				t.Errorf("gc: %v\nwant the state of %s removed", r, name)
			}
			if slices.Contains(stateDirs(rootFor(t)), id) {
				t.Errorf("gc left the runtime state of %s", name)
			}
			if d := cgroupDirs(func(n string) bool { return n == id }); len(d) > 0 {
				t.Errorf("gc left the cgroup: %v", d)
			}
			if autoRemove {
				if !strings.Contains(r.stdout, "container removed: "+name) {
					t.Errorf("gc: %v\nwant the --rm container removed", r)
				}
				if _, ok := e.psOf(name); ok {
					t.Errorf("ps -a still lists the --rm container after gc")
				}
			} else {
				if row, ok := e.psOf(name); !ok || row.State != "exited" {
					t.Errorf("after gc: %+v (found %v), want still listed as exited", row, ok)
				}
				if r := e.rt("rm", name); r.code != 0 {
					t.Errorf("rm after gc: %v", r)
				}
			}
			e.checkNothingLeft()
		})
	}
}

// --- 8. many at once ------------------------------------------------------

func TestContainerParallel(t *testing.T) {
	e := newCtrEnv(t)
	const n = 20
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.rt("run", "-d", e.ref, "sleep", "100")
		}()
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, r := range results {
		id := strings.TrimSpace(r.stdout)
		if r.code != 0 || !hexID.MatchString(id) {
			t.Errorf("parallel run -d: %v", r)
			continue
		}
		ids[id] = true
	}
	if len(ids) != n {
		t.Errorf("%d distinct IDs of %d runs", len(ids), n)
	}
	rows := e.ps(false)
	names := map[string]bool{}
	for _, row := range rows {
		names[row.Name] = true
		if !ids[row.ID] || row.State != "running" {
			t.Errorf("ps: %+v", row)
		}
		if st := e.inspect(row.ID).State; st.Pid > 0 {
			recordPid(st.Pid)
		}
	}
	if len(rows) != n || len(names) != n {
		t.Errorf("ps lists %d containers with %d distinct names, want %d of each", len(rows), len(names), n)
	}
	short := strings.Fields(e.must("ps", "-q").stdout)
	if len(short) != n {
		t.Fatalf("ps -q: %d lines, want %d", len(short), n)
	}
	// kill: KILL by default for an image container, or -s's signal. Half
	// of them, each looked at by ps -a at once: an exited container must
	// show how it ended, even before its monitor has written it down.
	const killed = n / 2
	for i := range killed {
		args := []string{"kill", short[i]}
		if i%2 == 1 {
			args = []string{"kill", "-s", "KILL", short[i]}
		}
		if r := e.rt(args...); r.code != 0 || strings.TrimSpace(r.stdout) != short[i] {
			t.Errorf("%v", r)
		}
		row := e.waitPs(short[i], "exited", func(r psRow) bool { return r.State == "exited" })
		if row.Exit != 137 || !strings.HasPrefix(row.Status, "Exited (137)") {
			t.Errorf("ps -a right after %v: %+v, want Exited (137)", args, row)
		}
	}
	if got := len(strings.Fields(e.must("ps", "-q").stdout)); got != n-killed {
		t.Errorf("ps -q after %d kills: %d lines, want %d", killed, got, n-killed)
	}
	r := e.rt(append([]string{"rm", "-f"}, strings.Fields(e.must("ps", "-aq").stdout)...)...)
	if r.code != 0 || len(strings.Fields(r.stdout)) != n {
		t.Errorf("rm -f of them all: %v", r)
	}
	if rows := e.ps(true); len(rows) != 0 {
		t.Errorf("ps -a after rm -f: %+v", rows)
	}
	e.checkNothingLeft()
}

// --- 9. --init ------------------------------------------------------------

func TestContainerInit(t *testing.T) {
	e := newCtrEnv(t)
	r := e.rt("run", "--rm", "--init", e.ref, "sh", "-c", "ps -o pid,comm")
	found := false
	for _, line := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "1" && f[1] == "minirun-init" {
			found = true
		}
	}
	if r.code != 0 || !found {
		t.Errorf("%v\nwant minirun-init as pid 1", r)
	}

	// pid 1 ignores a signal it has no handler for; the reaper has one for
	// each and passes TERM on, so sleep dies at once, by TERM.
	stopFast := func(t *testing.T, e *ctrEnv, id string) {
		t.Helper()
		start := time.Now()
		r := e.rt("stop", "-t", "2", id)
		took := time.Since(start)
		if r.code != 0 {
			t.Errorf("stop: %v", r)
		}
		if took >= 2*time.Second {
			t.Errorf("stop -t 2 of a container with --init took %v; the reaper should have passed TERM on", took)
		}
		row := e.waitPs(id, "exited", func(r psRow) bool { return r.State == "exited" })
		if row.Exit != 128+int(unix.SIGTERM) {
			t.Errorf("ps -a: %+v, want exit %d (sleep ended by TERM)\nlogs: %v", row, 128+int(unix.SIGTERM), e.rt("logs", id))
		}
		e.must("rm", id)
	}
	t.Run("stop", func(t *testing.T) {
		e := e.with(t)
		id := e.runD("--init", e.ref, "sleep", "100")
		// The reaper handles signals before it starts the command: once
		// sleep runs, TERM is passed on.
		if !poll(10*time.Second, func() bool { return runsBeside(e.rt("top", id).stdout, "sleep", "minirun-init") }) {
			t.Fatalf("sleep never ran under the reaper: %v", e.rt("top", id))
		}
		stopFast(t, e, id)
	})
	t.Run("stop right after run", func(t *testing.T) {
		// run -d returns once the container runs, and a stop may come at
		// once: the reaper, still starting, must not lose the TERM.
		e := e.with(t)
		r := rtWith(t, rtOpts{timeout: 2 * time.Minute}, "--store", e.store, "run", "-d", "--init", e.ref, "sleep", "100")
		id := strings.TrimSpace(r.stdout)
		if r.code != 0 || !hexID.MatchString(id) {
			t.Fatalf("%v", r)
		}
		stopFast(t, e, id)
	})

	// Without --init the same sleep is pid 1 and ignores TERM: stop has
	// to wait for its timeout (what makes the timing above meaningful).
	id2 := e.runD(e.ref, "sleep", "100")
	start := time.Now()
	if r := e.rt("stop", "-t", "1", id2); r.code != 0 {
		t.Errorf("stop: %v", r)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("stop -t 1 without --init took %v: sleep as pid 1 should have ignored TERM", took)
	}
	e.must("rm", id2)
	e.checkNothingLeft()
}

// runsBeside reports whether top's output lists a process whose command
// has want and not other.
func runsBeside(top, want, other string) bool {
	for _, line := range strings.Split(top, "\n") {
		if strings.Contains(line, want) && !strings.Contains(line, other) {
			return true
		}
	}
	return false
}
