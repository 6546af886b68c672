package test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/crashpoint"
)

// Crash safety: minirun killed with SIGKILL at each named step
// (MINIRUN_CRASH_AT, internal/crashpoint) and at random times, then
// `minirun gc`, leaves nothing on the machine: no mount, cgroup, veth,
// lease, nftables rule, state directory or process. And gc, run at any
// time, never touches a container whose run is under way.

// crashResult is how a minirun started by crashRun ended.
type crashResult struct {
	args           []string
	ws             syscall.WaitStatus
	stdout, stderr string
	// outPath is the file of its stdout, where a container it started
	// goes on writing after it died.
	outPath string
}

func (r crashResult) killed() bool { return r.ws.Signaled() && r.ws.Signal() == syscall.SIGKILL }

func (r crashResult) String() string {
	return fmt.Sprintf("%s: %s\nstdout: %s\nstderr: %s", strings.Join(r.args, " "), describeWait(r.ws),
		strings.TrimSpace(r.stdout), strings.TrimSpace(r.stderr))
}

func describeWait(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return "exit " + strconv.Itoa(ws.ExitStatus())
}

// crashRun runs minirun (with the test's --root and e's store) with
// MINIRUN_CRASH_AT=point and waits for it.
func (e *ctrEnv) crashRun(point string, args ...string) crashResult {
	e.t.Helper()
	full := append([]string{"--root", rootFor(e.t), "--store", e.store}, args...)
	cmd := exec.Command(runtimePath, full...)
	cmd.Env = append(os.Environ(), crashpoint.Env+"="+point)
	out, outPath := outFile(e.t, "crash-stdout")
	defer out.Close()
	errf, errPath := outFile(e.t, "crash-stderr")
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = out, errf
	if err := startCmd(cmd); err != nil {
		e.t.Fatal(err)
	}
	timer := time.AfterFunc(rtTimeout, func() { cmd.Process.Kill() })
	waitCmd(cmd)
	timer.Stop()
	r := crashResult{args: append([]string{crashpoint.Env + "=" + point, "minirun"}, full...),
		ws: cmd.ProcessState.Sys().(syscall.WaitStatus), outPath: outPath}
	b, _ := os.ReadFile(outPath)
	r.stdout = string(b)
	b, _ = os.ReadFile(errPath)
	r.stderr = string(b)
	return r
}

// runningRows lists the rows of ps -a that say running.
func (e *ctrEnv) runningRows() []psRow {
	e.t.Helper()
	var out []psRow
	for _, row := range e.ps(true) {
		if row.State == "running" {
			out = append(out, row)
		}
	}
	return out
}

// settle waits until no container runs (every command the tests run
// here ends at once, so one that ps says runs is either still ending or
// a lie) and no process names the store (a run, a monitor).
func (e *ctrEnv) settle(d time.Duration) {
	e.t.Helper()
	var rows []psRow
	var procs []storeProc
	if !poll(d, func() bool {
		rows, procs = e.runningRows(), storeProcs(e.store)
		return len(rows) == 0 && len(procs) == 0
	}) {
		e.t.Fatalf("after %v: ps -a still says running: %+v; processes of the store: %+v", d, rows, procs)
	}
}

// cgroupsOf reads the cgroup directories that cgroup.json (written
// before the cgroup is made) names in each state directory under root.
func cgroupsOf(root string) []string {
	var out []string
	for _, id := range stateDirs(root) {
		var st struct {
			Dirs map[string]string `json:"dirs"`
		}
		b, err := os.ReadFile(filepath.Join(root, id, "cgroup.json"))
		if err != nil || json.Unmarshal(b, &st) != nil {
			continue
		}
		for _, d := range st.Dirs {
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out
}

func existing(paths []string) []string {
	var out []string
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// checkMachineClean fails unless nothing of the containers ids is left:
// no mount under the suite's dirs, no state directory under --root, none
// of cgDirs and no cgroup named after them in any hierarchy, no lease,
// veth mr-* or container rule, and no process (of the store, or one
// re-parented to the tests and not in known).
func (e *ctrEnv) checkMachineClean(what string, ids, cgDirs []string, known map[int]bool) {
	e.t.Helper()
	if m := mountsUnder(suiteDir); len(m) > 0 {
		e.t.Errorf("%s: mounts left: %v", what, m)
	}
	if left := stateDirs(rootFor(e.t)); len(left) > 0 {
		e.t.Errorf("%s: state left under --root: %v", what, left)
	}
	if left := existing(cgDirs); len(left) > 0 {
		e.t.Errorf("%s: cgroups that cgroup.json named are left: %v", what, left)
	}
	named := map[string]bool{}
	for _, id := range ids {
		named[id] = true
	}
	if left := cgroupDirs(func(n string) bool { return named[n] }); len(left) > 0 {
		e.t.Errorf("%s: cgroups left: %v", what, left)
	}
	e.checkNetClean(what)
	if p := storeProcs(e.store); len(p) > 0 {
		e.t.Errorf("%s: processes of the store left: %+v", what, p)
	}
	if o := waitNoOrphans(5*time.Second, known); len(o) > 0 {
		e.t.Errorf("%s: processes left: %+v", what, o)
	}
}

// orphanPids are the processes re-parented to the tests now: the ones a
// check must not blame on what it checks.
func orphanPids() map[int]bool {
	known := map[int]bool{}
	for _, p := range liveOrphans() {
		known[p.pid] = true
	}
	return known
}

// crashMode is one way to start a container that a crash point applies to.
type crashMode struct {
	name    string
	applies func(point string) bool
	// run starts it with the point set and checks what the crash left,
	// before gc. It returns the runtime IDs it made.
	run func(t *testing.T, e *ctrEnv, point string) []string
}

func TestCrashPoints(t *testing.T) {
	e := newNetEnv(t)
	all := func(string) bool { return true }
	modes := []crashMode{
		{name: "run --rm", applies: all, run: crashForeground},
		{name: "run -d", applies: all, run: crashDetached},
		{name: "create", run: crashCreate, applies: func(p string) bool {
			// A bundle has no network of minirun's, and create does
			// not start.
			return p != crashpoint.Network && p != crashpoint.Start
		}},
	}
	for _, point := range crashpoint.Points {
		for _, mode := range modes {
			if !mode.applies(point) {
				continue
			}
			t.Run(point+"/"+mode.name, func(t *testing.T) {
				e := e.with(t)
				known := orphanPids()
				before := e.seen.list()
				ids := mode.run(t, e, point)
				cgDirs := cgroupsOf(rootFor(t))
				r := e.must("gc")
				t.Logf("gc: %s", strings.TrimSpace(r.stdout))
				// run -d undoes what its killed monitor made by itself.
				if mode.name != "run -d" && strings.TrimSpace(r.stdout) == "" {
					t.Errorf("gc after a crash at %s found nothing to remove: %v", point, r)
				}
				ids = append(ids, slices.DeleteFunc(e.seen.list(), func(id string) bool { return slices.Contains(before, id) })...)
				e.checkMachineClean("after gc", ids, cgDirs, known)
				checkNoContainers(t, e.store)
			})
		}
	}
}

// crashForeground: run --rm on the bridge, killed at point. The killed
// run is what would have cleaned up, so everything it made is gc's.
func crashForeground(t *testing.T, e *ctrEnv, point string) []string {
	r := e.crashRun(point, "run", "--rm", e.ref, "echo", "ran")
	if !r.killed() {
		t.Fatalf("%v\nwant it killed by SIGKILL at %s", r, point)
	}
	e.settle(10 * time.Second)
	// What each step made is there for gc to find; otherwise this test
	// would pass without gc doing anything.
	rows := e.ps(true)
	if len(rows) != 1 {
		t.Fatalf("ps -a after the crash: %+v, want the one container", rows)
	}
	row := rows[0]
	root := rootFor(t)
	switch point {
	case crashpoint.StateDir:
		if !slices.Contains(stateDirs(root), row.ID) {
			t.Errorf("no state directory of %s under --root: %v", row.ID, stateDirs(root))
		}
	case crashpoint.Cgroup, crashpoint.Mount:
		if len(existing(cgroupsOf(root))) == 0 {
			t.Errorf("cgroup.json names no cgroup that exists: %v", cgroupsOf(root))
		}
	case crashpoint.Network:
		if len(leaseFiles(e.store)) == 0 || len(minirunVeths(t)) == 0 {
			t.Errorf("after a crash at %s: leases %v, veths %v; want both", point, leaseFiles(e.store), minirunVeths(t))
		}
	}
	// ps -a tells the truth: the process ran only at start, and is gone.
	want := "created"
	if point == crashpoint.Start {
		want = "exited"
		if b := waitOutput(r, "ran"); !strings.Contains(b, "ran") {
			t.Errorf("the container printed %q, want ran: it did not run", b)
		}
	} else if b := waitOutput(r, ""); strings.Contains(b, "ran") {
		t.Errorf("the container ran (printed %q) though minirun was killed at %s", b, point)
	}
	if row.State != want {
		t.Errorf("ps -a after a crash at %s: %+v, want %s", point, row, want)
	}
	return nil
}

// waitOutput returns what the killed run's stdout file holds, waiting up
// to 2 s for want (nothing: returns at once).
func waitOutput(r crashResult, want string) string {
	var b []byte
	poll(2*time.Second, func() bool {
		b, _ = os.ReadFile(r.outPath)
		return want == "" || strings.Contains(string(b), want)
	})
	return string(b)
}

// crashDetached: run -d, whose monitor does the runtime's work and so is
// the process killed at point. The run itself lives on, says how its
// monitor ended, and undoes what it can; gc does the rest.
func crashDetached(t *testing.T, e *ctrEnv, point string) []string {
	r := e.crashRun(point, "run", "-d", e.ref, "echo", "ran")
	ws := r.ws
	if ws.Signaled() || ws.ExitStatus() != 125 || !strings.Contains(r.stderr, "monitor ended without a word: signal: killed") {
		t.Errorf("%v\nwant exit 125, and the monitor killed", r)
	}
	e.settle(10 * time.Second)
	if rows := e.ps(true); len(rows) != 0 {
		t.Errorf("ps -a after the failed run -d: %+v, want nothing", rows)
	}
	return nil
}

// crashCreate: create --bundle, killed at point, before it wrote the
// container's record: there is no container yet for state or list, only
// its state directory and cgroup, for gc.
func crashCreate(t *testing.T, e *ctrEnv, point string) []string {
	id := newID(t)
	b := newBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/bin/echo", "ran"} })
	r := e.crashRun(point, "create", "--bundle", b, id)
	if !r.killed() {
		t.Fatalf("%v\nwant it killed by SIGKILL at %s", r, point)
	}
	if !slices.Contains(stateDirs(rootFor(t)), id) {
		t.Errorf("no state directory of %s after a crash at %s: %v", id, point, stateDirs(rootFor(t)))
	}
	if point != crashpoint.StateDir && len(existing(cgroupsOf(rootFor(t)))) == 0 {
		t.Errorf("cgroup.json names no cgroup that exists after a crash at %s: %v", point, cgroupsOf(rootFor(t)))
	}
	if s := rt(t, "state", id); s.code == 0 || !strings.Contains(s.stderr, "does not exist") {
		t.Errorf("state of a create killed at %s: %v\nwant: does not exist", point, s)
	}
	if l := mustRT(t, "list", "-q"); strings.Contains(l.stdout, id) {
		t.Errorf("list shows a create killed at %s: %v", point, l)
	}
	return []string{id}
}

// TestCrashRandom kills minirun runs at random times, seeded (the seed is
// logged; MINIRUN_CRASH_SEED replays one), then runs gc once and checks
// the machine.
func TestCrashRandom(t *testing.T) {
	e := newNetEnv(t)
	known := orphanPids()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MINIRUN_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("MINIRUN_CRASH_SEED=%s: %v", s, err)
		}
	}
	t.Logf("seed %d (MINIRUN_CRASH_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	modes := [][]string{
		{"run", "--rm"},
		{"run", "--rm", "--network", "none"},
		{"run", "--network", "none"},
		{"run", "-d"},
		{"run", "-d", "--rm"},
		{"run", "-d", "--rm", "--network", "none"},
	}
	// How long each takes when nothing kills it.
	normal := make([]time.Duration, len(modes))
	for i, m := range modes {
		start := time.Now()
		e.must(append(slices.Clone(m), e.ref, "true")...)
		normal[i] = time.Since(start)
	}
	e.settle(10 * time.Second)
	e.must("gc")
	if ids := strings.Fields(e.must("ps", "-aq").stdout); len(ids) > 0 {
		e.must(append([]string{"rm", "-f"}, ids...)...)
	}
	t.Logf("normal durations: %v", normal)

	const runs = 100
	start := time.Now()
	killed, killedMonitors := 0, 0
	for range runs {
		m := rng.IntN(len(modes))
		delay := time.Duration(rng.Int64N(int64(normal[m]) * 12 / 10))
		detached := slices.Contains(modes[m], "-d")
		alsoMonitor := detached && rng.IntN(2) == 0
		args := append([]string{"--root", rootFor(t), "--store", e.store}, modes[m]...)
		args = append(args, e.ref, "true")
		monitorsBefore := monitorsOf(e.store)
		cmd := exec.Command(runtimePath, args...)
		out, _ := outFile(t, "random-run")
		cmd.Stdout, cmd.Stderr = out, out
		if err := startCmd(cmd); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		// The run is our child and not yet waited for: its pid cannot
		// have been reused.
		cmd.Process.Signal(syscall.SIGKILL)
		waitCmd(cmd)
		out.Close()
		if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() {
			killed++
		}
		if alsoMonitor {
			killedMonitors += killNewMonitors(e.store, monitorsBefore)
		}
	}
	t.Logf("%d runs in %v: %d killed, %d done before their kill; %d monitors killed too", runs, time.Since(start).Round(time.Millisecond), killed, runs-killed, killedMonitors)
	if killed < runs/2 {
		t.Errorf("only %d of %d runs were killed: the delays are too long to test anything", killed, runs)
	}

	e.settle(20 * time.Second)
	for _, row := range e.ps(true) {
		if row.State != "created" && row.State != "exited" {
			t.Errorf("ps -a after the crashes, with nothing running: %+v", row)
		}
	}
	cgDirs := cgroupsOf(rootFor(t))
	gcStart := time.Now()
	r := e.must("gc")
	t.Logf("gc in %v: %d lines", time.Since(gcStart).Round(time.Millisecond), strings.Count(r.stdout, "\n"))
	e.checkMachineClean("after 100 random kills and gc", e.seen.list(), cgDirs, known)
	// What is left is records, of containers that did not ask for --rm.
	if ids := strings.Fields(e.must("ps", "-aq").stdout); len(ids) > 0 {
		e.must(append([]string{"rm", "-f"}, ids...)...)
	}
	checkNoContainers(t, e.store)
}

// monitorsOf lists the monitors of the store that are children of the
// tests: re-parented to them, since the run that started each died.
func monitorsOf(store string) map[int]bool {
	out := map[int]bool{}
	for _, p := range children() {
		if p.state == "Z" {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.pid))
		if err == nil && strings.Contains(string(b), "container-monitor") && strings.Contains(string(b), store) {
			out[p.pid] = true
		}
	}
	return out
}

// killNewMonitors kills the monitors the run just killed had started:
// those of the store re-parented to the tests since before. It looks
// twice, as one may still be between fork and exec. Each is signalled
// through a pidfd opened before its identity is checked, so a pid reused
// meanwhile is never hit.
func killNewMonitors(store string, before map[int]bool) int {
	n := 0
	for range 2 {
		for pid := range monitorsOf(store) {
			if before[pid] {
				continue
			}
			pfd, err := unix.PidfdOpen(pid, 0)
			if err != nil {
				continue
			}
			if monitorsOf(store)[pid] && unix.PidfdSendSignal(pfd, unix.SIGKILL, nil, 0) == nil {
				n++
				before[pid] = true
			}
			unix.Close(pfd)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return n
}

// TestGCConcurrent runs gc in a loop while 20 containers run, foreground
// and detached, on the bridge: every run must succeed as if gc were not
// there, each container must keep its veth (eth0) for its whole life, and
// gc must find nothing to remove.
func TestGCConcurrent(t *testing.T) {
	e := newNetEnv(t)
	known := orphanPids()
	out := t.TempDir() // each container leaves its word here, at its end
	const n = 20
	stop := make(chan struct{})
	var gcs []result
	var gcDone sync.WaitGroup
	gcDone.Add(1)
	go func() {
		defer gcDone.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			gcs = append(gcs, e.rt("gc"))
		}
	}()
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			word := fmt.Sprintf("hello-%d", i)
			// eth0 must be there all along: a gc that took the veth of a
			// live container would end it with 3.
			script := fmt.Sprintf(`for i in 1 2 3 4 5 6; do grep -q eth0: /proc/net/dev || exit 3; sleep 0.05; done; echo %s; echo %s >/out/%s`, word, word, word)
			args := []string{"run", "-v", out + ":/out"}
			switch i % 3 {
			case 0:
				args = append(args, "--rm")
			case 1:
				args = append(args, "-d", "--name", word)
			case 2:
				args = append(args, "-d", "--rm")
			}
			results[i] = e.rt(append(args, e.ref, "sh", "-c", script)...)
		}()
	}
	wg.Wait()
	// The detached ones end under gc's eyes too.
	e.settle(20 * time.Second)
	close(stop)
	gcDone.Wait()
	for i, r := range results {
		word := fmt.Sprintf("hello-%d", i)
		switch {
		case r.code != 0:
			t.Errorf("run %d with gc in a loop beside it: %v", i, r)
			continue
		case i%3 == 0 && strings.TrimSpace(r.stdout) != word:
			t.Errorf("run %d printed %q, want %q", i, r.stdout, word)
		case i%3 != 0 && !hexID.MatchString(strings.TrimSpace(r.stdout)):
			t.Errorf("run -d %d printed %q, want an ID", i, r.stdout)
		case i%3 == 1:
			row, ok := e.psOf(word)
			if !ok || row.State != "exited" || row.Exit != 0 {
				t.Errorf("run -d %s: ps -a %+v (found %v), want exited 0", word, row, ok)
			}
			if got := strings.TrimSpace(e.logs(word)); got != word {
				t.Errorf("logs %s: %q, want %q", word, got, word)
			}
		}
		if b, err := os.ReadFile(filepath.Join(out, word)); err != nil || strings.TrimSpace(string(b)) != word {
			t.Errorf("container %d did not finish with its network: %q, %v", i, b, err)
		}
	}
	for _, g := range gcs {
		if g.code != 0 || strings.TrimSpace(g.stdout) != "" {
			t.Errorf("gc beside healthy runs: %v\nwant exit 0 and nothing removed", g)
		}
		// Release leaves a veth to the kernel, which deletes it with the
		// container's namespace, a moment after the container ended and
		// its lease went: gc may be first. Anything else it says is news.
		for _, line := range strings.Split(strings.TrimSpace(g.stderr), "\n") {
			if line != "" && !strings.Contains(line, `msg="deleted stray veth"`) {
				t.Errorf("gc beside healthy runs said: %s", line)
			}
		}
	}
	t.Logf("%d gcs ran beside %d runs", len(gcs), n)
	if len(gcs) < 2 {
		t.Errorf("only %d gcs ran beside the runs", len(gcs))
	}
	if ids := strings.Fields(e.must("ps", "-aq").stdout); len(ids) > 0 {
		e.must(append([]string{"rm"}, ids...)...)
	}
	e.checkMachineClean("after the runs beside gc", e.seen.list(), nil, known)
	checkNoContainers(t, e.store)
}

// TestGCCreated: gc leaves a created container alone (its init waits for
// start, and nothing of minirun holds it), and start still works after.
func TestGCCreated(t *testing.T) {
	requireMinirun(t)
	b := newBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/bin/echo", "started"} })
	c := create(t, b)
	store := t.TempDir()
	for range 3 {
		if r := rt(t, "--store", store, "gc"); r.code != 0 || strings.TrimSpace(r.stdout) != "" {
			t.Fatalf("gc with a created container: %v\nwant nothing done", r)
		}
	}
	if s := state(t, c.id); s.Status != "created" || !alive(s.Pid) {
		t.Fatalf("after gc: %+v, want created with its init alive", s)
	}
	mustRT(t, "start", c.id)
	var out []byte
	poll(5*time.Second, func() bool {
		out, _ = os.ReadFile(c.stdout)
		return strings.Contains(string(out), "started")
	})
	if strings.TrimSpace(string(out)) != "started" {
		t.Errorf("the started container printed %q, want started", out)
	}
	waitStatus(t, c.id, "stopped")
	mustRT(t, "delete", c.id)
}
