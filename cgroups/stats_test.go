package cgroups

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
)

// Captured from a 6.1 kernel on cgroup v2.
const (
	cpuStatV2 = `usage_usec 412233
user_usec 301000
system_usec 111233
core_sched.force_idle_usec 0
nr_periods 21
nr_throttled 19
throttled_usec 1588342
nr_bursts 0
burst_usec 0
`
	memoryEventsV2 = `low 0
high 0
max 112
oom 1
oom_kill 1
oom_group_kill 0
`
	cgroupEvents = "populated 1\nfrozen 1\n"
	ioStat       = `8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0
253:0 rbytes=0 wbytes=4096 rios=0 wios=1 dbytes=0 dios=0
`
	// memory.oom_control on this hybrid host's 6.18 kernel (v1).
	oomControlV1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"
)

func TestParseKV(t *testing.T) {
	for _, tc := range []struct {
		text string
		want map[string]uint64
	}{
		{cpuStatV2, map[string]uint64{
			"usage_usec": 412233, "user_usec": 301000, "system_usec": 111233, "core_sched.force_idle_usec": 0,
			"nr_periods": 21, "nr_throttled": 19, "throttled_usec": 1588342, "nr_bursts": 0, "burst_usec": 0,
		}},
		{memoryEventsV2, map[string]uint64{"low": 0, "high": 0, "max": 112, "oom": 1, "oom_kill": 1, "oom_group_kill": 0}},
		{cgroupEvents, map[string]uint64{"populated": 1, "frozen": 1}},
		{oomControlV1, map[string]uint64{"oom_kill_disable": 0, "under_oom": 0, "oom_kill": 3}},
		{"state FROZEN\n\nbroken\n", map[string]uint64{}},
	} {
		if got := parseKV(tc.text); !maps.Equal(got, tc.want) {
			t.Errorf("parseKV(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}

func TestParseIOStat(t *testing.T) {
	got := parseIOStat(ioStat + "garbage\n")
	want := []IOStat{
		{Major: 8, Minor: 16, RBytes: 1459200, WBytes: 314773504, RIOs: 192, WIOs: 353},
		{Major: 253, Minor: 0, WBytes: 4096, WIOs: 1},
	}
	if !slices.Equal(got, want) {
		t.Errorf("parseIOStat = %+v, want %+v", got, want)
	}
}

func TestParseLimit(t *testing.T) {
	for in, want := range map[string]uint64{
		"max\n": 0, "33554432\n": 33554432, "9223372036854771712\n": 0, "0": 0,
	} {
		if got, err := parseLimit(in); err != nil || got != want {
			t.Errorf("parseLimit(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseLimit("lots"); err == nil {
		t.Error("parseLimit(lots): no error")
	}
}

// TestStatsJSON pins the JSON names the events command prints.
func TestStatsJSON(t *testing.T) {
	s := Stats{IO: []IOStat{{Major: 8}}}
	s.Memory.Events = map[string]uint64{"oom_kill": 1}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{
		`"cpu":{"usage_usec":0,"user_usec":0,"system_usec":0,"nr_periods":0,"nr_throttled":0,"throttled_usec":0}`,
		`"memory":{"current":0,"peak":0,"max":0,"swap":0,"events":{"oom_kill":1}}`,
		`"pids":{"current":0,"max":0}`,
		`"io":[{"major":8,"minor":0,"rbytes":0,"wbytes":0,"rios":0,"wios":0}]`,
	} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON %s lacks %s", b, key)
		}
	}
}
