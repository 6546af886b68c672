package cgroups

import (
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// PlanV1 turns linux.resources into cgroup v1 writes for minirun's small v1
// fallback, in order. It makes no system calls. Each File starts with the
// hierarchy it belongs to ("memory/memory.limit_in_bytes").
//
// The fallback covers memory (limit, reservation, swap, swappiness,
// disableOOMKiller), cpu (shares, quota, period, cpus, mems), pids and
// devices. Fields that cgroup v2 would handle are ErrNeedsV2; fields that
// no longer work on current kernels are ErrNotSupported.
//
// Devices follow runc: deny everything ("a" to devices.deny), then write
// every rule in order, allow rules to devices.allow and deny rules to
// devices.deny, so a later rule overrides an earlier one as the OCI spec
// says. An empty list writes nothing: the container keeps its parent's
// devices, and the runtime must add the default devices (/dev/null, ...)
// itself.
func PlanV1(r *specs.LinuxResources) ([]Write, error) {
	if r == nil {
		return nil, nil
	}
	switch {
	case r.BlockIO != nil:
		return nil, needsV2("blockIO")
	case len(r.HugepageLimits) > 0:
		return nil, needsV2("hugepageLimits")
	case len(r.Rdma) > 0:
		return nil, needsV2("rdma")
	case len(r.Unified) > 0:
		return nil, needsV2("unified")
	case r.Network != nil && (r.Network.ClassID != nil || len(r.Network.Priorities) > 0):
		return nil, notSupported("network", "by minirun (it needs the v1 net_cls and net_prio controllers, which minirun does not manage)")
	}
	var p plan
	for _, step := range []func(*specs.LinuxResources, *plan) error{memoryV1, cpuV1, pidsV1, devicesV1} {
		if err := step(r, &p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func memoryV1(r *specs.LinuxResources, p *plan) error {
	m := r.Memory
	if m == nil {
		return nil
	}
	switch {
	case m.Kernel != nil:
		return notSupported("memory.kernel", "(Linux deprecated kernel memory limits in 5.4 and no longer enforces them)")
	case m.KernelTCP != nil:
		return notSupported("memory.kernelTCP", "by minirun's v1 fallback")
	case m.UseHierarchy != nil && !*m.UseHierarchy:
		return notSupported("memory.useHierarchy=false", "(memory accounting is always hierarchical on current kernels)")
	}
	if v := m.Limit; v != nil && *v != 0 {
		if err := limitOK("memory.limit", *v); err != nil {
			return err
		}
		p.add("memory/memory.limit_in_bytes", itoa(*v), fmt.Sprintf("linux.resources.memory.limit=%d", *v))
	}
	if v := m.Reservation; v != nil && *v != 0 {
		if err := limitOK("memory.reservation", *v); err != nil {
			return err
		}
		p.add("memory/memory.soft_limit_in_bytes", itoa(*v), fmt.Sprintf("linux.resources.memory.reservation=%d", *v))
	}
	if v := m.Swap; v != nil && *v != 0 {
		if err := swapLimit(m.Limit, *v); err != nil {
			return err
		}
		// memsw counts memory plus swap, exactly like OCI's swap.
		p.add("memory/memory.memsw.limit_in_bytes", itoa(*v), fmt.Sprintf("linux.resources.memory.swap=%d (memory+swap, as memsw counts)", *v))
	}
	if v := m.Swappiness; v != nil {
		if *v > 100 {
			return invalid("memory.swappiness", "%d is above 100", *v)
		}
		p.add("memory/memory.swappiness", utoa(*v), fmt.Sprintf("linux.resources.memory.swappiness=%d", *v))
	}
	if v := m.DisableOOMKiller; v != nil && *v {
		p.add("memory/memory.oom_control", "1", "linux.resources.memory.disableOOMKiller=true")
	}
	return nil
}

func cpuV1(r *specs.LinuxResources, p *plan) error {
	c := r.CPU
	if c == nil {
		return nil
	}
	switch {
	case c.Burst != nil:
		return needsV2("cpu.burst")
	case c.Idle != nil:
		return needsV2("cpu.idle")
	case c.RealtimeRuntime != nil:
		return notSupported("cpu.realtimeRuntime", "by minirun")
	case c.RealtimePeriod != nil:
		return notSupported("cpu.realtimePeriod", "by minirun")
	}
	if c.Shares != nil && *c.Shares != 0 {
		p.add("cpu/cpu.shares", utoa(*c.Shares), fmt.Sprintf("linux.resources.cpu.shares=%d", *c.Shares))
	}
	// The period first: the kernel checks quota against it.
	if c.Period != nil && *c.Period != 0 {
		p.add("cpu/cpu.cfs_period_us", utoa(*c.Period), fmt.Sprintf("linux.resources.cpu.period=%d", *c.Period))
	}
	if q := c.Quota; q != nil {
		switch {
		case *q < -1:
			return invalid("cpu.quota", "%d is neither -1 (unlimited) nor microseconds", *q)
		case *q <= 0:
			p.add("cpu/cpu.cfs_quota_us", "-1", fmt.Sprintf("linux.resources.cpu.quota=%d → -1 (no limit)", *q))
		default:
			p.add("cpu/cpu.cfs_quota_us", itoa(*q), fmt.Sprintf("linux.resources.cpu.quota=%d", *q))
		}
	}
	if c.Cpus != "" {
		p.add("cpuset/cpuset.cpus", c.Cpus, "linux.resources.cpu.cpus")
	}
	if c.Mems != "" {
		p.add("cpuset/cpuset.mems", c.Mems, "linux.resources.cpu.mems")
	}
	return nil
}

func pidsV1(r *specs.LinuxResources, p *plan) error {
	if r.Pids == nil || r.Pids.Limit == nil {
		return nil
	}
	v := *r.Pids.Limit
	if v <= 0 {
		p.add("pids/pids.max", "max", fmt.Sprintf("linux.resources.pids.limit=%d → max", v))
		return nil
	}
	p.add("pids/pids.max", itoa(v), fmt.Sprintf("linux.resources.pids.limit=%d", v))
	return nil
}

func devicesV1(r *specs.LinuxResources, p *plan) error {
	if len(r.Devices) == 0 {
		return nil
	}
	// Start from "deny everything", unless the first rule says so itself.
	if first, _ := deviceRulesV1(r.Devices[0]); r.Devices[0].Allow || !slices.Equal(first, []string{"a"}) {
		p.add("devices/devices.deny", "a", "deny every device before linux.resources.devices")
	}
	for i, d := range r.Devices {
		rules, err := deviceRulesV1(d)
		if err != nil {
			return fmt.Errorf("linux.resources.devices[%d]: %w", i, err)
		}
		file := "devices/devices.deny"
		if d.Allow {
			file = "devices/devices.allow"
		}
		for _, rule := range rules {
			p.add(file, rule, fmt.Sprintf("linux.resources.devices[%d] allow=%t", i, d.Allow))
		}
	}
	return nil
}

// deviceRulesV1 renders one OCI device rule as devices.allow/deny lines,
// "TYPE MAJOR:MINOR ACCESS". The kernel reads a line starting with "a" as
// "every device, every access" whatever follows, so a type-"a" rule that
// names numbers or less than "rwm" becomes a "c" and a "b" line instead.
func deviceRulesV1(d specs.LinuxDeviceCgroup) ([]string, error) {
	access := d.Access
	if access == "" {
		access = "rwm"
	}
	for _, c := range access {
		if !strings.ContainsRune("rwm", c) {
			return nil, fmt.Errorf("invalid device access %q (want letters of rwm)", d.Access)
		}
	}
	num := func(n *int64) string {
		if n == nil || *n == -1 {
			return "*"
		}
		return itoa(*n)
	}
	if d.Major != nil && *d.Major < -1 || d.Minor != nil && *d.Minor < -1 {
		return nil, fmt.Errorf("invalid device number %s:%s", num(d.Major), num(d.Minor))
	}
	nums := num(d.Major) + ":" + num(d.Minor)
	switch d.Type {
	case "", "a":
		if nums == "*:*" && len(access) == 3 && strings.Count(access, "r") == 1 &&
			strings.Count(access, "w") == 1 && strings.Count(access, "m") == 1 {
			return []string{"a"}, nil
		}
		return []string{"c " + nums + " " + access, "b " + nums + " " + access}, nil
	case "c", "b":
		return []string{d.Type + " " + nums + " " + access}, nil
	}
	return nil, fmt.Errorf("invalid device type %q (want a, b or c)", d.Type)
}
