package runtime

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// UpdateFlags are `minirun update`'s flags, as given; "" means unset.
type UpdateFlags struct {
	Memory, MemoryReservation, MemorySwap string // bytes, with an optional k, m or g suffix; -1 for no limit
	CPUShares, CPUQuota, CPUPeriod        string
	CPUSetCPUs, CPUSetMems                string
	PidsLimit                             string
}

// Resources applies the flags over base (the --resources file, or
// nothing) and returns the resources to update.
func (f UpdateFlags) Resources(base *specs.LinuxResources) (*specs.LinuxResources, error) {
	res := &specs.LinuxResources{}
	if base != nil {
		res = base
	}
	mem := func() *specs.LinuxMemory {
		if res.Memory == nil {
			res.Memory = &specs.LinuxMemory{}
		}
		return res.Memory
	}
	cpu := func() *specs.LinuxCPU {
		if res.CPU == nil {
			res.CPU = &specs.LinuxCPU{}
		}
		return res.CPU
	}
	for _, b := range []struct {
		flag, v string
		set     func(int64)
	}{
		{"--memory", f.Memory, func(n int64) { mem().Limit = &n }},
		{"--memory-reservation", f.MemoryReservation, func(n int64) { mem().Reservation = &n }},
		{"--memory-swap", f.MemorySwap, func(n int64) { mem().Swap = &n }},
	} {
		if b.v == "" {
			continue
		}
		n, err := ParseBytes(b.v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.flag, err)
		}
		b.set(n)
	}
	for _, i := range []struct {
		flag, v string
		set     func(int64)
	}{
		{"--cpu-shares", f.CPUShares, func(n int64) { u := uint64(n); cpu().Shares = &u }},
		{"--cpu-quota", f.CPUQuota, func(n int64) { cpu().Quota = &n }},
		{"--cpu-period", f.CPUPeriod, func(n int64) { u := uint64(n); cpu().Period = &u }},
		{"--pids-limit", f.PidsLimit, func(n int64) { res.Pids = &specs.LinuxPids{Limit: &n} }},
	} {
		if i.v == "" {
			continue
		}
		n, err := strconv.ParseInt(i.v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s %q: not a number", i.flag, i.v)
		}
		i.set(n)
	}
	if f.CPUSetCPUs != "" {
		cpu().Cpus = f.CPUSetCPUs
	}
	if f.CPUSetMems != "" {
		cpu().Mems = f.CPUSetMems
	}
	return res, nil
}

// ParseBytes reads a size as docker and runc take it: a number of bytes
// with an optional k, m or g suffix (powers of 1024), or -1 for none.
func ParseBytes(s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	mult := int64(1)
	t := strings.ToLower(strings.TrimSuffix(strings.ToLower(s), "b"))
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1<<10, strings.TrimSuffix(t, "k")
	case strings.HasSuffix(t, "m"):
		mult, t = 1<<20, strings.TrimSuffix(t, "m")
	case strings.HasSuffix(t, "g"):
		mult, t = 1<<30, strings.TrimSuffix(t, "g")
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size like 100, 64k, 32m or 1g", s)
	}
	return n * mult, nil
}
