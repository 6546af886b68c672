package cgroups

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Tests of the v2 manager against a fake tree (see fake_linux_test.go):
// the order of mkdir and subtree_control writes, cleanup, and the files
// each operation touches. The real kernel's answers are the root tests'.

func limits() *specs.LinuxResources {
	return &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](32 << 20)},
		CPU:    &specs.LinuxCPU{Shares: ptr[uint64](1024), Quota: ptr[int64](20000), Period: ptr[uint64](100000)},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](10)},
	}
}

func TestCreateV2(t *testing.T) {
	k := newFakeV2(t, "cpuset cpu io memory hugetlb pids rdma")
	log := &logLines{}
	m := k.manager(Config{ID: "c1", Resources: limits(), Log: slog.New(log)}, "0::/\n")
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	// Controllers the limits need first, then the statistics ones the
	// parent offers; never cpuset, hugetlb or rdma, which nothing needs.
	const enable = "+memory +cpu +pids +io"
	for path, want := range map[string]string{
		"cgroup.subtree_control":            enable,
		"minirun/cgroup.subtree_control":    enable,
		"minirun/c1/cgroup.subtree_control": "", // it will hold processes
		"minirun/c1/memory.max":             "33554432",
		"minirun/c1/cpu.max":                "20000 100000",
		"minirun/c1/cpu.weight":             "39",
		"minirun/c1/pids.max":               "10",
	} {
		if got := k.read(path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	dir := k.root + "/minirun/c1"
	wantLog := []string{
		`write "+memory +cpu +pids +io" to ` + k.root + `/cgroup.subtree_control (controllers linux.resources and the statistics need)`,
		`write "+memory +cpu +pids +io" to ` + k.root + `/minirun/cgroup.subtree_control (controllers for the cgroups below)`,
		`write "33554432" to ` + dir + `/memory.max (linux.resources.memory.limit=33554432)`,
		`write "39" to ` + dir + `/cpu.weight (linux.resources.cpu.shares=1024 → 1 + (1024-2)*9999/262142)`,
		`write "20000 100000" to ` + dir + `/cpu.max (linux.resources.cpu quota=20000 period=100000)`,
		`write "10" to ` + dir + `/pids.max (linux.resources.pids.limit=10)`,
	}
	if got := log.writes(); !slices.Equal(got, wantLog) {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantLog, "\n"))
	}

	// A second container finds minirun/ ready and writes no
	// subtree_control at all.
	k.settle()
	log2 := &logLines{}
	m2 := k.manager(Config{ID: "c2", Resources: limits(), Log: slog.New(log2)}, "0::/\n")
	if err := m2.Create(); err != nil {
		t.Fatal(err)
	}
	for _, l := range log2.writes() {
		if strings.Contains(l, "subtree_control") {
			t.Errorf("second container wrote %s", l)
		}
	}
	// Its cgroup is not the first one's: creating c1 again fails.
	again := k.manager(Config{ID: "c1"}, "0::/\n")
	if err := again.Create(); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Create of c1: err = %v, want ErrExist", err)
	}
	if !k.exists("minirun/c1/memory.max") {
		t.Error("the failed Create removed the existing cgroup")
	}
}

func TestCreateV2MissingController(t *testing.T) {
	k := newFakeV2(t, "cpu memory pids")
	r := &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1 << 21}}}
	err := k.manager(Config{ID: "c1", Resources: r}, "0::/\n").Create()
	if err == nil || !strings.Contains(err.Error(), "does not offer the hugetlb controller") {
		t.Fatalf("err = %v", err)
	}
	if k.exists("minirun") || k.read("cgroup.subtree_control") != "" {
		t.Error("a failed Create left something behind")
	}
}

func TestCreateV2NoInternalProcesses(t *testing.T) {
	k := newFakeV2(t, "cpu io memory pids")
	k.put(k.root, map[string]string{"cgroup.subtree_control": "cpu io memory pids"})
	if err := k.mkdir(filepath.Join(k.root, "busy")); err != nil {
		t.Fatal(err)
	}
	k.put(filepath.Join(k.root, "busy"), map[string]string{"cgroup.procs": "42\n"})

	m := k.manager(Config{Path: "/busy/c1", Resources: limits()}, "")
	err := m.Create()
	if err == nil || !strings.Contains(err.Error(), `"no internal processes"`) {
		t.Fatalf("err = %v", err)
	}
	if k.exists("busy/c1") || k.read("busy/cgroup.subtree_control") != "" {
		t.Error("Create touched a cgroup with processes")
	}
	// Without limits only the statistics controllers are missing: they
	// are left off, and the container gets its cgroup.
	m = k.manager(Config{Path: "/busy/c1"}, "")
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	if k.read("busy/cgroup.subtree_control") != "" || k.read("busy/c1/cgroup.controllers") != "" {
		t.Error("controllers were enabled below a cgroup with processes")
	}
}

func TestCreateV2RemovesWhatItMade(t *testing.T) {
	k := newFakeV2(t, "memory pids rdma") // the fake makes no rdma files
	r := limits()
	r.CPU = nil
	r.Rdma = map[string]specs.LinuxRdma{"mlx4_0": {HcaHandles: ptr[uint32](2)}}
	err := k.manager(Config{ID: "c1", Resources: r}, "0::/\n").Create()
	if err == nil || !strings.Contains(err.Error(), "is the rdma controller enabled") {
		t.Fatalf("err = %v", err)
	}
	if k.exists("minirun") {
		t.Error("minirun/ left behind")
	}
}

func TestUpdateV2(t *testing.T) {
	k := newFakeV2(t, "cpu io memory pids")
	m := k.manager(Config{ID: "c1", Resources: limits()}, "0::/\n")
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	m = Load(m.State(), nil) // as `minirun update` would
	if err := m.Update(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](20)}}); err != nil {
		t.Fatal(err)
	}
	if k.read("minirun/c1/pids.max") != "20" || k.read("minirun/c1/memory.max") != "33554432" {
		t.Error("Update changed more or less than pids.max")
	}
	k.put(k.root+"/minirun/c1", map[string]string{"memory.current": "50000000\n"})
	checked := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](16 << 20), CheckBeforeUpdate: ptr(true)}}
	if err := m.Update(checked); err == nil || !strings.Contains(err.Error(), "uses 50000000 bytes") {
		t.Errorf("checked update below usage: err = %v", err)
	}
	checked.Memory.CheckBeforeUpdate = nil
	if err := m.Update(checked); err != nil || k.read("minirun/c1/memory.max") != "16777216" {
		t.Errorf("unchecked update: %v", err)
	}
	if err := m.Update(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{LeafWeight: ptr[uint16](10)}}); !errors.Is(err, ErrNotSupported) {
		t.Errorf("update with leafWeight: err = %v", err)
	}
}

// TestFreezeV2 plays the kernel: once cgroup.freeze says 1, it reports
// "frozen 1" in cgroup.events, as the kernel does when the last task stops.
func TestFreezeV2(t *testing.T) {
	k := newFakeV2(t, "memory")
	m := k.manager(Config{ID: "c1"}, "0::/\n")
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(k.root, "minirun/c1")
	kernel := func(freeze, frozen string) {
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if b, _ := os.ReadFile(filepath.Join(dir, "cgroup.freeze")); string(b) == freeze {
				break
			}
		}
		time.Sleep(20 * time.Millisecond) // Freeze must wait for this
		os.WriteFile(filepath.Join(dir, "cgroup.events"), []byte("populated 1\nfrozen "+frozen+"\n"), 0o644)
	}
	go kernel("1", "1")
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if frozen, err := m.Frozen(); !frozen || err != nil {
		t.Fatalf("Frozen() = %v, %v after Freeze", frozen, err)
	}
	go kernel("0", "0")
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if frozen, _ := m.Frozen(); frozen {
		t.Fatal("still frozen after Thaw")
	}

	// A freeze that never completes is undone.
	m.wait = 50 * time.Millisecond
	if err := m.Freeze(); !errors.Is(err, errTimeout) {
		t.Fatalf("Freeze without the kernel: err = %v", err)
	}
	if got := k.read("minirun/c1/cgroup.freeze"); got != "0" {
		t.Errorf("cgroup.freeze = %q after a failed freeze, want 0", got)
	}
}

func TestKillV2(t *testing.T) {
	k := newFakeV2(t, "memory pids")
	m := k.manager(Config{ID: "c1"}, "0::/\n")
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	if err := m.Kill(); err != nil || k.read("minirun/c1/cgroup.kill") != "1" {
		t.Fatalf("Kill: %v; cgroup.kill = %q", err, k.read("minirun/c1/cgroup.kill"))
	}

	// Without cgroup.kill (Linux < 5.14) every listed process is killed.
	dir := filepath.Join(k.root, "minirun/c1")
	os.Remove(filepath.Join(dir, "cgroup.kill"))
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	k.put(dir, map[string]string{"cgroup.procs": itoa(int64(cmd.Process.Pid)) + "\n"})
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Errorf("sleep ended with %v, want SIGKILL", err)
	}
}

func TestPidsOOMStatsV2(t *testing.T) {
	k := newFakeV2(t, "cpu io memory pids")
	m := k.manager(Config{ID: "c1"}, "0::/\n")
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(k.root, "minirun/c1")
	if err := k.mkdir(filepath.Join(dir, "sub")); err != nil {
		t.Fatal(err)
	}
	k.put(dir, map[string]string{
		"cgroup.procs": "11\n10\n", "cpu.stat": cpuStatV2, "memory.events": memoryEventsV2, "io.stat": ioStat,
		"memory.current": "1048576\n", "memory.peak": "33554432\n", "memory.max": "33554432\n",
		"pids.current": "3\n", "pids.max": "max\n",
	})
	k.put(filepath.Join(dir, "sub"), map[string]string{"cgroup.procs": "12\n"})
	if pids, err := m.Pids(); err != nil || !slices.Equal(pids, []int{10, 11, 12}) {
		t.Errorf("Pids() = %v, %v", pids, err)
	}
	if n, err := m.OOMKills(); n != 1 || err != nil {
		t.Errorf("OOMKills() = %d, %v", n, err)
	}
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU.UsageUsec != 412233 || s.CPU.NrThrottled != 19 || s.CPU.ThrottledUsec != 1588342 {
		t.Errorf("cpu = %+v", s.CPU)
	}
	if s.Memory.Current != 1<<20 || s.Memory.Peak != 32<<20 || s.Memory.Max != 32<<20 || s.Memory.Events["oom_kill"] != 1 {
		t.Errorf("memory = %+v", s.Memory)
	}
	if s.Pids.Current != 3 || s.Pids.Max != 0 || len(s.IO) != 2 {
		t.Errorf("pids = %+v, io = %+v", s.Pids, s.IO)
	}
	// Without the memory controller there is nothing to count.
	os.Remove(filepath.Join(dir, "memory.events"))
	if n, err := m.OOMKills(); n != 0 || err != nil {
		t.Errorf("OOMKills() without memory.events = %d, %v", n, err)
	}
}

func TestDestroyV2(t *testing.T) {
	k := newFakeV2(t, "memory")
	m := k.manager(Config{ID: "c1"}, "0::/\n")
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	// The container made a cgroup of its own below.
	if err := k.mkdir(filepath.Join(k.root, "minirun/c1/nested")); err != nil {
		t.Fatal(err)
	}
	m = Load(m.State(), nil)
	m.rmdir = k.rmdir
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	if k.exists("minirun/c1") || !k.exists("minirun") {
		t.Error("Destroy must remove minirun/c1 and keep the shared minirun/")
	}
	if err := m.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
	if err := m.Create(); err == nil {
		t.Error("a loaded Manager created a cgroup")
	}
}
