package cgroups

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestPlanV1(t *testing.T) {
	runPlanTable(t, PlanV1, []planCase{
		{name: "nil resources", r: nil},
		{name: "memory", r: mem(specs.LinuxMemory{
			Limit: ptr[int64](32 << 20), Reservation: ptr[int64](16 << 20), Swap: ptr[int64](64 << 20),
			Swappiness: ptr[uint64](0), DisableOOMKiller: ptr(true),
		}), want: []fw{
			{"memory/memory.limit_in_bytes", "33554432"},
			{"memory/memory.soft_limit_in_bytes", "16777216"},
			{"memory/memory.memsw.limit_in_bytes", "67108864"}, // memsw counts memory+swap, like OCI
			{"memory/memory.swappiness", "0"},
			{"memory/memory.oom_control", "1"},
		}},
		{name: "memory -1", r: mem(specs.LinuxMemory{Limit: ptr[int64](-1), Swap: ptr[int64](-1)}), want: []fw{
			{"memory/memory.limit_in_bytes", "-1"}, {"memory/memory.memsw.limit_in_bytes", "-1"},
		}},
		{name: "swap below limit", r: mem(specs.LinuxMemory{Limit: ptr[int64](200), Swap: ptr[int64](100)}), wantErr: "below limit"},
		{name: "swap without limit", r: mem(specs.LinuxMemory{Swap: ptr[int64](100)}), wantErr: "needs a memory limit"},
		{name: "swappiness 101", r: mem(specs.LinuxMemory{Swappiness: ptr[uint64](101)}), wantErr: "above 100"},
		{name: "kernel", r: mem(specs.LinuxMemory{Kernel: ptr[int64](1)}), wantErr: "memory.kernel is not supported", is: ErrNotSupported},
		{name: "cpu", r: cpu(specs.LinuxCPU{
			Shares: ptr[uint64](512), Quota: ptr[int64](20000), Period: ptr[uint64](100000), Cpus: "0", Mems: "0",
		}), want: []fw{
			{"cpu/cpu.shares", "512"},
			{"cpu/cpu.cfs_period_us", "100000"}, // period before quota
			{"cpu/cpu.cfs_quota_us", "20000"},
			{"cpuset/cpuset.cpus", "0"},
			{"cpuset/cpuset.mems", "0"},
		}},
		{name: "quota 0", r: cpu(specs.LinuxCPU{Quota: ptr[int64](0)}), want: []fw{{"cpu/cpu.cfs_quota_us", "-1"}}},
		{name: "burst", r: cpu(specs.LinuxCPU{Burst: ptr[uint64](1)}), wantErr: "linux.resources.cpu.burst needs cgroup v2", is: ErrNeedsV2},
		{name: "idle", r: cpu(specs.LinuxCPU{Idle: ptr[int64](1)}), wantErr: "linux.resources.cpu.idle needs cgroup v2", is: ErrNeedsV2},
		{name: "realtime", r: cpu(specs.LinuxCPU{RealtimeRuntime: ptr[int64](1)}), wantErr: "realtimeRuntime", is: ErrNotSupported},
		{name: "pids", r: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](10)}}, want: []fw{{"pids/pids.max", "10"}}},
		{name: "pids 0", r: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](0)}}, want: []fw{{"pids/pids.max", "max"}}},
		{name: "blockIO", r: blkio(specs.LinuxBlockIO{Weight: ptr[uint16](500)}),
			wantErr: "linux.resources.blockIO needs cgroup v2", is: ErrNeedsV2},
		{name: "hugepages", r: &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB"}}},
			wantErr: "linux.resources.hugepageLimits needs cgroup v2", is: ErrNeedsV2},
		{name: "rdma", r: &specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{"x": {}}},
			wantErr: "linux.resources.rdma needs cgroup v2", is: ErrNeedsV2},
		{name: "unified", r: &specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}},
			wantErr: "linux.resources.unified needs cgroup v2", is: ErrNeedsV2},
		{name: "network", r: &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: ptr[uint32](1)}},
			wantErr: "net_cls and net_prio", is: ErrNotSupported},
	})
}

func TestPlanV1Devices(t *testing.T) {
	devs := func(d ...specs.LinuxDeviceCgroup) *specs.LinuxResources { return &specs.LinuxResources{Devices: d} }
	n := func(v int64) *int64 { return &v }
	runPlanTable(t, PlanV1, []planCase{
		{name: "none", r: devs()},
		{name: "deny all first, as the default spec has it", r: devs(
			specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"},
			specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: n(1), Minor: n(3), Access: "rwm"},
			specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: n(136), Access: "rw"},
			specs.LinuxDeviceCgroup{Allow: false, Type: "c", Major: n(136), Minor: n(5)},
		), want: []fw{
			{"devices/devices.deny", "a"},
			{"devices/devices.allow", "c 1:3 rwm"},
			{"devices/devices.allow", "c 136:* rw"},
			{"devices/devices.deny", "c 136:5 rwm"},
		}},
		{name: "allow rules only start from deny all", r: devs(
			specs.LinuxDeviceCgroup{Allow: true, Type: "b", Major: n(8), Minor: n(-1), Access: "r"},
		), want: []fw{{"devices/devices.deny", "a"}, {"devices/devices.allow", "b 8:* r"}}},
		{name: "allow all", r: devs(specs.LinuxDeviceCgroup{Allow: true}), want: []fw{
			{"devices/devices.deny", "a"}, {"devices/devices.allow", "a"},
		}},
		{name: "type a with less than rwm is c and b", r: devs(specs.LinuxDeviceCgroup{Allow: true, Type: "a", Access: "m"}), want: []fw{
			{"devices/devices.deny", "a"}, {"devices/devices.allow", "c *:* m"}, {"devices/devices.allow", "b *:* m"},
		}},
		{name: "bad access", r: devs(specs.LinuxDeviceCgroup{Allow: true, Type: "c", Access: "rwx"}), wantErr: "devices[0]: invalid device access"},
		{name: "bad type", r: devs(specs.LinuxDeviceCgroup{Allow: true, Type: "p"}), wantErr: "invalid device type"},
		{name: "bad number", r: devs(specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: n(-2)}), wantErr: "invalid device number"},
	})
}
