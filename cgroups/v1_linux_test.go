package cgroups

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Tests of the v1 fallback against a fake tree laid out like a systemd
// host's: "cpu,cpuacct" mounted together, the caller in a session scope in
// some hierarchies and at / in others (procSystemdV1).

const session = "user.slice/user-1000.slice/session-2.scope"

func TestCreateV1(t *testing.T) {
	k := newFakeV1(t)
	r := limits()
	r.Memory.Swap = ptr[int64](64 << 20)
	r.CPU.Cpus = "1"
	r.Devices = []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](3), Access: "rwm"},
	}
	m := k.manager(Config{ID: "c1", Resources: r}, procSystemdV1)
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"memory/" + session + "/minirun/c1/memory.limit_in_bytes":       "33554432",
		"memory/" + session + "/minirun/c1/memory.memsw.limit_in_bytes": "67108864",
		"cpu,cpuacct/user.slice/minirun/c1/cpu.shares":                  "1024",
		"cpu,cpuacct/user.slice/minirun/c1/cpu.cfs_quota_us":            "20000",
		"cpu,cpuacct/user.slice/minirun/c1/cpu.cfs_period_us":           "100000",
		"pids/" + session + "/minirun/c1/pids.max":                      "10",
		"devices/user.slice/minirun/c1/devices.deny":                    "a",
		"devices/user.slice/minirun/c1/devices.allow":                   "c 1:3 rwm",
		// A new cpuset level starts empty; Create copies the parent's
		// before the limit narrows it.
		"cpuset/minirun/cpuset.cpus":       "0-3",
		"cpuset/minirun/cpuset.mems":       "0",
		"cpuset/minirun/c1/cpuset.cpus":    "1",
		"cpuset/minirun/c1/cpuset.mems":    "0",
		"freezer/minirun/c1/freezer.state": "THAWED",
	} {
		if got := k.read(path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}

	// Enter joins each hierarchy once: cpu and cpuacct share a directory.
	log := &logLines{}
	m.log = slog.New(log)
	if err := m.Enter(4242); err != nil {
		t.Fatal(err)
	}
	if n := len(log.writes()); n != 6 {
		t.Errorf("Enter wrote %d cgroup.procs files, want 6:\n%s", n, strings.Join(log.writes(), "\n"))
	}
	if got := k.read("cpu,cpuacct/user.slice/minirun/c1/cgroup.procs"); got != "4242" {
		t.Errorf("cpu cgroup.procs = %q", got)
	}

	// Destroy removes the six leaves, not the shared parents, once the
	// process is gone.
	for _, dir := range m.dirs() {
		k.put(dir, map[string]string{"cgroup.procs": ""})
	}
	if err := k.manager(Config{ID: "c1"}, procSystemdV1).Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range m.dirs() {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s left behind", dir)
		}
		if _, err := os.Stat(filepath.Dir(dir)); err != nil {
			t.Errorf("shared parent %s removed", filepath.Dir(dir))
		}
	}
}

// TestUpdateV1MemoryOrder: memory.limit_in_bytes may never exceed
// memory.memsw.limit_in_bytes, so raising both writes memsw first and
// lowering both writes the limit first.
func TestUpdateV1MemoryOrder(t *testing.T) {
	k := newFakeV1(t)
	m := k.manager(Config{ID: "c1"}, procSystemdV1)
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	update := func(limit, swap int64) []string {
		t.Helper()
		log := &logLines{}
		m.log = slog.New(log)
		err := m.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &swap}})
		if err != nil {
			t.Fatal(err)
		}
		var files []string
		for _, l := range log.writes() {
			files = append(files, filepath.Base(strings.Fields(l)[3]))
		}
		return files
	}
	if got := update(32<<20, 64<<20); !slices.Equal(got, []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes"}) {
		t.Errorf("from unlimited: %q", got)
	}
	if got := update(128<<20, 256<<20); !slices.Equal(got, []string{"memory.memsw.limit_in_bytes", "memory.limit_in_bytes"}) {
		t.Errorf("raising above memsw: %q", got)
	}
	if got := update(16<<20, 32<<20); !slices.Equal(got, []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes"}) {
		t.Errorf("lowering: %q", got)
	}
	// Without swap accounting, unlimited swap needs no file; a limit does.
	os.Remove(filepath.Join(m.state.Dirs["memory"], "memory.memsw.limit_in_bytes"))
	if got := update(64<<20, -1); !slices.Equal(got, []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes"}) {
		t.Errorf("unlimited swap: %q", got)
	}
	err := m.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](1 << 20), Swap: ptr[int64](2 << 20)}})
	if err == nil || !strings.Contains(err.Error(), "swapaccount=1") {
		t.Errorf("swap limit without memsw: err = %v", err)
	}
}

func TestFreezeKillV1(t *testing.T) {
	k := newFakeV1(t)
	m := k.manager(Config{ID: "c1"}, procSystemdV1)
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	// The fake reads back what was written, as a freezer with nothing to
	// stop does.
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if frozen, err := m.Frozen(); !frozen || err != nil {
		t.Fatalf("Frozen() = %v, %v", frozen, err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	k.put(m.state.Dirs["freezer"], map[string]string{"cgroup.procs": itoa(int64(cmd.Process.Pid)) + "\n"})
	if pids, err := m.Pids(); err != nil || !slices.Equal(pids, []int{cmd.Process.Pid}) {
		t.Fatalf("Pids() = %v, %v", pids, err)
	}
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGKILL {
		t.Errorf("sleep ended with %v, want SIGKILL", cmd.ProcessState)
	}
	if got := k.read("freezer/minirun/c1/freezer.state"); got != "THAWED" {
		t.Errorf("freezer.state = %q after Kill, want THAWED", got)
	}
}

func TestStatsV1(t *testing.T) {
	k := newFakeV1(t)
	m := k.manager(Config{ID: "c1"}, procSystemdV1)
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	k.put(m.state.Dirs["cpu"], map[string]string{
		"cpuacct.usage": "412233000\n", "cpuacct.stat": "user 30\nsystem 11\n",
		"cpu.stat": "nr_periods 21\nnr_throttled 19\nthrottled_time 1588342000\n",
	})
	k.put(m.state.Dirs["memory"], map[string]string{
		"memory.usage_in_bytes": "1048576\n", "memory.max_usage_in_bytes": "2097152\n",
		"memory.memsw.usage_in_bytes": "1572864\n", "memory.failcnt": "7\n", "memory.oom_control": oomControlV1,
	})
	k.put(m.state.Dirs["pids"], map[string]string{"pids.current": "3\n", "pids.max": "10\n"})
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{
		CPU: CPUStats{UsageUsec: 412233, UserUsec: 300000, SystemUsec: 110000, NrPeriods: 21, NrThrottled: 19, ThrottledUsec: 1588342},
		// Max: the fake's limit_in_bytes is v1's "unlimited".
		Memory: MemoryStats{Current: 1 << 20, Peak: 2 << 20, Max: 0, Swap: 512 << 10, Events: map[string]uint64{"oom_kill": 3, "max": 7}},
		Pids:   PidsStats{Current: 3, Max: 10},
	}
	if s.CPU != want.CPU || s.Pids != want.Pids || s.Memory.Current != want.Memory.Current ||
		s.Memory.Peak != want.Memory.Peak || s.Memory.Max != 0 || s.Memory.Swap != want.Memory.Swap ||
		s.Memory.Events["oom_kill"] != 3 || s.Memory.Events["max"] != 7 || s.IO != nil {
		t.Errorf("Stats() = %+v\nwant %+v", *s, want)
	}
	if n, err := m.OOMKills(); n != 3 || err != nil {
		t.Errorf("OOMKills() = %d, %v", n, err)
	}
}
