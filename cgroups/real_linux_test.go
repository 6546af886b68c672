package cgroups

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minirun/minirun/internal/testenv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Tests against the real kernel, as root, on whatever mode the host has
// (see root_linux_test.go). Each reads the kernel's own answer: the files
// read back, a process's CPU time, its exit signal, the OOM counters.

func TestRootLimits(t *testing.T) {
	m := newRootManager(t, limits())
	for _, f := range []struct{ v2, v1, want string }{
		{"memory.max", "memory/memory.limit_in_bytes", "33554432"},
		{"pids.max", "pids/pids.max", "10"},
		{"cpu.max", "cpu/cpu.cfs_quota_us", map[bool]string{true: "20000 100000", false: "20000"}[m.Dir() != ""]},
		{"cpu.weight", "cpu/cpu.shares", map[bool]string{true: "39", false: "1024"}[m.Dir() != ""]},
	} {
		if got := file(t, m, f.v2, f.v1); got != f.want {
			t.Errorf("%s = %q, want %q", f.v2, got, f.want)
		}
	}

	cmd := start(t, m, "exec sleep 60")
	pids, err := m.Pids()
	if err != nil || !slices.Contains(pids, cmd.Process.Pid) {
		t.Fatalf("Pids() = %v, %v; want it to hold %d", pids, err, cmd.Process.Pid)
	}
	// The process sees itself in the container's cgroup.
	self, err := os.ReadFile("/proc/" + itoa(int64(cmd.Process.Pid)) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	want := ":/" + filepath.Base(m.dirs()[0]) + "\n"
	if m.Dir() == "" {
		want = "/" + filepath.Base(m.dirs()[0]) + "\n" // relative on v1
	}
	if !strings.Contains(string(self), want) {
		t.Errorf("/proc/PID/cgroup:\n%s\nwant a line ending in %q", self, want)
	}

	// update --memory on a running container.
	if err := m.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20)}}); err != nil {
		t.Fatal(err)
	}
	if got := file(t, m, "memory.max", "memory/memory.limit_in_bytes"); got != "67108864" {
		t.Errorf("memory limit after Update = %s", got)
	}
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	// (memory.current may still be 0: on v1 a process's pages stay
	// charged to the cgroup it had when it allocated them.)
	if s.Pids.Current != 1 || s.Pids.Max != 10 || s.Memory.Max != 64<<20 {
		t.Errorf("Stats() = %+v", *s)
	}
}

// TestRootCPUQuota: 20% of one CPU for a busy loop of 1 s should give
// about 0.2 s of CPU time, and throttling.
func TestRootCPUQuota(t *testing.T) {
	m := newRootManager(t, &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr[int64](20000), Period: ptr[uint64](100000)}})
	cmd := start(t, m, "while :; do :; done")
	time.Sleep(time.Second)
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	used := time.Duration(s.CPU.UsageUsec) * time.Microsecond
	t.Logf("CPU time in 1 s at 20%%: %v; periods %d, throttled %d (%v)",
		used, s.CPU.NrPeriods, s.CPU.NrThrottled, time.Duration(s.CPU.ThrottledUsec)*time.Microsecond)
	if used < 100*time.Millisecond || used > 300*time.Millisecond || s.CPU.NrThrottled == 0 {
		t.Errorf("CPU time %v (want 0.2 s ± 50%%), throttled %d times (want > 0)", used, s.CPU.NrThrottled)
	}
}

// TestRootPidsLimit: a shell that starts 20 sleepers hits pids.max. (dash
// gives up at its first failed fork, so the shell itself may be gone.)
func TestRootPidsLimit(t *testing.T) {
	m := newRootManager(t, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](10)}})
	start(t, m, "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do sleep 60 & done; wait")
	waitFor(t, "pids.events to count a refused fork", func() bool {
		return parseKV(file(t, m, "pids.events", "pids/pids.events"))["max"] > 0
	})
	p, err := m.Pids()
	t.Logf("%d processes after the limit refused a fork", len(p))
	if err != nil || len(p) > 10 || len(p) < 9 {
		t.Errorf("Pids() = %v, %v; want 9 or 10 processes", p, err)
	}
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	// The killed sleepers leave cgroup.procs once init reaps them; the
	// shell, if still there, once cleanup waits for it.
	waitFor(t, "the cgroup to empty", func() bool {
		p, _ := m.Pids()
		return len(p) <= 1
	})
}

// TestRootFreeze: a busy loop stops using CPU while frozen, and goes on
// after Thaw.
func TestRootFreeze(t *testing.T) {
	m := newRootManager(t, nil)
	cmd := start(t, m, "while :; do :; done")
	pid := cmd.Process.Pid
	time.Sleep(200 * time.Millisecond)
	running := func() uint64 {
		a, _ := cpuTicks(t, pid)
		time.Sleep(300 * time.Millisecond)
		b, _ := cpuTicks(t, pid)
		return b - a
	}
	if d := running(); d == 0 {
		t.Fatal("busy loop used no CPU before Freeze")
	}
	began := time.Now()
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Freeze took %v", time.Since(began))
	if frozen, err := m.Frozen(); !frozen || err != nil {
		t.Fatalf("Frozen() = %v, %v", frozen, err)
	}
	if d := running(); d != 0 {
		t.Errorf("frozen busy loop used %d ticks in 300 ms", d)
	}
	_, state := cpuTicks(t, pid)
	t.Logf("frozen process state: %c", state)
	began = time.Now()
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Thaw took %v", time.Since(began))
	if d := running(); d == 0 {
		t.Error("busy loop used no CPU after Thaw")
	}
}

// TestRootKill: Kill ends every process, and Destroy then removes the
// cgroup even before the killed shell is reaped.
func TestRootKill(t *testing.T) {
	m := newRootManager(t, nil)
	cmd := start(t, m, "sleep 60 & sleep 60 & while :; do :; done")
	waitFor(t, "three processes", func() bool { p, _ := m.Pids(); return len(p) == 3 })
	began := time.Now()
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Kill took %v", time.Since(began))
	began = time.Now()
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Destroy took %v (shell not reaped yet)", time.Since(began))
	for _, dir := range m.dirs() {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after Destroy", dir)
		}
	}
	cmd.Wait()
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGKILL {
		t.Errorf("shell ended with %v, want SIGKILL", cmd.ProcessState)
	}
}

// TestRootOOM: a shell that reads 100 MB into a variable under a 32 MiB
// limit (no swap) is OOM-killed, and OOMKills counts it.
func TestRootOOM(t *testing.T) {
	mode := hostMode(t)
	if mode != Unified {
		probe := filepath.Join(DefaultRoot, "memory", "memory.oom_control")
		if b, err := os.ReadFile(probe); err == nil && !strings.Contains(string(b), "oom_kill ") {
			testenv.SkipOrFail(t, "this kernel's memory.oom_control has no oom_kill counter (Linux < 4.13)")
		}
	}
	m := newRootManager(t, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](32 << 20), Swap: ptr[int64](32 << 20)}})
	cmd := start(t, m, `x=$(head -c 100000000 /dev/zero | tr '\0' a); echo survived`)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the allocating shell ran for 30 s")
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	n, err := m.OOMKills()
	t.Logf("shell ended with %v; oom_kill = %d", cmd.ProcessState, n)
	if err != nil || n == 0 || ws.Signal() != syscall.SIGKILL {
		t.Errorf("OOMKills() = %d, %v; shell %v; want an OOM kill and SIGKILL", n, err, cmd.ProcessState)
	}
	if s, err := m.Stats(); err != nil || s.Memory.Events["oom_kill"] != n {
		t.Errorf("Stats() memory = %+v, %v", s.Memory, err)
	}
}

// TestRootV2Controllers checks what only cgroup v2 has: controllers
// enabled through subtree_control and a unified key.
func TestRootV2Controllers(t *testing.T) {
	requireV2(t)
	r := limits()
	r.Unified = map[string]string{"memory.high": "30000000"}
	m := newRootManager(t, r)
	offered, err := readWords(filepath.Join(m.Dir(), "cgroup.controllers"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"cpu", "memory", "pids"} {
		if !slices.Contains(offered, c) {
			t.Errorf("container cgroup lacks the %s controller (cgroup.controllers: %q)", c, offered)
		}
	}
	if got := file(t, m, "memory.high", ""); got != "29999104" && got != "30000000" {
		t.Errorf("memory.high = %s", got) // the kernel rounds down to pages
	}
	if got := file(t, m, "cgroup.subtree_control", ""); got != "" {
		t.Errorf("the container's own subtree_control = %q, want empty", got)
	}
}

// TestRootV2CoreOnHybrid runs the v2 manager for real on a hybrid host,
// in the cgroup2 hierarchy at /sys/fs/cgroup/unified. That hierarchy has
// no resource controllers, but cgroup.procs, CLONE_INTO_CGROUP,
// cgroup.freeze, cgroup.events, cgroup.kill and cpu.stat belong to the
// cgroup core, so the v2 code paths for them run against the kernel here.
func TestRootV2CoreOnHybrid(t *testing.T) {
	if mode := hostMode(t); mode != Hybrid {
		t.Skipf("host cgroup mode is %v, not hybrid", mode)
	}
	root := filepath.Join(DefaultRoot, "unified")
	offered, err := readWords(filepath.Join(root, "cgroup.controllers"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range statsControllers {
		if slices.Contains(offered, c) {
			// Create would enable it in the host's root subtree_control.
			t.Skipf("the hybrid cgroup2 root offers %s; this test must not change the host's root", c)
		}
	}
	m := createForTest(t, Config{Root: root, Mode: Unified, Path: "/" + testName()})
	cmd := start(t, m, "while :; do :; done")
	self, err := os.ReadFile("/proc/" + itoa(int64(cmd.Process.Pid)) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if want := "0::/" + filepath.Base(m.Dir()) + "\n"; !strings.Contains(string(self), want) {
		t.Errorf("born outside the cgroup: /proc/PID/cgroup has no %q:\n%s", want, self)
	}
	time.Sleep(200 * time.Millisecond)
	began := time.Now()
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Freeze took %v", time.Since(began))
	a, _ := cpuTicks(t, cmd.Process.Pid)
	time.Sleep(300 * time.Millisecond)
	b, state := cpuTicks(t, cmd.Process.Pid)
	if frozen, _ := m.Frozen(); !frozen || a != b {
		t.Errorf("frozen = %v; the busy loop used %d ticks while frozen (state %c)", frozen, b-a, state)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	s, err := m.Stats()
	if err != nil || s.CPU.UsageUsec == 0 {
		t.Errorf("Stats() = %+v, %v; want CPU usage from cpu.stat", s, err)
	}
	began = time.Now()
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	t.Logf("cgroup.kill and Destroy took %v", time.Since(began))
	cmd.Wait()
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGKILL {
		t.Errorf("busy loop ended with %v, want SIGKILL", cmd.ProcessState)
	}
}

// TestRootV1MemswOrder: the kernel refuses a memory limit above the
// memory+swap limit, so raising both must write memsw first.
func TestRootV1MemswOrder(t *testing.T) {
	if mode := hostMode(t); mode == Unified {
		t.Skip("memory.memsw is a cgroup v1 file")
	}
	mem := func(limit, swap int64) *specs.LinuxResources {
		r := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}
		if swap != 0 {
			r.Memory.Swap = &swap
		}
		return r
	}
	m := newRootManager(t, mem(32<<20, 64<<20))
	if _, err := os.Stat(filepath.Join(m.State().Dirs["memory"], "memory.memsw.limit_in_bytes")); err != nil {
		testenv.SkipOrFail(t, "no swap accounting on this kernel (memory.memsw.limit_in_bytes)")
	}
	if err := m.Update(mem(128<<20, 256<<20)); err != nil {
		t.Fatal(err)
	}
	if l, s := file(t, m, "", "memory/memory.limit_in_bytes"), file(t, m, "", "memory/memory.memsw.limit_in_bytes"); l != "134217728" || s != "268435456" {
		t.Errorf("limit %s, memsw %s after raising both", l, s)
	}
	err := m.Update(mem(512<<20, 0))
	if err == nil || !strings.Contains(err.Error(), "set linux.resources.memory.swap too") {
		t.Errorf("limit above memsw: err = %v", err)
	}
}

// TestRootV1EnterThread: on a v1 host a process forked by a thread that
// moved itself in is born in every one of the container's hierarchies,
// while the test's other threads never leave their cgroups, and leave puts
// the thread back.
func TestRootV1EnterThread(t *testing.T) {
	if mode := hostMode(t); !mode.v1() {
		t.Skipf("host cgroup mode is %v: EnterThread is for v1 hierarchies (v2 has CLONE_INTO_CGROUP)", mode)
	}
	m := newRootManager(t, nil)
	self := func(pid string) procCgroup {
		t.Helper()
		b, err := os.ReadFile("/proc/" + pid + "/cgroup")
		if err != nil {
			t.Fatal(err)
		}
		pc, err := parseProcCgroup(string(b))
		if err != nil {
			t.Fatal(err)
		}
		return pc
	}
	in := func(pc procCgroup) (inside, outside []string) {
		for ctrl, dir := range m.State().Dirs {
			if strings.HasSuffix(dir, pc.V1[ctrl].Path) && pc.V1[ctrl].Path != "/" {
				inside = append(inside, ctrl)
			} else {
				outside = append(outside, ctrl)
			}
		}
		return inside, outside
	}
	before := self("self")

	type result struct {
		thread, after procCgroup
		child         *exec.Cmd
		err           error
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		var r result
		defer func() { res <- r }()
		leave, err := m.EnterThread()
		if err != nil {
			r.err = err
			return // the thread ends with the goroutine: it may sit in a cgroup
		}
		r.thread = self("thread-self")
		r.child = exec.Command("sleep", "60")
		if r.err = r.child.Start(); r.err != nil {
			return
		}
		if r.err = leave(); r.err != nil {
			return
		}
		r.after = self("thread-self")
		runtime.UnlockOSThread()
	}()
	r := <-res
	if r.child != nil && r.child.Process != nil {
		t.Cleanup(func() { r.child.Process.Kill(); r.child.Wait() })
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if _, out := in(r.thread); len(out) > 0 {
		t.Errorf("after EnterThread the thread is outside the container's %v cgroups: %+v", out, r.thread.V1)
	}
	if _, out := in(self(strconv.Itoa(r.child.Process.Pid))); len(out) > 0 {
		t.Errorf("the child is outside the container's %v cgroups", out)
	}
	if got, _ := in(self("self")); len(got) > 0 {
		t.Errorf("the main thread moved too, into %v", got)
	}
	if !reflect.DeepEqual(r.after.V1, before.V1) {
		t.Errorf("after leave the thread is in %+v, want %+v", r.after.V1, before.V1)
	}
}
