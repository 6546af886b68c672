package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/testenv"
)

// These tests look at a container's cgroup from the host, through
// /proc/PID/cgroup: on cgroup v2 (the test VM) one directory, on this
// project's hybrid development hosts one per v1 controller.

type cgroupView struct {
	v2   bool
	dirs map[string]string // controller ("" on v2) → host directory
}

func cgroupV2() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// requireControllers skips where the host cannot hold the limits: a v1
// controller not mounted, or (on v2) not available at the root. On v2 a
// missing controller fails under MINIRUN_REQUIRE_ROOT=1.
func requireControllers(t *testing.T, names ...string) {
	t.Helper()
	if cgroupV2() {
		data, _ := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
		for _, n := range names {
			if n == "freezer" {
				continue // cgroup.freeze is part of the v2 core
			}
			if !strings.Contains(" "+string(data)+" ", " "+n+" ") && !strings.Contains(" "+strings.TrimSpace(string(data))+" ", " "+n+" ") {
				testenv.SkipOrFail(t, "cgroup v2 controller "+n+" is not available")
			}
		}
		return
	}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", v1Mount(n))); err != nil {
			t.Skipf("cgroup v1 controller %s is not mounted", n)
		}
	}
}

func v1Mount(controller string) string {
	if controller == "cpu" {
		if _, err := os.Stat("/sys/fs/cgroup/cpu"); err != nil {
			return "cpu,cpuacct"
		}
	}
	return controller
}

func cgroupOfPid(t *testing.T, pid int) cgroupView {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	v := cgroupView{v2: cgroupV2(), dirs: map[string]string{}}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(line, ":", 3) // hierarchy-ID:controllers:path, cgroups(7)
		if len(f) != 3 {
			continue
		}
		if v.v2 {
			if f[0] == "0" {
				v.dirs[""] = filepath.Join("/sys/fs/cgroup", f[2])
			}
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c != "" {
				v.dirs[c] = filepath.Join("/sys/fs/cgroup", v1Mount(c), f[2])
			}
		}
	}
	return v
}

// read returns a cgroup file: file on v2, or v1file of controller v1.
func (v cgroupView) read(t *testing.T, file, v1, v1file string) string {
	t.Helper()
	path := filepath.Join(v.dirs[""], file)
	if !v.v2 {
		path = filepath.Join(v.dirs[v1], v1file)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read cgroup file: %v", err)
	}
	return strings.TrimSpace(string(data))
}

// statField reads "key value" lines (cpu.stat, memory.events).
func statField(t *testing.T, text, key string) uint64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in:\n%s", key, text)
	return 0
}

func i64(n int64) *int64   { return &n }
func u64(n uint64) *uint64 { return &n }
func withResources(r specs.LinuxResources) func(*specs.Spec) {
	return func(s *specs.Spec) {
		old := s.Linux.Resources
		if old != nil {
			r.Devices = old.Devices
		}
		s.Linux.Resources = &r
	}
}

// TestCgroupLimits: the limits in linux.resources are in the container's
// cgroup files, read back from the host.
func TestCgroupLimits(t *testing.T) {
	requireControllers(t, "memory", "pids", "cpu")
	b := newBundle(t, func(s *specs.Spec) {
		withResources(specs.LinuxResources{
			Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Reservation: i64(16 << 20)},
			Pids:   &specs.LinuxPids{Limit: i64(50)},
			CPU:    &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000)},
		})(s)
		s.Process.Args = []string{"/probe", "-sleep", "60s"}
	})
	c := create(t, b)
	v := cgroupOfPid(t, state(t, c.id).Pid)
	for _, tc := range []struct{ file, v1, v1file, want string }{
		{"memory.max", "memory", "memory.limit_in_bytes", strconv.Itoa(64 << 20)},
		{"memory.low", "memory", "memory.soft_limit_in_bytes", strconv.Itoa(16 << 20)},
		{"pids.max", "pids", "pids.max", "50"},
		{"cpu.max", "cpu", "cpu.cfs_quota_us", map[bool]string{true: "50000 100000", false: "50000"}[v.v2]},
		// cpu.weight = 1 + (shares-2)*9999/262142, as runc and crun convert.
		{"cpu.weight", "cpu", "cpu.shares", map[bool]string{true: "20", false: "512"}[v.v2]},
	} {
		if got := v.read(t, tc.file, tc.v1, tc.v1file); got != tc.want {
			t.Errorf("%s = %q, want %q", map[bool]string{true: tc.file, false: tc.v1file}[v.v2], got, tc.want)
		}
	}
}

// TestCgroupOOM: a container over its memory limit is killed by the OOM
// killer; run exits 137 and says so.
func TestCgroupOOM(t *testing.T) {
	requireControllers(t, "memory")
	b := newBundle(t, func(s *specs.Spec) {
		withResources(specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(32 << 20), Swap: i64(32 << 20)}})(s)
		s.Process.Args = []string{"/probe", "-alloc", "100"}
	})
	r := rt(t, "run", "--bundle", b, newID(t))
	if r.code != 137 {
		t.Fatalf("run over the memory limit: want exit 137, got %v", r)
	}
	if isMinirun && !strings.Contains(r.stderr, "OOM killer") {
		t.Errorf("run did not say the OOM killer ended it: %v", r)
	}
	if !isMinirun {
		return
	}
	// Detached, the count stays readable until delete.
	c := create(t, b)
	mustRT(t, "start", c.id)
	waitStatus(t, c.id, "stopped")
	if exit, ok := waitExit(t, c.id); ok && exit.Code != 137 {
		t.Errorf("exit = %+v, want 137", exit)
	}
	var st struct {
		OOMKills uint64 `json:"oomKills"`
	}
	json.Unmarshal([]byte(mustRT(t, "state", c.id).stdout), &st)
	if st.OOMKills != 1 {
		t.Errorf("state oomKills = %d, want 1", st.OOMKills)
	}
}

// TestCgroupPidsKillDelete: a fork bomb stops at pids.max; kill --all ends
// everything; delete removes the cgroup.
func TestCgroupPidsKillDelete(t *testing.T) {
	requireControllers(t, "pids")
	b := newBundle(t, func(s *specs.Spec) {
		withResources(specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(20)}})(s)
		// A shell gives up when fork fails: the bomb runs in a subshell,
		// and its parent carries on once it has.
		s.Process.Args = []string{"sh", "-c", "(i=0; while [ $i -lt 100 ]; do sleep 60 & i=$((i+1)); done) 2>/dev/null; echo forked; exec sleep 60"}
	})
	c := create(t, b)
	mustRT(t, "start", c.id)
	pid := state(t, c.id).Pid
	v := cgroupOfPid(t, pid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if out, _ := os.ReadFile(c.stdout); strings.Contains(string(out), "forked") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the fork loop never finished")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n, _ := strconv.Atoi(v.read(t, "pids.current", "pids", "pids.current")); n > 20 || n < 10 {
		t.Errorf("pids.current = %d, want at most pids.max 20 (and many)", n)
	}
	mustRT(t, "kill", "--all", c.id, "KILL")
	waitStatus(t, c.id, "stopped")
	dir := v.dirs[map[bool]string{true: "", false: "pids"}[v.v2]]
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs")); len(strings.TrimSpace(string(procs))) == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatal("processes left in the cgroup after kill --all")
		}
	}
	mustRT(t, "delete", c.id)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cgroup %s still there after delete (%v)", dir, err)
	}
}

// TestCgroupCPUQuota: with cpu.max at 20% of one CPU, a busy loop gets
// about 0.2 s of CPU per second (measured over 2 s of it, so that the
// container's start does not count), and the cgroup is throttled.
func TestCgroupCPUQuota(t *testing.T) {
	requireControllers(t, "cpu")
	b := newBundle(t, func(s *specs.Spec) {
		withResources(specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(20000), Period: u64(100000)}})(s)
		s.Process.Args = []string{"/probe", "-spin", "60s"}
	})
	c := create(t, b)
	mustRT(t, "start", c.id)
	v := cgroupOfPid(t, state(t, c.id).Pid)
	usage := func() time.Duration { // CPU time of the cgroup so far
		if v.v2 {
			return time.Duration(statField(t, v.read(t, "cpu.stat", "", ""), "usage_usec")) * time.Microsecond
		}
		dir := v.dirs["cpuacct"]
		if dir == "" {
			dir = v.dirs["cpu"]
		}
		data, err := os.ReadFile(filepath.Join(dir, "cpuacct.usage"))
		if err != nil {
			t.Fatal(err)
		}
		ns, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		return time.Duration(ns)
	}
	time.Sleep(300 * time.Millisecond) // past the start, into the loop
	u0, t0 := usage(), time.Now()
	time.Sleep(2 * time.Second)
	u1, t1 := usage(), time.Now()
	share := float64(u1-u0) / float64(t1.Sub(t0))
	if share < 0.15 || share > 0.25 {
		t.Errorf("busy loop at 20%% of a CPU got %.1f%% of one over %v (%v of CPU), want 20%% ± 25%%", share*100, t1.Sub(t0).Round(time.Millisecond), u1-u0)
	}
	if n := statField(t, v.read(t, "cpu.stat", "cpu", "cpu.stat"), "nr_throttled"); n == 0 {
		t.Error("nr_throttled = 0: the cgroup was never throttled")
	}
}

// TestCgroupUpdate: update changes a running container's limits.
func TestCgroupUpdate(t *testing.T) {
	requireControllers(t, "memory", "pids")
	b := newBundle(t, func(s *specs.Spec) {
		withResources(specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20)}, Pids: &specs.LinuxPids{Limit: i64(50)}})(s)
		s.Process.Args = []string{"/probe", "-sleep", "60s"}
	})
	c := create(t, b)
	mustRT(t, "start", c.id)
	v := cgroupOfPid(t, state(t, c.id).Pid)
	mustRT(t, "update", "--memory", "128m", c.id)
	if got := v.read(t, "memory.max", "memory", "memory.limit_in_bytes"); got != strconv.Itoa(128<<20) {
		t.Errorf("memory limit after update --memory 128m = %s", got)
	}
	res := filepath.Join(testDir(t), "resources.json")
	if err := os.WriteFile(res, []byte(`{"pids": {"limit": 30}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRT(t, "update", "--resources="+res, c.id)
	if got := v.read(t, "pids.max", "pids", "pids.max"); got != "30" {
		t.Errorf("pids.max after update --resources = %s, want 30", got)
	}
}

// TestCgroupPauseResume: pause freezes the container (a counter it writes
// stops advancing), resume lets it go on.
func TestCgroupPauseResume(t *testing.T) {
	requireControllers(t, "freezer")
	b := newBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /dev/shm/count; done"}
	})
	c := create(t, b)
	mustRT(t, "start", c.id)
	counter := fmt.Sprintf("/proc/%d/root/dev/shm/count", state(t, c.id).Pid)
	read := func() int {
		// The shell truncates, then writes: retry an empty read.
		for i := 0; i < 100; i++ {
			data, _ := os.ReadFile(counter)
			if n, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
				return n
			}
			time.Sleep(time.Millisecond)
		}
		return -1
	}
	advancing := func() bool {
		a := read()
		time.Sleep(200 * time.Millisecond)
		return read() > a
	}
	if !advancing() {
		t.Fatal("the counter does not advance before pause")
	}
	mustRT(t, "pause", c.id)
	if st := state(t, c.id); st.Status != "paused" {
		t.Errorf("status after pause = %q, want paused", st.Status)
	}
	if advancing() {
		t.Error("the counter advances while paused")
	}
	mustRT(t, "resume", c.id)
	if st := state(t, c.id); st.Status != "running" {
		t.Errorf("status after resume = %q, want running", st.Status)
	}
	if !advancing() {
		t.Error("the counter does not advance after resume")
	}
}

// TestEventsStats: events --stats prints the cgroup's usage as JSON.
func TestEventsStats(t *testing.T) {
	if !isMinirun {
		t.Skip("the stats JSON is minirun's own shape")
	}
	requireControllers(t, "memory", "pids")
	b := newBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "-sleep", "60s"} })
	c := create(t, b)
	mustRT(t, "start", c.id)
	var ev struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Data struct {
			Memory struct {
				Current uint64 `json:"current"`
			} `json:"memory"`
			Pids struct {
				Current uint64 `json:"current"`
			} `json:"pids"`
		} `json:"data"`
	}
	r := mustRT(t, "events", "--stats", c.id)
	if err := json.Unmarshal([]byte(r.stdout), &ev); err != nil {
		t.Fatalf("events --stats: %v\n%s", err, r.stdout)
	}
	if ev.Type != "stats" || ev.ID != c.id || ev.Data.Memory.Current == 0 || ev.Data.Pids.Current == 0 {
		t.Errorf("events --stats = %+v", ev)
	}
}
