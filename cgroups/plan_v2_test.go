package cgroups

import (
	"errors"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func ptr[T any](v T) *T { return &v }

// fw is a Write without From, for tables that compare files and values.
type fw struct{ File, Value string }

func filesValues(ws []Write) []fw {
	out := []fw{}
	for _, w := range ws {
		out = append(out, fw{w.File, w.Value})
	}
	return out
}

type planCase struct {
	name    string
	r       *specs.LinuxResources
	want    []fw
	wantErr string // substring of the error; "" means no error
	is      error  // the error must also match this sentinel
}

func runPlanTable(t *testing.T, plan func(*specs.LinuxResources) ([]Write, error), cases []planCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ws, err := plan(tc.r)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Fatalf("err = %v, want errors.Is %v", err, tc.is)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			got := filesValues(ws)
			if tc.want == nil {
				tc.want = []fw{}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("writes:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func mem(m specs.LinuxMemory) *specs.LinuxResources { return &specs.LinuxResources{Memory: &m} }
func cpu(c specs.LinuxCPU) *specs.LinuxResources    { return &specs.LinuxResources{CPU: &c} }
func blkio(b specs.LinuxBlockIO) *specs.LinuxResources {
	return &specs.LinuxResources{BlockIO: &b}
}
func dev(major, minor int64) specs.LinuxBlockIODevice {
	return specs.LinuxBlockIODevice{Major: major, Minor: minor}
}

func TestPlanV2Memory(t *testing.T) {
	runPlanTable(t, PlanV2, []planCase{
		{name: "nil resources", r: nil},
		{name: "empty memory", r: mem(specs.LinuxMemory{})},
		{name: "limit", r: mem(specs.LinuxMemory{Limit: ptr[int64](32 << 20)}), want: []fw{{"memory.max", "33554432"}}},
		{name: "limit -1", r: mem(specs.LinuxMemory{Limit: ptr[int64](-1)}), want: []fw{{"memory.max", "max"}}},
		{name: "limit 0 is unset", r: mem(specs.LinuxMemory{Limit: ptr[int64](0)})},
		{name: "limit -2", r: mem(specs.LinuxMemory{Limit: ptr[int64](-2)}), wantErr: "memory.limit: -2"},
		{name: "reservation", r: mem(specs.LinuxMemory{Reservation: ptr[int64](1 << 20)}), want: []fw{{"memory.low", "1048576"}}},
		{name: "reservation -1", r: mem(specs.LinuxMemory{Reservation: ptr[int64](-1)}), want: []fw{{"memory.low", "max"}}},
		{name: "swap is total minus limit", r: mem(specs.LinuxMemory{Limit: ptr[int64](100 << 20), Swap: ptr[int64](300 << 20)}),
			want: []fw{{"memory.max", "104857600"}, {"memory.swap.max", "209715200"}}},
		{name: "swap equal to limit means no swap", r: mem(specs.LinuxMemory{Limit: ptr[int64](100), Swap: ptr[int64](100)}),
			want: []fw{{"memory.max", "100"}, {"memory.swap.max", "0"}}},
		{name: "swap -1", r: mem(specs.LinuxMemory{Limit: ptr[int64](100), Swap: ptr[int64](-1)}),
			want: []fw{{"memory.max", "100"}, {"memory.swap.max", "max"}}},
		{name: "swap -1 without limit", r: mem(specs.LinuxMemory{Swap: ptr[int64](-1)}), want: []fw{{"memory.swap.max", "max"}}},
		{name: "swap without limit", r: mem(specs.LinuxMemory{Swap: ptr[int64](100)}), wantErr: "needs a memory limit"},
		{name: "swap with unlimited memory", r: mem(specs.LinuxMemory{Limit: ptr[int64](-1), Swap: ptr[int64](100)}), wantErr: "needs a memory limit"},
		{name: "swap below limit", r: mem(specs.LinuxMemory{Limit: ptr[int64](200), Swap: ptr[int64](100)}), wantErr: "swap=100 is below limit=200"},
		{name: "kernel", r: mem(specs.LinuxMemory{Kernel: ptr[int64](1)}),
			wantErr: "linux.resources.memory.kernel is not supported on cgroup v2", is: ErrNotSupported},
		{name: "kernelTCP", r: mem(specs.LinuxMemory{KernelTCP: ptr[int64](1)}),
			wantErr: "linux.resources.memory.kernelTCP is not supported on cgroup v2", is: ErrNotSupported},
		{name: "swappiness", r: mem(specs.LinuxMemory{Swappiness: ptr[uint64](60)}), wantErr: "swappiness is not supported on cgroup v2", is: ErrNotSupported},
		{name: "disableOOMKiller", r: mem(specs.LinuxMemory{DisableOOMKiller: ptr(true)}), wantErr: "disableOOMKiller", is: ErrNotSupported},
		{name: "disableOOMKiller false", r: mem(specs.LinuxMemory{DisableOOMKiller: ptr(false)})},
		{name: "useHierarchy false", r: mem(specs.LinuxMemory{UseHierarchy: ptr(false)}), wantErr: "hierarchical", is: ErrNotSupported},
	})
}

func TestPlanV2CPU(t *testing.T) {
	runPlanTable(t, PlanV2, []planCase{
		// cpu.weight = 1 + (shares-2)*9999/262142, integer division.
		{name: "shares 1024", r: cpu(specs.LinuxCPU{Shares: ptr[uint64](1024)}), want: []fw{{"cpu.weight", "39"}}},
		{name: "shares 512", r: cpu(specs.LinuxCPU{Shares: ptr[uint64](512)}), want: []fw{{"cpu.weight", "20"}}},
		{name: "shares 2", r: cpu(specs.LinuxCPU{Shares: ptr[uint64](2)}), want: []fw{{"cpu.weight", "1"}}},
		{name: "shares 262144", r: cpu(specs.LinuxCPU{Shares: ptr[uint64](262144)}), want: []fw{{"cpu.weight", "10000"}}},
		{name: "shares 1 clamped", r: cpu(specs.LinuxCPU{Shares: ptr[uint64](1)}), want: []fw{{"cpu.weight", "1"}}},
		{name: "shares above max clamped", r: cpu(specs.LinuxCPU{Shares: ptr[uint64](1 << 20)}), want: []fw{{"cpu.weight", "10000"}}},
		{name: "shares 0 is unset", r: cpu(specs.LinuxCPU{Shares: ptr[uint64](0)})},
		{name: "quota and period", r: cpu(specs.LinuxCPU{Quota: ptr[int64](20000), Period: ptr[uint64](100000)}),
			want: []fw{{"cpu.max", "20000 100000"}}},
		{name: "quota only keeps the period", r: cpu(specs.LinuxCPU{Quota: ptr[int64](50000)}), want: []fw{{"cpu.max", "50000"}}},
		{name: "quota -1", r: cpu(specs.LinuxCPU{Quota: ptr[int64](-1), Period: ptr[uint64](100000)}), want: []fw{{"cpu.max", "max 100000"}}},
		{name: "quota 0", r: cpu(specs.LinuxCPU{Quota: ptr[int64](0)}), want: []fw{{"cpu.max", "max"}}},
		{name: "period only", r: cpu(specs.LinuxCPU{Period: ptr[uint64](50000)}), want: []fw{{"cpu.max", "max 50000"}}},
		{name: "quota -5", r: cpu(specs.LinuxCPU{Quota: ptr[int64](-5)}), wantErr: "cpu.quota"},
		{name: "burst", r: cpu(specs.LinuxCPU{Burst: ptr[uint64](1000)}), want: []fw{{"cpu.max.burst", "1000"}}},
		{name: "idle", r: cpu(specs.LinuxCPU{Idle: ptr[int64](1)}), want: []fw{{"cpu.idle", "1"}}},
		{name: "idle 2", r: cpu(specs.LinuxCPU{Idle: ptr[int64](2)}), wantErr: "neither 0 nor 1"},
		{name: "cpuset", r: cpu(specs.LinuxCPU{Cpus: "0-1", Mems: "0"}), want: []fw{{"cpuset.cpus", "0-1"}, {"cpuset.mems", "0"}}},
		{name: "realtime runtime", r: cpu(specs.LinuxCPU{RealtimeRuntime: ptr[int64](1)}), wantErr: "realtimeRuntime is not supported", is: ErrNotSupported},
		{name: "realtime period", r: cpu(specs.LinuxCPU{RealtimePeriod: ptr[uint64](1)}), wantErr: "realtimePeriod is not supported", is: ErrNotSupported},
	})
}

func TestPlanV2PidsHugetlbRdmaNetwork(t *testing.T) {
	pids := func(v int64) *specs.LinuxResources { return &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &v}} }
	huge := func(size string) *specs.LinuxResources {
		return &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: size, Limit: 4 << 20}}}
	}
	runPlanTable(t, PlanV2, []planCase{
		{name: "pids", r: pids(10), want: []fw{{"pids.max", "10"}}},
		{name: "pids 0", r: pids(0), want: []fw{{"pids.max", "max"}}},
		{name: "pids -1", r: pids(-1), want: []fw{{"pids.max", "max"}}},
		{name: "pids without limit", r: &specs.LinuxResources{Pids: &specs.LinuxPids{}}},
		{name: "hugetlb 2MB", r: huge("2MB"), want: []fw{{"hugetlb.2MB.max", "4194304"}}},
		{name: "hugetlb 1GB", r: huge("1GB"), want: []fw{{"hugetlb.1GB.max", "4194304"}}},
		{name: "hugetlb 64KB", r: huge("64KB"), want: []fw{{"hugetlb.64KB.max", "4194304"}}},
		{name: "hugetlb 2M", r: huge("2M"), wantErr: "not a size"},
		{name: "hugetlb path", r: huge("../2MB"), wantErr: "not a size"},
		{name: "rdma", r: &specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{
			"mlx5_1": {HcaHandles: ptr[uint32](3)},
			"mlx4_0": {HcaHandles: ptr[uint32](2), HcaObjects: ptr[uint32](2000)},
		}}, want: []fw{{"rdma.max", "mlx4_0 hca_handle=2 hca_object=2000"}, {"rdma.max", "mlx5_1 hca_handle=3"}}},
		{name: "network classID", r: &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: ptr[uint32](1)}},
			wantErr: "linux.resources.network is not supported on cgroup v2", is: ErrNotSupported},
		{name: "devices are for cgroups/devices", r: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}},
	})
}

func TestPlanV2BlockIO(t *testing.T) {
	runPlanTable(t, PlanV2, []planCase{
		// io.weight = 1 + (w-10)*9999/990.
		{name: "weight 500", r: blkio(specs.LinuxBlockIO{Weight: ptr[uint16](500)}), want: []fw{{"io.weight", "default 4950"}}},
		{name: "weight 10", r: blkio(specs.LinuxBlockIO{Weight: ptr[uint16](10)}), want: []fw{{"io.weight", "default 1"}}},
		{name: "weight 1000", r: blkio(specs.LinuxBlockIO{Weight: ptr[uint16](1000)}), want: []fw{{"io.weight", "default 10000"}}},
		{name: "weight 0 is unset", r: blkio(specs.LinuxBlockIO{Weight: ptr[uint16](0)})},
		{name: "weight 5", r: blkio(specs.LinuxBlockIO{Weight: ptr[uint16](5)}), wantErr: "outside 10..1000"},
		{name: "weight 1001", r: blkio(specs.LinuxBlockIO{Weight: ptr[uint16](1001)}), wantErr: "outside 10..1000"},
		{name: "leafWeight", r: blkio(specs.LinuxBlockIO{LeafWeight: ptr[uint16](500)}), wantErr: "leafWeight is not supported", is: ErrNotSupported},
		{name: "weightDevice", r: blkio(specs.LinuxBlockIO{WeightDevice: []specs.LinuxWeightDevice{
			{LinuxBlockIODevice: dev(8, 0), Weight: ptr[uint16](100)},
		}}), want: []fw{{"io.weight", "8:0 910"}}},
		{name: "weightDevice leafWeight", r: blkio(specs.LinuxBlockIO{WeightDevice: []specs.LinuxWeightDevice{
			{LinuxBlockIODevice: dev(8, 0), LeafWeight: ptr[uint16](100)},
		}}), wantErr: "weightDevice[0].leafWeight", is: ErrNotSupported},
		{name: "throttles", r: blkio(specs.LinuxBlockIO{
			ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 0), Rate: 1 << 20}},
			ThrottleWriteBpsDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 0), Rate: 2 << 20}},
			ThrottleReadIOPSDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 16), Rate: 100}},
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 16), Rate: 0}},
		}), want: []fw{
			{"io.max", "8:0 rbps=1048576"}, {"io.max", "8:0 wbps=2097152"},
			{"io.max", "8:16 riops=100"}, {"io.max", "8:16 wiops=max"},
		}},
	})
}

func TestPlanV2Unified(t *testing.T) {
	uni := func(kv ...string) *specs.LinuxResources {
		r := &specs.LinuxResources{Unified: map[string]string{}}
		for i := 0; i < len(kv); i += 2 {
			r.Unified[kv[i]] = kv[i+1]
		}
		return r
	}
	withLimit := uni("memory.max", "1G")
	withLimit.Memory = &specs.LinuxMemory{Limit: ptr[int64](1 << 30)}
	withOther := uni("memory.high", "1G")
	withOther.Memory = &specs.LinuxMemory{Limit: ptr[int64](2 << 30)}
	runPlanTable(t, PlanV2, []planCase{
		{name: "sorted, values as is", r: uni("pids.max", "5", "memory.high", "1G", "cgroup.max.depth", "2"),
			want: []fw{{"cgroup.max.depth", "2"}, {"memory.high", "1G"}, {"pids.max", "5"}}},
		{name: "after the structured fields", r: withOther, want: []fw{{"memory.max", "2147483648"}, {"memory.high", "1G"}}},
		{name: "conflict with a field", r: withLimit, wantErr: `"memory.max" conflicts`},
		{name: "slash", r: uni("memory/../../x", "1"), wantErr: "is a path"},
		{name: "absolute", r: uni("/etc/passwd", "1"), wantErr: "is a path"},
		{name: "dot dot", r: uni("memory..max", "1"), wantErr: "is a path"},
		{name: "parent", r: uni("..", "1"), wantErr: "is a path"},
		{name: "hidden", r: uni(".memory.max", "1"), wantErr: "starts with a dot"},
		{name: "no controller", r: uni("memory", "1"), wantErr: "not of the form"},
		{name: "empty key", r: uni("", "1"), wantErr: "not of the form"},
		{name: "upper case", r: uni("Memory.Max", "1"), wantErr: "not of the form"},
		{name: "trailing dot", r: uni("memory.", "1"), wantErr: "not of the form"},
		{name: "space", r: uni("memory.max ", "1"), wantErr: "not of the form"},
		{name: "NUL", r: uni("memory.max\x00", "1"), wantErr: "not of the form"},
		{name: "cgroup.freeze", r: uni("cgroup.freeze", "1"), wantErr: "manages itself"},
		{name: "cgroup.procs", r: uni("cgroup.procs", "1"), wantErr: "manages itself"},
		{name: "cgroup.threads", r: uni("cgroup.threads", "1"), wantErr: "manages itself"},
		{name: "cgroup.kill", r: uni("cgroup.kill", "1"), wantErr: "manages itself"},
		{name: "cgroup.subtree_control", r: uni("cgroup.subtree_control", "+memory"), wantErr: "manages itself"},
		{name: "cgroup.type", r: uni("cgroup.type", "threaded"), wantErr: "manages itself"},
	})
}

// TestPlanV2From checks that each write says where it came from, in the
// words the Debug log uses.
func TestPlanV2From(t *testing.T) {
	r := &specs.LinuxResources{
		CPU:    &specs.LinuxCPU{Shares: ptr[uint64](1024), Quota: ptr[int64](20000), Period: ptr[uint64](100000)},
		Memory: &specs.LinuxMemory{Limit: ptr[int64](100), Swap: ptr[int64](300)},
	}
	ws, err := PlanV2(r)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"memory.max":      "linux.resources.memory.limit=100",
		"memory.swap.max": "linux.resources.memory.swap=300 - limit=100: OCI swap counts memory plus swap",
		"cpu.weight":      "linux.resources.cpu.shares=1024 → 1 + (1024-2)*9999/262142",
		"cpu.max":         "linux.resources.cpu quota=20000 period=100000",
	}
	for _, w := range ws {
		if w.From != want[w.File] {
			t.Errorf("%s: From = %q, want %q", w.File, w.From, want[w.File])
		}
	}
	if got := controllers(ws); !slices.Equal(got, []string{"memory", "cpu"}) {
		t.Errorf("controllers = %q", got)
	}
}
