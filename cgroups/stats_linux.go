package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stats reads the container's resource use. A file that is missing because
// its controller is not enabled (or, for memory.peak, because the kernel
// is older than 5.19) leaves its numbers at 0.
func (m *Manager) Stats() (*Stats, error) {
	r := statsReader{}
	var s *Stats
	if m.state.Mode.v1() {
		s = m.statsV1(&r)
	} else {
		s = statsV2(&r, m.state.Dirs[""])
	}
	if r.err != nil {
		return nil, fmt.Errorf("read cgroup stats: %w", r.err)
	}
	return s, nil
}

func statsV2(r *statsReader, dir string) *Stats {
	f := func(name string) string { return filepath.Join(dir, name) }
	s := &Stats{}
	cpu := r.kv(f("cpu.stat"))
	s.CPU = CPUStats{
		UsageUsec: cpu["usage_usec"], UserUsec: cpu["user_usec"], SystemUsec: cpu["system_usec"],
		NrPeriods: cpu["nr_periods"], NrThrottled: cpu["nr_throttled"], ThrottledUsec: cpu["throttled_usec"],
	}
	s.Memory.Current = r.limit(f("memory.current"))
	s.Memory.Peak = r.limit(f("memory.peak"))
	s.Memory.Max = r.limit(f("memory.max"))
	s.Memory.Swap = r.limit(f("memory.swap.current"))
	if ev := r.kv(f("memory.events")); len(ev) > 0 {
		s.Memory.Events = ev
	}
	s.Pids.Current = r.limit(f("pids.current"))
	s.Pids.Max = r.limit(f("pids.max"))
	s.IO = parseIOStat(r.text(f("io.stat")))
	return s
}

// userHZ is the unit of cpuacct.stat: USER_HZ, 100 on every Linux ABI.
const userHZ = 100

func (m *Manager) statsV1(r *statsReader) *Stats {
	s := &Stats{}
	if dir, ok := m.state.Dirs["cpuacct"]; ok {
		s.CPU.UsageUsec = r.limit(filepath.Join(dir, "cpuacct.usage")) / 1000
		t := r.kv(filepath.Join(dir, "cpuacct.stat"))
		s.CPU.UserUsec = t["user"] * (1e6 / userHZ)
		s.CPU.SystemUsec = t["system"] * (1e6 / userHZ)
	}
	if dir, ok := m.state.Dirs["cpu"]; ok {
		t := r.kv(filepath.Join(dir, "cpu.stat"))
		s.CPU.NrPeriods, s.CPU.NrThrottled = t["nr_periods"], t["nr_throttled"]
		s.CPU.ThrottledUsec = t["throttled_time"] / 1000
	}
	if dir, ok := m.state.Dirs["memory"]; ok {
		f := func(name string) string { return filepath.Join(dir, name) }
		s.Memory.Current = r.limit(f("memory.usage_in_bytes"))
		s.Memory.Peak = r.limit(f("memory.max_usage_in_bytes"))
		s.Memory.Max = r.limit(f("memory.limit_in_bytes"))
		if memsw := r.limit(f("memory.memsw.usage_in_bytes")); memsw > s.Memory.Current {
			s.Memory.Swap = memsw - s.Memory.Current
		}
		s.Memory.Events = map[string]uint64{
			"oom_kill": r.kv(f("memory.oom_control"))["oom_kill"],
			"max":      r.limit(f("memory.failcnt")),
		}
	}
	if dir, ok := m.state.Dirs["pids"]; ok {
		s.Pids.Current = r.limit(filepath.Join(dir, "pids.current"))
		s.Pids.Max = r.limit(filepath.Join(dir, "pids.max"))
	}
	return s
}

// statsReader reads many files and keeps the first error other than a
// missing file, so Stats reads as a list rather than a ladder of ifs.
type statsReader struct{ err error }

func (r *statsReader) text(path string) string {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) && r.err == nil {
		r.err = err
	}
	return string(b)
}

func (r *statsReader) kv(path string) map[string]uint64 { return parseKV(r.text(path)) }

func (r *statsReader) limit(path string) uint64 {
	t := r.text(path)
	if t == "" {
		return 0
	}
	n, err := parseLimit(t)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("parse %s: %w", path, err)
	}
	return n
}

// readString reads a one-line cgroup file without its newline.
func readString(path string) (string, error) {
	b, err := os.ReadFile(path)
	return strings.TrimSpace(string(b)), err
}

// readWords reads a space- or newline-separated list: cgroup.controllers,
// cgroup.subtree_control, cgroup.procs.
func readWords(path string) ([]string, error) {
	s, err := readString(path)
	return strings.Fields(s), err
}

func readUint(path string) (uint64, error) {
	s, err := readString(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return n, nil
}

func readKV(path string) (map[string]uint64, error) {
	s, err := readString(path)
	return parseKV(s), err
}
