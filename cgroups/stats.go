package cgroups

import (
	"strconv"
	"strings"
)

// Stats is a snapshot of a container's resource use, shaped for the data of
// `minirun events --stats` (JSON keys in snake_case, as runc's are). The
// names follow the cgroup v2 files they come from; on v1 the same numbers
// are read from the v1 files and converted to the same units.
type Stats struct {
	CPU    CPUStats    `json:"cpu"`
	Memory MemoryStats `json:"memory"`
	Pids   PidsStats   `json:"pids"`
	IO     []IOStat    `json:"io,omitempty"`
}

// CPUStats comes from cpu.stat (v1: cpuacct.usage, cpuacct.stat, cpu.stat).
// All times are in microseconds.
type CPUStats struct {
	UsageUsec     uint64 `json:"usage_usec"`
	UserUsec      uint64 `json:"user_usec"`
	SystemUsec    uint64 `json:"system_usec"`
	NrPeriods     uint64 `json:"nr_periods"`
	NrThrottled   uint64 `json:"nr_throttled"`
	ThrottledUsec uint64 `json:"throttled_usec"`
}

// MemoryStats comes from memory.current, memory.peak, memory.max,
// memory.swap.current and memory.events (v1: memory.usage_in_bytes,
// memory.max_usage_in_bytes, memory.limit_in_bytes, memsw minus usage,
// and events oom_kill from memory.oom_control and max from memory.failcnt).
type MemoryStats struct {
	Current uint64 `json:"current"`
	Peak    uint64 `json:"peak"`
	// Max is the limit in bytes; 0 means unlimited.
	Max    uint64            `json:"max"`
	Swap   uint64            `json:"swap"`
	Events map[string]uint64 `json:"events,omitempty"`
}

// PidsStats comes from pids.current and pids.max; Max 0 means unlimited.
type PidsStats struct {
	Current uint64 `json:"current"`
	Max     uint64 `json:"max"`
}

// IOStat is one device's line of io.stat.
type IOStat struct {
	Major  uint64 `json:"major"`
	Minor  uint64 `json:"minor"`
	RBytes uint64 `json:"rbytes"`
	WBytes uint64 `json:"wbytes"`
	RIOs   uint64 `json:"rios"`
	WIOs   uint64 `json:"wios"`
}

// parseKV parses the flat keyed files, "key value" per line: cpu.stat,
// memory.events, cgroup.events, memory.oom_control. Lines whose value is
// not a number are skipped.
func parseKV(text string) map[string]uint64 {
	kv := map[string]uint64{}
	for line := range strings.Lines(text) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			kv[k] = n
		}
	}
	return kv
}

// parseIOStat parses io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N
// dbytes=N dios=N" per device. Unknown keys are skipped.
func parseIOStat(text string) []IOStat {
	var out []IOStat
	for line := range strings.Lines(text) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		var s IOStat
		maj, min, ok := strings.Cut(fields[0], ":")
		if !ok {
			continue
		}
		var err1, err2 error
		s.Major, err1 = strconv.ParseUint(maj, 10, 64)
		s.Minor, err2 = strconv.ParseUint(min, 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		for _, f := range fields[1:] {
			k, v, _ := strings.Cut(f, "=")
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				continue
			}
			switch k {
			case "rbytes":
				s.RBytes = n
			case "wbytes":
				s.WBytes = n
			case "rios":
				s.RIOs = n
			case "wios":
				s.WIOs = n
			}
		}
		out = append(out, s)
	}
	return out
}

// v1Unlimited is the smallest value v1 memory files report for "no limit"
// (PAGE_COUNTER_MAX pages, 0x7FFFFFFFFFFFF000 bytes with 4 KiB pages).
const v1Unlimited = 1 << 62

// parseLimit reads a limit file's value: "max" (v2, and v1 pids.max) or a
// v1 memory value at v1Unlimited or above is 0, meaning unlimited.
func parseLimit(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, err
	}
	if n >= v1Unlimited {
		return 0, nil
	}
	return n, nil
}
