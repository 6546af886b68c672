package test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestLifecycle walks one container through create, start, kill and delete
// the way the OCI validation suite and podman do.
func TestLifecycle(t *testing.T) {
	b := newBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "-sleep", "60s"} })
	pidFile := filepath.Join(testDir(t), "init.pid")
	c := create(t, b, "--pid-file", pidFile)

	st := state(t, c.id)
	if st.OCIVersion == "" || st.ID != c.id || st.Status != "created" || st.Bundle != b {
		t.Errorf("state after create = %+v, want ociVersion set, id %s, status created, bundle %s", st, c.id, b)
	}
	if st.Pid <= 0 || !alive(st.Pid) {
		t.Fatalf("state pid %d is not a live host process", st.Pid)
	}
	// conmon is a subreaper and collects init's exit status: init must be
	// in the caller's process tree once create has returned.
	if p, _ := readProc(st.Pid); p.ppid != os.Getpid() {
		t.Errorf("init %d has parent %d, want the caller %d (a subreaper)", st.Pid, p.ppid, os.Getpid())
	}
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	if pid, err := strconv.Atoi(string(raw)); err != nil || pid != st.Pid {
		t.Errorf("pid file holds %q (want the bare number %d, no newline)", raw, st.Pid)
	}
	if out, _ := os.ReadFile(c.stdout); len(out) != 0 {
		t.Errorf("process.args ran before start: stdout %q", out)
	}

	mustRT(t, "start", c.id)
	if st := state(t, c.id); st.Status != "running" {
		t.Errorf("status after start = %q, want running", st.Status)
	}
	if p := waitReport(t, c); p.Pid != 1 {
		t.Errorf("process pid inside = %d, want 1", p.Pid)
	}
	if r := rt(t, "start", c.id); r.code == 0 {
		t.Errorf("second start succeeded: %v", r)
	}

	mustRT(t, "kill", c.id, "KILL")
	waitStatus(t, c.id, "stopped")
	if st := state(t, c.id); st.Status != "stopped" {
		t.Errorf("stopped container reads as %q later", st.Status)
	}
	waitDead(t, st.Pid)
	if isMinirun {
		// The exit status is kept even though init was not minirun's
		// child: this suite is a subreaper and collects it at once.
		if exit, ok := waitExit(t, c.id); ok && (exit.Code != 137 || exit.Signal != "SIGKILL") {
			t.Errorf("recorded exit = %+v, want code 137, signal SIGKILL", exit)
		}
	}
	if r := rt(t, "kill", c.id, "KILL"); r.code == 0 || !strings.Contains(r.stderr, "container not running") {
		t.Errorf("kill of a stopped container: want failure with %q, got %v", "container not running", r)
	}
	if r := rt(t, "start", c.id); r.code == 0 {
		t.Errorf("start of a stopped container succeeded: %v", r)
	}

	mustRT(t, "delete", c.id)
	if r := rt(t, "state", c.id); r.code == 0 || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("state after delete: want failure with %q, got %v", "does not exist", r)
	}
	if left := stateDirs(rootFor(t)); len(left) > 0 {
		t.Errorf("delete left %v under --root", left)
	}
}

func waitDead(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); alive(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive 5s after the container stopped", pid)
		}
	}
}

// TestKillSignalForms: kill takes a name with or without SIG, or a number.
func TestKillSignalForms(t *testing.T) {
	for _, sig := range []string{"SIGTERM", "TERM", "15"} {
		t.Run(sig, func(t *testing.T) {
			c, _ := startProbe(t, nil)
			mustRT(t, "kill", c.id, sig)
			// The Go probe dies of SIGTERM even as pid 1: it has a handler.
			waitStatus(t, c.id, "stopped")
			mustRT(t, "delete", c.id)
		})
	}
}

// TestRunExitCodes: run returns the container's exit code, 128+N for a
// signal, and removes the container.
func TestRunExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		kill bool // kill the container from outside with SIGKILL
		want int
	}{
		{"exit 0", []string{"/probe", "-exit", "0"}, false, 0},
		{"exit 3", []string{"/probe", "-exit", "3"}, false, 3},
		{"exit 255", []string{"/bin/sh", "-c", "exit 255"}, false, 255},
		// sh -c 'kill -9 $$' would not do: pid 1 of a pid namespace ignores
		// signals it has no handler for, SIGKILL included, from inside.
		{"SIGKILL", []string{"/probe", "-sleep", "60s"}, true, 137},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBundle(t, func(s *specs.Spec) { s.Process.Args = tc.args })
			id := newID(t)
			done := make(chan result, 1)
			go func() { done <- rt(t, "run", "--bundle", b, id) }()
			if tc.kill {
				waitRunning(t, id, done)
				mustRT(t, "kill", id, "KILL")
			}
			var r result
			select {
			case r = <-done:
			case <-time.After(rtTimeout + 10*time.Second):
				t.Fatalf("run did not return")
			}
			if r.code != tc.want {
				t.Errorf("run exit code %d, want %d\n%v", r.code, tc.want, r)
			}
			if r := rt(t, "state", id); r.code == 0 || !strings.Contains(r.stderr, "does not exist") {
				t.Errorf("after run, state: want failure with %q (run deletes the container), got %v", "does not exist", r)
			}
			if left := stateDirs(rootFor(t)); len(left) > 0 {
				t.Errorf("run left %v under --root", left)
			}
		})
	}
}

// waitRunning polls state while a run in the background starts up.
func waitRunning(t *testing.T, id string, done chan result) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case r := <-done:
			t.Fatalf("run returned before it could be killed: %v", r)
		default:
		}
		r := rt(t, "state", id)
		var st ociState
		if r.code == 0 && json.Unmarshal([]byte(r.stdout), &st) == nil && st.Status == "running" {
			recordPid(st.Pid)
			return
		}
	}
	t.Fatalf("container %s never reached running", id)
}

// TestListAndPs: list shows a created container, ps lists its init.
func TestListAndPs(t *testing.T) {
	b := newBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "-sleep", "60s"} })
	c := create(t, b)
	st := state(t, c.id)

	r := mustRT(t, "list")
	var found bool
	for _, line := range strings.Split(r.stdout, "\n") {
		f := strings.Fields(line)
		found = found || len(f) >= 3 && f[0] == c.id && f[1] == strconv.Itoa(st.Pid) && f[2] == "created"
	}
	if !found {
		t.Errorf("list: no line \"%s %d created ...\":\n%s", c.id, st.Pid, r.stdout)
	}

	r = mustRT(t, "list", "--format", "json")
	var list []ociState
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("list --format json: %v\n%v", err, r)
	}
	found = false
	for _, s := range list {
		found = found || s.ID == c.id && s.Status == "created" && s.Pid == st.Pid && s.Bundle == b
	}
	if !found {
		t.Errorf("list --format json lacks %s (created, pid %d, bundle %s): %s", c.id, st.Pid, b, r.stdout)
	}

	mustRT(t, "start", c.id)
	r = mustRT(t, "ps", "--format", "json", c.id)
	var pids []int
	if err := json.Unmarshal([]byte(r.stdout), &pids); err != nil {
		t.Fatalf("ps --format json: %v\n%v", err, r)
	}
	found = false
	for _, pid := range pids {
		found = found || pid == st.Pid
	}
	if !found {
		t.Errorf("ps --format json = %v, want the init pid %d in it", pids, st.Pid)
	}
}

func TestFeatures(t *testing.T) {
	r := mustRT(t, "features")
	var f struct {
		OCIVersionMin string `json:"ociVersionMin"`
		OCIVersionMax string `json:"ociVersionMax"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &f); err != nil || f.OCIVersionMin == "" || f.OCIVersionMax == "" {
		t.Errorf("features: want JSON with ociVersionMin and ociVersionMax (%v)\n%v", err, r)
	}
}

// TestSpecVerb: spec writes config.json into --bundle and will not overwrite.
func TestSpecVerb(t *testing.T) {
	dir := t.TempDir()
	mustRT(t, "spec", "--bundle", dir)
	path := filepath.Join(dir, "config.json")
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("spec wrote no config.json: %v", err)
	}
	var s specs.Spec
	if err := json.Unmarshal(first, &s); err != nil || s.Version == "" || s.Process == nil || s.Root == nil {
		t.Fatalf("config.json is no usable spec (%v):\n%s", err, first)
	}
	if err := os.WriteFile(path, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := rt(t, "spec", "--bundle", dir)
	if r.code == 0 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("spec over an existing config.json: want failure naming that it exists, got %v", r)
	}
	oneLine(t, r)
	if b, _ := os.ReadFile(path); string(b) != "{}" {
		t.Errorf("spec overwrote config.json")
	}
}

// TestRlimitSoftBelowHard checks a soft limit under the hard one with
// busybox: the Go probe cannot see it (the Go runtime raises its own soft
// NOFILE limit at start-up).
func TestRlimitSoftBelowHard(t *testing.T) {
	b := newBundle(t, func(s *specs.Spec) {
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 256, Hard: 512}}
		s.Process.Args = []string{"/bin/cat", "/proc/self/limits"}
	})
	r := rt(t, "run", "--bundle", b, newID(t))
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, "Max open files") {
			if f := strings.Fields(line); len(f) < 5 || f[3] != "256" || f[4] != "512" {
				t.Errorf("limits: %q, want soft 256 hard 512", line)
			}
			return
		}
	}
	t.Errorf("no Max open files line in:\n%s", r.stdout)
}

// waitExit polls state until it records how init ended, and reports
// false where it cannot be required: init was collected by this suite, a
// subreaper that reaps at once, and only Linux 6.15 and later keep the
// status for a pidfd holder (PIDFD_INFO_EXIT); before, minirun's monitor
// sees it only if it reads the zombie first.
func waitExit(t *testing.T, id string) (exitState, bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if st := state(t, id); st.Exit != nil {
			return *st.Exit, true
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !kernelAtLeast(6, 15) {
		t.Logf("container %s: no exit status recorded (kernel before 6.15 has no PIDFD_INFO_EXIT)", id)
		return exitState{}, false
	}
	t.Fatalf("container %s: no exit status recorded after 10s", id)
	panic("unreachable")
}

func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var ma, mi int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi)
	return ma > major || ma == major && mi >= minor
}

// TestRunForwardsSignals: a signal sent to a foreground `run` reaches the
// container's process (here a shell that exits 7 on SIGTERM, and 8 on
// SIGUSR1), and run exits with the process's status.
func TestRunForwardsSignals(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		want int
	}{{syscall.SIGTERM, 7}, {syscall.SIGUSR1, 8}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			b := newBundle(t, func(s *specs.Spec) {
				s.Process.Args = []string{"sh", "-c", "trap 'exit 7' TERM; trap 'exit 8' USR1; echo ready; while :; do sleep 0.05; done"}
			})
			id := newID(t)
			out, outPath := outFile(t, "stdout")
			defer out.Close()
			cmd := exec.Command(runtimePath, "--root", rootFor(t), "run", "--bundle", b, id)
			cmd.Stdout, cmd.Stderr = out, out
			if err := startCmd(cmd); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				if data, _ := os.ReadFile(outPath); strings.Contains(string(data), "ready") {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					waitCmd(cmd)
					t.Fatal("container never said ready")
				}
				time.Sleep(20 * time.Millisecond)
			}
			cmd.Process.Signal(tc.sig)
			done := make(chan error, 1)
			go func() { done <- waitCmd(cmd) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("run did not end after %v", tc.sig)
			}
			if code := cmd.ProcessState.ExitCode(); code != tc.want {
				data, _ := os.ReadFile(outPath)
				t.Errorf("run exit code after %v = %d, want %d\n%s", tc.sig, code, tc.want, data)
			}
		})
	}
}
