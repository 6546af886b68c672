package cgroups

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// PlanV2 turns linux.resources into the cgroup v2 interface files to write,
// in order. It makes no system calls. Only the fields that are set produce
// writes, so the same plan serves Create and Update; 0 means "not set" for
// limits, weights and shares, as in runc.
//
// linux.resources.devices is not here: on cgroup v2 a device allowlist is an
// eBPF program attached to the cgroup (package cgroups/devices), not a
// file. Fields cgroup v2 cannot express are errors, never ignored.
func PlanV2(r *specs.LinuxResources) ([]Write, error) {
	if r == nil {
		return nil, nil
	}
	var p plan
	for _, step := range []func(*specs.LinuxResources, *plan) error{
		memoryV2, cpuV2, pidsV2, blockIOV2, hugetlbV2, rdmaV2, networkV2,
	} {
		if err := step(r, &p); err != nil {
			return nil, err
		}
	}
	if err := unifiedV2(r.Unified, &p); err != nil {
		return nil, err
	}
	return p, nil
}

func memoryV2(r *specs.LinuxResources, p *plan) error {
	m := r.Memory
	if m == nil {
		return nil
	}
	switch {
	case m.Kernel != nil:
		return notSupported("memory.kernel", "on cgroup v2")
	case m.KernelTCP != nil:
		return notSupported("memory.kernelTCP", "on cgroup v2")
	case m.Swappiness != nil:
		return notSupported("memory.swappiness", "on cgroup v2 (it has no per-cgroup swappiness)")
	case m.DisableOOMKiller != nil && *m.DisableOOMKiller:
		return notSupported("memory.disableOOMKiller", "on cgroup v2 (it has no switch to turn the OOM killer off)")
	case m.UseHierarchy != nil && !*m.UseHierarchy:
		return notSupported("memory.useHierarchy=false", "(memory accounting is always hierarchical)")
	}
	if v := m.Limit; v != nil && *v != 0 {
		if err := limitOK("memory.limit", *v); err != nil {
			return err
		}
		p.add("memory.max", orMax(*v), fmt.Sprintf("linux.resources.memory.limit=%d%s", *v, arrowMax(*v)))
	}
	if v := m.Reservation; v != nil && *v != 0 {
		if err := limitOK("memory.reservation", *v); err != nil {
			return err
		}
		p.add("memory.low", orMax(*v), fmt.Sprintf("linux.resources.memory.reservation=%d%s", *v, arrowMax(*v)))
	}
	if v := m.Swap; v != nil && *v != 0 {
		if err := swapLimit(m.Limit, *v); err != nil {
			return err
		}
		if *v == -1 {
			p.add("memory.swap.max", "max", "linux.resources.memory.swap=-1 → max")
		} else {
			p.add("memory.swap.max", itoa(*v-*m.Limit),
				fmt.Sprintf("linux.resources.memory.swap=%d - limit=%d: OCI swap counts memory plus swap", *v, *m.Limit))
		}
	}
	return nil
}

func arrowMax(v int64) string {
	if v == -1 {
		return " → max"
	}
	return ""
}

// cpuWeight converts cgroup v1 cpu.shares (2..262144, default 1024) to
// cgroup v2 cpu.weight (1..10000, default 100) linearly, as runc and crun
// have done for years: the default 1024 becomes 39, not v2's default 100.
// (Some newer runtimes, crun and Kata among them, moved to a logarithmic
// curve that maps 1024 to 100; minirun keeps the long-standing formula.)
func cpuWeight(shares uint64) uint64 { return 1 + ((shares-2)*9999)/262142 }

func cpuV2(r *specs.LinuxResources, p *plan) error {
	c := r.CPU
	if c == nil {
		return nil
	}
	switch {
	case c.RealtimeRuntime != nil:
		return notSupported("cpu.realtimeRuntime", "on cgroup v2")
	case c.RealtimePeriod != nil:
		return notSupported("cpu.realtimePeriod", "on cgroup v2")
	}
	if c.Shares != nil && *c.Shares != 0 {
		s := min(max(*c.Shares, 2), 262144)
		from := fmt.Sprintf("linux.resources.cpu.shares=%d → 1 + (%d-2)*9999/262142", *c.Shares, s)
		if s != *c.Shares {
			from += " (shares clamped to 2..262144)"
		}
		p.add("cpu.weight", utoa(cpuWeight(s)), from)
	}
	if c.Quota != nil || c.Period != nil {
		v, from, err := cpuMax(c.Quota, c.Period)
		if err != nil {
			return err
		}
		p.add("cpu.max", v, from)
	}
	if c.Burst != nil {
		p.add("cpu.max.burst", utoa(*c.Burst), fmt.Sprintf("linux.resources.cpu.burst=%d", *c.Burst))
	}
	if c.Idle != nil {
		if *c.Idle != 0 && *c.Idle != 1 {
			return invalid("cpu.idle", "%d is neither 0 nor 1", *c.Idle)
		}
		p.add("cpu.idle", itoa(*c.Idle), fmt.Sprintf("linux.resources.cpu.idle=%d", *c.Idle))
	}
	if c.Cpus != "" {
		p.add("cpuset.cpus", c.Cpus, "linux.resources.cpu.cpus")
	}
	if c.Mems != "" {
		p.add("cpuset.mems", c.Mems, "linux.resources.cpu.mems")
	}
	return nil
}

// cpuMax renders cpu.max, "$QUOTA $PERIOD". A quota of -1, 0 or unset is
// "max" (no limit). An unset period is left out, and the kernel keeps the
// one the cgroup has (100000 µs in a new cgroup).
func cpuMax(quota *int64, period *uint64) (string, string, error) {
	v, from := "max", "linux.resources.cpu quota="
	switch {
	case quota == nil:
		from += "unset → max"
	case *quota < -1:
		return "", "", invalid("cpu.quota", "%d is neither -1 (unlimited) nor microseconds", *quota)
	case *quota <= 0:
		from += itoa(*quota) + " → max"
	default:
		v = itoa(*quota)
		from += v
	}
	if period != nil && *period != 0 {
		v += " " + utoa(*period)
		from += " period=" + utoa(*period)
	} else {
		from += " period unset (kernel keeps the current one, 100000 in a new cgroup)"
	}
	return v, from, nil
}

func pidsV2(r *specs.LinuxResources, p *plan) error {
	if r.Pids == nil || r.Pids.Limit == nil {
		return nil
	}
	v := *r.Pids.Limit
	if v <= 0 {
		p.add("pids.max", "max", fmt.Sprintf("linux.resources.pids.limit=%d → max", v))
		return nil
	}
	p.add("pids.max", itoa(v), fmt.Sprintf("linux.resources.pids.limit=%d", v))
	return nil
}

// ioWeight converts a blkio weight (10..1000) to io.weight (1..10000) the
// way runc does.
func ioWeight(w uint16) uint64 { return 1 + (uint64(w)-10)*9999/990 }

func blockIOV2(r *specs.LinuxResources, p *plan) error {
	b := r.BlockIO
	if b == nil {
		return nil
	}
	if b.LeafWeight != nil {
		return notSupported("blockIO.leafWeight", "on cgroup v2 (it was a CFQ scheduler knob)")
	}
	weight := func(field string, w uint16) (uint64, string, error) {
		if w < 10 || w > 1000 {
			return 0, "", invalid(field, "weight %d is outside 10..1000", w)
		}
		v := ioWeight(w)
		return v, fmt.Sprintf("linux.resources.%s=%d → 1 + (%d-10)*9999/990", field, w, w), nil
	}
	if b.Weight != nil && *b.Weight != 0 {
		v, from, err := weight("blockIO.weight", *b.Weight)
		if err != nil {
			return err
		}
		p.add("io.weight", fmt.Sprintf("default %d", v), from)
	}
	for i, d := range b.WeightDevice {
		field := fmt.Sprintf("blockIO.weightDevice[%d]", i)
		if d.LeafWeight != nil {
			return notSupported(field+".leafWeight", "on cgroup v2 (it was a CFQ scheduler knob)")
		}
		if d.Weight == nil {
			continue
		}
		v, from, err := weight(field+".weight", *d.Weight)
		if err != nil {
			return err
		}
		p.add("io.weight", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, v), from)
	}
	for _, t := range []struct {
		field, key string
		devs       []specs.LinuxThrottleDevice
	}{
		{"throttleReadBpsDevice", "rbps", b.ThrottleReadBpsDevice},
		{"throttleWriteBpsDevice", "wbps", b.ThrottleWriteBpsDevice},
		{"throttleReadIOPSDevice", "riops", b.ThrottleReadIOPSDevice},
		{"throttleWriteIOPSDevice", "wiops", b.ThrottleWriteIOPSDevice},
	} {
		for i, d := range t.devs {
			rate, from := utoa(d.Rate), fmt.Sprintf("linux.resources.blockIO.%s[%d] rate=%d", t.field, i, d.Rate)
			if d.Rate == 0 {
				rate, from = "max", from+" → max (0 removes the limit, as in v1)"
			}
			p.add("io.max", fmt.Sprintf("%d:%d %s=%s", d.Major, d.Minor, t.key, rate), from)
		}
	}
	return nil
}

// pageSize matches the hugepage sizes as the kernel names them in
// hugetlb.<size>.max: 64KB, 2MB, 1GB.
var pageSize = regexp.MustCompile(`^[1-9][0-9]*[KMG]B$`)

func hugetlbV2(r *specs.LinuxResources, p *plan) error {
	for i, h := range r.HugepageLimits {
		if !pageSize.MatchString(h.Pagesize) {
			return invalid(fmt.Sprintf("hugepageLimits[%d].pageSize", i), "%q is not a size like 2MB or 1GB", h.Pagesize)
		}
		p.add("hugetlb."+h.Pagesize+".max", utoa(h.Limit),
			fmt.Sprintf("linux.resources.hugepageLimits[%d] pageSize=%s limit=%d", i, h.Pagesize, h.Limit))
	}
	return nil
}

func rdmaV2(r *specs.LinuxResources, p *plan) error {
	for _, dev := range slices.Sorted(maps.Keys(r.Rdma)) {
		l := r.Rdma[dev]
		if dev == "" || strings.ContainsAny(dev, " \t\n") {
			return invalid("rdma", "device name %q", dev)
		}
		v := dev
		if l.HcaHandles != nil {
			v += fmt.Sprintf(" hca_handle=%d", *l.HcaHandles)
		}
		if l.HcaObjects != nil {
			v += fmt.Sprintf(" hca_object=%d", *l.HcaObjects)
		}
		if v != dev {
			p.add("rdma.max", v, fmt.Sprintf("linux.resources.rdma[%q]", dev))
		}
	}
	return nil
}

func networkV2(r *specs.LinuxResources, p *plan) error {
	if n := r.Network; n != nil && (n.ClassID != nil || len(n.Priorities) > 0) {
		return notSupported("network", "on cgroup v2 (net_cls and net_prio are v1 controllers)")
	}
	return nil
}

// unifiedKey matches "<controller>.<name>" and "cgroup.<name>": lowercase
// words joined by dots, as the kernel names its interface files.
var unifiedKey = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$`)

// managed are core files minirun itself drives; writing them from a spec
// would move processes, kill them, freeze them, or break the
// "no internal processes" layout behind the manager's back.
var managed = []string{
	"cgroup.procs", "cgroup.threads", "cgroup.kill", "cgroup.freeze",
	"cgroup.subtree_control", "cgroup.type",
}

// unifiedV2 validates linux.resources.unified and appends its writes,
// sorted by key. A key is a file name in the container's cgroup and nothing
// else: no "/", no "..", no hidden names, no files the manager drives, and
// no file a structured field already writes.
func unifiedV2(u map[string]string, p *plan) error {
	set := p.files()
	for _, k := range slices.Sorted(maps.Keys(u)) {
		if err := checkUnifiedKey(k); err != nil {
			return err
		}
		if set[k] {
			return invalid("unified", "key %q conflicts with a structured linux.resources field that also writes %s", k, k)
		}
		p.add(k, u[k], fmt.Sprintf("linux.resources.unified[%q]", k))
	}
	return nil
}

func checkUnifiedKey(k string) error {
	switch {
	case strings.Contains(k, "/") || strings.Contains(k, ".."):
		return invalid("unified", "key %q is a path, not a file name", k)
	case strings.HasPrefix(k, "."):
		return invalid("unified", "key %q starts with a dot", k)
	case !unifiedKey.MatchString(k):
		return invalid("unified", "key %q is not of the form <controller>.<name>", k)
	case slices.Contains(managed, k):
		return invalid("unified", "key %q is a file minirun manages itself", k)
	}
	return nil
}
